package matcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
)

// Pairs are what people decided about one record that the matcher could not
// (a match.ambiguous kick-out, a split): the person it is (MustLink, "" when
// none) and the persons it is not (CannotLink); and, while a decision is
// still wanted, the event whose match.ambiguous kick-out awaits it
// (Pending).
type Pairs struct {
	MustLink   string
	CannotLink []string
	Pending    string
}

// PairReader reads the decided pairs of records (parallel to recordIDs), in
// one round trip, and keeps which records await a decision.
type PairReader interface {
	Pairs(ctx context.Context, recordIDs []string) ([]Pairs, error)
	// AwaitDecisions, in one round trip, marks each record of awaits as
	// waiting for a decision on the kick-out of its event, or (Settled)
	// drops the mark if it still names that event. A person's decision
	// (same or different) drops the mark too.
	AwaitDecisions(ctx context.Context, awaits []Await) error
}

// Await marks a record as waiting for a decision on its event's
// match.ambiguous kick-out; with Settled, it drops that mark (the event was
// matched again, after a crash, and is no longer ambiguous).
type Await struct {
	RecordID, EventID string
	Settled           bool
}

// Reasons of the explanations of decided records.
const (
	// ReasonDecidedSame: a person said the record is this person.
	ReasonDecidedSame = "decided_same"
	// ReasonPendingDecision: the record was kicked out as ambiguous and no
	// person has decided it yet, so its later events are held.
	ReasonPendingDecision = "pending_decision"
)

// WithPairs makes the resolver honour people's decisions from pairs: a
// record new to the index with a must-link joins that person without being
// scored; the persons a record cannot link to are never its candidates, so
// they are neither linked nor counted as ambiguity. A record already in the
// index stays where it is (as without decisions: moving a known record is a
// split).
//
// It also keeps a record that was kicked out as ambiguous from being linked
// or made a new person by a later event before a person decided: the
// ambiguous event marks the record (Await), and every later event of it
// resolves as held (Resolution.Awaiting, a match.pending_decision kick-out
// naming the event to decide) until a decision drops the mark. It returns r.
func (r *IndexResolver) WithPairs(pairs PairReader) *IndexResolver {
	r.pairs = pairs
	return r
}

// decided splits the batch's upserts by what people decided: the returned
// index hides cannot-link persons from each record's candidates,
// mustLink[i] is the person the upsert ins[i] must join ("" if none, or if
// the record is in the index already), and pending[i] the event whose
// ambiguous kick-out the record awaits a decision on ("" if none).
func (r *IndexResolver) decided(ctx context.Context, ins []match.Incoming) (idx match.Index, mustLink, pending []string, err error) {
	if r.pairs == nil || len(ins) == 0 {
		return r.index, nil, nil, nil
	}
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.RecordID
	}
	pairs, err := r.pairs.Pairs(ctx, ids)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read decided pairs: %w", err)
	}
	if len(pairs) != len(ids) {
		return nil, nil, nil, fmt.Errorf("read decided pairs: answered %d of %d records", len(pairs), len(ids))
	}
	filter := pairFilter{Index: r.index, cannot: map[string][]string{}}
	var mustAt []int
	for i, p := range pairs {
		if len(p.CannotLink) > 0 {
			filter.cannot[ids[i]] = p.CannotLink
		}
		if p.MustLink != "" {
			mustAt = append(mustAt, i)
		}
		if p.Pending != "" {
			if pending == nil {
				pending = make([]string, len(ins))
			}
			pending[i] = p.Pending
		}
	}
	if len(mustAt) > 0 {
		asked := make([]string, len(mustAt))
		for j, i := range mustAt {
			asked[j] = ids[i]
		}
		owners, err := r.index.Owners(ctx, asked)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("owners of decided records: %w", err)
		}
		mustLink = make([]string, len(ins))
		for j, i := range mustAt {
			if j < len(owners) && owners[j] == "" {
				mustLink[i] = pairs[i].MustLink
			}
		}
	}
	if len(filter.cannot) == 0 {
		return r.index, mustLink, pending, nil
	}
	return filter, mustLink, pending, nil
}

// heldMatch is the answer for an event of a record that awaits a decision
// on the kick-out of event awaited.
func heldMatch(awaited string) contact.Match {
	return contact.Match{Decision: contact.DecisionAmbiguous,
		Explanation: fmt.Sprintf("ambiguous(%s) awaiting=%s", ReasonPendingDecision, awaited)}
}

