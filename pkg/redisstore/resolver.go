package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// MatchResolver is the matcher stage's identity index: it resolves changes
// to persons with match.Matcher (blocking keys, Fellegi-Sunter scores,
// link/review thresholds) over a MatchIndex, and keeps each person's links
// (system -> record id) in Keys.Links.
//
// A change's record id in the index is "<system>/<source record id>". For an
// upsert the change's values (already canonical from ingest) become a
// match.Record and the whole batch goes through Matcher.MatchBatch: one
// lookup and one commit for the batch when nothing races. A change with no
// matchable values still resolves: it matches nothing, so it is known to its
// person or starts one. A delete resolves without touching the index: a
// known record to its person, an unknown one to the person it would have
// created (deterministic in the record id), with decision "new".
//
// Links: the first record of a system to reach a person stays the person's
// link for that system (HSETNX), so the record ids stamped on targets do not
// flip between a person's duplicates. They are written after the index
// commit; a crash in between is repaired by the redo, which finds the
// record known and writes the link then.
//
// Resolving the same event again (a redelivery after a crash, a reprocessed
// partition) gives the same answer and changes nothing: the decision on each
// event is remembered under its record and event id (Keys.eventMemo, for
// MemoTTL), and an event found there is answered from the memo without
// touching the index. The memos are written with the links, after the index
// commit; an event redone in between (or after its memo expired) is matched
// again and resolves as "known" to the same person, because an applied
// record is known, one whose creation died half-way is completed (see
// MatchIndex), and a new person's id derives from the record id
// (match.DefaultPersonID by default).
type MatchResolver struct {
	rdb     redis.UniversalClient
	keys    Keys
	matcher *match.Matcher
	index   *MatchIndex
	// MaxAttempts bounds how often a batch whose records keep conflicting
	// (the matcher gave up after its own retries) is matched again; each
	// new attempt waits a little longer. Default 8.
	MaxAttempts int
	// MemoTTL is how long the decision on an event is remembered, which
	// bounds how late a redelivered event still gets the same answer.
	// Zero or less: 7 days, as StateStore's memos.
	MemoTTL time.Duration
}

// NewMatchResolver returns a resolver using m over a MatchIndex on rdb.
func NewMatchResolver(rdb redis.UniversalClient, keys Keys, m *match.Matcher) *MatchResolver {
	return NewMatchResolverWithIndex(rdb, keys, m, NewMatchIndex(rdb, keys))
}

// NewMatchResolverWithIndex returns a resolver using m over idx (an index
// with non-default options, on the same Redis and keys).
func NewMatchResolverWithIndex(rdb redis.UniversalClient, keys Keys, m *match.Matcher, idx *MatchIndex) *MatchResolver {
	return &MatchResolver{rdb: rdb, keys: keys, matcher: m, index: idx, MaxAttempts: 8}
}

var _ matcher.Resolver = (*MatchResolver)(nil)

// Index returns the resolver's identity index.
func (r *MatchResolver) Index() *MatchIndex { return r.index }

// RecordID is a change's record id in the index: "<system>/<record id>".
func RecordID(system, sourceRecordID string) string { return system + "/" + sourceRecordID }

// eventMemo remembers the decision on one event of one record; it shares the
// record's hash tag.
func (k Keys) eventMemo(recordID, eventID string) string {
	return fmt.Sprintf("%s:mi:r:{%s}:ev:%s", k.p(), recordID, eventID)
}

// memo is the stored form of a decision (contact.Match), with short names.
type memo struct {
	PersonID    string           `json:"p"`
	Decision    contact.Decision `json:"d"`
	Score       float64          `json:"s"`
	Explanation string           `json:"e"`
	Candidates  []string         `json:"c"` // no omitempty: [] and nil stay apart
}

