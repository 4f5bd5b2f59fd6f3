package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// SplitStore is what splitting a person needs from the identity index and
// the golden state. Record ids are the index's ("system/record id",
// matcher.RecordID).
type SplitStore interface {
	// Members returns the record ids of a person, sorted.
	Members(ctx context.Context, personID string) ([]string, error)
	// Latest returns the latest values the person's golden state keeps of
	// each of its records (by record id), and the source system and record
	// id of each.
	Latest(ctx context.Context, personID string) (map[string]RecordLatest, error)
	// Move moves records of from to the new person to.
	Move(ctx context.Context, from, to string, recordIDs []string) error
	// Unlink drops the links of personID to these records.
	Unlink(ctx context.Context, personID string, records []RecordLatest) error
	// DropState drops a person's golden state: the next change rebuilds it.
	DropState(ctx context.Context, personID string) error
}

// RecordLatest is one record of a person with the latest values the state
// keeps of it (nil when it keeps none: a second record of one system).
type RecordLatest struct {
	RecordID       string         `json:"record_id"`
	SourceSystem   string         `json:"system"`
	SourceRecordID string         `json:"source_record_id"`
	Values         contact.Values `json:"values,omitempty"`
}

// SplitPlan is what a split does: which records move to which new person.
type SplitPlan struct {
	PersonID    string   `json:"person_id"`
	NewPersonID string   `json:"new_person_id"`
	Moved       []string `json:"moved"`
	Kept        []string `json:"kept"`
}

// PlanSplit checks a split of person (with members) into the chosen
// records and the rest, and names the new person: derived from the person
// and the moved records, so a retried split names the same person, and
// never the id of a person the matcher derives from a record id.
func PlanSplit(personID string, members, chosen []string) (SplitPlan, error) {
	p := SplitPlan{PersonID: personID}
	if len(members) == 0 {
		return p, invalidf("person %s has no records", personID)
	}
	seen := map[string]bool{}
	for _, c := range chosen {
		if seen[c] {
			continue
		}
		seen[c] = true
		if !slices.Contains(members, c) {
			return p, invalidf("record %s is not one of %s's records", c, personID)
		}
		p.Moved = append(p.Moved, c)
	}
	if len(p.Moved) == 0 {
		return p, invalidf("choose the records that are another person")
	}
	for _, m := range members {
		if !seen[m] {
			p.Kept = append(p.Kept, m)
		}
	}
	if len(p.Kept) == 0 {
		return p, invalidf("choose some of the records, not all: the rest stay with %s", personID)
	}
	slices.Sort(p.Moved)
	sum := sha256.Sum256([]byte("split\x00" + personID + "\x00" + strings.Join(p.Moved, "\x00")))
	p.NewPersonID = "p-" + hex.EncodeToString(sum[:12])
	return p, nil
}

// SplitRequest asks to split records off a person.
type SplitRequest struct {
	Records []string `json:"records"`
	Why     string   `json:"why"`
}

// SplitResult reports a split.
type SplitResult struct {
	SplitPlan
	// Replayed are the records whose latest values were sent again, so the
	// router rebuilds both persons and tells the systems; NotReplayed the
	// records the state kept no values of (they stay linked, their next
	// change brings them in).
	Replayed    []string `json:"replayed"`
	NotReplayed []string `json:"not_replayed"`
}

// PersonRecords lists a person's records with their latest values, to
// choose what to split off.
func (s *Service) PersonRecords(ctx context.Context, personID string) ([]RecordLatest, error) {
	if s.split == nil {
		return nil, conflictf("this dashboard cannot reach the identity index")
	}
	members, err := s.split.Members(ctx, personID)
	if err != nil {
		return nil, err
	}
	latest, err := s.split.Latest(ctx, personID)
	if err != nil {
		return nil, err
	}
	out := make([]RecordLatest, len(members))
	for i, m := range members {
		out[i] = latest[m]
		out[i].RecordID = m
	}
	return out, nil
}

