package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
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

// Kick-out statuses.
const (
	KickOutOpen     = "open"     // waiting for a person
	KickOutReplayed = "replayed" // sent to the replay topic (see StoredKickOut.Replay)
	KickOutResolved = "resolved" // closed by a person without a replay
)

// KickOutStatuses lists every kick-out status.
var KickOutStatuses = []string{KickOutOpen, KickOutReplayed, KickOutResolved}

// Review statuses.
const (
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// ReviewStatuses lists every review status.
var ReviewStatuses = []string{ReviewPending, ReviewApproved, ReviewRejected}

// Errors of the queue's state changes.
var (
	// ErrNotFound: no such item (never stored, or past its retention).
	ErrNotFound = errors.New("not found")
	// ErrWrongStatus: the item is not in the status the change starts from
	// (e.g. replaying a kick-out that was already replayed).
	ErrWrongStatus = errors.New("item is not in the expected status")
	// ErrBusy: another request is working on the same item right now.
	ErrBusy = errors.New("another request is working on this item")
)

// StatusError says which status an item has when a change was refused.
type StatusError struct {
	ID, Status, Want string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s is %s, not %s", e.ID, e.Status, e.Want)
}

// Unwrap makes errors.Is(err, ErrWrongStatus) hold.
func (e *StatusError) Unwrap() error { return ErrWrongStatus }

// KickOutFacts are what the queue indexes a kick-out by, besides reason,
// stage and time. They are read from the raw record by whoever knows its
// format (see WithFacts); the email is only ever stored as a hash.
type KickOutFacts struct {
	System   string
	RecordID string
	PersonID string
	EventID  string
	Email    string
}

// QueueOption adjusts a Queue.
type QueueOption func(*Queue)

// WithFacts sets how the queue reads the facts of a kick-out (system,
// record id, email...). Without it, DefaultKickOutFacts is used.
func WithFacts(fn func(contact.KickOut) KickOutFacts) QueueOption {
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

// Queue is the durable store of kick-outs and review items.
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
	keys      Keys
	codec     ItemCodec
	retention time.Duration
	facts     func(contact.KickOut) KickOutFacts
	now       func() time.Time
	auditLen  int64
	lastTrim  atomic.Int64 // unix ms of the last trim started by a save
}

// NewQueue returns the store; items expire after retention (0: 30 days).
func NewQueue(rdb redis.UniversalClient, keys Keys, codec ItemCodec, retention time.Duration, opts ...QueueOption) *Queue {
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	q := &Queue{rdb: rdb, keys: keys, codec: codec, retention: retention,
		facts: DefaultKickOutFacts, now: time.Now, auditLen: 100_000}
	for _, o := range opts {
		o(q)
	}
	return q
}

// Retention is how long items are kept after they happened.
func (q *Queue) Retention() time.Duration { return q.retention }

// ---------------------------------------------------------------- keys

// base is the prefix of every queue key; {…} is the shared hash tag.
func (q *Queue) base() string { p := q.keys.p(); return p + ":{" + p + "-queue}" }

func (q *Queue) koKey(id string) string    { return q.base() + ":ko:" + id }
func (q *Queue) koClaim(id string) string  { return q.base() + ":ko-claim:" + id }
func (q *Queue) ixAll() string             { return q.base() + ":ix:all" }
func (q *Queue) ixStatus(st string) string { return q.base() + ":ix:status:" + st }
func (q *Queue) ixReason(r string) string  { return q.base() + ":ix:reason:" + r }
func (q *Queue) ixStage(s string) string   { return q.base() + ":ix:stage:" + s }
func (q *Queue) ixSystem(s string) string  { return q.base() + ":ix:system:" + s }
func (q *Queue) groupsKey() string         { return q.base() + ":groups" }
func (q *Queue) systemsKey() string        { return q.base() + ":systems" }
func (q *Queue) termKey(kind, v string) string {
	return q.base() + ":t:" + kind + ":" + v
}
func (q *Queue) ixGroup(st, stage, reason string) string {
	return q.base() + ":ix:group:" + st + ":" + groupName(stage, reason)
}
func (q *Queue) rvKey(id string) string     { return q.base() + ":rv:" + id }
func (q *Queue) rvClaim(id string) string   { return q.base() + ":rv-claim:" + id }
func (q *Queue) rvAll() string              { return q.base() + ":rv-ix:all" }
func (q *Queue) rvStatus(st string) string  { return q.base() + ":rv-ix:status:" + st }
func (q *Queue) auditKey() string           { return q.base() + ":audit" }
func groupName(stage, reason string) string { return stage + "|" + reason }
func splitGroup(g string) (stage, reason string) {
	stage, reason, _ = strings.Cut(g, "|")
	return stage, reason
}

// EmailHash is how an email address is indexed: the SHA-256 of its trimmed,
// lower-cased form, so the plain address never appears in a key name.
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// maxTermLen bounds an indexed lookup value; longer ones are not indexed.
const maxTermLen = 256

func (q *Queue) termKeys(f KickOutFacts, ko contact.KickOut) []string {
	var out []string
	add := func(kind, v string) {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > maxTermLen {
			return
		}
		k := q.termKey(kind, v)
		for _, x := range out {
			if x == k {
				return
			}
		}
		out = append(out, k)
	}
	add("rec", f.RecordID)
	add("person", f.PersonID)
	add("event", f.EventID)
	add("event", ko.EventID)
	add("event", ko.OriginalEventID)
	add("person", ko.PersonID)
	if f.Email != "" {
		add("email", EmailHash(f.Email))
	}
	return out
}

// ---------------------------------------------------------------- scripts

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

// ---------------------------------------------------------------- saving

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
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := saveScript.Load(ctx, q.rdb).Err(); err != nil {
			return fmt.Errorf("load save script: %w", err)
		}
		err = run()
	}
	return err
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
		{q.ixAll(), s},
		{q.ixStatus(KickOutOpen), s},
		{q.ixGroup(KickOutOpen, ko.Stage, ko.Reason), s},
		{q.ixReason(ko.Reason), s},
		{q.ixStage(ko.Stage), s},
	}
	regs := [][2]string{{q.groupsKey(), groupName(ko.Stage, ko.Reason)}}
	if f.System != "" {
		zsets = append(zsets, [2]string{q.ixSystem(f.System), s})
		regs = append(regs, [2]string{q.systemsKey(), f.System})
	}
	terms := q.termKeys(f, ko)
	fields := []string{
		"avro", string(b),
		"status", KickOutOpen,
		"reason", ko.Reason,
		"stage", ko.Stage,
		"system", f.System,
		"record", f.RecordID,
		"seen", s,
		"saved", strconv.FormatInt(q.now().UnixMilli(), 10),
	}
	keys := []string{q.koKey(ko.ID), q.koKey(ko.ID)}
	hasParent := "0"
	if parent != "" && parent != ko.ID {
		fields = append(fields, "replay_of", parent)
		keys[1], hasParent = q.koKey(parent), "1"
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
		keys := []string{q.rvKey(it.ID), q.rvKey(it.ID), q.rvAll(), q.rvStatus(ReviewPending)}
		fields := []string{"avro", string(b), "status", ReviewPending, "seen", s,
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

// ---------------------------------------------------------------- retention

// maybeTrim trims at most once a minute from the save path, so the indexes
// stay bounded even when nobody runs the dashboard.
func (q *Queue) maybeTrim(ctx context.Context) {
	now := q.now().UnixMilli()
	last := q.lastTrim.Load()
	if now-last < time.Minute.Milliseconds() || !q.lastTrim.CompareAndSwap(last, now) {
		return
	}
	// A failed trim is retried a minute later; it must not fail a save.
	_, _ = q.Trim(ctx)
}

// Trim drops index entries past the retention. The items themselves
// expire by their TTL at the same moment; trimming the sorted sets by
// score removes their index entries in one command per index.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	cutoff := "(" + strconv.FormatInt(q.now().Add(-q.retention).UnixMilli(), 10)
	indexes, err := q.allIndexes(ctx)
	if err != nil {
		return 0, err
	}
	cmds := make([]*redis.IntCmd, len(indexes))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range indexes {
			cmds[i] = p.ZRemRangeByScore(ctx, k, "-inf", cutoff)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim queue indexes: %w", err)
	}
	var removed int64
	for i, k := range indexes {
		if k == q.ixAll() || k == q.rvAll() {
			removed += cmds[i].Val()
		}
	}
	return removed, nil
}

// allIndexes lists every sorted-set index the queue may have written.
func (q *Queue) allIndexes(ctx context.Context) ([]string, error) {
	groups, systems, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{q.ixAll(), q.rvAll()}
	for _, st := range KickOutStatuses {
		out = append(out, q.ixStatus(st))
	}
	for _, st := range ReviewStatuses {
		out = append(out, q.rvStatus(st))
	}
	reasons, stages := map[string]bool{}, map[string]bool{}
	for _, g := range groups {
		stage, reason := splitGroup(g)
		for _, st := range KickOutStatuses {
			out = append(out, q.ixGroup(st, stage, reason))
		}
		if !reasons[reason] {
			reasons[reason] = true
			out = append(out, q.ixReason(reason))
		}
		if !stages[stage] {
			stages[stage] = true
			out = append(out, q.ixStage(stage))
		}
	}
	for _, s := range systems {
		out = append(out, q.ixSystem(s))
	}
	return out, nil
}

func (q *Queue) registries(ctx context.Context) (groups, systems []string, err error) {
	var g, s *redis.StringSliceCmd
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		g = p.SMembers(ctx, q.groupsKey())
		s = p.SMembers(ctx, q.systemsKey())
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read queue registries: %w", err)
	}
	groups, systems = g.Val(), s.Val()
	sort.Strings(groups)
	sort.Strings(systems)
	return groups, systems, nil
}

