package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
)

// FieldDiff is one held field of a review item.
type FieldDiff struct {
	Field    string `json:"field"`
	Current  string `json:"current"`
	Proposed string `json:"proposed"`
}

// ReviewView is a review item as shown to a person.
type ReviewView struct {
	ID             string      `json:"id"`
	Status         string      `json:"status"`
	PersonID       string      `json:"person_id"`
	TargetSystem   string      `json:"target_system"`
	Reason         string      `json:"reason"`
	Created        time.Time   `json:"created"`
	Fields         []FieldDiff `json:"fields"`
	Change         ChangeJSON  `json:"change"`
	Decision       *Decision   `json:"decision,omitempty"`
	EmittedEventID string      `json:"emitted_event_id,omitempty"`
	// Name and Town name the person, from the change.
	Name string `json:"name,omitempty"`
	Town string `json:"town,omitempty"`
}

func reviewViewOf(r StoredReview) ReviewView {
	v := ReviewView{ID: r.ID, Status: r.Status, PersonID: r.PersonID, TargetSystem: r.TargetSystem, Reason: r.Reason,
		Created: r.Created.UTC(), Change: changeToJSON(r.Change), Decision: r.Decision,
		EmittedEventID: r.EmittedEventID, Fields: []FieldDiff{}}
	named := contact.Values{}
	for _, vs := range []contact.Values{r.Current, r.Change.Values, r.Proposed} {
		for f, x := range vs {
			if x != "" {
				named[f] = x
			}
		}
	}
	v.Name, v.Town = NameAndTown(named)
	for _, f := range contact.Fields {
		if p, ok := r.Proposed[f.Name]; ok {
			v.Fields = append(v.Fields, FieldDiff{Field: string(f.Name), Current: r.Current[f.Name], Proposed: p})
		}
	}
	var custom []string // the rules file's custom fields, after the built-in ones
	for f := range r.Proposed {
		if _, builtin := contact.Lookup(f); !builtin {
			custom = append(custom, string(f))
		}
	}
	slices.Sort(custom)
	for _, f := range custom {
		name := contact.Field(f)
		v.Fields = append(v.Fields, FieldDiff{Field: f, Current: r.Current[name], Proposed: r.Proposed[name]})
	}
	return v
}

// Reviews lists review items with status ("" for all), newest first.
func (s *Service) Reviews(ctx context.Context, status string, limit int) ([]ReviewView, error) {
	if status != "" && !slices.Contains(ReviewStatuses, status) {
		return nil, invalidf("status %q is not one of %v", status, ReviewStatuses)
	}
	items, err := s.store.ListReviews(ctx, status, capLimit(limit, DefaultReviewLimit, MaxLimit))
	if err != nil {
		return nil, err
	}
	out := make([]ReviewView, len(items))
	for i, it := range items {
		out[i] = reviewViewOf(it)
	}
	return out, nil
}

// Approve sends a pending item's held change onward (to the replay topic,
// where it re-enters at ingest as an admin change) and records who
// approved it and why.
func (s *Service) Approve(ctx context.Context, id, who, why string) (ReviewView, error) {
	if s.producer == nil {
		return ReviewView{}, conflictf("this dashboard has no Kafka producer")
	}
	release, err := s.store.Claim(ctx, "rv", id, claimTTL)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			return ReviewView{}, conflictf("%s is being decided by another request", id)
		}
		return ReviewView{}, err
	}
	defer release()
	it, err := s.store.Review(ctx, id)
	if err != nil {
		return ReviewView{}, err
	}
	if it.Status != ReviewPending {
		return ReviewView{}, conflictf("%s is %s already", id, it.Status)
	}
	rec, change, err := approveRecord(s.src.Topics, s.codec, it.ReviewItem)
	if err != nil {
		return ReviewView{}, err
	}
	if err := s.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return ReviewView{}, fmt.Errorf("send approved change of %s: %w", id, err)
	}
	d := Decision{Who: who, At: s.now().UTC(), Why: strings.TrimSpace(why)}
	if err := s.store.DecideReview(ctx, id, ReviewApproved, d, change.EventID); err != nil {
		s.log.Error("approved change sent but the decision could not be recorded", zap.String("id", id), zap.Error(err))
		return ReviewView{}, fmt.Errorf("the approved change of %s was sent but the decision could not be recorded: %w", id, err)
	}
	s.metrics.decisions.WithLabelValues(ReviewApproved).Inc()
	s.log.Info("review item approved", zap.String("id", id), zap.String("who", who), zap.String("target", it.TargetSystem))
	it.Status, it.Decision, it.EmittedEventID = ReviewApproved, &d, change.EventID
	return reviewViewOf(it), nil
}

// Reject records who rejected a pending item and why; nothing is sent.
func (s *Service) Reject(ctx context.Context, id, who, why string) (ReviewView, error) {
	if strings.TrimSpace(why) == "" {
		return ReviewView{}, invalidf("say why the change is rejected")
	}
	d := Decision{Who: who, At: s.now().UTC(), Why: strings.TrimSpace(why)}
	if err := s.store.DecideReview(ctx, id, ReviewRejected, d, ""); err != nil {
		return ReviewView{}, conflictOf(err)
	}
	s.metrics.decisions.WithLabelValues(ReviewRejected).Inc()
	s.log.Info("review item rejected", zap.String("id", id), zap.String("who", who))
	it, err := s.store.Review(ctx, id)
	if err != nil {
		return ReviewView{}, err
	}
	return reviewViewOf(it), nil
}

// Audit returns the newest audit entries.
func (s *Service) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	return s.store.AuditLog(ctx, capLimit(limit, DefaultAuditLimit, MaxAuditLimit))
}
