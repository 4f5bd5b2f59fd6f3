package matcher_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// memPairs is an in-memory matcher.PairReader.
type memPairs map[string]matcher.Pairs

func (p memPairs) Pairs(_ context.Context, ids []string) ([]matcher.Pairs, error) {
	out := make([]matcher.Pairs, len(ids))
	for i, id := range ids {
		out[i] = p[id]
	}
	return out, nil
}

func (p memPairs) AwaitDecisions(_ context.Context, awaits []matcher.Await) error {
	for _, a := range awaits {
		pr := p[a.RecordID]
		switch {
		case !a.Settled:
			pr.Pending = a.EventID
		case pr.Pending == a.EventID:
			pr.Pending = ""
		}
		p[a.RecordID] = pr
	}
	return nil
}

// decide is a person's decision on a record: it drops the record's mark.
func (p memPairs) decide(recordID string, must string, not ...string) {
	pr := p[recordID]
	pr.Pending, pr.MustLink, pr.CannotLink = "", must, append(pr.CannotLink, not...)
	p[recordID] = pr
}

// A decided pair is honoured: a cannot-link person is never the record's
// candidate (so neither linked nor counted as ambiguity), a must-link person
// takes the record whatever the scores, and a record already in the index
// stays where it is.
func TestIndexResolverHonoursDecidedPairs(t *testing.T) {
	annOther := ann()
	annOther[contact.Email] = "ann@elsewhere.example"
	tests := []struct {
		name     string
		pairs    func(annPerson, bobPerson string) memPairs
		change   contact.Change
		decision contact.Decision
		person   func(annPerson, bobPerson string) string // "" : a new person
	}{
		{"no decision: ann links to ann", func(a, b string) memPairs { return nil },
			upsert("online", "web-1", ann()), contact.DecisionLinked, func(a, b string) string { return a }},
		{"cannot-link: a new person instead", func(a, b string) memPairs {
			return memPairs{"online/web-1": {CannotLink: []string{a}}}
		}, upsert("online", "web-1", ann()), contact.DecisionNew, func(a, b string) string { return "" }},
		{"cannot-link another person: no effect", func(a, b string) memPairs {
			return memPairs{"online/web-1": {CannotLink: []string{b}}}
		}, upsert("online", "web-1", ann()), contact.DecisionLinked, func(a, b string) string { return a }},
		{"must-link: joins bob whatever the scores", func(a, b string) memPairs {
			return memPairs{"online/web-1": {MustLink: b}}
		}, upsert("online", "web-1", ann()), contact.DecisionLinked, func(a, b string) string { return b }},
		{"must-link of a known record: stays known", func(a, b string) memPairs {
			return memPairs{"offline/OFF-1": {MustLink: b}}
		}, func() contact.Change { c := upsert("offline", "OFF-1", annOther); c.EventID += "-2"; return c }(),
			contact.DecisionKnown, func(a, b string) string { return a }},
		{"must-link to a person that is gone: matched as usual", func(a, b string) memPairs {
			return memPairs{"online/web-1": {MustLink: "p-gone"}}
		}, upsert("online", "web-1", ann()), contact.DecisionLinked, func(a, b string) string { return a }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			first := f.resolve(t, upsert("offline", "OFF-1", ann()), upsert("offline", "OFF-2", bob()))
			a, b := first[0].Match.PersonID, first[1].Match.PersonID
			pairs := tt.pairs(a, b)
			if pairs == nil {
				pairs = memPairs{}
			}
			f.r.WithPairs(pairs)
			got := f.resolve(t, tt.change)[0].Match
			want := tt.person(a, b)
			if got.Decision != tt.decision || (want != "" && got.PersonID != want) || (want == "" && (got.PersonID == a || got.PersonID == b)) {
				t.Fatalf("got %s to %s (%s); want %s to %q", got.Decision, got.PersonID, got.Explanation, tt.decision, want)
			}
			if strings.Contains(tt.name, "must-link:") && !strings.Contains(got.Explanation, matcher.ReasonDecidedSame) {
				t.Errorf("explanation %q does not say a person decided", got.Explanation)
			}
		})
	}
}

// Two persons above the link threshold make a record ambiguous; once a
// person said it is neither of them, it is not ambiguous any more.
func TestIndexResolverCannotLinkIsNoAmbiguity(t *testing.T) {
	f := newFixture(t)
	first := f.resolve(t, upsert("offline", "OFF-1", ann()))
	// A second person holding the same record values, linked by a person.
	twin := upsert("crm", "c-1", ann())
	twin.EventID = "twin"
	f.r.WithPairs(memPairs{"crm/c-1": {CannotLink: []string{first[0].Match.PersonID}}})
	second := f.resolve(t, twin)[0].Match
	if second.Decision != contact.DecisionNew {
		t.Fatalf("twin: %+v", second)
	}
	f.r.WithPairs(nil)
	amb := f.resolve(t, upsert("online", "web-1", ann()))[0].Match
	if amb.Decision != contact.DecisionAmbiguous {
		t.Fatalf("without decisions the third record should be ambiguous: %+v", amb)
	}
	f.r.WithPairs(memPairs{"online/web-1": {CannotLink: []string{second.PersonID}}})
	c := upsert("online", "web-1", ann())
	c.EventID += "-replay"
	if got := f.resolve(t, c)[0].Match; got.Decision != contact.DecisionLinked || got.PersonID != first[0].Match.PersonID {
		t.Fatalf("after 'not %s': %+v", second.PersonID, got)
	}
}

func TestCandidatesOf(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{matcher.WithCandidates("ambiguous(multiple_persons) p=0.99 w=+9 person=p-1 keys=nm", []string{"p-1", "p-2"}), []string{"p-1", "p-2"}},
		{"ambiguous(between_thresholds) p=0.6 w=+1 person=p-9 candidates=1", []string{"p-9"}},
		{"new(no_candidates) candidates=0 above_link=0", nil},
		{matcher.WithCandidates("x", nil), nil},
	} {
		if got := matcher.CandidatesOf(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CandidatesOf(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
