// Package reviewtest holds an in-memory review.Store for unit tests of the
// review service and the dashboard: the same transitions and errors as the
// Redis store, without Redis.
package reviewtest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// Store is an in-memory review.Store. Limits are applied as given (not
// capped), so tests see what the service asks for.
type Store struct {
	// Facts reads a kick-out's facts on save (default review.DefaultFacts).
	Facts func(contact.KickOut) review.Facts

	mu       sync.Mutex
	kickOuts map[string]*review.StoredKickOut
	facts    map[string]review.Facts
	reviews  map[string]*review.StoredReview
	audit    []review.AuditEntry
	claims   map[string]bool
}

var _ review.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{kickOuts: map[string]*review.StoredKickOut{}, facts: map[string]review.Facts{},
		reviews: map[string]*review.StoredReview{}, claims: map[string]bool{}}
}

// SaveKickOuts stores new kick-outs open; an id seen before is left as it is.
func (s *Store) SaveKickOuts(_ context.Context, items []contact.KickOut) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	read := s.Facts
	if read == nil {
		read = review.DefaultFacts
	}
	for _, ko := range items {
		if _, seen := s.kickOuts[ko.ID]; seen {
			continue
		}
		f := read(ko)
		k := &review.StoredKickOut{KickOut: ko, Status: review.KickOutOpen, System: f.System, RecordID: f.RecordID,
			SavedAt: time.Now().UTC()}
		for _, h := range ko.Headers {
			if h.Key == "cs-kickout-id" && string(h.Value) != ko.ID {
				k.ReplayOf = string(h.Value)
				if parent, ok := s.kickOuts[k.ReplayOf]; ok {
					parent.ReplayedAs = ko.ID
				}
			}
		}
		s.kickOuts[ko.ID], s.facts[ko.ID] = k, f
	}
	return nil
}

// SaveReviews stores new review items pending; an id seen before is left.
func (s *Store) SaveReviews(_ context.Context, items []contact.ReviewItem) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		if _, seen := s.reviews[it.ID]; !seen {
			s.reviews[it.ID] = &review.StoredReview{ReviewItem: it, Status: review.ReviewPending}
		}
	}
	return nil
}

// AddAudit appends audit entries as if people had acted (tests of the log).
func (s *Store) AddAudit(entries ...review.AuditEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit = append(s.audit, entries...)
}

// Retention is 30 days.
func (s *Store) Retention() time.Duration { return 30 * 24 * time.Hour }

// Trim does nothing: nothing expires in memory.
func (s *Store) Trim(context.Context) (int64, error) { return 0, nil }

// KickOut returns one kick-out, or review.ErrNotFound.
func (s *Store) KickOut(_ context.Context, id string) (review.StoredKickOut, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kickOuts[id]
	if !ok {
		return review.StoredKickOut{}, fmt.Errorf("kick-out %s: %w", id, review.ErrNotFound)
	}
	return *k, nil
}

