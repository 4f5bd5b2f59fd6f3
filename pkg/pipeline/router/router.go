// Package router is the third stage: it applies the per-field rules to each
// matched change against the person's golden state and emits, per target
// system, only the fields that must change there; changes that need a
// person's approval go to the review topic. What it decided about each
// field goes to the audit topic, in the same transaction.
package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// StageName is the stage's name in logs, metrics and kick-outs.
const StageName = pipeline.StageRouter

// Verdict is the rules engine's answer for one change.
type Verdict struct {
	State   []byte // the person's new serialised state
	Sinks   []contact.SinkRecord
	Reviews []contact.ReviewItem
	// KickOutReason, when set, kicks the change out (with KickOutError).
	KickOutReason string
	KickOutError  error
	// EchoSystems lists systems whose change was recognised as the echo of
	// the sync's own write and dropped.
	EchoSystems []string
	// Fields say what was decided about each field (the audit trail).
	Fields []contact.FieldAudit
}

// Engine applies the field rules. It must be deterministic: the same state
// and change give the same verdict.
type Engine interface {
	Apply(state []byte, m contact.Matched) (Verdict, error)
}

// StateStore keeps golden states and per-event output memos. A person's
// state and the memos of the events that led to it are written together,
// so after a crash between this write and the Kafka commit the redone event
// finds its memo and re-emits its outputs instead of being swallowed by a
// state that already contains it.
type StateStore interface {
	// Read returns the memos of the given events (nil where none) and the
	// stored state of each person (zero when none), in one round trip.
	Read(ctx context.Context, refs []EventRef, personIDs []string) ([][]byte, map[string]StoredState, error)
	// Load returns the stored state of each person (zero when none).
	Load(ctx context.Context, personIDs []string) (map[string]StoredState, error)
	// Save writes every commit, each atomically. It fails with an error
	// wrapping ErrStateConflict if a person's state moved since it was
	// loaded (the other commits may still apply: the redone batch finds
	// their memos).
	Save(ctx context.Context, commits []Commit) error
}

// EventRef names one event of one person.
type EventRef struct{ PersonID, EventID string }

// StoredState is a person's serialised state and its version (0: none yet).
type StoredState struct {
	Data    []byte
	Version int64
}

// Commit is one person's new state and the memos of the events that led to it.
type Commit struct {
	PersonID    string
	BaseVersion int64 // the version the new state was computed from
	State       []byte
	Memos       map[string][]byte // event id -> outputs
}

// ErrStateConflict means a person's state changed under us: another worker
// wrote it since we read it. The batch is redone from the new state.
var ErrStateConflict = errors.New("person state changed concurrently")

// Codec decodes the stage's input and encodes its outputs.
type Codec interface {
	pipeline.KickOutEncoder
	DecodeMatched([]byte) (contact.Matched, error)
	EncodeSink(contact.SinkRecord) ([]byte, error)
	EncodeReview(contact.ReviewItem) ([]byte, error)
	EncodeAudit(contact.Audit) ([]byte, error)
}

// Stage is the router stage.
type Stage struct {
	topics  pipeline.Topics
	codec   Codec
	engine  Engine
	store   StateStore
	metrics *pipeline.Metrics
	// UnsafeSkipMemos ignores remembered outputs, breaking exactly-once on
	// purpose (fault-suite self-check only).
	UnsafeSkipMemos bool
}

// New returns the router stage.
func New(topics pipeline.Topics, codec Codec, engine Engine, store StateStore, m *pipeline.Metrics) *Stage {
	return &Stage{topics: topics, codec: codec, engine: engine, store: store, metrics: m}
}

// InputTopics are the topics the stage consumes.
func (s *Stage) InputTopics() []string { return []string{s.topics.Matched} }

type item struct {
	in   *kgo.Record
	m    contact.Matched
	memo []byte
}

