package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/baseline"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// baselineSeeder puts an applied baseline where the stages read it: the
// matcher's index and decision store, the router's state store (the same
// redisstore types and keys the stages use) and the sink topics.
type baselineSeeder struct {
	index    *redisstore.MatchIndex
	links    matcher.DecisionStore
	states   router.StateStore
	producer *kgo.Client
	codec    router.Codec
	sinkOf   func(system string) string
}

// BaselineSeeder returns the seeder of `contactsync baseline --apply` over
// the App's Redis and the given producer.
func (a *App) BaselineSeeder(producer *kgo.Client) baseline.Seeder {
	keys := redisstore.Keys{Prefix: a.cfg.RedisPrefix}
	return &baselineSeeder{
		index: redisstore.NewMatchIndex(a.rdb, keys), links: redisstore.NewDecisionStore(a.rdb, keys, 0),
		states: redisstore.NewStateStore(a.rdb, keys, 0), producer: producer, codec: a.codec, sinkOf: a.topology.Topics.Sink,
	}
}

func (s *baselineSeeder) Index(ctx context.Context, writes []match.Write) error {
	errs, err := s.index.Commit(ctx, writes)
	if err != nil {
		return err
	}
	for i, e := range errs {
		// A conflict is the write applied before (the record has its
		// person, the person exists): a second apply.
		if e != nil && !errors.Is(e, match.ErrConflict) {
			return fmt.Errorf("record %s: %w", writes[i].Member.RecordID, e)
		}
	}
	return nil
}

func (s *baselineSeeder) Links(ctx context.Context, links []baseline.Link) error {
	ls := make([]matcher.Link, len(links))
	for i, l := range links {
		ls[i] = matcher.Link{PersonID: l.PersonID, System: l.System, RecordID: l.RecordID}
	}
	_, err := s.links.Keep(ctx, nil, ls, nil)
	return err
}

func (s *baselineSeeder) Seeded(ctx context.Context, persons []string) (map[string]bool, error) {
	stored, err := s.states.Load(ctx, persons)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(persons))
	for _, p := range persons {
		out[p] = stored[p].Version > 0
	}
	return out, nil
}

func (s *baselineSeeder) Emit(ctx context.Context, sinks []contact.SinkRecord) error {
	recs := make([]*kgo.Record, len(sinks))
	for i, sr := range sinks {
		val, err := s.codec.EncodeSink(sr)
		if err != nil {
			return fmt.Errorf("encode sink record: %w", err)
		}
		// As the router writes them: keyed by person, in the person's order.
		recs[i] = &kgo.Record{Topic: s.sinkOf(sr.TargetSystem), Key: []byte(sr.PersonID), Value: val}
	}
	return s.producer.ProduceSync(ctx, recs...).FirstErr()
}

func (s *baselineSeeder) SaveStates(ctx context.Context, states map[string][]byte) error {
	commits := make([]router.Commit, 0, len(states))
	for p, st := range states {
		commits = append(commits, router.Commit{PersonID: p, State: st})
	}
	return s.states.Save(ctx, commits)
}