// ---------------------------------------------------------------- reading kick-outs

// ReplayInfo is the lineage of one replay of a kick-out.
type ReplayInfo struct {
	At  time.Time `json:"at"`
	Who string    `json:"who"`
	// Count is the replay count the replayed record carries (previous + 1).
	Count           int    `json:"count"`
	OriginalEventID string `json:"original_event_id,omitempty"`
	Format          string `json:"format"`
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	Offset          int64  `json:"offset"`
	// Edited is set when a person changed the payload (fix and resubmit);
	// Value then holds what was sent.
	Edited bool   `json:"edited"`
	Value  []byte `json:"-"`
}

// Decision is a person's decision on an item.
type Decision struct {
	Who string    `json:"who"`
	At  time.Time `json:"at"`
	Why string    `json:"why,omitempty"`
}

// StoredKickOut is a kick-out with what the queue knows about it.
type StoredKickOut struct {
	contact.KickOut
	Status   string
	System   string
	RecordID string
	SavedAt  time.Time
	// Replay is set once the kick-out was replayed.
	Replay *ReplayInfo
	// ReplayOf is the kick-out this one is a replay of (it failed again);
	// ReplayedAs the kick-out the replay of this one became.
	ReplayOf   string
	ReplayedAs string
	// Resolution is set when a person closed the kick-out without replay.
	Resolution *Decision
}

