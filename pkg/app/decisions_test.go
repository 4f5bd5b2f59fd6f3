package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
)

// weakAnna is an online gift from "Anna Adams" who gives only her state: the
// matcher cannot tell whether she is the offline Anna Adams (OFF-1).
func weakAnna(id, giftID string) [2]string {
	return webhook(id, `{"event_id":"evt-`+id+`","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:00:00Z","origin":"api",
		"contact":{"id":"`+id+`","reference_source":"online","first_name":"Anna","last_name":"Adams","address":{"region":"IL","country":"US"}},
		"gift":{"id":"`+giftID+`","amount":"5.00","currency":"USD"}}`)
}

func decisionService(t *testing.T, p *running) *review.Service {
	t.Helper()
	deps, err := p.app.DashboardDeps(p.prod)
	if err != nil {
		t.Fatal(err)
	}
	deps.Registry = obs.NewRegistry()
	svc, err := review.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// ambiguousKickOut waits for the collector to keep the open match.ambiguous
// kick-out of an online record.
func ambiguousKickOut(t *testing.T, p *running, svc *review.Service, recordID string) string {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	for {
		res, err := svc.List(ctx, review.Filter{Status: review.KickOutOpen, Reason: pipeline.ReasonMatchAmbiguous, Query: recordID})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 1 {
			return res.Items[0].ID
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no open match.ambiguous kick-out of %s (kick-outs on the topic: %+v)", recordID, p.kickOuts())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestDecideThenReplay: two records the matcher cannot tell apart from
// Anna (OFF-1) are kicked out; a person says one is Anna and the other is
// someone else, and each decision is replayed and honoured on the real
// broker and Redis: the first gift reaches Anna's offline record, the second
// creates a new offline contact. Then the first record is found to be a
// wrong link after all and split off Anna: it becomes a person of its own,
// created in the offline system, and Anna's state is rebuilt from her own
// record.
func TestDecideThenReplayAndSplit(t *testing.T) {
	p := startPipeline(t, nil)
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow), cdc("r", 101, "", benRow))
	p.feed(topics.OnlineEvents, weakAnna("web-5", "g-5"), weakAnna("web-6", "g-6"))
	svc := decisionService(t, p)
	ctx := testenv.Context(t, 2*time.Minute)

	same, other := ambiguousKickOut(t, p, svc, "web-5"), ambiguousKickOut(t, p, svc, "web-6")
	if got := describeAll(p.sinks("offline")); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "gift=g-5") }) {
		t.Fatalf("an ambiguous gift reached the offline sink: %q", got)
	}
	view, err := svc.Candidates(ctx, same)
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Candidates) != 1 || view.Name != "Anna Adams" || !view.CanDecide {
		t.Fatalf("candidates view: %+v", view)
	}
	anna := view.Candidates[0]
	words := review.SummaryInWords(anna.Fields)
	for _, w := range []string{"same given name", "same family name", "same region", "no phone number on the record"} {
		if !strings.Contains(words, w) && !slices.ContainsFunc(anna.Fields, func(f review.FieldComparison) bool { return f.Words == w+" (the candidate has one)" }) {
			t.Errorf("the comparison does not say %q: %q %+v", w, words, anna.Fields)
		}
	}
	if anna.Name != "Anna Adams" || anna.Town != "Springfield" {
		t.Errorf("candidate named %q, %q", anna.Name, anna.Town)
	}

	if _, err := svc.Decide(ctx, same, "dm", review.DecideRequest{Action: review.ActionSame, PersonID: anna.PersonID, Why: "same donor, phoned"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decide(ctx, other, "dm", review.DecideRequest{Action: review.ActionCannotTell, Why: "ask the branch"}); err != nil {
		t.Fatal(err)
	}
	if v, err := svc.Candidates(ctx, other); err != nil || v.Decisions.Note == nil || !v.CanDecide {
		t.Fatalf("cannot tell leaves it open with a note: %+v %v", v, err)
	}
	if _, err := svc.Decide(ctx, other, "dm", review.DecideRequest{Action: review.ActionDifferent, Why: "another Anna"}); err != nil {
		t.Fatal(err)
	}
	p.waitIdle()
	sinks := describeAll(p.sinks("offline"))
	for _, want := range []string{"gift create OFF-1 ref=online gift=g-5", "gift create ref=online gift=g-6"} {
		if !slices.Contains(sinks, want) {
			t.Errorf("offline sink lacks %q: %q", want, sinks)
		}
	}
	if !slices.ContainsFunc(sinks, func(s string) bool {
		return strings.HasPrefix(s, "contact create ref=online given_name=Anna family_name=Adams")
	}) {
		t.Errorf("the other Anna was not created offline: %q", sinks)
	}
	if n := len(p.kickOuts()); n != 2 {
		t.Errorf("%d kick-outs; the decided records were kicked out again?", n)
	}
	idx := redisstore.NewMatchIndex(p.app.Redis(), redisstore.Keys{Prefix: p.cfg.RedisPrefix})
	if owner, _ := idx.PersonOf(ctx, "online/web-5"); owner != anna.PersonID {
		t.Fatalf("web-5 belongs to %q, want %s", owner, anna.PersonID)
	}
	audit, err := svc.Audit(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	for _, a := range []string{"decide_same", "decide_note", "decide_different", "replay"} {
		if !slices.Contains(actions, a) {
			t.Errorf("audit log lacks %s: %q", a, actions)
		}
	}

	// The split: web-5 was not Anna after all.
	seen := map[string]bool{}
	for _, s := range p.sinks("offline") {
		seen[s.EventID] = true
	}
	res, err := svc.Split(ctx, anna.PersonID, "dm", review.SplitRequest{Records: []string{"online/web-5"}, Why: "her daughter"})
	if err != nil {
		t.Fatal(err)
	}
	p.waitIdle()
	if owner, _ := idx.PersonOf(ctx, "online/web-5"); owner != res.NewPersonID || owner == anna.PersonID {
		t.Fatalf("after the split web-5 belongs to %q (new person %s)", owner, res.NewPersonID)
	}
	if owner, _ := idx.PersonOf(ctx, "offline/OFF-1"); owner != anna.PersonID {
		t.Errorf("OFF-1 moved to %q", owner)
	}
	if !slices.Contains(res.Replayed, "offline/OFF-1") || !slices.Contains(res.Replayed, "online/web-5") {
		t.Errorf("split replayed %v (not %v)", res.Replayed, res.NotReplayed)
	}
	var after []contact.SinkRecord
	for _, s := range p.sinks("offline") {
		if !seen[s.EventID] {
			after = append(after, s)
		}
	}
	var created bool
	for _, s := range after {
		if s.PersonID == res.NewPersonID && s.Entity == contact.EntityContact && s.Op == contact.SinkCreate &&
			s.Set[contact.GivenName] == "Anna" && s.Set[contact.Region] == "IL" {
			created = true
		}
		if s.PersonID == res.NewPersonID && s.TargetRecordID == "OFF-1" {
			t.Errorf("the split-off person writes to Anna's offline record: %s", describe(s))
		}
	}
	t.Logf("offline sink records after the split: %q", describeAll(after))
	if !created {
		t.Errorf("the split-off person was not created offline: %q", describeAll(after))
	}
	golden, err := goldenReader{states: redisstore.NewStateStore(p.app.Redis(), redisstore.Keys{Prefix: p.cfg.RedisPrefix}, 0)}.
		Golden(ctx, []string{anna.PersonID, res.NewPersonID})
	if err != nil {
		t.Fatal(err)
	}
	if golden[0][contact.Phone] != "+12173840101" || golden[1][contact.Phone] != "" || golden[1][contact.Locality] != "" || golden[1][contact.GivenName] != "Anna" {
		t.Errorf("rebuilt golden states: %v / %v", golden[0], golden[1])
	}
	apart, err := redisstore.NewPairStore(p.app.Redis(), redisstore.Keys{Prefix: p.cfg.RedisPrefix}).PersonsApart(ctx, anna.PersonID)
	if err != nil || !slices.Equal(apart, []string{res.NewPersonID}) {
		t.Errorf("persons apart from Anna: %v %v", apart, err)
	}
	// A later change of web-5 stays with its new person.
	p.feed(topics.OnlineEvents, weakAnna("web-5", "g-7"))
	if owner, _ := idx.PersonOf(ctx, "online/web-5"); owner != res.NewPersonID {
		t.Errorf("web-5 went back to %q", owner)
	}
}

// TestLaterEventsWaitForTheDecision: a record kicked out as ambiguous gives
// again, this time with values that match nobody. Without a person's
// decision that later gift must not create a new person (nor link one): it is
// held as a match.pending_decision kick-out naming the ambiguous event. The
// decision "a different person" replays both, in order: the record becomes
// one new offline contact and both gifts reach the offline sink, once.
func TestLaterEventsWaitForTheDecision(t *testing.T) {
	p := startPipeline(t, nil)
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow), cdc("r", 101, "", benRow))
	p.feed(topics.OnlineEvents, weakAnna("web-7", "g-7"))
	svc := decisionService(t, p)
	ctx := testenv.Context(t, 2*time.Minute)
	amb := ambiguousKickOut(t, p, svc, "web-7")
	p.feed(topics.OnlineEvents, webhook("web-7", `{"event_id":"evt-web-7-b","type":"gift.created","system":"online","occurred_at":"2026-11-03T11:00:00Z","origin":"api",
		"contact":{"id":"web-7","reference_source":"online","first_name":"Zoe","last_name":"Quist","email":"zoe.quist@example.org","address":{"region":"IL","country":"US"}},
		"gift":{"id":"g-8","amount":"7.00","currency":"USD"}}`))
	var held []string
	for _, k := range p.kickOuts() {
		if k.Reason == pipeline.ReasonMatchPendingDecision {
			held = append(held, k.EventID)
			if !strings.Contains(k.Error, "evt-web-7") {
				t.Errorf("the held kick-out does not name the event to decide: %q", k.Error)
			}
		}
	}
	if !slices.Equal(held, []string{"evt-web-7-b"}) {
		t.Fatalf("held events %q; kick-outs %+v; offline sink %q", held, p.kickOuts(), describeAll(p.sinks("offline")))
	}
	if got := describeAll(p.sinks("offline")); len(got) != 0 {
		t.Fatalf("the offline sink got records before the decision: %q", got)
	}
	res, err := svc.Decide(ctx, amb, "dm", review.DecideRequest{Action: review.ActionDifferent, Why: "another Anna"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Held == nil || len(res.Held.Replayed) != 1 {
		t.Fatalf("the decision replayed %+v of the held events", res.Held)
	}
	p.waitIdle()
	sinks := describeAll(p.sinks("offline"))
	creates := 0
	for _, s := range sinks {
		if strings.HasPrefix(s, "contact create") {
			creates++
		}
	}
	if creates != 1 || !slices.Contains(sinks, "gift create ref=online gift=g-7") || !slices.Contains(sinks, "gift create ref=online gift=g-8") {
		t.Errorf("after the decision the offline sink has %q; want one contact create and gifts g-7, g-8", sinks)
	}
	if n := len(p.kickOuts()); n != 2 {
		t.Errorf("%d kick-outs, want the 2 before the decision: %+v", n, p.kickOuts())
	}
}

// TestDashboardDecidesAmbiguousMatch drives the "who is this?" screen in
// Chromium against the running pipeline: the queue row names Anna, her
// kick-out compares the record with the candidate in words, and a data
// manager decides one record is Anna and another is not; both decisions
// reach the offline sink.
func TestDashboardDecidesAmbiguousMatch(t *testing.T) {
	dashboardtest.RequireBrowser(t)
	p := startPipeline(t, map[string]string{
		dashboard.EnvUsers: dashboardtest.UsersConfig(t),
		dashboard.EnvAddr:  "127.0.0.1:0",
	})
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow))
	p.feed(topics.OnlineEvents, weakAnna("web-5", "g-5"), weakAnna("web-6", "g-6"))
	svc := decisionService(t, p)
	same, other := ambiguousKickOut(t, p, svc, "web-5"), ambiguousKickOut(t, p, svc, "web-6")

	shots := os.Getenv("CS_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dashboardtest.RepoRoot(), "tests", "browser", "decisions.mjs"),
		p.app.DashboardURL(), dashboardtest.User, dashboardtest.Password, shots)
	cmd.Env = append(os.Environ(), "CS_SAME="+same, "CS_DIFFERENT="+other, "CS_NAME=Anna Adams",
		"CS_WORDS=same given name,same family name,same region,no phone number on the record", "CS_CHROMIUM="+dashboardtest.Chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("decisions.mjs output:\n%s", out)
	if err != nil {
		t.Fatalf("browser script: %v", err)
	}
	p.waitIdle()
	sinks := describeAll(p.sinks("offline"))
	for _, want := range []string{"gift create OFF-1 ref=online gift=g-5", "gift create ref=online gift=g-6"} {
		if !slices.Contains(sinks, want) {
			t.Errorf("offline sink lacks %q: %q", want, sinks)
		}
	}
}