// Process implements stream.Processor with two Redis round trips per batch:
// one read of the memos and states, and one write (an atomic commit per
// person, pipelined). A person's changes in the batch are applied in order
// to its state in memory and written once, each with its own memo.
func (s *Stage) Process(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	out := pipeline.NewOutput(StageName, s.topics, s.codec, s.metrics)
	var items []item
	for _, r := range batch {
		m, err := s.codec.DecodeMatched(r.Value)
		if err != nil {
			if kerr := out.KickOut(r, pipeline.ReasonAvro, err, nil); kerr != nil {
				return nil, kerr
			}
			continue
		}
		items = append(items, item{in: r, m: m})
	}
	if len(items) == 0 {
		return out.Records, nil
	}

	// One round trip reads the memos of the batch's events and the states
	// of its persons (a person whose events all have memos is read for
	// nothing: that happens on redos only).
	refs := make([]EventRef, len(items))
	var persons []string
	seen := map[string]bool{}
	for i, it := range items {
		p := it.m.Match.PersonID
		refs[i] = EventRef{PersonID: p, EventID: it.m.Change.EventID}
		if !seen[p] {
			seen[p] = true
			persons = append(persons, p)
		}
	}
	var stored map[string]StoredState
	once, err := pipeline.PlanOnce(ctx, refs, func(EventRef) bool { return true },
		func(ctx context.Context, distinct []EventRef) ([][]byte, error) {
			memos, states, err := s.store.Read(ctx, distinct, persons)
			stored = states
			return memos, err
		})
	if err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, errors.New("state store answered no states")
	}
	for i := range items {
		if !s.UnsafeSkipMemos {
			items[i].memo = once.Memos[i]
		}
	}

	commits := map[string]*Commit{}
	var order []string
	for i, it := range items {
		if it.memo != nil {
			recs, input, err := decodeMemo(it.memo)
			if err != nil {
				return nil, fmt.Errorf("memo of event %s: %w", it.m.Change.EventID, err)
			}
			if input == position(it.in) {
				// The same input record again: this batch is being redone
				// after a crash or an aborted transaction, so the first
				// output never became visible. Emit exactly that again.
				for _, r := range recs {
					out.Emit(r)
				}
			}
			// Otherwise it is another delivery of a done event (a webhook
			// sent twice): its output is already out; emit nothing.
			if s.metrics != nil {
				s.metrics.Duplicates.WithLabelValues(StageName).Inc()
			}
			continue
		}
		p := it.m.Match.PersonID
		c, ok := commits[p]
		if !ok {
			st := stored[p]
			c = &Commit{PersonID: p, BaseVersion: st.Version, State: st.Data, Memos: map[string][]byte{}}
			commits[p] = c
			order = append(order, p)
		}
		if once.Copy(i) {
			continue // the same event twice in one batch
		}
		recs, newState, err := s.route(it, c.State)
		if err != nil {
			return nil, err
		}
		memo := encodeMemo(position(it.in), recs)
		c.State = newState
		c.Memos[it.m.Change.EventID] = memo
		for _, r := range recs {
			out.Emit(r)
		}
	}
	toSave := make([]Commit, 0, len(order))
	for _, p := range order {
		toSave = append(toSave, *commits[p])
	}
	if err := s.store.Save(ctx, toSave); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// route applies the rules to one change and returns its output records and
// the person's new state. Panics in the engine become a kick-out.
func (s *Stage) route(it item, state []byte) ([]*kgo.Record, []byte, error) {
	var v Verdict
	err := pipeline.Guard(func() error {
		var err error
		v, err = s.engine.Apply(state, it.m)
		return err
	})
	var pe *pipeline.PanicError
	if errors.As(err, &pe) {
		v = Verdict{State: state, KickOutReason: pipeline.ReasonInternal, KickOutError: err}
	} else if err != nil {
		return nil, nil, fmt.Errorf("apply rules: %w", err)
	}
	sub := pipeline.NewOutput(StageName, s.topics, s.codec, s.metrics)
	if v.KickOutReason != "" {
		err := sub.KickOut(it.in, v.KickOutReason, v.KickOutError, func(ko *contact.KickOut) {
			ko.EventID = it.m.Change.EventID
			ko.PersonID = it.m.Match.PersonID
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for _, sr := range v.Sinks {
		val, err := s.codec.EncodeSink(sr)
		if err != nil {
			return nil, nil, fmt.Errorf("encode sink record: %w", err)
		}
		sub.Emit(&kgo.Record{Topic: s.topics.Sink(sr.TargetSystem), Key: []byte(sr.PersonID), Value: val})
		if s.metrics != nil {
			s.metrics.SinkRecords.WithLabelValues(sr.TargetSystem, string(sr.Entity), string(sr.Op)).Inc()
		}
	}
	for _, rv := range v.Reviews {
		val, err := s.codec.EncodeReview(rv)
		if err != nil {
			return nil, nil, fmt.Errorf("encode review item: %w", err)
		}
		sub.Emit(&kgo.Record{Topic: s.topics.Review, Key: []byte(rv.ID), Value: val})
		if s.metrics != nil {
			s.metrics.Reviews.WithLabelValues(rv.TargetSystem).Inc()
		}
	}
	if s.metrics != nil {
		for _, sys := range v.EchoSystems {
			s.metrics.Echoes.WithLabelValues(sys).Inc()
		}
	}
	if err := s.audit(sub, it.m, v); err != nil {
		return nil, nil, err
	}
	return sub.Records, v.State, nil
}

// audit emits the event's decisions to the audit topic, keyed by person id
// (so a person's history is in order on one partition). It is one more
// output of the event: remembered in its memo and committed with the rest.
func (s *Stage) audit(out *pipeline.Output, m contact.Matched, v Verdict) error {
	if len(v.Fields) == 0 && v.KickOutReason == "" {
		return nil // nothing decided (a gift-less change with no fields)
	}
	c := m.Change
	val, err := s.codec.EncodeAudit(contact.Audit{
		EventID: c.EventID, PersonID: m.Match.PersonID, SourceSystem: c.SourceSystem, SourceRecordID: c.SourceRecordID,
		Origin: c.Origin, SourceTime: c.SourceTime, MatchDecision: m.Match.Decision, KickOutReason: v.KickOutReason,
		Fields: v.Fields,
	})
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	out.Emit(&kgo.Record{Topic: s.topics.Audit, Key: []byte(m.Match.PersonID), Value: val})
	return nil
}
