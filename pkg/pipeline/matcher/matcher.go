// Package matcher is the second stage: it resolves every canonical change to
// a person through the identity index, so that a new online record is linked
// to the existing offline record of the same person before its first sync,
// and emits the change keyed by person id. Ambiguous evidence is never
// merged: it becomes a kick-out for a person to decide.
package matcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// StageName is the stage's name in logs, metrics and kick-outs.
const StageName = pipeline.StageMatcher

// Resolution is the identity index's answer for one change.
type Resolution struct {
	Match contact.Match
	// Links are the person's record ids per system after the change.
	Links map[string]string
	// Awaiting, when set, is the event whose match.ambiguous kick-out the
	// change's record awaits a decision on: the change is held (a
	// match.pending_decision kick-out), neither linked nor a new person.
	Awaiting string
}

// Resolver assigns changes to persons. It must be idempotent: resolving the
// same change again (after a crash, say) gives the same person.
type Resolver interface {
	Resolve(ctx context.Context, changes []contact.Change) ([]Resolution, error)
}

// Codec decodes the stage's input and encodes its outputs.
type Codec interface {
	pipeline.KickOutEncoder
	DecodeChange([]byte) (contact.Change, error)
	EncodeMatched(contact.Matched) ([]byte, error)
}

// Stage is the matcher stage.
type Stage struct {
	topics   pipeline.Topics
	codec    Codec
	resolver Resolver
	metrics  *pipeline.Metrics
}

// New returns the matcher stage.
func New(topics pipeline.Topics, codec Codec, resolver Resolver, m *pipeline.Metrics) *Stage {
	return &Stage{topics: topics, codec: codec, resolver: resolver, metrics: m}
}

// InputTopics are the topics the stage consumes.
func (s *Stage) InputTopics() []string { return []string{s.topics.Changes} }

// Process implements stream.Processor. The whole batch is resolved in one
// call so the index can batch its round trips.
func (s *Stage) Process(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	out := pipeline.NewOutput(StageName, s.topics, s.codec, s.metrics)
	var (
		changes []contact.Change
		inputs  []*kgo.Record
	)
	for _, r := range batch {
		c, err := s.codec.DecodeChange(r.Value)
		if err != nil {
			if kerr := out.KickOut(r, pipeline.ReasonAvro, err, nil); kerr != nil {
				return nil, kerr
			}
			continue
		}
		changes = append(changes, c)
		inputs = append(inputs, r)
	}
	if len(changes) == 0 {
		return out.Records, nil
	}
	res, panics, err := s.resolve(ctx, changes)
	if err != nil {
		return nil, err
	}
	for i, c := range changes {
		r, in := res[i], inputs[i]
		if panics[i] != nil {
			if kerr := out.KickOut(in, pipeline.ReasonInternal, panics[i], func(ko *contact.KickOut) {
				ko.EventID = c.EventID
			}); kerr != nil {
				return nil, kerr
			}
			continue
		}
		if r.Awaiting != "" {
			if s.metrics != nil {
				s.metrics.Decisions.WithLabelValues(ReasonPendingDecision).Inc()
			}
			err := fmt.Errorf("record awaits a decision on the %s kick-out of its event %s: decide that one (which replays this too)",
				pipeline.ReasonMatchAmbiguous, r.Awaiting)
			if kerr := out.KickOut(in, pipeline.ReasonMatchPendingDecision, err, func(ko *contact.KickOut) {
				ko.EventID = c.EventID
				ko.Explanation = r.Match.Explanation
			}); kerr != nil {
				return nil, kerr
			}
			continue
		}
		if s.metrics != nil {
			s.metrics.Decisions.WithLabelValues(string(r.Match.Decision)).Inc()
		}
		if r.Match.Decision == contact.DecisionAmbiguous {
			err := fmt.Errorf("record matches %d persons or falls between the thresholds (score %.2f)",
				len(r.Match.Candidates), r.Match.Score)
			if kerr := out.KickOut(in, pipeline.ReasonMatchAmbiguous, err, func(ko *contact.KickOut) {
				ko.EventID = c.EventID
				ko.Explanation = WithCandidates(r.Match.Explanation, r.Match.Candidates)
			}); kerr != nil {
				return nil, kerr
			}
			continue
		}
		val, err := s.codec.EncodeMatched(contact.Matched{Change: c, Match: r.Match, Links: r.Links})
		if err != nil {
			return nil, fmt.Errorf("encode matched change: %w", err)
		}
		out.Emit(&kgo.Record{Topic: s.topics.Matched, Key: []byte(r.Match.PersonID), Value: val, Headers: in.Headers})
	}
	return out.Records, nil
}

// resolve resolves the batch in one call. Should the resolver panic, each
// change is resolved alone (the resolver is idempotent), so that only the
// records that make it panic are reported (panics[i]) and become kick-outs,
// instead of the whole batch failing again on every redo.
func (s *Stage) resolve(ctx context.Context, changes []contact.Change) ([]Resolution, []error, error) {
	panics := make([]error, len(changes))
	res, err := s.guardedResolve(ctx, changes)
	var pe *pipeline.PanicError
	if !errors.As(err, &pe) {
		return res, panics, err
	}
	res = make([]Resolution, len(changes))
	for i := range changes {
		one, err := s.guardedResolve(ctx, changes[i:i+1])
		switch {
		case errors.As(err, &pe):
			panics[i] = err
		case err != nil:
			return nil, nil, err
		default:
			res[i] = one[0]
		}
	}
	return res, panics, nil
}

func (s *Stage) guardedResolve(ctx context.Context, changes []contact.Change) ([]Resolution, error) {
	var res []Resolution
	err := pipeline.Guard(func() error {
		var err error
		res, err = s.resolver.Resolve(ctx, changes)
		return err
	})
	var pe *pipeline.PanicError
	switch {
	case errors.As(err, &pe):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("resolve identities: %w", err)
	case len(res) != len(changes):
		return nil, fmt.Errorf("resolver answered %d of %d changes", len(res), len(changes))
	}
	return res, nil
}