// Resolve implements matcher.Resolver in a fixed number of round trips for
// the whole batch: one to read the events' memos, the matcher's lookup and
// commit (see MatchIndex), one for the deletes' owners, and one to write
// links and memos and read the persons' links.
func (r *MatchResolver) Resolve(ctx context.Context, changes []contact.Change) ([]matcher.Resolution, error) {
	out := make([]matcher.Resolution, len(changes))
	if len(changes) == 0 {
		return out, nil
	}
	ids := make([]string, len(changes))
	for i, c := range changes {
		if c.SourceSystem == "" || c.SourceRecordID == "" {
			return nil, fmt.Errorf("resolve change %q: no source system or record id", c.EventID)
		}
		ids[i] = RecordID(c.SourceSystem, c.SourceRecordID)
	}
	remembered, err := r.readMemos(ctx, changes, ids, out)
	if err != nil {
		return nil, err
	}

	// The same event twice in one batch is decided once: its copies take
	// the first one's answer at the end.
	copyOf := make([]int, len(changes))
	first := map[[2]string]int{}
	var (
		ins     []match.Incoming
		inAt    []int
		deletes []int
	)
	for i, c := range changes {
		copyOf[i] = -1
		if c.EventID != "" {
			k := [2]string{ids[i], c.EventID}
			if j, ok := first[k]; ok {
				copyOf[i] = j
				continue
			}
			first[k] = i
		}
		switch {
		case remembered[i]:
		case c.Op == contact.OpDelete:
			deletes = append(deletes, i)
		default:
			ins = append(ins, match.Incoming{RecordID: ids[i], Record: match.FromValues(c.Values)})
			inAt = append(inAt, i)
		}
	}

	results, err := r.matchBatch(ctx, ins)
	if err != nil {
		return nil, err
	}
	for j, res := range results {
		out[inAt[j]].Match = res.ContactMatch()
	}
	// Deletes run after the batch's upserts, so a record created earlier
	// in the batch is known to them.
	if err := r.resolveDeletes(ctx, ids, deletes, out); err != nil {
		return nil, err
	}
	for i, j := range copyOf {
		if j >= 0 {
			out[i].Match = out[j].Match
		}
	}

	if err := r.finish(ctx, changes, ids, remembered, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readMemos answers the events decided before from their memos, in one round
// trip, and reports which were.
func (r *MatchResolver) readMemos(ctx context.Context, changes []contact.Change, ids []string, out []matcher.Resolution) ([]bool, error) {
	remembered := make([]bool, len(changes))
	cmds := make([]*redis.StringCmd, len(changes))
	p := r.rdb.Pipeline()
	for i, c := range changes {
		if c.EventID != "" {
			cmds[i] = p.Get(ctx, r.keys.eventMemo(ids[i], c.EventID))
		}
	}
	if p.Len() == 0 {
		return remembered, nil
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read decision memos: %w", err)
	}
	for i, cmd := range cmds {
		if cmd == nil || errors.Is(cmd.Err(), redis.Nil) {
			continue
		}
		var m memo
		if err := json.Unmarshal([]byte(cmd.Val()), &m); err != nil {
			return nil, fmt.Errorf("decision memo of event %q of %s: %w", changes[i].EventID, ids[i], err)
		}
		out[i].Match = contact.Match{PersonID: m.PersonID, Decision: m.Decision, Score: m.Score,
			Explanation: m.Explanation, Candidates: m.Candidates}
		remembered[i] = true
	}
	return remembered, nil
}

// resolveDeletes resolves deletes without touching the index: a known record
// to its person, an unknown one to the person it would have created.
func (r *MatchResolver) resolveDeletes(ctx context.Context, ids []string, deletes []int, out []matcher.Resolution) error {
	if len(deletes) == 0 {
		return nil
	}
	delIDs := make([]string, len(deletes))
	for j, i := range deletes {
		delIDs[j] = ids[i]
	}
	owners, err := r.index.owners(ctx, delIDs)
	if err != nil {
		return fmt.Errorf("resolve deletes: %w", err)
	}
	for j, i := range deletes {
		e := match.Explanation{Decision: contact.DecisionKnown, Reason: "known_record", PersonID: owners[j], Probability: 1}
		score := 1.0
		if owners[j] == "" {
			// Never indexed: the person it would have created (the
			// matcher's NewPersonID, reached through Decide on an empty
			// index), so a later redo or re-creation agrees.
			res, _ := r.matcher.Decide(match.Incoming{RecordID: delIDs[j]}, match.Query{RecordID: delIDs[j]}, match.Found{})
			e = match.Explanation{Decision: contact.DecisionNew, Reason: "deleted_unknown_record", PersonID: res.PersonID}
			score = 0
		}
		out[i].Match = contact.Match{PersonID: e.PersonID, Decision: e.Decision, Score: score, Explanation: e.String()}
	}
	return nil
}

// matchBatch runs the matcher, matching the batch again (after a jittered
// pause) when records keep conflicting or Redis lost the scripts. Records a
// failed attempt did apply are then known to the next one.
func (r *MatchResolver) matchBatch(ctx context.Context, ins []match.Incoming) ([]match.Result, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	attempts := max(r.MaxAttempts, 1)
	delay := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		results, err := r.matcher.MatchBatch(ctx, r.index, ins)
		if err == nil {
			return results, nil
		}
		retry := errors.Is(err, match.ErrConflict) || errors.Is(err, errScriptsReloaded)
		if !retry || attempt >= attempts {
			return nil, fmt.Errorf("match %d records: %w", len(ins), err)
		}
		t := time.NewTimer(delay/2 + rand.N(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("match %d records: %w (after %v)", len(ins), ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// finish, in one round trip: records each resolved upsert's record as its
// person's link for its system (if the person has none there yet), remembers
// each new decision under its event, and reads every person's links.
func (r *MatchResolver) finish(ctx context.Context, changes []contact.Change, ids []string, remembered []bool, out []matcher.Resolution) error {
	ttl := r.MemoTTL
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	reads := map[string]*redis.MapStringStringCmd{}
	p := r.rdb.Pipeline()
	for i, c := range changes {
		m := out[i].Match
		if c.EventID != "" && !remembered[i] {
			b, err := json.Marshal(memo{PersonID: m.PersonID, Decision: m.Decision, Score: m.Score,
				Explanation: m.Explanation, Candidates: m.Candidates})
			if err != nil {
				return fmt.Errorf("encode decision memo: %w", err)
			}
			// NX: should two processes decide one event at once, the
			// first answer stays the answer.
			p.SetNX(ctx, r.keys.eventMemo(ids[i], c.EventID), b, ttl)
		}
		if m.Decision == contact.DecisionAmbiguous || m.PersonID == "" {
			continue
		}
		// Also for a remembered upsert: a no-op, unless a failure after the
		// memo was written kept the link from being written.
		if c.Op != contact.OpDelete {
			p.HSetNX(ctx, r.keys.Links(m.PersonID), c.SourceSystem, c.SourceRecordID)
		}
		reads[m.PersonID] = nil
	}
	// Reads after all writes: a person linked twice in the batch shows both.
	for id := range reads {
		reads[id] = p.HGetAll(ctx, r.keys.Links(id))
	}
	if p.Len() == 0 {
		return nil
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("person links and decision memos: %w", err)
	}
	for i := range out {
		if c := reads[out[i].Match.PersonID]; c != nil && out[i].Match.Decision != contact.DecisionAmbiguous {
			out[i].Links = maps.Clone(c.Val())
		}
	}
	return nil
}
