package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/match"
)

// MatchIndex is the Redis implementation of match.Index: the identity index
// the matcher reads candidates from and writes its decisions to. It follows
// the consistency contract of match.Index with match.MemIndex as the
// reference behaviour (key versions, per-key person caps, conflicts).
//
// # Layout
//
// Every key carries a hash tag, and every atomic step (one command or one
// Lua script) touches keys of one tag only, so a Redis Cluster can hold it.
// The keys are listed in Keys (keys.go), the stored values encoded in
// codec.go: per blocking key one entry in a bucket hash (its version and
// its persons, or a mark that it is generic or that its persons overflowed
// into a string of their own) and a lock; per record id its owner (the
// person, sealed with the record's fingerprint once its write is complete:
// see owner.go) and a lock; per person one string of its members (record id
// and compact record, in arrival order), under the tag of the person's links
// and golden state; term counters in bucket hashes and the record count. A
// person exists while its members string does. The layout is versioned
// (checkLayout).
//
// # Lookup
//
// A whole batch of queries costs two pipelined round trips: first every
// distinct key's version and persons, record owner, term count and the total
// (a key's version is read before its persons, so a concurrent addition can
// only make the answer newer than its version, never older: a create decided
// on it conflicts instead of missing a person), then the members of every
// person found.
//
// # Commit
//
// A write that links a record to an existing person (or refreshes a known
// record) needs no lock: it claims the record's owner with a compare-and-set
// on the record key (conflict if another person holds it), then a script on
// the person's tag checks that the person exists and adds the member (on a
// missing person the owner claim is undone and the write conflicts), then
// the person is added under each blocking key (one script per key, which
// bumps the version and turns the key generic past its cap) and the term
// counters are increased; last, the owner is sealed with the record's
// fingerprint (in the same pipeline on a single server, which executes it
// in order; in a round trip of its own on a cluster). A refresh of a record
// its person already holds claims it for the same person, which drops the
// fingerprint before the member changes.
//
// Creating a person is what can make a duplicate, so it must check the
// versions of several blocking keys that live in different slots; no single
// script can. It is made atomic with per-key locks instead:
//
//  1. `SET lock token NX PX ttl` on the lock of every version-checked key
//     and of the record, in sorted order, pipelined, each followed in the
//     same pipeline by the read it protects (the key's version, the record's
//     owner; the person's members). If any lock is taken, the ones acquired
//     are released and the write conflicts.
//  2. With all locks held: the versions, the owner and the person's absence
//     are re-checked against what the write expects (conflict otherwise,
//     releasing the locks);
//  3. the person is created with its member (script on the person's tag);
//  4. the record's owner is claimed (compare-and-set; a link of the same
//     record by a process that took no lock may have won: then the person is
//     removed again and the write conflicts);
//  5. the person is added under every key, each key's lock released by the
//     same script (if it still holds our token), the term counters
//     increased, and the record's lock released (compare-and-delete);
//  6. the owner is sealed with the record's fingerprint, as for a link.
//
// Why this is safe: every create that could duplicate this one shares a
// blocking key with it, so it needs the same lock; while the lock is held,
// only links (which never create a person) can change the key, and a create
// that locks the key after the release sees the bumped version (step 5 adds
// to a key and releases its lock in one script) and conflicts. Each slot has a single master that executes each command and
// script atomically and a connection's commands in order, so the lock, the
// read after it and the additions before the release are ordered per slot.
// The lock TTL (10 s by default) is far above the time a create takes (a few
// round trips), and a create whose locks are older than half the TTL when it
// is about to make itself visible gives up instead; a lock can thus only
// expire under a process that died (or stalled longer than the TTL, which
// the design rules out). If a process dies holding locks, they expire after
// the TTL; meanwhile creates under those keys conflict and retry. What it
// wrote is invisible or idempotent, by the order of the steps:
//
//   - died after step 3: the person holds only this record, is under no key
//     and owns no record, so no lookup returns it; redoing the record
//     derives the same person id (match.DefaultPersonID is a function of the
//     record id) and step 3 adopts a person whose only member is this record
//     (under the record's lock, no one else can be creating it);
//   - died after step 4 (or 5): the record is known to the person, so
//     redoing it decides "known", whose write adds the person under the keys
//     it was missing from (a known record's write is not version-checked);
//     the owner is not sealed yet, so the redo is not taken for a record
//     indexed already (see owner.go).
//
// Links are ordered the same way (owner, then member, then keys), so a link
// that died half-way is completed by the redo's "known" write. Term counters
// are increased only by the write that adds a record new to the index, so a
// write that died before its last step leaves them one short: they weigh
// evidence, they do not decide identity.
//
// Writes of one Commit are applied in order, each seeing the previous ones:
// writes that share no record or person, and no key unless both are links,
// commute, so they are grouped into waves (a write goes one wave after the
// last earlier write it depends on: see waves) and each wave is applied with
// the steps above pipelined across its writes: 3 round trips for a wave of
// links, 4 with creates (one more on a cluster, for the seals).
//
// Two processes writing one record at once (a zombie after a rebalance) may
// leave either version as its member, as without fingerprints, and the seal
// may then name the other version: identity (owner, keys) stays right, and
// the member is rewritten at the record's next change.
//
// When a create conflicts because another process holds one of its locks,
// Commit waits (up to LockWait) for those locks to go before it reports the
// conflict, so that the matcher's fresh lookup sees the other creation
// instead of deciding the same thing again.
type MatchIndex struct {
	rdb      redis.UniversalClient
	keys     Keys
	keyCap   func(key string) int
	lockTTL  time.Duration
	lockWait time.Duration
	loaded   atomic.Bool
	// ordered says the client sends a pipeline on one connection, which
	// the server executes in order (a single server, not a cluster): a
	// write's seal then rides in the pipeline of its last step instead of
	// a round trip of its own (see owner.go).
	ordered  bool
	layoutOK atomic.Bool
	// failpoint, when set (tests only), is called after each step of a
	// wave; an error aborts Commit there without any clean-up, as if the
	// process had died.
	failpoint func(step string) error
}

