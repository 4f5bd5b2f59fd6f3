package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// ItemCodec serialises stored items (the pipeline's Avro codec).
type ItemCodec interface {
	EncodeKickOut(contact.KickOut) ([]byte, error)
	DecodeKickOut([]byte) (contact.KickOut, error)
	EncodeReview(contact.ReviewItem) ([]byte, error)
	DecodeReview([]byte) (contact.ReviewItem, error)
}

// QueueOption adjusts a Queue.
type QueueOption func(*Queue)

// WithFacts sets how the queue reads the facts of a kick-out (system,
// record id, email...): review.FactsReader. Without it, review.DefaultFacts
// is used.
func WithFacts(fn func(contact.KickOut) review.Facts) QueueOption {
	return func(q *Queue) { q.facts = fn }
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) QueueOption {
	return func(q *Queue) { q.now = now }
}

// WithAuditLength caps the audit stream (default 100,000 entries).
func WithAuditLength(n int64) QueueOption {
	return func(q *Queue) { q.auditLen = n }
}

// Queue is the durable store of kick-outs and review items; it implements
// review.Store (the review owns statuses, transitions and their audit
// entries, the Queue stores them atomically).
//
// Redis is the store because the pipeline already runs it (no new system
// to operate), it is durable with AOF, every state change is one atomic
// script with retention as a TTL, and the volume is what people can review
// (thousands, not billions). All of the queue's keys share one hash tag, so
// on Redis Cluster they live in one slot and every save and status change
// stays a single atomic script.
//
// Saves are idempotent: a kick-out id seen before is left as it is (a redone
// collector batch neither resets its status nor counts it twice), and every
// count is derived from sorted-set indexes, never incremented.
type Queue struct {
	rdb       redis.UniversalClient
	k         queueKeys
	codec     ItemCodec
	retention time.Duration
	facts     func(contact.KickOut) review.Facts
	now       func() time.Time
	auditLen  int64
	lastTrim  atomic.Int64 // unix ms of the last trim started by a save
}

// NewQueue returns the store; items expire after retention (0: 30 days).
func NewQueue(rdb redis.UniversalClient, keys Keys, codec ItemCodec, retention time.Duration, opts ...QueueOption) *Queue {
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	q := &Queue{rdb: rdb, k: newQueueKeys(keys), codec: codec, retention: retention,
		facts: review.DefaultFacts, now: time.Now, auditLen: 100_000}
	for _, o := range opts {
		o(q)
	}
	return q
}

var _ review.Store = (*Queue)(nil)

// Retention is how long items are kept after they happened.
func (q *Queue) Retention() time.Duration { return q.retention }

