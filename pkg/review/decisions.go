package review

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// PairKind is what a person decided about a record and candidate persons.
type PairKind string

// The decisions on a match.ambiguous kick-out.
const (
	// PairSame: the record is the person (a must-link).
	PairSame PairKind = "same"
	// PairDifferent: the record is none of the persons (cannot-links).
	PairDifferent PairKind = "different"
	// PairNote: cannot tell; the kick-out stays open with a note.
	PairNote PairKind = "note"
)

// PairDecision is one decision about a record (an index record id,
// matcher.RecordID) and persons, with who made it, when and why.
type PairDecision struct {
	RecordID  string
	KickOutID string
	Kind      PairKind
	Persons   []string
	Decision
}

// PersonDecision is a decision about one person.
type PersonDecision struct {
	PersonID string `json:"person_id"`
	Decision
}

// RecordDecisions are the decisions kept about one record.
type RecordDecisions struct {
	RecordID         string           `json:"record_id"`
	MustLink         string           `json:"must_link,omitempty"`
	MustLinkDecision *Decision        `json:"must_link_decision,omitempty"`
	CannotLink       []PersonDecision `json:"cannot_link,omitempty"`
	Note             *Decision        `json:"note,omitempty"`
	// Pending is the event whose match.ambiguous kick-out the record awaits
	// a decision on: its later events are held until then.
	Pending string `json:"pending,omitempty"`
}

// PairWriter keeps people's decisions in the identity index, where the
// matcher honours them, and audits each one.
type PairWriter interface {
	SavePairs(ctx context.Context, d PairDecision) error
	Decided(ctx context.Context, recordID string) (RecordDecisions, error)
	// SavePersonPair keeps that persons a and b are not one person.
	SavePersonPair(ctx context.Context, a, b string, d Decision) error
	PersonsApart(ctx context.Context, personID string) ([]string, error)
	// Audit appends an entry to the audit log.
	Audit(ctx context.Context, e AuditEntry) error
}

// PersonReader reads persons' current (golden) values, parallel to ids (nil
// for a person with no state).
type PersonReader interface {
	Golden(ctx context.Context, personIDs []string) ([]contact.Values, error)
}

// CandidateView is one candidate person beside the record.
type CandidateView struct {
	PersonID string            `json:"person_id"`
	Name     string            `json:"name"`
	Town     string            `json:"town"`
	Known    bool              `json:"known"` // the person has a golden state
	Fields   []FieldComparison `json:"fields"`
	Summary  string            `json:"summary"`
	// Apart: a person decided the record is not this person.
	Apart bool `json:"apart"`
}

// CandidatesView is a match.ambiguous kick-out's record beside each
// candidate person, for a person to decide.
type CandidatesView struct {
	KickOutID  string          `json:"kickout_id"`
	RecordID   string          `json:"record_id"`
	Name       string          `json:"name"`
	Town       string          `json:"town"`
	Candidates []CandidateView `json:"candidates"`
	Decisions  RecordDecisions `json:"decisions"`
	// CanDecide is false (with why) when the kick-out cannot be replayed.
	CanDecide   bool   `json:"can_decide"`
	CannotWhy   string `json:"cannot_why,omitempty"`
	Explanation string `json:"explanation"`
}

// Actions of a decision request.
const (
	ActionSame       = "same"
	ActionDifferent  = "different"
	ActionCannotTell = "cannot_tell"
)

// DecideRequest is a person's decision on a match.ambiguous kick-out.
type DecideRequest struct {
	Action   string `json:"action"`
	PersonID string `json:"person_id,omitempty"` // for "same"
	Why      string `json:"why,omitempty"`
}

// DecideResult says what was decided and, unless left open, the replay.
type DecideResult struct {
	Action   string        `json:"action"`
	RecordID string        `json:"record_id"`
	Persons  []string      `json:"persons"`
	Replay   *ReplayResult `json:"replay,omitempty"`
	// Held are the record's later events that were held (match.pending_decision
	// kick-outs) until this decision, replayed after it.
	Held *BulkResult `json:"held,omitempty"`
}

// ambiguous loads a match.ambiguous kick-out with its change and record id.
func (s *Service) ambiguous(ctx context.Context, id string) (StoredKickOut, contact.Change, string, error) {
	if s.pairs == nil {
		return StoredKickOut{}, contact.Change{}, "", conflictf("this dashboard cannot reach the identity index")
	}
	k, err := s.store.KickOut(ctx, id)
	if err != nil {
		return k, contact.Change{}, "", err
	}
	if k.Reason != pipeline.ReasonMatchAmbiguous {
		return k, contact.Change{}, "", invalidf("%s is a %s kick-out, not %s", id, k.Reason, pipeline.ReasonMatchAmbiguous)
	}
	o := originOf(s.src, k.KickOut)
	c, _, err := decodeChange(s.codec, o.Format, k.Value)
	if err != nil {
		return k, c, "", invalidf("the kick-out's record cannot be read: %w", err)
	}
	if c.SourceSystem == "" || c.SourceRecordID == "" {
		return k, c, "", invalidf("the kick-out's record has no system or record id")
	}
	return k, c, matcher.RecordID(c.SourceSystem, c.SourceRecordID), nil
}