// KickOutFilter selects kick-outs. Empty fields do not filter.
type KickOutFilter struct {
	Status string
	Reason string
	Stage  string
	System string
	// From and To bound the time the kick-out happened (To exclusive).
	From, To time.Time
	// Query is a record id, person id, event id, kick-out id or email.
	Query  string
	Offset int
	Limit  int // default 50
}

// KickOutPage is one page of a filtered list, newest first.
type KickOutPage struct {
	Items []StoredKickOut
	Total int
}

// maxCandidates bounds how many index entries one list scans.
const maxCandidates = 100_000

type koMeta struct {
	id                            string
	status, reason, stage, system string
	seen                          int64
	replayedAs                    string
}

func (f KickOutFilter) match(m koMeta) bool {
	return (f.Status == "" || f.Status == m.status) &&
		(f.Reason == "" || f.Reason == m.reason) &&
		(f.Stage == "" || f.Stage == m.stage) &&
		(f.System == "" || f.System == m.system) &&
		(f.From.IsZero() || m.seen >= f.From.UnixMilli()) &&
		(f.To.IsZero() || m.seen < f.To.UnixMilli())
}

// ListKickOuts returns one page of the kick-outs that match f.
func (q *Queue) ListKickOuts(ctx context.Context, f KickOutFilter) (KickOutPage, error) {
	metas, err := q.matching(ctx, f)
	if err != nil {
		return KickOutPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	page := KickOutPage{Total: len(metas)}
	lo := min(max(f.Offset, 0), len(metas))
	hi := min(lo+f.Limit, len(metas))
	ids := make([]string, 0, hi-lo)
	for _, m := range metas[lo:hi] {
		ids = append(ids, m.id)
	}
	page.Items, err = q.kickOutsByID(ctx, ids)
	return page, err
}

// MatchingKickOutIDs returns the ids of up to max kick-outs that match f
// (Offset and Limit are ignored), newest first, and how many match in all.
func (q *Queue) MatchingKickOutIDs(ctx context.Context, f KickOutFilter, limit int) ([]string, int, error) {
	metas, err := q.matching(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, min(len(metas), limit))
	for _, m := range metas {
		if len(ids) == limit {
			break
		}
		ids = append(ids, m.id)
	}
	return ids, len(metas), nil
}

// matching returns the metadata of every kick-out that matches f, newest
// first. It reads the narrowest index, then filters on the small metadata
// fields; the Avro bodies are read only for the page shown.
func (q *Queue) matching(ctx context.Context, f KickOutFilter) ([]koMeta, error) {
	var ids []string
	if strings.TrimSpace(f.Query) != "" {
		var err error
		if ids, err = q.searchIDs(ctx, strings.TrimSpace(f.Query)); err != nil {
			return nil, err
		}
	} else {
		index := q.ixAll()
		switch {
		case f.Status != "" && f.Stage != "" && f.Reason != "":
			index = q.ixGroup(f.Status, f.Stage, f.Reason)
		case f.Reason != "":
			index = q.ixReason(f.Reason)
		case f.System != "":
			index = q.ixSystem(f.System)
		case f.Stage != "":
			index = q.ixStage(f.Stage)
		case f.Status != "":
			index = q.ixStatus(f.Status)
		}
		rng := &redis.ZRangeBy{Min: "-inf", Max: "+inf", Count: maxCandidates}
		if !f.From.IsZero() {
			rng.Min = strconv.FormatInt(f.From.UnixMilli(), 10)
		}
		if !f.To.IsZero() {
			rng.Max = "(" + strconv.FormatInt(f.To.UnixMilli(), 10)
		}
		var err error
		if ids, err = q.rdb.ZRevRangeByScore(ctx, index, rng).Result(); err != nil {
			return nil, fmt.Errorf("list kick-outs: %w", err)
		}
	}
	metas, err := q.metas(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := metas[:0]
	for _, m := range metas {
		if f.match(m) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].seen != out[j].seen {
			return out[i].seen > out[j].seen
		}
		return out[i].id > out[j].id
	})
	return out, nil
}

