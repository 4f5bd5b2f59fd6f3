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
// none) and the persons it is not (CannotLink).
type Pairs struct {
	MustLink   string
	CannotLink []string
}

// PairReader reads the decided pairs of records (parallel to recordIDs), in
// one round trip.
type PairReader interface {
	Pairs(ctx context.Context, recordIDs []string) ([]Pairs, error)
}

// Reasons of the explanations of decided records.
const (
	// ReasonDecidedSame: a person said the record is this person.
	ReasonDecidedSame = "decided_same"
)

// WithPairs makes the resolver honour people's decisions from pairs: a
// record new to the index with a must-link joins that person without being
// scored; the persons a record cannot link to are never its candidates, so
// they are neither linked nor counted as ambiguity. A record already in the
// index stays where it is (as without decisions: moving a known record is a
// split). It returns r.
func (r *IndexResolver) WithPairs(pairs PairReader) *IndexResolver {
	r.pairs = pairs
	return r
}

// decided splits the batch's upserts by what people decided: the returned
// index hides cannot-link persons from each record's candidates, and
// mustLink[i] is the person the upsert ins[i] must join ("" if none, or if
// the record is in the index already).
func (r *IndexResolver) decided(ctx context.Context, ins []match.Incoming) (match.Index, []string, error) {
	if r.pairs == nil || len(ins) == 0 {
		return r.index, nil, nil
	}
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.RecordID
	}
	pairs, err := r.pairs.Pairs(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("read decided pairs: %w", err)
	}
	if len(pairs) != len(ids) {
		return nil, nil, fmt.Errorf("read decided pairs: answered %d of %d records", len(pairs), len(ids))
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
	}
	var mustLink []string
	if len(mustAt) > 0 {
		asked := make([]string, len(mustAt))
		for j, i := range mustAt {
			asked[j] = ids[i]
		}
		owners, err := r.index.Owners(ctx, asked)
		if err != nil {
			return nil, nil, fmt.Errorf("owners of decided records: %w", err)
		}
		mustLink = make([]string, len(ins))
		for j, i := range mustAt {
			if j < len(owners) && owners[j] == "" {
				mustLink[i] = pairs[i].MustLink
			}
		}
	}
	if len(filter.cannot) == 0 {
		return r.index, mustLink, nil
	}
	return filter, mustLink, nil
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
