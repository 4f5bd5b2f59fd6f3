package redisstore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
)

// The pair store keeps decisions per record, a later decision replacing an
// earlier one that contradicts it, and audits each.
func TestPairStore(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, 30*time.Second)
	keys := redisstore.Keys{Prefix: testenv.Unique("pairs")}
	s := redisstore.NewPairStore(rdb, keys)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	save := func(kind review.PairKind, rec string, persons ...string) {
		t.Helper()
		err := s.SavePairs(ctx, review.PairDecision{RecordID: rec, KickOutID: "ko-1", Kind: kind, Persons: persons,
			Decision: review.Decision{Who: "ann", At: at, Why: "checked by phone"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(ids ...string) []matcher.Pairs {
		t.Helper()
		p, err := s.Pairs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := read("online/w1", "online/none"); !reflect.DeepEqual(got, []matcher.Pairs{{}, {}}) {
		t.Fatalf("no decisions: %+v", got)
	}
	save(review.PairDifferent, "online/w1", "p-2", "p-1")
	save(review.PairSame, "online/w2", "p-3")
	if got, want := read("online/w1", "online/w2"), []matcher.Pairs{{CannotLink: []string{"p-1", "p-2"}}, {MustLink: "p-3"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// "Same as p-1" lifts the cannot-link to p-1; "not p-3" drops the must-link.
	save(review.PairSame, "online/w1", "p-1")
	save(review.PairDifferent, "online/w2", "p-3")
	if got, want := read("online/w1", "online/w2"), []matcher.Pairs{{MustLink: "p-1", CannotLink: []string{"p-2"}}, {CannotLink: []string{"p-3"}}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after changing the decisions: got %+v, want %+v", got, want)
	}
	save(review.PairNote, "online/w3")
	d, err := s.Decided(ctx, "online/w1")
	if err != nil {
		t.Fatal(err)
	}
	if d.MustLink != "p-1" || d.MustLinkDecision == nil || d.MustLinkDecision.Who != "ann" || len(d.CannotLink) != 1 ||
		d.CannotLink[0].PersonID != "p-2" || d.CannotLink[0].Why != "checked by phone" || !d.CannotLink[0].At.Equal(at) {
		t.Errorf("decided: %+v", d)
	}
	if d, _ := s.Decided(ctx, "online/w3"); d.Note == nil || d.Note.Why != "checked by phone" {
		t.Errorf("note: %+v", d)
	}
	if err := s.SavePairs(ctx, review.PairDecision{RecordID: "x", Kind: review.PairSame}); err == nil {
		t.Error("a must-link without a person was kept")
	}

	audit, err := redisstore.NewQueue(rdb, keys, nil, 0).AuditLog(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action+" "+e.Target)
		if e.Who != "ann" || !strings.Contains(e.Detail, "checked by phone") {
			t.Errorf("audit entry %+v", e)
		}
	}
	want := []string{"decide_note online/w3", "decide_different online/w2", "decide_same online/w1", "decide_same online/w2", "decide_different online/w1"}
	if !reflect.DeepEqual(actions, want) {
		t.Errorf("audit %q, want %q", actions, want)
	}

	if err := s.SavePersonPair(ctx, "p-a", "p-b", review.Decision{Who: "ann", At: at}); err != nil {
		t.Fatal(err)
	}
	for _, pr := range [][2]string{{"p-a", "p-b"}, {"p-b", "p-a"}} {
		if got, err := s.PersonsApart(ctx, pr[0]); err != nil || !reflect.DeepEqual(got, []string{pr[1]}) {
			t.Errorf("apart from %s: %v %v", pr[0], got, err)
		}
	}
}

// On the Redis index, a cannot-link keeps a record from its person, and a
// must-link takes it to another.
func TestMatchResolverHonoursPairs(t *testing.T) {
	ctx, pairs, r, ann, bob := pairsOnRedis(t, "pairsr")
	up := func(system, id string, v contact.Values) contact.Change {
		return contact.Change{EventID: "ev-" + id, SourceSystem: system, SourceRecordID: id, Op: contact.OpUpsert, Values: v}
	}
	first := resolve(t, ctx, r, up("offline", "OFF-1", ann), up("offline", "OFF-2", bob))
	a, b := first[0].Match.PersonID, first[1].Match.PersonID
	dec := review.Decision{Who: "ann", At: time.Now()}
	if err := pairs.SavePairs(ctx, review.PairDecision{RecordID: "online/w1", Kind: review.PairDifferent, Persons: []string{a}, Decision: dec}); err != nil {
		t.Fatal(err)
	}
	if err := pairs.SavePairs(ctx, review.PairDecision{RecordID: "online/w2", Kind: review.PairSame, Persons: []string{b}, Decision: dec}); err != nil {
		t.Fatal(err)
	}
	// w1 alone first: once w2 (Ann's values) joins b, b is a fair candidate for w1.
	got := append(resolve(t, ctx, r, up("online", "w1", ann)), resolve(t, ctx, r, up("online", "w2", ann), up("online", "w3", ann))...)
	if got[0].Match.Decision != contact.DecisionNew || got[0].Match.PersonID == a {
		t.Errorf("cannot-link: %+v", got[0].Match)
	}
	if got[1].Match.Decision != contact.DecisionLinked || got[1].Match.PersonID != b {
		t.Errorf("must-link: %+v", got[1].Match)
	}
	if got[2].Match.Decision != contact.DecisionAmbiguous {
		t.Errorf("undecided record: %+v", got[2].Match)
	}
	if owner, err := r.idx.PersonOf(ctx, "online/w2"); err != nil || owner != b {
		t.Errorf("index owner of w2: %q %v", owner, err)
	}
}

// On Redis: a record kicked out as ambiguous is marked; its later events are
// held (never a new person) until a decision drops the mark, and the
// replays then flow. A mark is dropped only by its own event settling.
func TestMatchResolverHoldsRecordsAwaitingADecision(t *testing.T) {
	ctx, pairs, r, ann, bob := pairsOnRedis(t, "pending")
	ev := func(system, id, event string, v contact.Values) contact.Change {
		return contact.Change{EventID: event, SourceSystem: system, SourceRecordID: id, Op: contact.OpUpsert, Values: v}
	}
	dec := review.Decision{Who: "ann", At: time.Now()}
	// Two persons with Ann's values (a person kept the crm record apart).
	a := resolve(t, ctx, r, ev("offline", "OFF-1", "e0", ann))[0].Match.PersonID
	if err := pairs.SavePairs(ctx, review.PairDecision{RecordID: "crm/c1", Kind: review.PairDifferent, Persons: []string{a}, Decision: dec}); err != nil {
		t.Fatal(err)
	}
	b := resolve(t, ctx, r, ev("crm", "c1", "e0", ann))[0].Match.PersonID

	got := resolve(t, ctx, r, ev("online", "w1", "e1", ann), ev("online", "w1", "e2", bob))
	if got[0].Match.Decision != contact.DecisionAmbiguous || got[0].Awaiting != "" || got[1].Awaiting != "e1" {
		t.Fatalf("ambiguous then the same batch: %+v", got)
	}
	later := resolve(t, ctx, r, ev("online", "w1", "e3", bob))[0]
	if later.Awaiting != "e1" || later.Match.PersonID != "" {
		t.Fatalf("a later batch: %+v", later)
	}
	if d, err := pairs.Decided(ctx, "online/w1"); err != nil || d.Pending != "e1" {
		t.Fatalf("decisions of w1: %+v %v", d, err)
	}
	if owner, err := r.idx.PersonOf(ctx, "online/w1"); err != nil || owner != "" {
		t.Fatalf("a held record is in the index: %q %v", owner, err)
	}
	if err := pairs.SavePairs(ctx, review.PairDecision{RecordID: "online/w1", Kind: review.PairDifferent, Persons: []string{a, b}, Decision: dec}); err != nil {
		t.Fatal(err)
	}
	got = resolve(t, ctx, r, ev("online", "w1", "e1~r1", ann), ev("online", "w1", "e2~r1", bob), ev("online", "w1", "e3~r1", bob))
	if got[0].Match.Decision != contact.DecisionNew || got[1].Match.Decision != contact.DecisionKnown || got[2].Match.PersonID != got[0].Match.PersonID {
		t.Fatalf("replays after the decision: %+v", got)
	}

	// A mark is dropped by its own event only.
	if err := pairs.AwaitDecisions(ctx, []matcher.Await{{RecordID: "online/w9", EventID: "e9"}, {RecordID: "online/w9", EventID: "e8", Settled: true}}); err != nil {
		t.Fatal(err)
	}
	if p, err := pairs.Pairs(ctx, []string{"online/w9"}); err != nil || p[0].Pending != "e9" {
		t.Fatalf("after another event settled: %+v %v", p, err)
	}
	if err := pairs.AwaitDecisions(ctx, []matcher.Await{{RecordID: "online/w9", EventID: "e9", Settled: true}}); err != nil {
		t.Fatal(err)
	}
	if p, err := pairs.Pairs(ctx, []string{"online/w9"}); err != nil || p[0].Pending != "" {
		t.Fatalf("after its event settled: %+v %v", p, err)
	}
}

// pairsOnRedis is what the pair tests on Redis share: a resolver on a fresh
// key prefix that honours the pair store's decisions, and two unrelated
// people.
func pairsOnRedis(t *testing.T, prefix string) (ctx context.Context, pairs *redisstore.PairStore, r resolverUnderTest, ann, bob contact.Values) {
	t.Helper()
	rdb, _ := testenv.Redis(t)
	ctx = testenv.Context(t, time.Minute)
	keys := redisstore.Keys{Prefix: testenv.Unique(prefix)}
	pairs = redisstore.NewPairStore(rdb, keys)
	r = newResolver(rdb, keys, defaultMatcher(t))
	r.WithPairs(pairs)
	ann = contact.Values{contact.GivenName: "Ann", contact.FamilyName: "Lee", contact.Email: "ann.lee@lee-family.net",
		contact.DateOfBirth: "1980-04-12", contact.Country: "AU"}
	bob = contact.Values{contact.GivenName: "Boris", contact.FamilyName: "Novak", contact.Email: "boris@novak.example",
		contact.DateOfBirth: "1961-11-02", contact.Country: "AU"}
	return ctx, pairs, r, ann, bob
}