// searchIDs finds kick-outs by exact record id, person id, event id,
// kick-out id or email address.
func (q *Queue) searchIDs(ctx context.Context, query string) ([]string, error) {
	var keys []string
	if len(query) <= maxTermLen {
		keys = append(keys, q.termKey("rec", query), q.termKey("person", query), q.termKey("event", query))
	}
	keys = append(keys, q.termKey("email", EmailHash(query)))
	ids, err := q.rdb.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("search kick-outs: %w", err)
	}
	n, err := q.rdb.Exists(ctx, q.koKey(query)).Result()
	if err != nil {
		return nil, fmt.Errorf("search kick-outs: %w", err)
	}
	if n == 1 {
		ids = append(ids, query)
	}
	sort.Strings(ids)
	return compactStrings(ids), nil
}

func compactStrings(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// metas reads the small fields of the items, skipping expired ones.
func (q *Queue) metas(ctx context.Context, ids []string) ([]koMeta, error) {
	out := make([]koMeta, 0, len(ids))
	const chunk = 1000
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		cmds := make([]*redis.SliceCmd, len(part))
		_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range part {
				cmds[i] = p.HMGet(ctx, q.koKey(id), "status", "reason", "stage", "system", "seen", "replayed_as")
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read kick-outs: %w", err)
		}
		for i, id := range part {
			v := cmds[i].Val()
			status, ok := v[0].(string)
			if !ok {
				continue // expired; its index entries go at the next trim
			}
			m := koMeta{id: id, status: status}
			m.reason, _ = v[1].(string)
			m.stage, _ = v[2].(string)
			m.system, _ = v[3].(string)
			seen, _ := v[4].(string)
			m.seen, _ = strconv.ParseInt(seen, 10, 64)
			m.replayedAs, _ = v[5].(string)
			out = append(out, m)
		}
	}
	return out, nil
}