// splitRepeats splits the batch's upserts to match into the first event of
// each record and the later events of records the index does not know yet:
// those must wait for the first one's answer (an ambiguous first event holds
// them). Later events of known records cannot be ambiguous and stay in the
// first pass; finding which are known costs one round trip, and only when
// the batch holds a record twice.
func (r *IndexResolver) splitRepeats(ctx context.Context, ins []match.Incoming, at []int) (first []match.Incoming, firstAt []int, later []match.Incoming, laterAt []int, err error) {
	if r.pairs == nil {
		return ins, at, nil, nil, nil
	}
	count := map[string]int{}
	var repeated []string
	for _, in := range ins {
		count[in.RecordID]++
		if count[in.RecordID] == 2 {
			repeated = append(repeated, in.RecordID)
		}
	}
	if len(repeated) == 0 {
		return ins, at, nil, nil, nil
	}
	owners, err := r.index.Owners(ctx, repeated)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("owners of records repeated in the batch: %w", err)
	}
	unknown := map[string]bool{}
	for i, id := range repeated {
		if i < len(owners) && owners[i] == "" {
			unknown[id] = true
		}
	}
	seen := map[string]bool{}
	for j, in := range ins {
		if unknown[in.RecordID] && seen[in.RecordID] {
			later, laterAt = append(later, in), append(laterAt, at[j])
			continue
		}
		seen[in.RecordID] = true
		first, firstAt = append(first, in), append(firstAt, at[j])
	}
	return first, firstAt, later, laterAt, nil
}

// linkDecided links a record to the person a person chose for it. ok is false
// when the index refused (the person is gone, or the record was claimed in
// between): the record is then matched as usual.
func (r *IndexResolver) linkDecided(ctx context.Context, idx match.Index, in match.Incoming, personID string) (match.Result, bool, error) {
	err := r.matcher.Link(ctx, idx, in, personID)
	switch {
	case errors.Is(err, match.ErrConflict):
		return match.Result{}, false, nil
	case err != nil:
		return match.Result{}, false, err
	}
	hh := match.HouseholdKey(in.Record)
	e := match.Explanation{Decision: contact.DecisionLinked, Reason: ReasonDecidedSame, PersonID: personID, Probability: 1,
		HouseholdKey: hh}
	return match.Result{RecordID: in.RecordID, Decision: contact.DecisionLinked, PersonID: personID, Probability: 1,
		HouseholdKey: hh, Explanation: e}, true, nil
}

// pairFilter is the index as a record with cannot-link pairs sees it: the
// persons it is not are left out of its candidates.
type pairFilter struct {
	match.Index
	cannot map[string][]string // record id -> persons it is not
}

// Lookup implements match.Index.
func (f pairFilter) Lookup(ctx context.Context, queries []match.Query) ([]match.Found, error) {
	found, err := f.Index.Lookup(ctx, queries)
	if err != nil {
		return nil, err
	}
	for i := range found {
		if i >= len(queries) {
			break
		}
		not := f.cannot[queries[i].RecordID]
		if len(not) == 0 {
			continue
		}
		found[i].Persons = slices.DeleteFunc(slices.Clone(found[i].Persons), func(p match.Person) bool {
			return slices.Contains(not, p.ID)
		})
	}
	return found, nil
}

// candidatesMark starts the list of candidate persons a match.ambiguous
// kick-out's explanation ends with, so that a person deciding it can be
// shown every candidate, not only the best one.
const candidatesMark = " || candidates: "

// WithCandidates appends the candidate persons to an explanation.
func WithCandidates(explanation string, candidates []string) string {
	if len(candidates) == 0 {
		return explanation
	}
	return explanation + candidatesMark + strings.Join(candidates, " ")
}

// CandidatesOf returns the candidate persons of a kick-out's explanation
// (WithCandidates), or else the one person it names ("person=...").
func CandidatesOf(explanation string) []string {
	if _, list, ok := strings.Cut(explanation, candidatesMark); ok {
		return strings.Fields(list)
	}
	for _, f := range strings.Fields(explanation) {
		if id, ok := strings.CutPrefix(f, "person="); ok && id != "" {
			return []string{id}
		}
	}
	return nil
}