// MatchIndexOptions tune a MatchIndex; zero values take the defaults.
type MatchIndexOptions struct {
	// KeyCap is the per-key person cap (default match.KeyCap).
	KeyCap func(key string) int
	// LockTTL is the expiry of a creation's locks (default 10s). It must
	// be far above the time a Commit takes.
	LockTTL time.Duration
	// LockWait bounds how long a create that found a lock taken waits for
	// it to go before reporting the conflict (default 250ms).
	LockWait time.Duration
}

// NewMatchIndex returns the index on rdb with default options.
func NewMatchIndex(rdb redis.UniversalClient, keys Keys) *MatchIndex {
	return NewMatchIndexWithOptions(rdb, keys, MatchIndexOptions{})
}

// NewMatchIndexWithOptions returns the index on rdb.
func NewMatchIndexWithOptions(rdb redis.UniversalClient, keys Keys, opts MatchIndexOptions) *MatchIndex {
	if opts.KeyCap == nil {
		opts.KeyCap = match.KeyCap
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = 10 * time.Second
	}
	if opts.LockWait <= 0 {
		opts.LockWait = 250 * time.Millisecond
	}
	_, ordered := rdb.(*redis.Client)
	return &MatchIndex{rdb: rdb, keys: keys, keyCap: opts.KeyCap, lockTTL: opts.LockTTL, lockWait: opts.LockWait, ordered: ordered}
}

var _ match.Index = (*MatchIndex)(nil)

