package baseline

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
)

// Seeder is where --apply puts what a run decided, so that the live
// pipeline starts from it: the identity index and person links the matcher
// reads, the golden states the router reads, and the sink topics the
// targets load. The command implements it over the matcher's and router's
// own ports (redisstore) and a Kafka producer.
type Seeder interface {
	// Index commits the run's index writes in order. A write that
	// conflicts because it was applied before (a second apply) is not an
	// error.
	Index(ctx context.Context, writes []match.Write) error
	// Links records each person's record in each system (kept when the
	// person has one there already).
	Links(ctx context.Context, links []Link) error
	// Seeded reports which of the persons already have a golden state.
	Seeded(ctx context.Context, persons []string) (map[string]bool, error)
	// Emit sends sink records to their targets' sink topics and returns
	// once they are durable.
	Emit(ctx context.Context, sinks []contact.SinkRecord) error
	// SaveStates stores new persons' golden states (none may exist yet).
	SaveStates(ctx context.Context, states map[string][]byte) error
}

// Link is one person's record in one system.
type Link struct{ PersonID, System, RecordID string }

// Applied counts what an apply did.
type Applied struct {
	IndexWrites int `json:"index_writes"`
	Persons     int `json:"persons"`
	// Skipped persons had a golden state already (a second apply, or a
	// person the live pipeline got to first): nothing is sent for them.
	Skipped int `json:"skipped"`
	Sinks   int `json:"sinks"`
}

// apply seeds what the run decided, in an order that a re-run repairs:
// index and links first (a second commit conflicts harmlessly), then per
// batch of persons without a state: their sink records, and only once they
// are durable, their states. A crash between the two sends the same records
// again (same event ids, which the targets recognise); a person with a
// state is never sent anything again.
func (r *run) apply(ctx context.Context, s Seeder) (Applied, error) {
	var out Applied
	for chunk := range slices.Chunk(r.writes, r.cfg.BatchSize) {
		if err := s.Index(ctx, chunk); err != nil {
			return out, fmt.Errorf("baseline apply: index: %w", err)
		}
		out.IndexWrites += len(chunk)
		r.applyProgress("apply index", int64(out.IndexWrites), int64(len(r.writes)))
	}
	// The states are replayed from the run's history; apply is not a
	// dry run's memory budget, so they are held together here.
	allStates := map[string][]byte{}
	allLinks := map[string]map[string]string{}
	if err := r.personStates(func(p string, state []byte, links map[string]string) error {
		allStates[p], allLinks[p] = state, links
		return nil
	}); err != nil {
		return out, err
	}
	persons := slices.Sorted(maps.Keys(allStates))
	var links []Link
	for _, p := range persons {
		for _, sys := range slices.Sorted(maps.Keys(allLinks[p])) {
			links = append(links, Link{PersonID: p, System: sys, RecordID: allLinks[p][sys]})
		}
	}
	for chunk := range slices.Chunk(links, r.cfg.BatchSize) {
		if err := s.Links(ctx, chunk); err != nil {
			return out, fmt.Errorf("baseline apply: links: %w", err)
		}
	}
	done := 0
	for chunk := range slices.Chunk(persons, r.cfg.BatchSize) {
		seeded, err := s.Seeded(ctx, chunk)
		if err != nil {
			return out, fmt.Errorf("baseline apply: states: %w", err)
		}
		var sinks []contact.SinkRecord
		states := map[string][]byte{}
		for _, p := range chunk {
			if seeded[p] {
				out.Skipped++
				continue
			}
			sinks = append(sinks, r.sinkLog[p]...)
			states[p] = allStates[p]
		}
		if len(sinks) > 0 {
			if err := s.Emit(ctx, sinks); err != nil {
				return out, fmt.Errorf("baseline apply: emit: %w", err)
			}
		}
		if err := s.SaveStates(ctx, states); err != nil {
			return out, fmt.Errorf("baseline apply: states: %w", err)
		}
		out.Persons += len(states)
		out.Sinks += len(sinks)
		done += len(chunk)
		r.applyProgress("apply states", int64(done), int64(len(persons)))
	}
	return out, nil
}

func (r *run) applyProgress(phase string, done, total int64) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(Progress{Phase: phase, Records: done, Done: done, Total: total})
	}
}
