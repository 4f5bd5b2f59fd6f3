package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/pipeline/router"
)

// ErrStateConflict is router.ErrStateConflict: the state store's Save
// reports with it that a person's state moved since it was loaded.
var ErrStateConflict = router.ErrStateConflict

// StateStore is the router's router.StateStore on Redis: it keeps each person's golden state and, per event, the outputs
// computed for it. The two are written atomically (one hash tag per person,
// one script), so after a crash between this write and the Kafka commit the
// redone event re-emits its remembered outputs instead of being swallowed
// by a state that already contains it.
//
// States and memos are stored compressed (s2, a Snappy-compatible block
// format: a person's state and an event's outputs are kept for long and
// compress 2-3x, and s2 costs a few microseconds where zstd costs tens),
// behind a marker byte; a value without it was written before compression
// and is read as it is.
type StateStore struct {
	rdb     redis.UniversalClient
	keys    Keys
	memoTTL time.Duration
}

// NewStateStore returns the store; memos live for memoTTL (0: 7 days), which
// bounds how late a redelivered event is still recognised.
func NewStateStore(rdb redis.UniversalClient, keys Keys, memoTTL time.Duration) *StateStore {
	if memoTTL == 0 {
		memoTTL = 7 * 24 * time.Hour
	}
	return &StateStore{rdb: rdb, keys: keys, memoTTL: memoTTL}
}

// maxStoredValue bounds what one stored state or memo may decompress to.
const maxStoredValue = 64 << 20

// packedMarker starts a compressed value. Values stored before compression
// never start with it: they are JSON (states and memos start with '{').
const packedMarker = 0xff

func pack(b []byte) []byte {
	out := make([]byte, 1, 1+s2.MaxEncodedLen(len(b)))
	out[0] = packedMarker
	enc := s2.Encode(out[1:cap(out)], b) // fits: MaxEncodedLen
	return out[:1+len(enc)]
}

// unpack reads a stored value: compressed, or stored before compression.
func unpack(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != packedMarker {
		return b, nil
	}
	n, err := s2.DecodedLen(b[1:])
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if n > maxStoredValue {
		return nil, fmt.Errorf("decompress: %d bytes, more than the %d a stored value may hold", n, maxStoredValue)
	}
	out, err := s2.Decode(make([]byte, n), b[1:])
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return out, nil
}

// Load returns the stored state of each person.
func (s *StateStore) Load(ctx context.Context, personIDs []string) (map[string]router.StoredState, error) {
	_, states, err := s.Read(ctx, nil, personIDs)
	return states, err
}

// Read returns the memos of the given events (nil where none) and the stored
// state of each person, in one round trip.
func (s *StateStore) Read(ctx context.Context, refs []router.EventRef, personIDs []string) ([][]byte, map[string]router.StoredState, error) {
	if len(refs) == 0 && len(personIDs) == 0 {
		return nil, map[string]router.StoredState{}, nil
	}
	memoCmds := make([]*redis.StringCmd, len(refs))
	stateCmds := make([]*redis.SliceCmd, len(personIDs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refs {
			memoCmds[i] = p.Get(ctx, s.keys.Memo(r.PersonID, r.EventID))
		}
		for i, id := range personIDs {
			stateCmds[i] = p.HMGet(ctx, s.keys.State(id), "data", "version")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("read memos and states: %w", err)
	}
	var memos [][]byte
	if len(refs) > 0 {
		memos = make([][]byte, len(refs))
	}
	for i, c := range memoCmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read memo: %w", err)
		}
		if memos[i], err = unpack(b); err != nil {
			return nil, nil, fmt.Errorf("memo of event %s: %w", refs[i].EventID, err)
		}
	}
	states := make(map[string]router.StoredState, len(personIDs))
	for i, c := range stateCmds {
		id := personIDs[i]
		vals, err := c.Result()
		if err != nil {
			return nil, nil, fmt.Errorf("read state of %s: %w", id, err)
		}
		data, _ := vals[0].(string)
		var version int64
		if v, ok := vals[1].(string); ok {
			if version, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, nil, fmt.Errorf("state version of %s: %w", id, err)
			}
		}
		b, err := unpack([]byte(data))
		if err != nil {
			return nil, nil, fmt.Errorf("state of %s: %w", id, err)
		}
		states[id] = router.StoredState{Data: b, Version: version}
	}
	return memos, states, nil
}

// commitScript writes a state if its version is still the base version and
// stores the memos. KEYS[1] = state, KEYS[2..] = memo keys. ARGV[1] = base
// version, ARGV[2] = state, ARGV[3] = memo TTL seconds, ARGV[4..] = memos.
var commitScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', cur + 1)
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', tonumber(ARGV[3]))
end
return 1`)

// Save writes every commit; it fails with ErrStateConflict if any person's
// state moved since it was loaded (the other commits still apply, and the
// redone batch finds their memos).
func (s *StateStore) Save(ctx context.Context, commits []router.Commit) error {
	if len(commits) == 0 {
		return nil
	}
	cmds := make([]*redis.Cmd, len(commits))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range commits {
			keys := []string{s.keys.State(c.PersonID)}
			args := []any{c.BaseVersion, pack(c.State), int64(s.memoTTL.Seconds())}
			for eventID, memo := range c.Memos {
				keys = append(keys, s.keys.Memo(c.PersonID, eventID))
				args = append(args, pack(memo))
			}
			cmds[i] = commitScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if isNoScript(err) {
		if err := commitScript.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load commit script: %w", err)
		}
		return s.Save(ctx, commits)
	}
	if err != nil {
		return fmt.Errorf("save states: %w", err)
	}
	for i, c := range cmds {
		ok, err := c.Int()
		if err != nil {
			return fmt.Errorf("save state of %s: %w", commits[i].PersonID, err)
		}
		if ok == 0 {
			return fmt.Errorf("person %s: %w", commits[i].PersonID, ErrStateConflict)
		}
	}
	return nil
}
