package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/review"
)

// moveScript changes an item's status if it still has the expected one,
// moves it between the status indexes, sets fields and appends the audit
// entry, all at once.
//
// KEYS: item, audit stream, then (from index, to index) pairs. ARGV: id,
// expected status, new status, nf, audit max length, na, nf field/value
// pairs, na audit field/value pairs.
var moveScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'missing' end
if st ~= ARGV[2] then return 'status:' .. st end
local score = redis.call('HGET', KEYS[1], 'seen')
for i = 3, #KEYS, 2 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  redis.call('ZADD', KEYS[i + 1], score, ARGV[1])
end
redis.call('HSET', KEYS[1], 'status', ARGV[3])
local a = 7
for i = 1, tonumber(ARGV[4]) do redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 1]); a = a + 2 end
local x = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*'}
for i = 1, tonumber(ARGV[6]) * 2 do x[#x + 1] = ARGV[a]; a = a + 1 end
redis.call(unpack(x))
return 'ok'
`)

// Claim marks a kick-out ("ko") or review item ("rv") as being worked on
// for up to ttl, so two people pressing "replay" at once send one record.
// release ends the claim early.
func (q *Queue) Claim(ctx context.Context, kind, id string, ttl time.Duration) (release func(), err error) {
	key := q.k.koClaim(id)
	if kind == "rv" {
		key = q.k.rvClaim(id)
	}
	token := strconv.FormatInt(q.now().UnixNano(), 36)
	ok, err := q.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", id, review.ErrBusy)
	}
	return func() {
		// Delete only our own claim: after ttl another may hold it.
		ctx := context.WithoutCancel(ctx)
		if v, err := q.rdb.Get(ctx, key).Result(); err == nil && v == token {
			q.rdb.Del(ctx, key)
		}
	}, nil
}

// move applies transition t to item id (hash key item) if it still has
// status t.From: it moves the item between the index pairs in moves, sets
// fields and appends the audit entry, all in one script.
func (q *Queue) move(ctx context.Context, item, id string, t review.Transition, moves [][2]string, fields []string, audit review.AuditEntry) error {
	keys := []string{item, q.k.auditKey()}
	for _, m := range moves {
		keys = append(keys, m[0], m[1])
	}
	auditFields := auditStreamFields(audit)
	args := []any{id, t.From, t.To, len(fields) / 2, q.auditLen, len(auditFields) / 2}
	for _, f := range fields {
		args = append(args, f)
	}
	for _, f := range auditFields {
		args = append(args, f)
	}
	res, err := moveScript.Run(ctx, q.rdb, keys, args...).Text()
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	switch {
	case res == "ok":
		return nil
	case res == "missing":
		return fmt.Errorf("%s: %w", id, review.ErrNotFound)
	case strings.HasPrefix(res, "status:"):
		return &review.StatusError{ID: id, Status: strings.TrimPrefix(res, "status:"), Want: t.From}
	}
	return fmt.Errorf("update %s: unexpected reply %q", id, res)
}

// kickOutMoves are the indexes a kick-out changes when t applies to it.
func (q *Queue) kickOutMoves(ko review.StoredKickOut, t review.Transition) [][2]string {
	return [][2]string{
		{q.k.ixStatus(t.From), q.k.ixStatus(t.To)},
		{q.k.ixGroup(t.From, ko.Stage, ko.Reason), q.k.ixGroup(t.To, ko.Stage, ko.Reason)},
	}
}

// decisionFields are the hash fields that keep a person's decision.
func decisionFields(d review.Decision) []string {
	return []string{"decided_by", d.Who, "decided_at", strconv.FormatInt(d.At.UnixMilli(), 10), "decided_why", d.Why}
}

// MarkReplayed records that an open kick-out was sent to the replay topic,
// and audits it. Call it only after the produce succeeded.
func (q *Queue) MarkReplayed(ctx context.Context, id string, r review.ReplayInfo) error {
	ko, err := q.KickOut(ctx, id)
	if err != nil {
		return err
	}
	fields := []string{
		"replay_at", strconv.FormatInt(r.At.UnixMilli(), 10),
		"replay_by", r.Who,
		"replay_count", strconv.Itoa(r.Count),
		"replay_original_event_id", r.OriginalEventID,
		"replay_format", r.Format,
		"replay_topic", r.Topic,
		"replay_partition", strconv.FormatInt(int64(r.Partition), 10),
		"replay_offset", strconv.FormatInt(r.Offset, 10),
	}
	if r.Edited {
		fields = append(fields, "replay_edited", "1", "replay_value", string(r.Value))
	}
	t := review.ReplayTransition(r)
	return q.move(ctx, q.k.koKey(id), id, t, q.kickOutMoves(ko, t), fields, review.ReplayAudit(id, r))
}

// Resolve closes an open kick-out without replaying it (e.g. fixed in the
// source system by hand), and audits who and why.
func (q *Queue) Resolve(ctx context.Context, id string, d review.Decision) error {
	ko, err := q.KickOut(ctx, id)
	if err != nil {
		return err
	}
	t := review.ResolveKickOut
	return q.move(ctx, q.k.koKey(id), id, t, q.kickOutMoves(ko, t), decisionFields(d), review.DecisionAudit(t, id, d, ""))
}

// DecideReview records an approval or rejection of a pending item with
// who, when and why, and audits it. emittedEventID is the event id of the
// change an approval sent on.
func (q *Queue) DecideReview(ctx context.Context, id, status string, d review.Decision, emittedEventID string) error {
	t, err := review.DecisionTransition(status)
	if err != nil {
		return fmt.Errorf("decide review %s: %w", id, err)
	}
	fields := decisionFields(d)
	if emittedEventID != "" {
		fields = append(fields, "emitted", emittedEventID)
	}
	return q.move(ctx, q.k.rvKey(id), id, t, [][2]string{{q.k.rvStatus(t.From), q.k.rvStatus(t.To)}},
		fields, review.DecisionAudit(t, id, d, emittedEventID))
}
