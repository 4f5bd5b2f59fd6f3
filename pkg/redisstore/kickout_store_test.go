package redisstore

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/review"
)

// queueClock is a settable clock for the queue under test.
type queueClock struct{ ms atomic.Int64 }

func (c *queueClock) now() time.Time          { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *queueClock) set(t time.Time)         { c.ms.Store(t.UnixMilli()) }
func (c *queueClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

var queueT0 = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

func newTestQueue(t *testing.T, retention time.Duration) (*Queue, redis.UniversalClient, *queueClock) {
	t.Helper()
	rdb, _ := testenv.Redis(t)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	clock := &queueClock{}
	clock.set(queueT0)
	q := NewQueue(rdb, Keys{Prefix: testenv.Unique("kq")}, codec, retention, WithClock(clock.now))
	return q, rdb, clock
}

func queueKickOut(id, stage, reason string, at time.Time, value string) contact.KickOut {
	return contact.KickOut{ID: id, Stage: stage, Reason: reason, Error: "bad " + reason,
		Topic: "contactsync.online.events", Key: []byte("web-" + id), Value: []byte(value),
		FirstSeen: at, LastSeen: at}
}

func TestQueueSaveIsIdempotentAndCountsOnce(t *testing.T) {
	q, rdb, _ := newTestQueue(t, 0)
	ctx := testenv.Context(t, 30*time.Second)
	ko := queueKickOut("ko-1", "ingest", "validate.field", queueT0.Add(-time.Hour),
		`{"event_id":"evt-1","contact":{"id":"web-1","email":"Jane.Doe@Example.org"}}`)
	other := queueKickOut("ko-2", "matcher", "match.ambiguous", queueT0.Add(-25*time.Hour), `{}`)
	for i := range 3 { // the collector redoes a batch after a crash
		if i == 2 { // and Redis restarted meanwhile, losing its scripts
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.SaveKickOuts(ctx, []contact.KickOut{ko, other, ko}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.CountKickOuts(ctx); err != nil || n != 2 {
		t.Fatalf("CountKickOuts = %d, %v; want 2", n, err)
	}
	counts, err := q.ReasonCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["validate.field"] != 1 || counts["match.ambiguous"] != 1 {
		t.Fatalf("ReasonCounts = %v", counts)
	}
	days, err := q.DailyCounts(ctx, queueT0.AddDate(0, 0, -2), queueT0)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 || days[1].Total != 1 || days[2].Total != 1 || days[2].ByReason["validate.field"] != 1 {
		t.Fatalf("DailyCounts = %+v", days)
	}

	// A replayed kick-out saved again (a redelivery) stays replayed.
	if err := q.MarkReplayed(ctx, "ko-1", review.ReplayInfo{At: queueT0, Who: "ann", Count: 1, Topic: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := q.SaveKickOuts(ctx, []contact.KickOut{ko}); err != nil {
		t.Fatal(err)
	}
	got, err := q.KickOut(ctx, "ko-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != review.KickOutReplayed || got.Replay == nil || got.Replay.Who != "ann" {
		t.Fatalf("after re-save: status %q replay %+v", got.Status, got.Replay)
	}
	groups, err := q.GroupCounts(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Reason == "validate.field" && (g.Open != 0 || g.Replayed != 1 || g.Total != 1) {
			t.Fatalf("group after replay = %+v", g)
		}
	}
}

func TestQueueRetentionTTL(t *testing.T) {
	retention := 48 * time.Hour
	q, rdb, clock := newTestQueue(t, retention)
	ctx := testenv.Context(t, 30*time.Second)
	ko := queueKickOut("ko-ttl", "ingest", "decode.json", queueT0.Add(-12*time.Hour), `{`)
	if err := q.SaveKickOuts(ctx, []contact.KickOut{ko}); err != nil {
		t.Fatal(err)
	}
	if err := q.SaveReviews(ctx, []contact.ReviewItem{{ID: "rv-ttl", Created: queueT0}}); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, q.k.koKey("ko-ttl")).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Kept for the retention after it happened: 48h - 12h.
	if want := 36 * time.Hour; ttl < want-time.Minute || ttl > want {
		t.Fatalf("kick-out TTL = %v, want ~%v", ttl, want)
	}
	if ttl, _ := rdb.PTTL(ctx, q.k.rvKey("rv-ttl")).Result(); ttl < retention-time.Minute || ttl > retention {
		t.Fatalf("review TTL = %v, want ~%v", ttl, retention)
	}
	// An older kick-out of the same record does not shorten the lookup.
	old := queueKickOut("ko-older", "ingest", "decode.json", queueT0.Add(-47*time.Hour), `{`)
	old.Key = ko.Key
	if err := q.SaveKickOuts(ctx, []contact.KickOut{old}); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := rdb.PTTL(ctx, q.k.termKey("rec", string(ko.Key))).Result(); ttl < 36*time.Hour-time.Minute {
		t.Fatalf("record lookup TTL = %v, want ~36h", ttl)
	}
	// Past the retention the indexes are trimmed too.
	clock.advance(37 * time.Hour)
	if _, err := q.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.CountKickOuts(ctx); n != 0 {
		t.Fatalf("after trim CountKickOuts = %d", n)
	}
	if n, _ := q.CountKickOutsByStatus(ctx, review.KickOutOpen); n != 0 {
		t.Fatalf("after trim open = %d", n)
	}
	if n, _ := q.CountReviews(ctx, review.ReviewPending); n != 1 {
		t.Fatalf("review trimmed too early: pending = %d", n)
	}
}

func TestQueueSearchAndFilters(t *testing.T) {
	q, rdb, _ := newTestQueue(t, 0)
	facts := map[string]review.Facts{
		"ko-a": {System: "online", RecordID: "web-17", EventID: "evt-17", Email: "Jane.Doe@Example.org"},
		"ko-b": {System: "offline", RecordID: "OFF-01001", PersonID: "p-42"},
		"ko-c": {System: "online", RecordID: "web-18"},
	}
	q.facts = func(ko contact.KickOut) review.Facts { return facts[ko.ID] }
	ctx := testenv.Context(t, 30*time.Second)
	err := q.SaveKickOuts(ctx, []contact.KickOut{
		queueKickOut("ko-a", "ingest", "validate.field", queueT0.Add(-3*time.Hour), `{}`),
		queueKickOut("ko-b", "router", "rules.conflict", queueT0.Add(-2*time.Hour), `{}`),
		queueKickOut("ko-c", "ingest", "validate.field", queueT0.Add(-1*time.Hour), `{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(f review.Filter) string {
		t.Helper()
		page, err := q.ListKickOuts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range page.Items {
			out = append(out, it.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name string
		f    review.Filter
		want string
	}{
		{"all newest first", review.Filter{}, "ko-c,ko-b,ko-a"},
		{"reason", review.Filter{Reason: "validate.field"}, "ko-c,ko-a"},
		{"stage", review.Filter{Stage: "router"}, "ko-b"},
		{"system", review.Filter{System: "online"}, "ko-c,ko-a"},
		{"group", review.Filter{Status: review.KickOutOpen, Stage: "ingest", Reason: "validate.field"}, "ko-c,ko-a"},
		{"time range", review.Filter{From: queueT0.Add(-150 * time.Minute), To: queueT0.Add(-time.Hour)}, "ko-b"},
		{"page", review.Filter{Offset: 1, Limit: 1}, "ko-b"},
		{"record id", review.Filter{Query: "web-17"}, "ko-a"},
		{"person id", review.Filter{Query: "p-42"}, "ko-b"},
		{"event id", review.Filter{Query: "evt-17"}, "ko-a"},
		{"email any case", review.Filter{Query: " jane.doe@example.ORG "}, "ko-a"},
		{"kick-out id", review.Filter{Query: "ko-c"}, "ko-c"},
		{"search and filter", review.Filter{Query: "web-17", Status: review.KickOutReplayed}, ""},
		{"no match", review.Filter{Query: "nobody@example.org"}, ""},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	systems, err := q.Systems(ctx)
	if err != nil || strings.Join(systems, ",") != "offline,online" {
		t.Fatalf("Systems = %v, %v", systems, err)
	}
	// The plain email never appears in a key name.
	keys, err := rdb.Keys(ctx, q.k.base+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "jane") {
			t.Fatalf("email in key %q", k)
		}
	}
}

func TestQueueReplayLineageAndAudit(t *testing.T) {
	q, _, _ := newTestQueue(t, 0)
	ctx := testenv.Context(t, 30*time.Second)
	orig := queueKickOut("ko-orig", "ingest", "validate.field", queueT0.Add(-time.Hour), `{"email":"x"}`)
	if err := q.SaveKickOuts(ctx, []contact.KickOut{orig}); err != nil {
		t.Fatal(err)
	}
	release, err := q.Claim(ctx, "ko", "ko-orig", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "ko", "ko-orig", time.Minute); !errors.Is(err, review.ErrBusy) {
		t.Fatalf("second claim: %v, want review.ErrBusy", err)
	}
	info := review.ReplayInfo{At: queueT0, Who: "dana", Count: 1, OriginalEventID: "evt-9", Format: "online-json",
		Topic: "contactsync.replay", Partition: 2, Offset: 41, Edited: true, Value: []byte(`{"email":"x@example.org"}`)}
	if err := q.MarkReplayed(ctx, "ko-orig", info); err != nil {
		t.Fatal(err)
	}
	release()
	var se *review.StatusError
	if err := q.MarkReplayed(ctx, "ko-orig", info); !errors.As(err, &se) || se.Status != review.KickOutReplayed {
		t.Fatalf("second MarkReplayed: %v, want status error", err)
	}
	if err := q.Resolve(ctx, "ko-orig", review.Decision{Who: "dana", At: queueT0}); !errors.Is(err, review.ErrWrongStatus) {
		t.Fatalf("resolve replayed: %v", err)
	}
	if err := q.Resolve(ctx, "ko-none", review.Decision{Who: "dana", At: queueT0}); !errors.Is(err, review.ErrNotFound) {
		t.Fatalf("resolve missing: %v", err)
	}

	// The replay fails again: a new kick-out (new position) that names the
	// original in its headers.
	again := queueKickOut("ko-again", "ingest", "validate.field", queueT0, `{"email":"x@example.org"}`)
	again.Topic = "contactsync.replay"
	again.ReplayCount, again.OriginalEventID = 1, "evt-9"
	again.Headers = []contact.Header{{Key: "cs-kickout-id", Value: []byte("ko-orig")}}
	if err := q.SaveKickOuts(ctx, []contact.KickOut{again}); err != nil {
		t.Fatal(err)
	}
	got, err := q.KickOut(ctx, "ko-orig")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != review.KickOutReplayed || got.ReplayedAs != "ko-again" || got.Replay == nil ||
		!got.Replay.Edited || string(got.Replay.Value) != `{"email":"x@example.org"}` || got.Replay.Offset != 41 {
		t.Fatalf("original after failed replay: %+v", got)
	}
	child, err := q.KickOut(ctx, "ko-again")
	if err != nil {
		t.Fatal(err)
	}
	if child.Status != review.KickOutOpen || child.ReplayOf != "ko-orig" {
		t.Fatalf("child: status %q replay of %q", child.Status, child.ReplayOf)
	}
	// Searching the original event id finds both attempts.
	page, err := q.ListKickOuts(ctx, review.Filter{Query: "evt-9"})
	if err != nil || page.Total != 1 || page.Items[0].ID != "ko-again" {
		t.Fatalf("search original event id: %+v, %v", page, err)
	}
	if err := q.Resolve(ctx, "ko-again", review.Decision{Who: "eve", At: queueT0, Why: "fixed in the donor DB"}); err != nil {
		t.Fatal(err)
	}
	log, err := q.AuditLog(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != review.AuditResolve || log[0].Who != "eve" || log[0].Target != "ko-again" ||
		log[1].Action != review.AuditFixResubmit || log[1].Who != "dana" {
		t.Fatalf("audit log = %+v", log)
	}
	if strings.Contains(log[1].Detail, "example.org") {
		t.Fatalf("audit detail carries the payload: %q", log[1].Detail)
	}
}

func TestQueueReviewDecisionsAreKept(t *testing.T) {
	q, _, _ := newTestQueue(t, 0)
	ctx := testenv.Context(t, 30*time.Second)
	item := contact.ReviewItem{ID: "rv-1", PersonID: "p-1", TargetSystem: "offline", Reason: "self-service name",
		Proposed: contact.Values{contact.FamilyName: "Smythe"}, Current: contact.Values{contact.FamilyName: "Smith"},
		Change: contact.Change{EventID: "evt-5", SourceSystem: "online", SourceRecordID: "web-5",
			Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: queueT0,
			Values: contact.Values{contact.FamilyName: "Smythe"}},
		Created: queueT0}
	second := item
	second.ID, second.Created = "rv-2", queueT0.Add(time.Minute)
	if err := q.SaveReviews(ctx, []contact.ReviewItem{item, second}); err != nil {
		t.Fatal(err)
	}
	if err := q.DecideReview(ctx, "rv-1", review.ReviewApproved, review.Decision{Who: "ann", At: queueT0, Why: "called the donor"}, "evt-5~approved"); err != nil {
		t.Fatal(err)
	}
	if err := q.DecideReview(ctx, "rv-2", review.ReviewRejected, review.Decision{Who: "bob", At: queueT0, Why: "prank"}, ""); err != nil {
		t.Fatal(err)
	}
	// Redelivered items keep their decisions; deciding twice is refused.
	if err := q.SaveReviews(ctx, []contact.ReviewItem{item, second}); err != nil {
		t.Fatal(err)
	}
	if err := q.DecideReview(ctx, "rv-1", review.ReviewRejected, review.Decision{Who: "bob", At: queueT0, Why: "x"}, ""); !errors.Is(err, review.ErrWrongStatus) {
		t.Fatalf("second decision: %v", err)
	}
	got, err := q.Review(ctx, "rv-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != review.ReviewApproved || got.Decision == nil || got.Decision.Who != "ann" ||
		got.Decision.Why != "called the donor" || got.EmittedEventID != "evt-5~approved" ||
		got.Proposed[contact.FamilyName] != "Smythe" {
		t.Fatalf("rv-1 = %+v", got)
	}
	pending, err := q.ListReviews(ctx, review.ReviewPending, 10)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending = %v, %v", pending, err)
	}
	all, statuses, err := q.Reviews(ctx, 10)
	if err != nil || len(all) != 2 || statuses[0] != review.ReviewRejected || statuses[1] != review.ReviewApproved {
		t.Fatalf("Reviews = %v %v %v", all, statuses, err)
	}
	log, err := q.AuditLog(ctx, 10)
	if err != nil || len(log) != 2 || log[0].Action != review.AuditReject || log[0].Who != "bob" || log[1].Action != review.AuditApprove {
		t.Fatalf("audit = %+v, %v", log, err)
	}
}