// Split splits the chosen records off a person found to be two people: they
// move to a new person in the identity index, a cannot-link pair keeps the
// parts apart, the persons' links to the other part's records go, and both
// golden states are rebuilt from their own records' latest values by
// replaying those values as admin changes through the pipeline (the router
// rebuilds each state and sends the systems what changed, as for any
// change). Audited.
func (s *Service) Split(ctx context.Context, personID, who string, req SplitRequest) (SplitResult, error) {
	switch {
	case s.split == nil || s.pairs == nil:
		return SplitResult{}, conflictf("this dashboard cannot reach the identity index")
	case s.producer == nil:
		return SplitResult{}, conflictf("this dashboard has no Kafka producer")
	case who == "":
		return SplitResult{}, invalidf("who is splitting is unknown")
	case strings.TrimSpace(req.Why) == "":
		return SplitResult{}, invalidf("say why the records are another person")
	}
	release, err := s.store.Claim(ctx, "split", personID, claimTTL)
	if errors.Is(err, ErrBusy) {
		return SplitResult{}, conflictf("%s is being split by another request", personID)
	}
	if err != nil {
		return SplitResult{}, err
	}
	defer release()
	members, err := s.split.Members(ctx, personID)
	if err != nil {
		return SplitResult{}, err
	}
	plan, err := PlanSplit(personID, members, req.Records)
	if err != nil {
		return SplitResult{}, err
	}
	latest, err := s.split.Latest(ctx, personID)
	if err != nil {
		return SplitResult{}, err
	}
	d := Decision{Who: who, At: s.now().UTC(), Why: strings.TrimSpace(req.Why)}
	if err := s.split.Move(ctx, personID, plan.NewPersonID, plan.Moved); err != nil {
		return SplitResult{}, conflictf("split %s: %w", personID, err)
	}
	// The pairs: the parts are two persons, and each moved record is not
	// the person it left.
	if err := s.pairs.SavePersonPair(ctx, personID, plan.NewPersonID, d); err != nil {
		return SplitResult{}, err
	}
	for _, m := range plan.Moved {
		if err := s.pairs.SavePairs(ctx, PairDecision{RecordID: m, Kind: PairDifferent, Persons: []string{personID}, Decision: d}); err != nil {
			return SplitResult{}, err
		}
	}
	var moved []RecordLatest
	for _, m := range plan.Moved {
		moved = append(moved, latest[m])
	}
	if err := s.split.Unlink(ctx, personID, moved); err != nil {
		return SplitResult{}, err
	}
	if err := s.split.DropState(ctx, personID); err != nil {
		return SplitResult{}, err
	}
	res := SplitResult{SplitPlan: plan, Replayed: []string{}, NotReplayed: []string{}}
	var recs []*kgo.Record
	for _, id := range append(slices.Clone(plan.Kept), plan.Moved...) {
		l := latest[id]
		if len(l.Values) == 0 || l.SourceSystem == "" {
			res.NotReplayed = append(res.NotReplayed, id)
			continue
		}
		c := splitChange(plan, l, s.now().UTC())
		val, err := s.codec.EncodeChange(c)
		if err != nil {
			return res, fmt.Errorf("encode the change of %s: %w", id, err)
		}
		recs = append(recs, &kgo.Record{Topic: s.src.Topics.Replay, Key: []byte(c.SourceSystem + "/" + c.SourceRecordID), Value: val,
			Headers: []kgo.RecordHeader{{Key: pipeline.HeaderFormat, Value: []byte(pipeline.FormatChange)}}})
		res.Replayed = append(res.Replayed, id)
	}
	if len(recs) > 0 {
		if err := s.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return res, fmt.Errorf("send the split records' latest values: %w", err)
		}
	}
	s.log.Info("person split", zap.String("person", personID), zap.String("new_person", plan.NewPersonID),
		zap.Int("moved", len(plan.Moved)), zap.Int("kept", len(plan.Kept)), zap.String("who", who))
	if err := s.pairs.Audit(ctx, AuditEntry{At: d.At, Who: who, Action: "split", Target: personID,
		Detail: fmt.Sprintf("records %s moved to %s (%s)", strings.Join(plan.Moved, ", "), plan.NewPersonID, d.Why)}); err != nil {
		return res, err
	}
	return res, nil
}

// splitChange is the admin change that puts a record's latest values back
// through the pipeline after a split, under an event id of its own.
func splitChange(plan SplitPlan, l RecordLatest, now time.Time) contact.Change {
	sum := sha256.Sum256([]byte("split\x00" + plan.NewPersonID + "\x00" + l.RecordID))
	return contact.Change{
		EventID: "split-" + hex.EncodeToString(sum[:12]), SourceSystem: l.SourceSystem, SourceRecordID: l.SourceRecordID,
		Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: now, Values: l.Values,
	}
}