func (q *Queue) kickOutsByID(ctx context.Context, ids []string) ([]StoredKickOut, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, q.koKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read kick-outs: %w", err)
	}
	out := make([]StoredKickOut, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		ko, err := q.storedKickOut(id, h)
		if err != nil {
			return nil, err
		}
		out = append(out, ko)
	}
	return out, nil
}

// KickOut returns one kick-out, or ErrNotFound.
func (q *Queue) KickOut(ctx context.Context, id string) (StoredKickOut, error) {
	h, err := q.rdb.HGetAll(ctx, q.koKey(id)).Result()
	if err != nil {
		return StoredKickOut{}, fmt.Errorf("read kick-out %s: %w", id, err)
	}
	if len(h) == 0 {
		return StoredKickOut{}, fmt.Errorf("kick-out %s: %w", id, ErrNotFound)
	}
	return q.storedKickOut(id, h)
}

func (q *Queue) storedKickOut(id string, h map[string]string) (StoredKickOut, error) {
	ko, err := q.codec.DecodeKickOut([]byte(h["avro"]))
	if err != nil {
		return StoredKickOut{}, fmt.Errorf("decode kick-out %s: %w", id, err)
	}
	s := StoredKickOut{
		KickOut:    ko,
		Status:     h["status"],
		System:     h["system"],
		RecordID:   h["record"],
		SavedAt:    msTime(h["saved"]),
		ReplayOf:   h["replay_of"],
		ReplayedAs: h["replayed_as"],
	}
	if h["replay_at"] != "" {
		r := &ReplayInfo{
			At:              msTime(h["replay_at"]),
			Who:             h["replay_by"],
			OriginalEventID: h["replay_original_event_id"],
			Format:          h["replay_format"],
			Topic:           h["replay_topic"],
			Edited:          h["replay_edited"] == "1",
		}
		r.Count, _ = strconv.Atoi(h["replay_count"])
		p, _ := strconv.ParseInt(h["replay_partition"], 10, 32)
		r.Partition = int32(p)
		r.Offset, _ = strconv.ParseInt(h["replay_offset"], 10, 64)
		if v, ok := h["replay_value"]; ok {
			r.Value = []byte(v)
		}
		s.Replay = r
	}
	if h["decided_at"] != "" {
		s.Resolution = &Decision{Who: h["decided_by"], At: msTime(h["decided_at"]), Why: h["decided_why"]}
	}
	return s, nil
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// KickOuts returns up to limit kick-outs, newest first.
func (q *Queue) KickOuts(ctx context.Context, limit int64) ([]contact.KickOut, error) {
	page, err := q.ListKickOuts(ctx, KickOutFilter{Limit: int(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]contact.KickOut, len(page.Items))
	for i, it := range page.Items {
		out[i] = it.KickOut
	}
	return out, nil
}

// CountKickOuts returns the number of stored kick-outs.
func (q *Queue) CountKickOuts(ctx context.Context) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.ixAll()).Result()
	if err != nil {
		return 0, fmt.Errorf("count kick-outs: %w", err)
	}
	return n, nil
}

// CountKickOutsByStatus returns the number of kick-outs with a status.
func (q *Queue) CountKickOutsByStatus(ctx context.Context, status string) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.ixStatus(status)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s kick-outs: %w", status, err)
	}
	return n, nil
}

// CountReviews returns the number of review items with a status.
func (q *Queue) CountReviews(ctx context.Context, status string) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.rvStatus(status)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s review items: %w", status, err)
	}
	return n, nil
}

// ---------------------------------------------------------------- counts

// GroupCount is the number of kick-outs of one reason in one stage.
type GroupCount struct {
	Stage    string `json:"stage"`
	Reason   string `json:"reason"`
	Open     int64  `json:"open"`
	Replayed int64  `json:"replayed"`
	Resolved int64  `json:"resolved"`
	Total    int64  `json:"total"`
}