// matching returns the kick-outs f selects, newest first.
func (s *Store) matching(f review.Filter) []review.StoredKickOut {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := strings.TrimSpace(f.Query)
	var out []review.StoredKickOut
	for id, k := range s.kickOuts {
		if !f.Matches(k.Status, k.Reason, k.Stage, k.System, k.FirstSeen) {
			continue
		}
		if q != "" {
			facts := s.facts[id]
			if !slices.Contains([]string{id, facts.RecordID, facts.PersonID, facts.EventID, k.EventID, k.OriginalEventID,
				k.PersonID}, q) && !(facts.Email != "" && strings.EqualFold(facts.Email, q)) {
				continue
			}
		}
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FirstSeen.Equal(out[j].FirstSeen) {
			return out[i].FirstSeen.After(out[j].FirstSeen)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// ListKickOuts returns one page of the kick-outs that match f.
func (s *Store) ListKickOuts(_ context.Context, f review.Filter) (review.Page, error) {
	all := s.matching(f)
	if f.Limit <= 0 {
		f.Limit = review.DefaultLimit
	}
	lo := min(max(f.Offset, 0), len(all))
	hi := min(lo+f.Limit, len(all))
	return review.Page{Items: all[lo:hi], Total: len(all)}, nil
}

// MatchingKickOutIDs returns the ids of up to limit matching kick-outs.
func (s *Store) MatchingKickOutIDs(_ context.Context, f review.Filter, limit int) ([]string, int, error) {
	all := s.matching(f)
	var ids []string
	for _, k := range all[:min(limit, len(all))] {
		ids = append(ids, k.ID)
	}
	return ids, len(all), nil
}

// GroupCounts counts the kick-outs per stage and reason in [from, to).
func (s *Store) GroupCounts(_ context.Context, from, to time.Time) ([]review.GroupCount, error) {
	byGroup := map[[2]string]*review.GroupCount{}
	for _, k := range s.matching(review.Filter{From: from, To: to}) {
		g := byGroup[[2]string{k.Stage, k.Reason}]
		if g == nil {
			g = &review.GroupCount{Stage: k.Stage, Reason: k.Reason}
			byGroup[[2]string{k.Stage, k.Reason}] = g
		}
		switch k.Status {
		case review.KickOutOpen:
			g.Open++
		case review.KickOutReplayed:
			g.Replayed++
		case review.KickOutResolved:
			g.Resolved++
		}
		g.Total++
	}
	out := make([]review.GroupCount, 0, len(byGroup))
	for _, g := range byGroup {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Open != out[j].Open {
			return out[i].Open > out[j].Open
		}
		return out[i].Stage+out[i].Reason < out[j].Stage+out[j].Reason
	})
	return out, nil
}

// DailyCounts counts kick-outs per UTC day of [from, to], by reason.
func (s *Store) DailyCounts(_ context.Context, from, to time.Time) ([]review.DayCount, error) {
	var out []review.DayCount
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	for d := start; !d.After(to); d = d.AddDate(0, 0, 1) {
		dc := review.DayCount{Day: d.Format("2006-01-02"), ByReason: map[string]int64{}}
		for _, k := range s.matching(review.Filter{From: d, To: d.AddDate(0, 0, 1)}) {
			dc.ByReason[k.Reason]++
			dc.Total++
		}
		out = append(out, dc)
	}
	return out, nil
}

// Systems returns the systems kick-outs were seen from.
func (s *Store) Systems(context.Context) ([]string, error) {
	var out []string
	for _, k := range s.matching(review.Filter{}) {
		if k.System != "" && !slices.Contains(out, k.System) {
			out = append(out, k.System)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CountKickOutsByStatus returns the number of kick-outs with a status.
func (s *Store) CountKickOutsByStatus(_ context.Context, status string) (int64, error) {
	return int64(len(s.matching(review.Filter{Status: status}))), nil
}

// Claim holds an item until release; a second claim gets review.ErrBusy.
func (s *Store) Claim(_ context.Context, kind, id string, _ time.Duration) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kind + ":" + id
	if s.claims[key] {
		return nil, fmt.Errorf("%s: %w", id, review.ErrBusy)
	}
	s.claims[key] = true
	return func() {
		s.mu.Lock()
		delete(s.claims, key)
		s.mu.Unlock()
	}, nil
}

// apply is the compare-and-set every transition goes through.
func (s *Store) apply(status *string, id string, t review.Transition, audit review.AuditEntry) error {
	if *status != t.From {
		return &review.StatusError{ID: id, Status: *status, Want: t.From}
	}
	*status = t.To
	s.audit = append(s.audit, audit)
	return nil
}

// MarkReplayed applies review.ReplayTransition(r).
func (s *Store) MarkReplayed(_ context.Context, id string, r review.ReplayInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kickOuts[id]
	if !ok {
		return fmt.Errorf("%s: %w", id, review.ErrNotFound)
	}
	if err := s.apply(&k.Status, id, review.ReplayTransition(r), review.ReplayAudit(id, r)); err != nil {
		return err
	}
	k.Replay = &r
	return nil
}

// Resolve applies review.ResolveKickOut.
func (s *Store) Resolve(_ context.Context, id string, d review.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kickOuts[id]
	if !ok {
		return fmt.Errorf("%s: %w", id, review.ErrNotFound)
	}
	t := review.ResolveKickOut
	if err := s.apply(&k.Status, id, t, review.DecisionAudit(t, id, d, "")); err != nil {
		return err
	}
	k.Resolution = &d
	return nil
}

// Review returns one review item, or review.ErrNotFound.
func (s *Store) Review(_ context.Context, id string) (review.StoredReview, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reviews[id]
	if !ok {
		return review.StoredReview{}, fmt.Errorf("review item %s: %w", id, review.ErrNotFound)
	}
	return *r, nil
}

// ListReviews returns up to limit review items with status, newest first.
func (s *Store) ListReviews(_ context.Context, status string, limit int) ([]review.StoredReview, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []review.StoredReview
	for _, r := range s.reviews {
		if status == "" || r.Status == status {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// CountReviews returns the number of review items with a status.
func (s *Store) CountReviews(ctx context.Context, status string) (int64, error) {
	list, err := s.ListReviews(ctx, status, 0)
	return int64(len(list)), err
}

// DecideReview applies review.DecisionTransition(status).
func (s *Store) DecideReview(_ context.Context, id, status string, d review.Decision, emittedEventID string) error {
	t, err := review.DecisionTransition(status)
	if err != nil {
		return fmt.Errorf("decide review %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reviews[id]
	if !ok {
		return fmt.Errorf("%s: %w", id, review.ErrNotFound)
	}
	if err := s.apply(&r.Status, id, t, review.DecisionAudit(t, id, d, emittedEventID)); err != nil {
		return err
	}
	r.Decision, r.EmittedEventID = &d, emittedEventID
	return nil
}

// AuditLog returns up to limit audit entries, newest first.
func (s *Store) AuditLog(_ context.Context, limit int) ([]review.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.audit)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
