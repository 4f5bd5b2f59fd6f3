package matcher_test

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// ambiguousFixture holds two persons with Ann's values (the second a crm
// record a person kept apart from the first), so that an online record with
// Ann's values is ambiguous; annA and annB are their person ids.
func ambiguousFixture(t *testing.T) (f fixture, pairs memPairs, annA, annB string) {
	t.Helper()
	f = newFixture(t)
	annA = f.resolve(t, upsert("offline", "OFF-1", ann()))[0].Match.PersonID
	pairs = memPairs{"crm/c-1": {CannotLink: []string{annA}}}
	f.r.WithPairs(pairs)
	twin := upsert("crm", "c-1", ann())
	annB = f.resolve(t, twin)[0].Match.PersonID
	if annB == annA {
		t.Fatal("the twin joined Ann")
	}
	return f, pairs, annA, annB
}

func event(id string, v contact.Values) contact.Change {
	c := upsert("online", "web-1", v)
	c.EventID = id
	return c
}

// A record kicked out as ambiguous is never linked or made a new person by a
// later event before a person decided: the later events are held (and name
// the event to decide), in a later batch or the same one; a redo of the
// ambiguous event itself is matched again; a decision lets the replays flow.
func TestIndexResolverHoldsRecordsAwaitingADecision(t *testing.T) {
	const web1 = "online/web-1"
	type step struct {
		batch    []contact.Change
		decide   func(p memPairs, annA, annB string) // before the batch: a person's decision
		forget   bool                                // before the batch: the memos are lost (a crash before they were written)
		want     []contact.Decision                  // per change
		awaiting []string                            // per change: the event it is held for
	}
	held := contact.DecisionAmbiguous
	tests := []struct {
		name  string
		steps []step
	}{
		{"a later event with other values is held, not a new person", []step{
			{batch: []contact.Change{event("e1", ann())}, want: []contact.Decision{held}, awaiting: []string{""}},
			{batch: []contact.Change{event("e2", bob())}, want: []contact.Decision{held}, awaiting: []string{"e1"}},
			{batch: []contact.Change{event("e3", ann())}, want: []contact.Decision{held}, awaiting: []string{"e1"}},
		}},
		{"in the same batch too", []step{
			{batch: []contact.Change{event("e1", ann()), event("e2", bob()), event("e3", bob())},
				want: []contact.Decision{held, held, held}, awaiting: []string{"", "e1", "e1"}},
		}},
		{"a redo of the ambiguous event (its memo lost) is matched again, not held", []step{
			{batch: []contact.Change{event("e1", ann())}, want: []contact.Decision{held}, awaiting: []string{""}},
			{batch: []contact.Change{event("e1", ann())}, forget: true, want: []contact.Decision{held}, awaiting: []string{""}},
			{batch: []contact.Change{event("e2", ann())}, want: []contact.Decision{held}, awaiting: []string{"e1"}},
		}},
		{"a held event redone after the decision stays held (its memo)", []step{
			{batch: []contact.Change{event("e1", ann()), event("e2", bob())}, want: []contact.Decision{held, held}, awaiting: []string{"", "e1"}},
			{batch: []contact.Change{event("e2", bob())}, decide: func(p memPairs, a, b string) { p.decide(web1, "", a, b) },
				want: []contact.Decision{held}, awaiting: []string{"e1"}},
		}},
		{"after 'different' the replays flow: a new person, then known", []step{
			{batch: []contact.Change{event("e1", ann()), event("e2", bob())}, want: []contact.Decision{held, held}, awaiting: []string{"", "e1"}},
			{batch: []contact.Change{event("e1~r1", ann()), event("e2~r1", bob())}, decide: func(p memPairs, a, b string) { p.decide(web1, "", a, b) },
				want: []contact.Decision{contact.DecisionNew, contact.DecisionKnown}, awaiting: []string{"", ""}},
		}},
		{"after 'same' the replays flow: both linked as decided", []step{
			{batch: []contact.Change{event("e1", ann())}, want: []contact.Decision{held}, awaiting: []string{""}},
			{batch: []contact.Change{event("e2", bob())}, want: []contact.Decision{held}, awaiting: []string{"e1"}},
			{batch: []contact.Change{event("e1~r1", ann()), event("e2~r1", bob())}, decide: func(p memPairs, a, b string) { p.decide(web1, b) },
				want: []contact.Decision{contact.DecisionLinked, contact.DecisionLinked}, awaiting: []string{"", ""}},
		}},
		{"'cannot tell' decides nothing: still held", []step{
			{batch: []contact.Change{event("e1", ann())}, want: []contact.Decision{held}, awaiting: []string{""}},
			{batch: []contact.Change{event("e2", bob())}, decide: func(p memPairs, a, b string) {}, want: []contact.Decision{held}, awaiting: []string{"e1"}},
		}},
		{"a mark whose event is no longer ambiguous is dropped", []step{
			{batch: []contact.Change{event("e1", bob())}, decide: func(p memPairs, a, b string) { p[web1] = matcher.Pairs{Pending: "e1"} },
				want: []contact.Decision{contact.DecisionNew}, awaiting: []string{""}},
			{batch: []contact.Change{event("e2", bob())}, want: []contact.Decision{contact.DecisionKnown}, awaiting: []string{""}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, pairs, annA, annB := ambiguousFixture(t)
			for n, s := range tt.steps {
				if s.decide != nil {
					s.decide(pairs, annA, annB)
				}
				if s.forget {
					clear(f.store.memos)
				}
				got := f.resolve(t, s.batch...)
				for i, r := range got {
					if r.Match.Decision != s.want[i] || r.Awaiting != s.awaiting[i] {
						t.Fatalf("step %d, %s: %s awaiting %q (%s); want %s awaiting %q",
							n+1, s.batch[i].EventID, r.Match.Decision, r.Awaiting, r.Match.Explanation, s.want[i], s.awaiting[i])
					}
					if r.Awaiting != "" && (r.Match.PersonID != "" || r.Links != nil) {
						t.Errorf("step %d, %s: a held event names person %q, links %v", n+1, s.batch[i].EventID, r.Match.PersonID, r.Links)
					}
				}
			}
			if owner, _ := f.idx.PersonOf(web1); tt.steps[len(tt.steps)-1].want[0] == held && owner != "" {
				t.Errorf("a record awaiting a decision is in the index, of person %s", owner)
			}
		})
	}
}