// casOwnerScript sets a record's owner if its person is still the expected
// one ("": none), dropping any fingerprint (see owner.go). KEYS[1] = owner;
// ARGV[1] = expected person, ARGV[2] = new bare person ("": delete).
var casOwnerScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or ''
` + ownerPersonLua + `
if person ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`)

// memberScan is the Lua prelude that splits a person's members string
// (see codec.go) into its entries, leaving out the one of record ARGV[1]:
// kept (entries), count (all entries) and has (ARGV[1] among them).
const memberScan = `
local s = redis.call('GET', KEYS[1]) or ''
local kept, count, has, i = {}, 0, false, 1
while i <= #s do
  local il = string.byte(s, i) * 256 + string.byte(s, i + 1)
  local j = i + 2 + il
  local e = j + 2 + string.byte(s, j) * 256 + string.byte(s, j + 1)
  count = count + 1
  if string.sub(s, i + 2, j - 1) == ARGV[1] then has = true else kept[#kept + 1] = string.sub(s, i, e - 1) end
  i = e
end
`

// addMemberScript adds (or replaces, at the end) a member of a person.
// KEYS[1] = members; ARGV[1] = record id, ARGV[2] = the member's entry,
// ARGV[3] = "new" (the person must not exist, or hold only this record: the
// leftover of a creation that died) or "existing" (the person must exist).
var addMemberScript = redis.NewScript(memberScan + `
if ARGV[3] == 'new' then
  if count > 1 or (count == 1 and not has) then return 0 end
elseif count == 0 then
  return 0
end
kept[#kept + 1] = ARGV[2]
redis.call('SET', KEYS[1], table.concat(kept))
return 1`)

// removeMemberScript removes a member; a person left without members is
// gone. KEYS[1] = members; ARGV[1] = record id.
var removeMemberScript = redis.NewScript(memberScan + `
if not has then return 0 end
if #kept == 0 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], table.concat(kept)) end
return 1`)

// addToKeyScript adds a person under a blocking key. KEYS[1] = the key's
// bucket, KEYS[2] = its overflow, KEYS[3] = its lock; ARGV[1] = the key's
// field, ARGV[2] = person token, ARGV[3] = cap, ARGV[4] = the token of a
// lock to release ("": none), ARGV[5] = the most bytes of an entry that
// holds its persons. A generic key is left alone; a person new to the key
// is appended and, past the cap, makes it generic (without a version bump,
// as MemIndex); otherwise the version is bumped. A create releases its lock
// on the key here, so that the addition and the release are one step. The
// entry's encoding is decodeBlockEntry's.
var addToKeyScript = redis.NewScript(`
local r, v, body = 1, 0, ''
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c = string.find(cur, ',', 1, true)
  v = tonumber(string.sub(cur, 1, c - 1))
  body = string.sub(cur, c + 1)
end
local mark = string.byte(body, 1)
if mark == 0 then
  r = 0
else
  local over = mark == 1
  local list = body
  if over then list = redis.call('GET', KEYS[2]) or '' end
  local n, i, found = 0, 1, false
  while i <= #list do
    local l = string.byte(list, i)
    if string.sub(list, i + 1, i + l) == ARGV[2] then found = true end
    n = n + 1
    i = i + 1 + l
  end
  if not found then
    n = n + 1
    if n > tonumber(ARGV[3]) then
      redis.call('HSET', KEYS[1], ARGV[1], v .. ',' .. string.char(0) .. n)
      if over then redis.call('DEL', KEYS[2]) end
      r = 2
    else
      list = list .. string.char(#ARGV[2]) .. ARGV[2]
      local head = (v + 1) .. ','
      if not over and #head + #list <= tonumber(ARGV[5]) then
        body = list
      else
        redis.call('SET', KEYS[2], list)
        body = string.char(1) .. n
      end
    end
  elseif over then
    body = string.char(1) .. n
  end
end
if r == 1 then redis.call('HSET', KEYS[1], ARGV[1], (v + 1) .. ',' .. body) end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return r`)

// unlockScript deletes a lock if it still holds our token.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

var matchScripts = []*redis.Script{casOwnerScript, addMemberScript, removeMemberScript, addToKeyScript, unlockScript, sealOwnerScript}

// errScriptsReloaded reports that Redis had lost the index's scripts (a
// restart or failover): they are loaded again and the caller retries. It
// wraps match.ErrConflict, the index's "match this again" signal, so callers
// need not know of it.
var errScriptsReloaded = fmt.Errorf("match index scripts were missing on the server and have been reloaded; retry: %w", match.ErrConflict)

func (x *MatchIndex) loadScripts(ctx context.Context) error {
	if x.loaded.Load() {
		return nil
	}
	for _, s := range matchScripts {
		if err := s.Load(ctx, x.rdb).Err(); err != nil {
			return fmt.Errorf("match index: load scripts: %w", err)
		}
	}
	x.loaded.Store(true)
	return nil
}

// errOldLayout refuses an index written in an older layout.
var errOldLayout = errors.New("match index: the Redis prefix holds an identity index of an older layout")

// checkLayout makes sure the index under the prefix is of this version's
// layout (indexLayout), once per process: an empty index gets the marker,
// one of another layout is refused with errOldLayout. Layout 1 had no marker,
// so an index without one that already counts records is of layout 1. It is
// not migrated: rebuild it by replaying the sources into a new prefix (see
// the README's operations section).
func (x *MatchIndex) checkLayout(ctx context.Context) error {
	if x.layoutOK.Load() {
		return nil
	}
	marker := x.keys.layout()
	for range 2 {
		// Records before the marker: a writer of this layout sets the
		// marker before it counts any record, so records seen here with no
		// marker seen after them were written by layout 1.
		n, err := x.rdb.Exists(ctx, x.keys.recordCount()).Result()
		if err != nil {
			return fmt.Errorf("match index: read layout: %w", err)
		}
		got, err := x.rdb.Get(ctx, marker).Result()
		switch {
		case err == nil && got == indexLayout:
			x.layoutOK.Store(true)
			return nil
		case err == nil:
			return fmt.Errorf("%w: layout %q under %s, this version reads layout %s", errOldLayout, got, marker, indexLayout)
		case !errors.Is(err, redis.Nil):
			return fmt.Errorf("match index: read layout: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: layout 1 (no marker under %s, records counted), this version reads layout %s", errOldLayout, marker, indexLayout)
		}
		if err := x.rdb.SetNX(ctx, marker, indexLayout, 0).Err(); err != nil {
			return fmt.Errorf("match index: write layout: %w", err)
		}
	}
	return fmt.Errorf("match index: layout marker %s could not be settled", marker)
}

// exec runs a pipeline and returns the first error of a command other than
// redis.Nil (a missing key is an answer, not a failure).
func (x *MatchIndex) exec(ctx context.Context, what string, fill func(p redis.Pipeliner)) error {
	p := x.rdb.Pipeline()
	fill(p)
	if p.Len() == 0 {
		return nil
	}
	cmds, _ := p.Exec(ctx)
	for _, c := range cmds {
		err := c.Err()
		if err == nil || errors.Is(err, redis.Nil) {
			continue
		}
		if isNoScript(err) {
			x.loaded.Store(false)
			return fmt.Errorf("match index %s: %w", what, errScriptsReloaded)
		}
		return fmt.Errorf("match index %s: %w", what, err)
	}
	return nil
}

// keyRead is the pipelined read of one blocking key: its entry in its
// bucket, then its overflow (read whether or not the entry points to it, to
// keep the lookup at two round trips; a missing key costs Redis little).
type keyRead struct {
	entry *redis.StringCmd
	over  *redis.StringCmd
}

// decode returns the key's state and, unless it is generic, its persons in
// arrival order. The entry is read before the overflow, so the persons can
// only be newer than the version (see MatchIndex); an overflow found gone
// was dropped by the key turning generic in between, and is taken as such.
func (r keyRead) decode() (match.KeyState, []string, error) {
	e, err := decodeBlockEntry(r.entry.Val())
	if err != nil {
		return match.KeyState{}, nil, err
	}
	ks := match.KeyState{Version: e.version, Persons: e.persons, Generic: e.generic}
	if !e.overflow {
		return ks, e.list, nil
	}
	over := r.over.Val()
	if over == "" {
		ks.Generic = true
		return ks, nil, nil
	}
	list, err := decodePersonList(over)
	if err != nil {
		return match.KeyState{}, nil, err
	}
	ks.Persons = max(ks.Persons, len(list))
	return ks, list, nil
}

// Lookup implements match.Index in two pipelined round trips for the whole
// batch.
func (x *MatchIndex) Lookup(ctx context.Context, queries []match.Query) ([]match.Found, error) {
	if len(queries) == 0 {
		return []match.Found{}, nil
	}
	if err := x.checkLayout(ctx); err != nil {
		return nil, err
	}
	keyReads := map[string]keyRead{}
	owners := map[string]*redis.StringCmd{}
	terms := map[string]*redis.StringCmd{}
	var total *redis.StringCmd
	err := x.exec(ctx, "lookup", func(p redis.Pipeliner) {
		for _, q := range queries {
			if q.RecordID != "" {
				if _, ok := owners[q.RecordID]; !ok {
					owners[q.RecordID] = p.Get(ctx, x.keys.recordOwner(q.RecordID))
				}
			}
			for _, k := range q.Keys {
				if _, ok := keyReads[k]; !ok {
					// Version before persons: see MatchIndex.
					id := blockOf(k)
					keyReads[k] = keyRead{
						entry: p.HGet(ctx, x.keys.blockBucket(id), string(id.field[:])),
						over:  p.Get(ctx, x.keys.blockOverflow(id)),
					}
				}
			}
			for _, t := range q.Terms {
				if _, ok := terms[t]; !ok {
					id := termOf(t)
					terms[t] = p.HGet(ctx, x.keys.termBucket(id), string(id.field[:]))
				}
			}
		}
		total = p.Get(ctx, x.keys.recordCount())
	})
	if err != nil {
		return nil, err
	}

	type keyFound struct {
		state   match.KeyState
		persons []string
	}
	keyFounds := make(map[string]keyFound, len(keyReads))
	for k, kr := range keyReads {
		state, persons, err := kr.decode()
		if err != nil {
			return nil, fmt.Errorf("match index lookup: blocking key %s: %w", k, err)
		}
		keyFounds[k] = keyFound{state, persons}
	}

	// The persons to fetch: under a non-generic key, or known.
	members := map[string]*redis.StringCmd{}
	var order []string
	want := func(id string) {
		if _, ok := members[id]; !ok {
			members[id] = nil
			order = append(order, id)
		}
	}
	for _, kf := range keyFounds {
		for _, id := range kf.persons {
			want(id)
		}
	}
	for _, c := range owners {
		if id, _ := parseOwner(c.Val()); id != "" {
			want(id)
		}
	}
	slices.Sort(order)
	err = x.exec(ctx, "lookup members", func(p redis.Pipeliner) {
		for _, id := range order {
			members[id] = p.Get(ctx, x.keys.personMembers(id))
		}
	})
	if err != nil {
		return nil, err
	}
	persons := make(map[string][]match.Member, len(order))
	for _, id := range order {
		ms, err := decodeMembers(members[id].Val())
		if err != nil {
			return nil, fmt.Errorf("match index lookup: person %s: %w", id, err)
		}
		if len(ms) > 0 {
			persons[id] = ms
		}
	}

	totalRecords, _ := total.Int64()
	out := make([]match.Found, len(queries))
	for qi, q := range queries {
		f := match.Found{Keys: make([]match.KeyState, len(q.Keys)), TermCounts: make([]int64, len(q.Terms)), TotalRecords: totalRecords}
		position := map[string]int{}
		addPerson := func(id string, keyIndex int) {
			if i, ok := position[id]; ok {
				if keyIndex >= 0 && !slices.Contains(f.Persons[i].HitKeys, keyIndex) {
					f.Persons[i].HitKeys = append(f.Persons[i].HitKeys, keyIndex)
				}
				return
			}
			ms, ok := persons[id]
			if !ok {
				return // emptied by a record moving away
			}
			p := match.Person{ID: id, Members: ms}
			if keyIndex >= 0 {
				p.HitKeys = []int{keyIndex}
			}
			position[id] = len(f.Persons)
			f.Persons = append(f.Persons, p)
		}
		if q.RecordID != "" {
			f.KnownPerson, _ = parseOwner(owners[q.RecordID].Val())
		}
		for ki, k := range q.Keys {
			kf := keyFounds[k]
			f.Keys[ki] = kf.state
			for _, id := range kf.persons {
				addPerson(id, ki)
			}
		}
		if f.KnownPerson != "" {
			addPerson(f.KnownPerson, -1)
		}
		for ti, t := range q.Terms {
			f.TermCounts[ti], _ = terms[t].Int64()
		}
		out[qi] = f
	}
	return out, nil
}

// PersonOf returns the person holding a record id ("" when none).
func (x *MatchIndex) PersonOf(ctx context.Context, recordID string) (string, error) {
	owners, err := x.Owners(ctx, []string{recordID})
	if err != nil {
		return "", err
	}
	return owners[0], nil
}

// Owners returns the person holding each record id ("" when none), in one
// round trip (matcher.Index).
func (x *MatchIndex) Owners(ctx context.Context, recordIDs []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(recordIDs))
	err := x.exec(ctx, "read owners", func(p redis.Pipeliner) {
		for i, id := range recordIDs {
			cmds[i] = p.Get(ctx, x.keys.recordOwner(id))
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(recordIDs))
	for i, c := range cmds {
		out[i], _ = parseOwner(c.Val())
	}
	return out, nil
}

// pending is the progress of one write through its wave.
type pending struct {
	i           int
	w           *match.Write
	member      string // the member's entry (encodeMemberEntry)
	person      string // the person's token (personToken)
	fingerprint string // match.Fingerprint of the write's record
	// Create only.
	token    string
	locks    []string // sorted lock keys
	lockCmds []*redis.Cmd
	checked  []int // indexes into w.Keys whose version is checked
	verCmds  []*redis.StringCmd
	owner    *redis.StringCmd
	members  *redis.StringCmd
	lockedAt time.Time
	// Link only.
	// Both.
	step *redis.Cmd // the result of the last conditional step
	done bool       // finished (applied or conflicted)
}

// refresh says a link write rewrites a record its person already holds: its
// owner claim keeps the person and only drops the fingerprint.
func (p *pending) refresh() bool { return !p.w.NewPerson && p.w.ExpectPerson == p.w.PersonID }

// Commit implements match.Index: writes are applied in order, each seeing
// the previous ones (see MatchIndex for how).
func (x *MatchIndex) Commit(ctx context.Context, writes []match.Write) ([]error, error) {
	errs := make([]error, len(writes))
	if len(writes) == 0 {
		return errs, nil
	}
	if err := x.checkLayout(ctx); err != nil {
		return nil, err
	}
	if err := x.loadScripts(ctx); err != nil {
		return nil, err
	}
	var valid []int
	for i := range writes {
		w := &writes[i]
		switch {
		case w.PersonID == "" || w.Member.RecordID == "":
			errs[i] = errors.New("match index: write without person or record id")
		case strings.Contains(w.PersonID, ownerSeparator) || strings.Contains(w.ExpectPerson, ownerSeparator):
			errs[i] = fmt.Errorf("match index: person id with %q", ownerSeparator)
		case len(w.KeyVersions) != len(w.Keys):
			errs[i] = fmt.Errorf("match index: %d key versions for %d keys", len(w.KeyVersions), len(w.Keys))
		default:
			valid = append(valid, i)
		}
	}
	var contended []string
	for _, wave := range waves(writes, valid) {
		c, err := x.applyWave(ctx, writes, wave, errs)
		contended = append(contended, c...)
		if err != nil {
			return nil, err
		}
	}
	if len(contended) > 0 {
		x.awaitRelease(ctx, contended)
	}
	return errs, nil
}

// waves groups writes so that a write comes one wave after the last
// earlier write it depends on; writes of one wave are independent and can be
// applied together. A write depends on earlier writes of its record or of a
// person it touches, and on earlier writes under its blocking keys when one
// of the two creates a person: a create checks (and locks) its keys, so it
// must see every earlier write under them, and a later write must see the
// person it created. Links under a shared key commute (each adds its own
// person and bumps the version; no link checks a key), so they share a wave.
func waves(writes []match.Write, valid []int) [][]int {
	last := map[string]int{}       // record, person or key -> last wave of a write using it
	lastCreate := map[string]int{} // key -> last wave of a create under it
	var out [][]int
	for _, i := range valid {
		w := &writes[i]
		owned := []string{"r\x00" + w.Member.RecordID, "p\x00" + w.PersonID}
		if w.ExpectPerson != "" {
			owned = append(owned, "p\x00"+w.ExpectPerson)
		}
		wave := 0
		after := func(seen map[string]int, r string) {
			if l, ok := seen[r]; ok && l+1 > wave {
				wave = l + 1
			}
		}
		for _, r := range owned {
			after(last, r)
		}
		for _, k := range w.Keys {
			if w.NewPerson {
				after(last, "k\x00"+k)
			} else {
				after(lastCreate, "k\x00"+k)
			}
		}
		use := func(seen map[string]int, r string) {
			if l, ok := seen[r]; !ok || wave > l {
				seen[r] = wave
			}
		}
		for _, r := range owned {
			use(last, r)
		}
		for _, k := range w.Keys {
			use(last, "k\x00"+k)
			if w.NewPerson {
				use(lastCreate, "k\x00"+k)
			}
		}
		for len(out) <= wave {
			out = append(out, nil)
		}
		out[wave] = append(out[wave], i)
	}
	return out
}

func conflict(what string) error { return fmt.Errorf("%s: %w", what, match.ErrConflict) }

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// applyWave applies independent writes with the steps pipelined across them.
// It returns the lock keys found taken by others.
func (x *MatchIndex) applyWave(ctx context.Context, writes []match.Write, wave []int, errs []error) (contended []string, err error) {
	ps := make([]*pending, 0, len(wave))
	var sealed []*pending // applied writes whose owner is to be sealed
	for _, i := range wave {
		w := &writes[i]
		member, err := encodeMemberEntry(w.Member.RecordID, w.Member.Record)
		if err != nil {
			errs[i] = fmt.Errorf("match index: %w", err)
			continue
		}
		person, err := personToken(w.PersonID)
		if err != nil {
			errs[i] = fmt.Errorf("match index: %w", err)
			continue
		}
		p := &pending{i: i, w: w, member: member, person: person, fingerprint: match.Fingerprint(w.Member.Record)}
		if w.NewPerson {
			p.token = newToken()
			p.locks = append(p.locks, x.keys.recordLock(w.Member.RecordID))
			for ki, k := range w.Keys {
				if w.KeyVersions[ki] != match.AnyVersion {
					p.checked = append(p.checked, ki)
					p.locks = append(p.locks, x.keys.matchKeyLock(k))
				}
			}
			slices.Sort(p.locks)
			p.locks = slices.Compact(p.locks)
		}
		ps = append(ps, p)
	}
	// On a failure of Redis itself, release what we hold (best effort: the
	// locks expire anyway) and report it.
	defer func() {
		if err != nil && !errors.Is(err, errFailpoint) {
			x.releaseAll(ps)
		}
	}()

	// Step 1: creates lock and read what the locks protect; links claim
	// their record.
	ttl := x.lockTTL.Milliseconds()
	if err := x.exec(ctx, "commit lock", func(pl redis.Pipeliner) {
		for _, p := range ps {
			w := p.w
			if !w.NewPerson {
				// A refresh too: its claim drops the fingerprint before
				// the member changes.
				p.step = casOwnerScript.EvalSha(ctx, pl, []string{x.keys.recordOwner(w.Member.RecordID)}, w.ExpectPerson, w.PersonID)
				continue
			}
			p.lockedAt = time.Now()
			for _, l := range p.locks {
				p.lockCmds = append(p.lockCmds, pl.Do(ctx, "SET", l, p.token, "NX", "PX", ttl))
			}
			for _, ki := range p.checked {
				id := blockOf(w.Keys[ki])
				p.verCmds = append(p.verCmds, pl.HGet(ctx, x.keys.blockBucket(id), string(id.field[:])))
			}
			p.owner = pl.Get(ctx, x.keys.recordOwner(w.Member.RecordID))
			p.members = pl.Get(ctx, x.keys.personMembers(w.PersonID))
		}
	}); err != nil {
		return nil, err
	}
	if err := x.fail("locked"); err != nil {
		return nil, err
	}

	// Step 2: creates re-check under their locks and create the person;
	// links add the member to the existing person.
	if err := x.exec(ctx, "commit members", func(pl redis.Pipeliner) {
		for _, p := range ps {
			w := p.w
			if !w.NewPerson {
				if claimed, _ := p.step.Int(); claimed != 1 {
					errs[p.i], p.done = conflict("record owner changed"), true
					continue
				}
				p.step = x.addMember(ctx, pl, w, p.member, "existing")
				continue
			}
			taken := false
			for li, c := range p.lockCmds {
				if c.Err() != nil { // redis.Nil: held by another
					taken = true
					contended = append(contended, p.locks[li])
				}
			}
			if why := p.recheck(taken); why != "" {
				errs[p.i], p.done = conflict(why), true
				x.release(ctx, pl, p, nil)
				continue
			}
			p.step = x.addMember(ctx, pl, w, p.member, "new")
		}
	}); err != nil {
		return nil, err
	}
	if err := x.fail("member"); err != nil {
		return nil, err
	}

	// Step 3: creates claim their record; links finish, or undo their claim
	// when the person was gone.
	if err := x.exec(ctx, "commit owners", func(pl redis.Pipeliner) {
		for _, p := range ps {
			if p.done {
				continue
			}
			w := p.w
			added, _ := p.step.Int()
			if !w.NewPerson {
				p.done = true
				if added != 1 {
					errs[p.i] = conflict("person existence changed")
					if !p.refresh() {
						casOwnerScript.EvalSha(ctx, pl, []string{x.keys.recordOwner(w.Member.RecordID)}, w.PersonID, w.ExpectPerson)
					}
					continue
				}
				x.finish(ctx, pl, p)
				sealed = append(sealed, p)
				continue
			}
			if added != 1 {
				errs[p.i], p.done = conflict("person existence changed"), true
				x.release(ctx, pl, p, nil)
				continue
			}
			if time.Since(p.lockedAt) > x.lockTTL/2 {
				// Too slow to trust the locks any longer: undo.
				errs[p.i], p.done = conflict("locks held too long"), true
				x.removeMember(ctx, pl, w.PersonID, w.Member.RecordID)
				x.release(ctx, pl, p, nil)
				continue
			}
			p.step = casOwnerScript.EvalSha(ctx, pl, []string{x.keys.recordOwner(w.Member.RecordID)}, w.ExpectPerson, w.PersonID)
		}
	}); err != nil {
		return nil, err
	}
	if err := x.fail("owner"); err != nil {
		return nil, err
	}

	// Step 4: creates add the person under their keys and release.
	if err := x.exec(ctx, "commit keys", func(pl redis.Pipeliner) {
		for _, p := range ps {
			if p.done {
				continue
			}
			p.done = true
			if ok, _ := p.step.Int(); ok != 1 {
				errs[p.i] = conflict("record owner changed")
				x.removeMember(ctx, pl, p.w.PersonID, p.w.Member.RecordID)
				x.release(ctx, pl, p, nil)
			} else {
				x.finish(ctx, pl, p)
				sealed = append(sealed, p)
			}
		}
	}); err != nil {
		return nil, err
	}
	if err := x.fail("keys"); err != nil {
		return nil, err
	}
	if !x.ordered {
		// Step 5 (cluster): seal the owners once the keys are in place.
		if err := x.exec(ctx, "commit seal", func(pl redis.Pipeliner) {
			for _, p := range sealed {
				x.seal(ctx, pl, p)
			}
		}); err != nil {
			return nil, err
		}
	}
	return contended, nil
}

// seal adds the fingerprint to the owner of a record whose write is
// complete (see owner.go), if the write's claim still stands.
func (x *MatchIndex) seal(ctx context.Context, pl redis.Pipeliner, p *pending) {
	sealOwnerScript.EvalSha(ctx, pl, []string{x.keys.recordOwner(p.w.Member.RecordID)}, p.w.PersonID, sealedOwner(p.w.PersonID, p.fingerprint))
}

// recheck returns why a create must not go on ("" if it can).
func (p *pending) recheck(taken bool) string {
	if taken {
		return "blocking key locked by another matcher"
	}
	w := p.w
	for j, ki := range p.checked {
		e, err := decodeBlockEntry(p.verCmds[j].Val()) // missing: version 0
		if err != nil || e.version != w.KeyVersions[ki] {
			return "key version changed"
		}
	}
	if owner, _ := parseOwner(p.owner.Val()); owner != w.ExpectPerson {
		return "record owner changed"
	}
	ids, err := memberRecordIDs(p.members.Val())
	if err != nil || len(ids) > 1 || (len(ids) == 1 && ids[0] != w.Member.RecordID) {
		return "person existence changed"
	}
	return ""
}

// errFailpoint marks a simulated crash: nothing is cleaned up.
var errFailpoint = errors.New("failpoint")

func (x *MatchIndex) fail(step string) error {
	if x.failpoint == nil {
		return nil
	}
	if err := x.failpoint(step); err != nil {
		return fmt.Errorf("match index: crash after step %q: %w: %w", step, errFailpoint, err)
	}
	return nil
}

func (x *MatchIndex) addMember(ctx context.Context, pl redis.Pipeliner, w *match.Write, member, mode string) *redis.Cmd {
	return addMemberScript.EvalSha(ctx, pl, []string{x.keys.personMembers(w.PersonID)}, w.Member.RecordID, member, mode)
}

func (x *MatchIndex) removeMember(ctx context.Context, pl redis.Pipeliner, personID, recordID string) {
	removeMemberScript.EvalSha(ctx, pl, []string{x.keys.personMembers(personID)}, recordID)
}

// finish makes an applied write visible under its keys: the person joins
// every key, a record moved from another person leaves it, and the counters
// of a record new to the index go up. A create releases its locks here: each
// key's with the addition to the key, then the record's.
func (x *MatchIndex) finish(ctx context.Context, pl redis.Pipeliner, p *pending) {
	w := p.w
	released := map[string]bool{}
	for _, k := range w.Keys {
		lock, token := x.keys.matchKeyLock(k), ""
		if w.NewPerson && p.holds(lock) {
			token, released[lock] = p.token, true
		}
		id := blockOf(k)
		addToKeyScript.EvalSha(ctx, pl, []string{x.keys.blockBucket(id), x.keys.blockOverflow(id), lock},
			string(id.field[:]), p.person, x.keyCap(k), token, blockInlineBytes)
	}
	if w.ExpectPerson != "" && w.ExpectPerson != w.PersonID {
		x.removeMember(ctx, pl, w.ExpectPerson, w.Member.RecordID)
	}
	if w.ExpectPerson == "" {
		for _, t := range w.Terms {
			id := termOf(t)
			pl.HIncrBy(ctx, x.keys.termBucket(id), string(id.field[:]), 1)
		}
		pl.Incr(ctx, x.keys.recordCount())
	}
	if w.NewPerson {
		x.release(ctx, pl, p, released)
	}
	if x.ordered {
		x.seal(ctx, pl, p)
	}
}

// holds reports whether the create acquired a lock.
func (p *pending) holds(lock string) bool {
	li := slices.Index(p.locks, lock)
	return li >= 0 && li < len(p.lockCmds) && p.lockCmds[li].Err() == nil
}

// release queues the compare-and-delete of the locks a create acquired,
// but those already released.
func (x *MatchIndex) release(ctx context.Context, pl redis.Pipeliner, p *pending, released map[string]bool) {
	for _, l := range p.locks {
		if p.holds(l) && !released[l] {
			unlockScript.EvalSha(ctx, pl, []string{l}, p.token)
		}
	}
}

// releaseAll releases every lock still held after a failure of Redis.
func (x *MatchIndex) releaseAll(ps []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = x.loadScripts(ctx) // in case the failure was their loss
	_ = x.exec(ctx, "release locks", func(pl redis.Pipeliner) {
		for _, p := range ps {
			if p.w.NewPerson && !p.done {
				x.release(ctx, pl, p, nil)
			}
		}
	})
}

// awaitRelease waits, up to LockWait, until the given locks are gone.
func (x *MatchIndex) awaitRelease(ctx context.Context, locks []string) {
	slices.Sort(locks)
	locks = slices.Compact(locks)
	deadline := time.Now().Add(x.lockWait)
	delay := 500 * time.Microsecond
	for {
		n, err := x.existing(ctx, locks)
		if err != nil || n == 0 {
			return
		}
		if time.Now().Add(delay).After(deadline) {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// existing counts the keys that exist (one EXISTS per key: keys of several
// slots cannot share one command in a cluster).
func (x *MatchIndex) existing(ctx context.Context, keys []string) (int64, error) {
	cmds := make([]*redis.IntCmd, len(keys))
	err := x.exec(ctx, "read locks", func(pl redis.Pipeliner) {
		for i, k := range keys {
			cmds[i] = pl.Exists(ctx, k)
		}
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}
