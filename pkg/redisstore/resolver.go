package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// DecisionStore is the matcher's matcher.DecisionStore on Redis: the
// decision on each event under its record's hash tag (Keys.eventMemo, for a
// TTL), and each person's links in the person's hash (Keys.Links). It only
// stores; what is decided, remembered and linked is matcher.IndexResolver's
// business.
type DecisionStore struct {
	rdb     redis.UniversalClient
	keys    Keys
	memoTTL time.Duration
}

// NewDecisionStore returns the store on rdb; decisions are remembered for
// memoTTL (0 or less: 7 days, as StateStore's memos), which bounds how late
// a redelivered event still gets the same answer.
func NewDecisionStore(rdb redis.UniversalClient, keys Keys, memoTTL time.Duration) *DecisionStore {
	if memoTTL <= 0 {
		memoTTL = 7 * 24 * time.Hour
	}
	return &DecisionStore{rdb: rdb, keys: keys, memoTTL: memoTTL}
}

var (
	_ matcher.DecisionStore = (*DecisionStore)(nil)
	_ matcher.Recaller      = (*DecisionStore)(nil)
)

// Memos implements matcher.DecisionStore in one round trip.
func (s *DecisionStore) Memos(ctx context.Context, refs []matcher.EventRef) ([][]byte, error) {
	memos, _, err := s.Recall(ctx, refs, nil)
	return memos, err
}

// Recall implements matcher.Recaller: the memos of the events and the
// owners of the records (see owner.go), in one round trip.
func (s *DecisionStore) Recall(ctx context.Context, refs []matcher.EventRef, recordIDs []string) ([][]byte, []matcher.Holding, error) {
	memos := make([][]byte, len(refs))
	held := make([]matcher.Holding, len(recordIDs))
	if len(refs) == 0 && len(recordIDs) == 0 {
		return memos, held, nil
	}
	memoCmds := make([]*redis.StringCmd, len(refs))
	ownerCmds := make([]*redis.StringCmd, len(recordIDs))
	p := s.rdb.Pipeline()
	for i, r := range refs {
		memoCmds[i] = p.Get(ctx, s.keys.eventMemo(r.RecordID, r.EventID))
	}
	for i, id := range recordIDs {
		ownerCmds[i] = p.Get(ctx, s.keys.recordOwner(id))
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("read decision memos and record owners: %w", err)
	}
	for i, cmd := range memoCmds {
		b, err := cmd.Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, nil, fmt.Errorf("read decision memo: %w", err)
		default:
			memos[i] = b
		}
	}
	for i, cmd := range ownerCmds {
		v, err := cmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, fmt.Errorf("read record owner: %w", err)
		}
		held[i].PersonID, held[i].Fingerprint = parseOwner(v)
	}
	return memos, held, nil
}

// Keep implements matcher.DecisionStore in one round trip: SET NX of each
// memo, HSETNX of each link, then HGETALL of each person's links (reads
// after all writes: a person linked twice in the batch shows both).
func (s *DecisionStore) Keep(ctx context.Context, memos []matcher.Memo, links []matcher.Link, persons []string) (map[string]map[string]string, error) {
	p := s.rdb.Pipeline()
	for _, m := range memos {
		p.SetNX(ctx, s.keys.eventMemo(m.Event.RecordID, m.Event.EventID), m.Data, s.memoTTL)
	}
	for _, l := range links {
		p.HSetNX(ctx, s.keys.Links(l.PersonID), l.System, l.RecordID)
	}
	reads := make([]*redis.MapStringStringCmd, len(persons))
	for i, id := range persons {
		reads[i] = p.HGetAll(ctx, s.keys.Links(id))
	}
	if p.Len() == 0 {
		return map[string]map[string]string{}, nil
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, fmt.Errorf("write decisions and links: %w", err)
	}
	out := make(map[string]map[string]string, len(persons))
	for i, id := range persons {
		out[id] = reads[i].Val()
	}
	return out, nil
}
