package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deduper remembers which events were accepted, so that a redelivery is
// acknowledged without producing it again. It is an optimisation only: the
// router remembers every event id it has routed per person and emits
// nothing for a second delivery, so a duplicate that passes here (the cache
// was down, or two deliveries raced) is still absorbed downstream.
type Deduper interface {
	// Seen reports whether the event was accepted before.
	Seen(ctx context.Context, system, eventID string) (bool, error)
	// Remember records the event as accepted. It is called only after
	// Kafka confirmed the event: remembering first would acknowledge a
	// redelivery of an event that was never stored.
	Remember(ctx context.Context, system, eventID string) error
}

// RedisDeduper keeps accepted event ids in Redis with a TTL.
type RedisDeduper struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisDeduper remembers ids under keys starting with prefix for ttl.
func NewRedisDeduper(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisDeduper {
	return &RedisDeduper{rdb: rdb, prefix: prefix, ttl: ttl}
}

// key hashes system and event id (length-prefixed) so that no id, whatever
// characters it has, can collide with another pair's key.
func (d *RedisDeduper) key(system, eventID string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s", len(system), system, len(eventID), eventID)
	return d.prefix + "gw:seen:" + hex.EncodeToString(h.Sum(nil))
}

// Seen implements Deduper.
func (d *RedisDeduper) Seen(ctx context.Context, system, eventID string) (bool, error) {
	n, err := d.rdb.Exists(ctx, d.key(system, eventID)).Result()
	if err != nil {
		return false, fmt.Errorf("dedupe lookup: %w", err)
	}
	return n > 0, nil
}

// Remember implements Deduper (SET NX: the first acceptance's TTL stands).
func (d *RedisDeduper) Remember(ctx context.Context, system, eventID string) error {
	if err := d.rdb.SetArgs(ctx, d.key(system, eventID), "1", redis.SetArgs{Mode: "NX", TTL: d.ttl}).Err(); err != nil && err != redis.Nil {
		return fmt.Errorf("dedupe remember: %w", err)
	}
	return nil
}