// GroupCounts counts the kick-outs per stage and reason that happened in
// [from, to) (zero: open-ended), most open first.
func (q *Queue) GroupCounts(ctx context.Context, from, to time.Time) ([]GroupCount, error) {
	groups, _, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := scoreRange(from, to)
	cmds := make([][]*redis.IntCmd, len(groups))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			stage, reason := splitGroup(g)
			for _, st := range KickOutStatuses {
				cmds[i] = append(cmds[i], p.ZCount(ctx, q.ixGroup(st, stage, reason), lo, hi))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count kick-outs: %w", err)
	}
	var out []GroupCount
	for i, g := range groups {
		stage, reason := splitGroup(g)
		c := GroupCount{Stage: stage, Reason: reason,
			Open: cmds[i][0].Val(), Replayed: cmds[i][1].Val(), Resolved: cmds[i][2].Val()}
		c.Total = c.Open + c.Replayed + c.Resolved
		if c.Total > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Open != out[j].Open {
			return out[i].Open > out[j].Open
		}
		return out[i].Total > out[j].Total
	})
	return out, nil
}

func scoreRange(from, to time.Time) (lo, hi string) {
	lo, hi = "-inf", "+inf"
	if !from.IsZero() {
		lo = strconv.FormatInt(from.UnixMilli(), 10)
	}
	if !to.IsZero() {
		hi = "(" + strconv.FormatInt(to.UnixMilli(), 10)
	}
	return lo, hi
}

// DayCount is the number of kick-outs of one day (UTC), by reason.
type DayCount struct {
	Day      string           `json:"day"` // YYYY-MM-DD
	Total    int64            `json:"total"`
	ByReason map[string]int64 `json:"by_reason"`
}

