package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/match"
)

// What splitting a person (a wrong link found by a person) needs from the
// stores: the person's records, moving some of them to a new person, the
// person's links to the moved records dropped, and its golden state dropped
// so that the replayed records rebuild it (see review.Service.Split).

// Members returns the record ids of a person's members, sorted.
func (x *MatchIndex) Members(ctx context.Context, personID string) ([]string, error) {
	s, err := x.rdb.Get(ctx, x.keys.personMembers(personID)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("members of %s: %w", personID, err)
	}
	ids, err := memberRecordIDs(s)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", personID, err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Move moves records of person from to a new person to, in one Commit:
// the first record creates the person (which must not exist), the others
// join it, each leaving from. A record no longer held by from conflicts
// (match.ErrConflict) and nothing of it moves.
func (x *MatchIndex) Move(ctx context.Context, from, to string, recordIDs []string) error {
	if len(recordIDs) == 0 {
		return nil
	}
	queries := make([]match.Query, len(recordIDs))
	for i, id := range recordIDs {
		queries[i] = match.Query{RecordID: id}
	}
	found, err := x.Lookup(ctx, queries)
	if err != nil {
		return fmt.Errorf("move records of %s: %w", from, err)
	}
	writes := make([]match.Write, len(recordIDs))
	for i, id := range recordIDs {
		if found[i].KnownPerson != from {
			return fmt.Errorf("record %s belongs to %q, not %s: %w", id, found[i].KnownPerson, from, match.ErrConflict)
		}
		var member *match.Member
		for _, p := range found[i].Persons {
			if p.ID != from {
				continue
			}
			for j := range p.Members {
				if p.Members[j].RecordID == id {
					member = &p.Members[j]
				}
			}
		}
		if member == nil {
			return fmt.Errorf("record %s is not among the members of %s: %w", id, from, match.ErrConflict)
		}
		keys := match.Keys(member.Record)
		versions := make([]int64, len(keys))
		for k := range versions {
			versions[k] = match.AnyVersion
		}
		writes[i] = match.Write{PersonID: to, NewPerson: i == 0, Member: *member, Keys: keys,
			Terms: match.Terms(member.Record), KeyVersions: versions, ExpectPerson: from}
	}
	errs, err := x.Commit(ctx, writes)
	if err != nil {
		return fmt.Errorf("move records of %s to %s: %w", from, to, err)
	}
	for i, e := range errs {
		if e != nil {
			return fmt.Errorf("move record %s to %s: %w", recordIDs[i], to, e)
		}
	}
	return nil
}

// Unlink drops a person's links (system -> record id) that name one of the
// given source record ids of their system.
func (s *DecisionStore) Unlink(ctx context.Context, personID string, links map[string]string) error {
	have, err := s.rdb.HGetAll(ctx, s.keys.Links(personID)).Result()
	if err != nil {
		return fmt.Errorf("links of %s: %w", personID, err)
	}
	var drop []string
	for sys, rid := range have {
		if links[sys] == rid {
			drop = append(drop, sys)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if err := s.rdb.HDel(ctx, s.keys.Links(personID), drop...).Err(); err != nil {
		return fmt.Errorf("drop links of %s: %w", personID, err)
	}
	return nil
}

// Drop deletes a person's golden state (its memos stay). A router that read
// the state before sees its version gone and redoes its batch.
func (s *StateStore) Drop(ctx context.Context, personID string) error {
	if err := s.rdb.Del(ctx, s.keys.State(personID)).Err(); err != nil {
		return fmt.Errorf("drop the state of %s: %w", personID, err)
	}
	return nil
}