// Candidates shows a match.ambiguous kick-out's record beside each candidate
// person, field by field, in words.
func (s *Service) Candidates(ctx context.Context, id string) (CandidatesView, error) {
	k, c, recordID, err := s.ambiguous(ctx, id)
	if err != nil {
		return CandidatesView{}, err
	}
	v := CandidatesView{KickOutID: id, RecordID: recordID, Candidates: []CandidateView{}, Explanation: k.Explanation}
	v.Name, v.Town = NameAndTown(c.Values)
	if v.Decisions, err = s.pairs.Decided(ctx, recordID); err != nil {
		return v, err
	}
	ids := matcher.CandidatesOf(k.Explanation)
	var golden []contact.Values
	if s.persons != nil && len(ids) > 0 {
		if golden, err = s.persons.Golden(ctx, ids); err != nil {
			return v, err
		}
	}
	for i, pid := range ids {
		var g contact.Values
		if i < len(golden) {
			g = golden[i]
		}
		cv := CandidateView{PersonID: pid, Known: g != nil, Fields: CompareInWords(c.Values, g)}
		cv.Name, cv.Town = NameAndTown(g)
		cv.Summary = SummaryInWords(cv.Fields)
		cv.Apart = slices.ContainsFunc(v.Decisions.CannotLink, func(d PersonDecision) bool { return d.PersonID == pid })
		v.Candidates = append(v.Candidates, cv)
	}
	if why := s.cannotReplay(k, originOf(s.src, k.KickOut)); why != "" {
		v.CannotWhy = why
	} else {
		v.CanDecide = true
	}
	return v, nil
}

// Decide carries out a person's decision on a match.ambiguous kick-out:
// "same" keeps a must-link to the chosen candidate, "different" a
// cannot-link to every candidate, and both then replay the record, which the
// matcher now resolves as decided; "cannot_tell" keeps a note (why is
// required) and leaves the kick-out open. Each decision is audited.
func (s *Service) Decide(ctx context.Context, id, who string, req DecideRequest) (DecideResult, error) {
	if who == "" {
		return DecideResult{}, invalidf("who is deciding is unknown")
	}
	k, c, recordID, err := s.ambiguous(ctx, id)
	if err != nil {
		return DecideResult{}, err
	}
	candidates := matcher.CandidatesOf(k.Explanation)
	d := PairDecision{RecordID: recordID, KickOutID: id,
		Decision: Decision{Who: who, At: s.now().UTC(), Why: strings.TrimSpace(req.Why)}}
	switch req.Action {
	case ActionSame:
		if !slices.Contains(candidates, req.PersonID) {
			return DecideResult{}, invalidf("%q is not a candidate of %s", req.PersonID, id)
		}
		d.Kind, d.Persons = PairSame, []string{req.PersonID}
	case ActionDifferent:
		if len(candidates) == 0 {
			return DecideResult{}, invalidf("%s names no candidate person", id)
		}
		d.Kind, d.Persons = PairDifferent, candidates
	case ActionCannotTell:
		if d.Why == "" {
			return DecideResult{}, invalidf("say what is missing to tell: the note stays with the kick-out")
		}
		d.Kind = PairNote
	default:
		return DecideResult{}, invalidf("action %q is not one of %s, %s, %s", req.Action, ActionSame, ActionDifferent, ActionCannotTell)
	}
	if d.Kind != PairNote {
		if why := s.cannotReplay(k, originOf(s.src, k.KickOut)); why != "" {
			return DecideResult{}, conflictf("%s cannot be decided now: %s", id, why)
		}
	}
	if err := s.pairs.SavePairs(ctx, d); err != nil {
		return DecideResult{}, err
	}
	s.log.Info("match decided", zap.String("kickout", id), zap.String("who", who), zap.String("action", req.Action))
	res := DecideResult{Action: req.Action, RecordID: recordID, Persons: d.Persons}
	if d.Kind == PairNote {
		return res, nil
	}
	rep, err := s.Replay(ctx, id, who, nil)
	if err != nil {
		return res, err
	}
	res.Replay = &rep
	// The record's later events, held while the decision was wanted, follow
	// the decided one (oldest first, on the same replay partition).
	held, err := s.ReplayMany(ctx, Selection{Filter: Filter{Reason: pipeline.ReasonMatchPendingDecision,
		System: c.SourceSystem, Query: c.SourceRecordID}}, who, false)
	if err != nil {
		return res, fmt.Errorf("decided and replayed %s, but not the events held for it: %w", id, err)
	}
	res.Held = &held
	return res, nil
}
