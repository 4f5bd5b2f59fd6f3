package redisstore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
)

// ItemCodec serialises stored items (the pipeline's Avro codec).
type ItemCodec interface {
	EncodeKickOut(contact.KickOut) ([]byte, error)
	DecodeKickOut([]byte) (contact.KickOut, error)
	EncodeReview(contact.ReviewItem) ([]byte, error)
	DecodeReview([]byte) (contact.ReviewItem, error)
}

// Queue is the durable store of kick-outs and review items.
//
// Redis is the store because the pipeline already runs it, lookups are by id
// and by time, and the volume is what people can review (thousands, not
// billions). Every write is idempotent (SET / ZADD by id), so a redone batch
// leaves one item; counts are derived from the indexes, never incremented.
type Queue struct {
	rdb       redis.UniversalClient
	keys      Keys
	codec     ItemCodec
	retention time.Duration
}

// NewQueue returns the store; items expire after retention (0: 30 days).
func NewQueue(rdb redis.UniversalClient, keys Keys, codec ItemCodec, retention time.Duration) *Queue {
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	return &Queue{rdb: rdb, keys: keys, codec: codec, retention: retention}
}

func (q *Queue) kickOutKey(id string) string { return fmt.Sprintf("%s:ko:{%s}", q.keys.p(), id) }
func (q *Queue) kickOutIndex() string        { return q.keys.p() + ":ko:index" }
func (q *Queue) reasonIndex(r string) string { return fmt.Sprintf("%s:ko:reason:%s", q.keys.p(), r) }
func (q *Queue) reasonsKey() string          { return q.keys.p() + ":ko:reasons" }
func (q *Queue) reviewKey(id string) string  { return fmt.Sprintf("%s:rv:{%s}", q.keys.p(), id) }
func (q *Queue) reviewIndex() string         { return q.keys.p() + ":rv:index" }

// SaveKickOuts stores kick-outs; implements collector.Store.
func (q *Queue) SaveKickOuts(ctx context.Context, items []contact.KickOut) error {
	if len(items) == 0 {
		return nil
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ko := range items {
			b, err := q.codec.EncodeKickOut(ko)
			if err != nil {
				return fmt.Errorf("encode kick-out %s: %w", ko.ID, err)
			}
			score := float64(ko.FirstSeen.UnixMilli())
			p.HSet(ctx, q.kickOutKey(ko.ID), "avro", b, "status", "open")
			p.Expire(ctx, q.kickOutKey(ko.ID), q.retention)
			p.ZAdd(ctx, q.kickOutIndex(), redis.Z{Score: score, Member: ko.ID})
			p.ZAdd(ctx, q.reasonIndex(ko.Reason), redis.Z{Score: score, Member: ko.ID})
			p.SAdd(ctx, q.reasonsKey(), ko.Reason)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store kick-outs: %w", err)
	}
	return nil
}

// SaveReviews stores review items; implements collector.Store. A decided
// item keeps its decision when the same item is saved again.
func (q *Queue) SaveReviews(ctx context.Context, items []contact.ReviewItem) error {
	if len(items) == 0 {
		return nil
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			b, err := q.codec.EncodeReview(it)
			if err != nil {
				return fmt.Errorf("encode review item %s: %w", it.ID, err)
			}
			p.HSet(ctx, q.reviewKey(it.ID), "avro", b)
			p.HSetNX(ctx, q.reviewKey(it.ID), "status", "pending")
			p.Expire(ctx, q.reviewKey(it.ID), q.retention)
			p.ZAdd(ctx, q.reviewIndex(), redis.Z{Score: float64(it.Created.UnixMilli()), Member: it.ID})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store review items: %w", err)
	}
	return nil
}

// ReasonCounts returns the number of kick-outs per reason.
func (q *Queue) ReasonCounts(ctx context.Context) (map[string]int64, error) {
	reasons, err := q.rdb.SMembers(ctx, q.reasonsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read reasons: %w", err)
	}
	sort.Strings(reasons)
	cmds := make([]*redis.IntCmd, len(reasons))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range reasons {
			cmds[i] = p.ZCard(ctx, q.reasonIndex(r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count kick-outs: %w", err)
	}
	out := make(map[string]int64, len(reasons))
	for i, r := range reasons {
		out[r] = cmds[i].Val()
	}
	return out, nil
}

// KickOuts returns up to limit kick-outs, newest first.
func (q *Queue) KickOuts(ctx context.Context, limit int64) ([]contact.KickOut, error) {
	ids, err := q.rdb.ZRevRange(ctx, q.kickOutIndex(), 0, limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list kick-outs: %w", err)
	}
	var out []contact.KickOut
	for _, id := range ids {
		b, err := q.rdb.HGet(ctx, q.kickOutKey(id), "avro").Bytes()
		if err == redis.Nil {
			continue // expired; the index entry is trimmed later
		}
		if err != nil {
			return nil, fmt.Errorf("read kick-out %s: %w", id, err)
		}
		ko, err := q.codec.DecodeKickOut(b)
		if err != nil {
			return nil, fmt.Errorf("decode kick-out %s: %w", id, err)
		}
		out = append(out, ko)
	}
	return out, nil
}

// Reviews returns up to limit review items, newest first, with their status.
func (q *Queue) Reviews(ctx context.Context, limit int64) ([]contact.ReviewItem, []string, error) {
	ids, err := q.rdb.ZRevRange(ctx, q.reviewIndex(), 0, limit-1).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list review items: %w", err)
	}
	var (
		items    []contact.ReviewItem
		statuses []string
	)
	for _, id := range ids {
		vals, err := q.rdb.HMGet(ctx, q.reviewKey(id), "avro", "status").Result()
		if err != nil {
			return nil, nil, fmt.Errorf("read review item %s: %w", id, err)
		}
		raw, ok := vals[0].(string)
		if !ok {
			continue
		}
		it, err := q.codec.DecodeReview([]byte(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("decode review item %s: %w", id, err)
		}
		status, _ := vals[1].(string)
		items = append(items, it)
		statuses = append(statuses, status)
	}
	return items, statuses, nil
}

// CountKickOuts returns the number of stored kick-outs.
func (q *Queue) CountKickOuts(ctx context.Context) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.kickOutIndex()).Result()
	if err != nil {
		return 0, fmt.Errorf("count kick-outs: %w", err)
	}
	return n, nil
}
