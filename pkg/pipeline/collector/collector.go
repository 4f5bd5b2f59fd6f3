// Package collector is the last stage: it keeps every kick-out and review
// item in a durable store where people look at them, fix and replay them.
package collector

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// StageName is the stage's name in logs and metrics.
const StageName = pipeline.StageCollector

// Store keeps kick-outs and review items. Saving the same item twice (a
// redone batch) must leave one item.
type Store interface {
	SaveKickOuts(ctx context.Context, items []contact.KickOut) error
	SaveReviews(ctx context.Context, items []contact.ReviewItem) error
}

// Codec decodes the stage's input.
type Codec interface {
	pipeline.KickOutEncoder
	DecodeKickOut([]byte) (contact.KickOut, error)
	DecodeReview([]byte) (contact.ReviewItem, error)
}

// Stage is the collector stage.
type Stage struct {
	topics  pipeline.Topics
	codec   Codec
	store   Store
	metrics *pipeline.Metrics
}

// New returns the collector stage.
func New(topics pipeline.Topics, codec Codec, store Store, m *pipeline.Metrics) *Stage {
	return &Stage{topics: topics, codec: codec, store: store, metrics: m}
}

// InputTopics are the topics the stage consumes.
func (s *Stage) InputTopics() []string { return []string{s.topics.KickOuts, s.topics.Review} }

// Process implements stream.Processor. An undecodable kick-out or review
// record is itself kept as a kick-out of this stage, stored directly.
func (s *Stage) Process(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	var (
		kickOuts []contact.KickOut
		reviews  []contact.ReviewItem
	)
	for _, r := range batch {
		switch r.Topic {
		case s.topics.Review:
			item, err := s.codec.DecodeReview(r.Value)
			if err != nil {
				kickOuts = append(kickOuts, pipeline.KickOutFrom(StageName, pipeline.ReasonAvro, err, r))
				continue
			}
			reviews = append(reviews, item)
		default:
			ko, err := s.codec.DecodeKickOut(r.Value)
			if err != nil {
				ko = pipeline.KickOutFrom(StageName, pipeline.ReasonAvro, err, r)
			}
			kickOuts = append(kickOuts, ko)
		}
	}
	if err := s.store.SaveKickOuts(ctx, kickOuts); err != nil {
		return nil, fmt.Errorf("save kick-outs: %w", err)
	}
	if err := s.store.SaveReviews(ctx, reviews); err != nil {
		return nil, fmt.Errorf("save review items: %w", err)
	}
	return nil, nil
}