// saveScript stores one new item with its indexes, or does nothing when
// the item exists (a redelivered batch): the first save wins, so a status
// set by a person is never reset to open.
//
// KEYS: item, parent item (= item when none), nz sorted sets, nr registry
// sets, then lookup sets. ARGV: id, ttl ms, nz, nr, nf, has parent, nz
// scores, nr registry members, nf field/value pairs.
var saveScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local id, ttl = ARGV[1], ARGV[2]
local nz, nr, nf = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a = 7
for i = 1, nz do redis.call('ZADD', KEYS[2 + i], ARGV[a], id); a = a + 1 end
for i = 1, nr do redis.call('SADD', KEYS[2 + nz + i], ARGV[a]); a = a + 1 end
for i = 3 + nz + nr, #KEYS do
  redis.call('SADD', KEYS[i], id)
  -- A lookup set lives as long as its longest-lived item.
  if redis.call('PTTL', KEYS[i]) < tonumber(ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
end
for i = 1, nf do redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 1]); a = a + 2 end
redis.call('PEXPIRE', KEYS[1], ttl)
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'replayed_as', id)
end
return 1
`)

// score is the time an item is indexed by: when it happened, or now when
// the record carries no time.
func (q *Queue) score(t time.Time) int64 {
	if t.IsZero() || t.Unix() <= 0 {
		return q.now().UnixMilli()
	}
	return t.UnixMilli()
}

// ttl keeps an item for the retention after it happened, and at least an
// hour, so a backlog older than the retention is still seen once.
func (q *Queue) ttl(score int64) int64 {
	left := score + q.retention.Milliseconds() - q.now().UnixMilli()
	return max(left, time.Hour.Milliseconds())
}

// SaveKickOuts stores kick-outs; implements collector.Store. A kick-out id
// seen before is left untouched.
func (q *Queue) SaveKickOuts(ctx context.Context, items []contact.KickOut) error {
	if len(items) == 0 {
		return nil
	}
	q.maybeTrim(ctx)
	calls := make([]scriptCall, 0, len(items))
	for _, ko := range items {
		c, err := q.saveKickOutCall(ko)
		if err != nil {
			return err
		}
		calls = append(calls, c)
	}
	if err := q.runSaves(ctx, calls); err != nil {
		return fmt.Errorf("store kick-outs: %w", err)
	}
	return nil
}

// scriptCall is one run of saveScript.
type scriptCall struct {
	keys []string
	args []any
}

// runSaves runs the save script once per call in one pipeline (one round
// trip per batch, not per item). Saves are idempotent, so when Redis lost
// the script (a restart) the script is loaded and the whole batch redone.
func (q *Queue) runSaves(ctx context.Context, calls []scriptCall) error {
	run := func() error {
		cmds := make([]*redis.Cmd, len(calls))
		_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = saveScript.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := c.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	return runLoadingScript(ctx, q.rdb, saveScript, "save", run)
}

func (q *Queue) saveKickOutCall(ko contact.KickOut) (scriptCall, error) {
	b, err := q.codec.EncodeKickOut(ko)
	if err != nil {
		return scriptCall{}, fmt.Errorf("encode kick-out %s: %w", ko.ID, err)
	}
	f := q.facts(ko)
	score := q.score(ko.FirstSeen)
	parent := kickOutParent(ko)
	s := strconv.FormatInt(score, 10)
	zsets := [][2]string{
		{q.k.ixAll(), s},
		{q.k.ixStatus(review.KickOutOpen), s},
		{q.k.ixGroup(review.KickOutOpen, ko.Stage, ko.Reason), s},
		{q.k.ixReason(ko.Reason), s},
		{q.k.ixStage(ko.Stage), s},
	}
	regs := [][2]string{{q.k.groupsKey(), groupName(ko.Stage, ko.Reason)}}
	if f.System != "" {
		zsets = append(zsets, [2]string{q.k.ixSystem(f.System), s})
		regs = append(regs, [2]string{q.k.systemsKey(), f.System})
	}
	terms := q.k.termKeys(f, ko)
	fields := []string{
		"avro", string(b),
		"status", review.KickOutOpen,
		"reason", ko.Reason,
		"stage", ko.Stage,
		"system", f.System,
		"record", f.RecordID,
		"seen", s,
		"saved", strconv.FormatInt(q.now().UnixMilli(), 10),
	}
	keys := []string{q.k.koKey(ko.ID), q.k.koKey(ko.ID)}
	hasParent := "0"
	if parent != "" && parent != ko.ID {
		fields = append(fields, "replay_of", parent)
		keys[1], hasParent = q.k.koKey(parent), "1"
	}
	args := []any{ko.ID, q.ttl(score), len(zsets), len(regs), len(fields) / 2, hasParent}
	for _, z := range zsets {
		keys = append(keys, z[0])
		args = append(args, z[1])
	}
	for _, r := range regs {
		keys = append(keys, r[0])
		args = append(args, r[1])
	}
	keys = append(keys, terms...)
	for _, f := range fields {
		args = append(args, f)
	}
	return scriptCall{keys: keys, args: args}, nil
}

// kickOutParent is the kick-out a replayed record came from (the
// cs-kickout-id header the replay carried, kept by every stage).
func kickOutParent(ko contact.KickOut) string {
	for _, h := range ko.Headers {
		if h.Key == "cs-kickout-id" {
			return string(h.Value)
		}
	}
	return ""
}

// SaveReviews stores review items; implements collector.Store. An item
// seen before keeps its status and decision.
func (q *Queue) SaveReviews(ctx context.Context, items []contact.ReviewItem) error {
	if len(items) == 0 {
		return nil
	}
	q.maybeTrim(ctx)
	calls := make([]scriptCall, 0, len(items))
	for _, it := range items {
		b, err := q.codec.EncodeReview(it)
		if err != nil {
			return fmt.Errorf("encode review item %s: %w", it.ID, err)
		}
		score := q.score(it.Created)
		s := strconv.FormatInt(score, 10)
		keys := []string{q.k.rvKey(it.ID), q.k.rvKey(it.ID), q.k.rvAll(), q.k.rvStatus(review.ReviewPending)}
		fields := []string{"avro", string(b), "status", review.ReviewPending, "seen", s,
			"saved", strconv.FormatInt(q.now().UnixMilli(), 10)}
		args := []any{it.ID, q.ttl(score), 2, 0, len(fields) / 2, "0", s, s}
		for _, f := range fields {
			args = append(args, f)
		}
		calls = append(calls, scriptCall{keys: keys, args: args})
	}
	if err := q.runSaves(ctx, calls); err != nil {
		return fmt.Errorf("store review items: %w", err)
	}
	return nil
}