// DailyCounts counts kick-outs per UTC day from the day of from to the day
// of to, both included, by reason.
func (q *Queue) DailyCounts(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	groups, _, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	var reasons []string
	seen := map[string]bool{}
	for _, g := range groups {
		if _, r := splitGroup(g); !seen[r] {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	sort.Strings(reasons)
	days := utcDays(from, to)
	cmds := make([][]*redis.IntCmd, len(days))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, d := range days {
			lo, hi := scoreRange(d, d.AddDate(0, 0, 1))
			for _, r := range reasons {
				cmds[i] = append(cmds[i], p.ZCount(ctx, q.ixReason(r), lo, hi))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count kick-outs per day: %w", err)
	}
	out := make([]DayCount, len(days))
	for i, d := range days {
		dc := DayCount{Day: d.Format("2006-01-02"), ByReason: map[string]int64{}}
		for j, r := range reasons {
			if n := cmds[i][j].Val(); n > 0 {
				dc.ByReason[r] = n
				dc.Total += n
			}
		}
		out[i] = dc
	}
	return out, nil
}

// maxDays bounds a daily chart.
const maxDays = 400

func utcDays(from, to time.Time) []time.Time {
	from, to = from.UTC(), to.UTC()
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for d := start; !d.After(to) && len(out) < maxDays; d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

// ReasonCounts returns the number of kick-outs per reason.
func (q *Queue) ReasonCounts(ctx context.Context) (map[string]int64, error) {
	groups, err := q.GroupCounts(ctx, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, g := range groups {
		out[g.Reason] += g.Total
	}
	return out, nil
}

// Systems returns the systems kick-outs were seen from.
func (q *Queue) Systems(ctx context.Context) ([]string, error) {
	_, systems, err := q.registries(ctx)
	return systems, err
}

// ---------------------------------------------------------------- changes

// Claim marks a kick-out ("ko") or review item ("rv") as being worked on
// for up to ttl, so two people pressing "replay" at once send one record.
// release ends the claim early.
func (q *Queue) Claim(ctx context.Context, kind, id string, ttl time.Duration) (release func(), err error) {
	key := q.koClaim(id)
	if kind == "rv" {
		key = q.rvClaim(id)
	}
	token := strconv.FormatInt(q.now().UnixNano(), 36)
	ok, err := q.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", id, ErrBusy)
	}
	return func() {
		// Delete only our own claim: after ttl another may hold it.
		ctx := context.WithoutCancel(ctx)
		if v, err := q.rdb.Get(ctx, key).Result(); err == nil && v == token {
			q.rdb.Del(ctx, key)
		}
	}, nil
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// Audit actions.
const (
	AuditReplay      = "replay"
	AuditFixResubmit = "fix_resubmit"
	AuditResolve     = "resolve"
	AuditApprove     = "approve"
	AuditReject      = "reject"
)

func (q *Queue) move(ctx context.Context, item, id, from, to string, moves [][2]string, fields []string, audit AuditEntry) error {
	keys := []string{item, q.auditKey()}
	for _, m := range moves {
		keys = append(keys, m[0], m[1])
	}
	auditFields := []string{"at", strconv.FormatInt(audit.At.UnixMilli(), 10), "who", audit.Who,
		"action", audit.Action, "target", audit.Target, "detail", audit.Detail}
	args := []any{id, from, to, len(fields) / 2, q.auditLen, len(auditFields) / 2}
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
		return fmt.Errorf("%s: %w", id, ErrNotFound)
	case strings.HasPrefix(res, "status:"):
		return &StatusError{ID: id, Status: strings.TrimPrefix(res, "status:"), Want: from}
	}
	return fmt.Errorf("update %s: unexpected reply %q", id, res)
}

func (q *Queue) kickOutMoves(ko StoredKickOut, from, to string) [][2]string {
	return [][2]string{
		{q.ixStatus(from), q.ixStatus(to)},
		{q.ixGroup(from, ko.Stage, ko.Reason), q.ixGroup(to, ko.Stage, ko.Reason)},
	}
}

// MarkReplayed records that an open kick-out was sent to the replay topic,
// and audits it. Call it only after the produce succeeded.
func (q *Queue) MarkReplayed(ctx context.Context, id string, r ReplayInfo) error {
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
	action, detail := AuditReplay, fmt.Sprintf("replay #%d to %s (partition %d, offset %d)", r.Count, r.Topic, r.Partition, r.Offset)
	if r.Edited {
		fields = append(fields, "replay_edited", "1", "replay_value", string(r.Value))
		action = AuditFixResubmit
		sum := sha256.Sum256(r.Value)
		detail += fmt.Sprintf(", edited payload (sha256 %x)", sum[:6])
	}
	return q.move(ctx, q.koKey(id), id, KickOutOpen, KickOutReplayed, q.kickOutMoves(ko, KickOutOpen, KickOutReplayed),
		fields, AuditEntry{At: r.At, Who: r.Who, Action: action, Target: id, Detail: detail})
}

// Resolve closes an open kick-out without replaying it (e.g. fixed in the
// source system by hand), and audits who and why.
func (q *Queue) Resolve(ctx context.Context, id string, d Decision) error {
	ko, err := q.KickOut(ctx, id)
	if err != nil {
		return err
	}
	fields := []string{"decided_by", d.Who, "decided_at", strconv.FormatInt(d.At.UnixMilli(), 10), "decided_why", d.Why}
	return q.move(ctx, q.koKey(id), id, KickOutOpen, KickOutResolved, q.kickOutMoves(ko, KickOutOpen, KickOutResolved),
		fields, AuditEntry{At: d.At, Who: d.Who, Action: AuditResolve, Target: id, Detail: d.Why})
}

// ---------------------------------------------------------------- reviews

// StoredReview is a review item with its status and decision.
type StoredReview struct {
	contact.ReviewItem
	Status   string
	Decision *Decision
	// EmittedEventID is the event id of the change an approval sent on.
	EmittedEventID string
}

// Review returns one review item, or ErrNotFound.
func (q *Queue) Review(ctx context.Context, id string) (StoredReview, error) {
	h, err := q.rdb.HGetAll(ctx, q.rvKey(id)).Result()
	if err != nil {
		return StoredReview{}, fmt.Errorf("read review item %s: %w", id, err)
	}
	if len(h) == 0 {
		return StoredReview{}, fmt.Errorf("review item %s: %w", id, ErrNotFound)
	}
	return q.storedReview(id, h)
}

func (q *Queue) storedReview(id string, h map[string]string) (StoredReview, error) {
	it, err := q.codec.DecodeReview([]byte(h["avro"]))
	if err != nil {
		return StoredReview{}, fmt.Errorf("decode review item %s: %w", id, err)
	}
	r := StoredReview{ReviewItem: it, Status: h["status"], EmittedEventID: h["emitted"]}
	if h["decided_at"] != "" {
		r.Decision = &Decision{Who: h["decided_by"], At: msTime(h["decided_at"]), Why: h["decided_why"]}
	}
	return r, nil
}

// ListReviews returns up to limit review items with status ("" for all),
// newest first.
func (q *Queue) ListReviews(ctx context.Context, status string, limit int) ([]StoredReview, error) {
	index := q.rvAll()
	if status != "" {
		index = q.rvStatus(status)
	}
	if limit <= 0 {
		limit = 100
	}
	ids, err := q.rdb.ZRevRange(ctx, index, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list review items: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, q.rvKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read review items: %w", err)
	}
	out := make([]StoredReview, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		r, err := q.storedReview(id, h)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Reviews returns up to limit review items, newest first, with their status.
func (q *Queue) Reviews(ctx context.Context, limit int64) ([]contact.ReviewItem, []string, error) {
	list, err := q.ListReviews(ctx, "", int(limit))
	if err != nil {
		return nil, nil, err
	}
	items := make([]contact.ReviewItem, len(list))
	statuses := make([]string, len(list))
	for i, r := range list {
		items[i], statuses[i] = r.ReviewItem, r.Status
	}
	return items, statuses, nil
}

// DecideReview records an approval or rejection of a pending item with
// who, when and why, and audits it. emittedEventID is the event id of the
// change an approval sent on.
func (q *Queue) DecideReview(ctx context.Context, id, status string, d Decision, emittedEventID string) error {
	action := AuditApprove
	switch status {
	case ReviewApproved:
	case ReviewRejected:
		action = AuditReject
	default:
		return fmt.Errorf("decide review %s: status %q is not a decision", id, status)
	}
	fields := []string{"decided_by", d.Who, "decided_at", strconv.FormatInt(d.At.UnixMilli(), 10), "decided_why", d.Why}
	detail := d.Why
	if emittedEventID != "" {
		fields = append(fields, "emitted", emittedEventID)
		detail = strings.TrimSpace(detail + " (sent on as " + emittedEventID + ")")
	}
	return q.move(ctx, q.rvKey(id), id, ReviewPending, status,
		[][2]string{{q.rvStatus(ReviewPending), q.rvStatus(status)}},
		fields, AuditEntry{At: d.At, Who: d.Who, Action: action, Target: id, Detail: detail})
}

// AuditLog returns up to limit audit entries, newest first.
func (q *Queue) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	msgs, err := q.rdb.XRevRangeN(ctx, q.auditKey(), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEntry, len(msgs))
	for i, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		out[i] = AuditEntry{ID: m.ID, At: msTime(str("at")), Who: str("who"), Action: str("action"),
			Target: str("target"), Detail: str("detail")}
	}
	return out, nil
}

// ---------------------------------------------------------------- default facts

// DefaultKickOutFacts reads what it can without knowing the record's
// format: the ids the stage set, the record id from a JSON or plain key,
// and an "email" field when the value is JSON.
func DefaultKickOutFacts(ko contact.KickOut) KickOutFacts {
	f := KickOutFacts{PersonID: ko.PersonID, EventID: ko.EventID, RecordID: RecordIDFromKey(ko.Key)}
	var v any
	if json.Unmarshal(ko.Value, &v) == nil {
		f.Email = FindJSONString(v, "email")
		if f.EventID == "" {
			f.EventID = FindJSONString(v, "event_id")
		}
	}
	return f
}

// RecordIDFromKey reads a record id from a Kafka key: the first string or
// number of a JSON object key (Debezium's primary-key struct, with or
// without its schema envelope), or the key itself when it is plain text.
func RecordIDFromKey(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	var obj map[string]any
	if json.Unmarshal(key, &obj) == nil {
		if p, ok := obj["payload"].(map[string]any); ok {
			obj = p
		}
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		if _, ok := obj["id"]; ok {
			names = append([]string{"id"}, names...)
		}
		for _, k := range names {
			switch x := obj[k].(type) {
			case string:
				return x
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
		return ""
	}
	s := string(key)
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return "" // binary, not an id a person could type
		}
	}
	return s
}

// FindJSONString returns the first string value of a field called name in
// a decoded JSON value, searching breadth first with keys in sorted order
// so the answer is stable ("after" before "before" in a Debezium envelope).
func FindJSONString(v any, name string) string {
	queue := []any{v}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		switch x := cur.(type) {
		case map[string]any:
			if s, ok := x[name].(string); ok && s != "" {
				return s
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				queue = append(queue, x[k])
			}
		case []any:
			queue = append(queue, x...)
		}
	}
	return ""
}
