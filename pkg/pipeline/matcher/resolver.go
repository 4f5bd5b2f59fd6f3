package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/contactsync/contactsync/pkg/backoff"
	"maps"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// Index is the identity index the resolver matches against (match.Index),
// which also answers who owns a record.
type Index interface {
	match.Index
	// Owners returns the person holding each record id ("" when none), in
	// one round trip.
	Owners(ctx context.Context, recordIDs []string) ([]string, error)
}

// EventRef names one event of one record (a RecordID).
type EventRef struct{ RecordID, EventID string }

// Memo is the remembered decision on one event.
type Memo struct {
	Event EventRef
	Data  []byte
}

// Link makes a record its person's link for its system, unless the person
// already has a record there.
type Link struct{ PersonID, System, RecordID string }

// DecisionStore keeps what the resolver decided: per event its decision,
// per person its links (system -> record id).
type DecisionStore interface {
	// Memos returns the remembered decisions of the events (nil where
	// none), in one round trip.
	Memos(ctx context.Context, refs []EventRef) ([][]byte, error)
	// Keep, in one round trip: remembers each memo unless its event has one
	// (should two processes decide an event at once, the first answer
	// stays), adds each link unless its person already has a record of the
	// system, and then returns the links of the given persons.
	Keep(ctx context.Context, memos []Memo, links []Link, persons []string) (map[string]map[string]string, error)
}

// Holding is how the index held a record when a batch began: the person
// holding it ("" when none) and the fingerprint (match.Fingerprint) of the
// record as indexed, "" unless the index holds it completely (a write of it
// under way or died half-way leaves none).
type Holding struct{ PersonID, Fingerprint string }

// Recaller is a DecisionStore that also reads how the index holds records,
// in the same round trip as the memos. With one, the resolver answers a
// known record whose incoming version is indexed already ("known", reason
// ReasonKnownUnchanged) without a lookup or a commit.
type Recaller interface {
	// Recall returns the memos of the events (as DecisionStore.Memos) and
	// the holding of each record id, in one round trip.
	Recall(ctx context.Context, refs []EventRef, recordIDs []string) ([][]byte, []Holding, error)
}

// ReasonKnownUnchanged explains the answer on a known record whose values
// are indexed already.
const ReasonKnownUnchanged = "known_unchanged"

// RecordID is a change's record id in the index: the system, with "%" and
// "/" escaped, then "/" and the source record id. The system holds no bare
// "/", so no two (system, record id) pairs share a record id ("online/web" +
// "0001" is "online%2Fweb/0001", "online" + "web/0001" is
// "online/web/0001"), and the usual ids stay as they read ("offline/OFF-1").
func RecordID(system, sourceRecordID string) string {
	return systemEscaper.Replace(system) + "/" + sourceRecordID
}

var systemEscaper = strings.NewReplacer("%", "%25", "/", "%2F")

// IndexResolver is the matcher stage's identity resolution: it resolves
// changes to persons with match.Matcher (blocking keys, Fellegi-Sunter
// scores, link/review thresholds) over an Index, and keeps each person's
// links (system -> record id) in a DecisionStore.
//
// For an upsert the change's values (already canonical from ingest) become
// a match.Record and the whole batch goes through Matcher.MatchBatch: one
// lookup and one commit for the batch when nothing races. A change with no
// matchable values still resolves: it matches nothing, so it is known to its
// person or starts one. A delete resolves without touching the index: a
// known record to its person, an unknown one to the person it would have
// created (deterministic in the record id), with decision "new".
//
// Links: the first record of a system to reach a person stays the person's
// link for that system, so the record ids stamped on targets do not flip
// between a person's duplicates. They are written after the index commit; a
// crash in between is repaired by the redo, which finds the record known and
// writes the link then.
//
// Known and unchanged (the common case: a gift stream of known donors): with
// a store that is a Recaller, the memos and the records' holdings are read
// together, and an upsert of a record the index holds completely with the
// fingerprint of its incoming version resolves as "known" to its holder
// with no lookup and no commit: matching it would decide "known" and rewrite
// what is there. A known record whose values changed is written to its
// holder in one commit for the batch, without a lookup, for the same
// reason (refreshKnown), if no record to match comes before it in the
// batch. A record a split moved is held by its new person,
// so both follow it; one moved after the read conflicts and is matched. A
// record with a written upsert in the batch takes that path for its later
// upserts too (the index changes under it), and its deletes read the owner
// after the batch's writes.
//
// The decision memo is written for these answers too, although a redo
// would mostly reach the same answer from the owner: not after a split
// moved the record in between (the event would then go to another person
// than its first answer named, and past the router's per-person memo), nor
// after a later change of the record (the redo would rewrite the index with
// the event's older values).
//
// Once per event (pipeline.PlanOnce): resolving the same event again (a
// redelivery after a crash, a reprocessed partition) gives the same answer
// and changes nothing, because the decision on each event is remembered
// under its record and event id, and an event found there is answered from
// the memo without touching the index; the same event twice in one batch is
// decided once. The memos are written with the links, after the index
// commit; an event redone in between (or after its memo expired) is matched
// again and resolves as "known" to the same person, because an applied
// record is known, one whose creation died half-way is completed by the
// index, and a new person's id derives from the record id
// (match.DefaultPersonID by default).
type IndexResolver struct {
	matcher *match.Matcher
	index   Index
	store   DecisionStore
	pairs   PairReader // nil: no decisions (see WithPairs)
	records *match.RecordCache
	// MaxAttempts bounds how often a batch whose records keep conflicting
	// (the matcher gave up after its own retries) is matched again; each
	// new attempt waits a little longer. Default 8.
	MaxAttempts int
}

// NewIndexResolver returns a resolver using m over idx, keeping decisions
// and links in store.
func NewIndexResolver(m *match.Matcher, idx Index, store DecisionStore) *IndexResolver {
	return &IndexResolver{matcher: m, index: idx, store: store, records: match.NewRecordCache(0), MaxAttempts: 8}
}

var _ Resolver = (*IndexResolver)(nil)

// decisionMemo is the stored form of a decision (contact.Match), with short
// names.
type decisionMemo struct {
	PersonID    string           `json:"p"`
	Decision    contact.Decision `json:"d"`
	Score       float64          `json:"s"`
	Explanation string           `json:"e"`
	Candidates  []string         `json:"c"` // no omitempty: [] and nil stay apart
	HouseholdID string           `json:"h,omitempty"`
	Awaiting    string           `json:"w,omitempty"`
}

// Resolve implements Resolver in a fixed number of round trips for the whole
// batch: one to read the events' memos (and, with a Recaller, the records'
// owners), the matcher's lookup and commit (see the index) for the records
// that need them, one for the deletes' owners (with a Recaller, only for
// records the batch wrote), and one to write links and memos and read the
// persons' links; with a Recaller, known records whose values changed add
// one commit, and a batch of known, unchanged records costs two round trips
// in all.
func (r *IndexResolver) Resolve(ctx context.Context, changes []contact.Change) ([]Resolution, error) {
	out := make([]Resolution, len(changes))
	if len(changes) == 0 {
		return out, nil
	}
	ids := make([]string, len(changes))
	refs := make([]EventRef, len(changes))
	for i, c := range changes {
		if c.SourceSystem == "" || c.SourceRecordID == "" {
			return nil, fmt.Errorf("resolve change %q: no source system or record id", c.EventID)
		}
		ids[i] = RecordID(c.SourceSystem, c.SourceRecordID)
		refs[i] = EventRef{RecordID: ids[i], EventID: c.EventID}
	}
	once, held, err := r.recall(ctx, refs, ids)
	if err != nil {
		return nil, err
	}

	var (
		ins     []match.Incoming
		inAt    []int
		deletes []int
		// full: records with an upsert on the full path in this batch;
		// lastFull: per such record, its last one, and lastPrint that
		// one's fingerprint.
		full      = map[string]bool{}
		lastFull  = map[string]int{}
		lastPrint = map[string]string{}
		// repeats: upserts of a record with the values of its last
		// upsert on the full path (repeatOf), answered after it.
		repeats  []int
		repeatOf = map[int]int{}
	)
	for i, c := range changes {
		switch {
		case once.Copy(i):
		case once.Remembered(i):
			var m decisionMemo
			if err := json.Unmarshal(once.Memos[i], &m); err != nil {
				return nil, fmt.Errorf("decision memo of event %q of %s: %w", c.EventID, ids[i], err)
			}
			out[i].Match = contact.Match{PersonID: m.PersonID, Decision: m.Decision, Score: m.Score,
				Explanation: m.Explanation, Candidates: m.Candidates, HouseholdID: m.HouseholdID}
			out[i].Awaiting = m.Awaiting
		case c.Op == contact.OpDelete:
			deletes = append(deletes, i)
		default:
			id, rec := ids[i], r.records.FromValues(c.Values)
			if held != nil {
				fp := match.Fingerprint(rec)
				switch {
				case !full[id] && held[i].holds(fp):
					out[i].Match = knownUnchanged(held[i].PersonID, rec)
					continue
				case full[id] && lastPrint[id] == fp:
					repeats, repeatOf[i] = append(repeats, i), lastFull[id]
					continue
				}
				lastFull[id], lastPrint[id] = i, fp
			}
			full[id] = true
			ins = append(ins, match.Incoming{RecordID: id, Record: rec})
			inAt = append(inAt, i)
		}
	}

	if held != nil {
		// Known records whose values changed: refreshed without a lookup,
		// before the others are matched, so only those that come before
		// every record to match (which must see the index as the batch
		// left it at its place: a record matched before a refresh is
		// scored against the values refreshed away).
		var known []int // into ins
		for j := range ins {
			if held[inAt[j]].PersonID == "" {
				break
			}
			known = append(known, j)
		}
		refreshed, err := r.refreshKnown(ctx, ins, known, inAt, held)
		if err != nil {
			return nil, err
		}
		if len(refreshed) > 0 {
			var keepIns []match.Incoming
			var keepAt []int
			for j, in := range ins {
				if m, ok := refreshed[j]; ok {
					out[inAt[j]].Match = m
					continue
				}
				keepIns, keepAt = append(keepIns, in), append(keepAt, inAt[j])
			}
			ins, inAt = keepIns, keepAt
		}
	}
	if err := r.matchFull(ctx, changes, ids, ins, inAt, out); err != nil {
		return nil, err
	}
	// A repeat of values the batch wrote is known where they went, as the
	// matcher would decide (and rewrite); one whose values were not written
	// (ambiguous, an id conflict) is matched itself (held, if its record
	// now awaits a decision).
	ins, inAt = nil, nil
	for _, i := range repeats {
		first := out[repeatOf[i]].Match
		rec := r.records.FromValues(changes[i].Values)
		switch first.Decision {
		case contact.DecisionNew, contact.DecisionLinked, contact.DecisionKnown:
			out[i].Match = knownUnchanged(first.PersonID, rec)
		default:
			ins = append(ins, match.Incoming{RecordID: ids[i], Record: rec})
			inAt = append(inAt, i)
		}
	}
	if err := r.matchFull(ctx, changes, ids, ins, inAt, out); err != nil {
		return nil, err
	}
	// Deletes run after the batch's upserts, so a record created earlier
	// in the batch is known to them.
	if err := r.resolveDeletes(ctx, ids, deletes, held, full, out); err != nil {
		return nil, err
	}
	for i := range out {
		if once.Copy(i) {
			out[i].Match, out[i].Awaiting = out[once.First[i]].Match, out[once.First[i]].Awaiting
		}
	}

	if err := r.finish(ctx, changes, ids, once, out); err != nil {
		return nil, err
	}
	return out, nil
}

// matchFull matches upserts (ins[j] is change inAt[j]) through the matcher,
// honouring people's decisions (see WithPairs), and sets their answers. An
// upsert of a record that awaits a decision on another event is held; later
// upserts of a record new to the index wait for its first one's answer (held
// if it is ambiguous).
func (r *IndexResolver) matchFull(ctx context.Context, changes []contact.Change, ids []string, ins []match.Incoming, inAt []int, out []Resolution) error {
	if len(ins) == 0 {
		return nil
	}
	idx, mustLink, pending, err := r.decided(ctx, ins)
	if err != nil {
		return err
	}
	var rest []match.Incoming
	var restAt []int
	pendingOf := map[int]string{} // change index -> the event its record awaits a decision on
	for j, in := range ins {
		i := inAt[j]
		if j < len(pending) && pending[j] != "" {
			pendingOf[i] = pending[j]
			// A redo of the ambiguous event itself is matched again.
			if pending[j] != changes[i].EventID && (j >= len(mustLink) || mustLink[j] == "") {
				out[i].Match, out[i].Awaiting = heldMatch(pending[j]), pending[j]
				continue
			}
		}
		if j < len(mustLink) && mustLink[j] != "" {
			res, ok, err := r.linkDecided(ctx, idx, in, mustLink[j])
			if err != nil {
				return fmt.Errorf("link decided record %s: %w", in.RecordID, err)
			}
			if ok {
				out[i].Match = res.ContactMatch()
				continue
			}
		}
		rest = append(rest, in)
		restAt = append(restAt, i)
	}
	first, firstAt, later, laterAt, err := r.splitRepeats(ctx, rest, restAt)
	if err != nil {
		return err
	}
	results, err := r.matchBatch(ctx, idx, first)
	if err != nil {
		return err
	}
	ambiguous := map[string]string{} // record id -> its ambiguous event in this batch
	for j, res := range results {
		out[firstAt[j]].Match = res.ContactMatch()
		if res.Decision == contact.DecisionAmbiguous {
			ambiguous[first[j].RecordID] = changes[firstAt[j]].EventID
		}
	}
	var again []match.Incoming
	var againAt []int
	for j, in := range later {
		if ev, ok := ambiguous[in.RecordID]; ok {
			out[laterAt[j]].Match, out[laterAt[j]].Awaiting = heldMatch(ev), ev
			continue
		}
		again, againAt = append(again, in), append(againAt, laterAt[j])
	}
	results, err = r.matchBatch(ctx, idx, again)
	if err != nil {
		return err
	}
	for j, res := range results {
		out[againAt[j]].Match = res.ContactMatch()
	}
	return r.awaitDecisions(ctx, changes, ids, inAt, pendingOf, out)
}

// awaitDecisions marks the records of the batch's newly ambiguous upserts as
// awaiting a decision, and drops the mark of a record whose awaited event was
// matched again (a redo after a crash) and is no longer ambiguous. It runs
// before the memos are written, so a remembered ambiguous event has its mark.
func (r *IndexResolver) awaitDecisions(ctx context.Context, changes []contact.Change, ids []string, inAt []int, pendingOf map[int]string, out []Resolution) error {
	if r.pairs == nil {
		return nil
	}
	var awaits []Await
	for _, i := range inAt {
		m, ev := out[i].Match, changes[i].EventID
		switch {
		case out[i].Awaiting != "" || ev == "":
		case m.Decision == contact.DecisionAmbiguous:
			awaits = append(awaits, Await{RecordID: ids[i], EventID: ev})
		case pendingOf[i] == ev:
			awaits = append(awaits, Await{RecordID: ids[i], EventID: ev, Settled: true})
		}
	}
	if len(awaits) == 0 {
		return nil
	}
	if err := r.pairs.AwaitDecisions(ctx, awaits); err != nil {
		return fmt.Errorf("mark records awaiting a decision: %w", err)
	}
	return nil
}

// recall reads the memos of the batch's events and, with a Recaller, how the
// index holds the batch's records (nil without one), in one round trip.
func (r *IndexResolver) recall(ctx context.Context, refs []EventRef, ids []string) (pipeline.Once, []Holding, error) {
	identified := func(e EventRef) bool { return e.EventID != "" }
	recaller, ok := r.store.(Recaller)
	if !ok {
		once, err := pipeline.PlanOnce(ctx, refs, identified, r.store.Memos)
		if err != nil {
			return pipeline.Once{}, nil, fmt.Errorf("read decision memos: %w", err)
		}
		return once, nil, nil
	}
	var held []Holding
	read := func(ctx context.Context, distinct []EventRef) ([][]byte, error) {
		memos, h, err := recaller.Recall(ctx, distinct, ids)
		held = h
		return memos, err
	}
	once, err := pipeline.PlanOnce(ctx, refs, identified, read)
	if err != nil {
		return pipeline.Once{}, nil, fmt.Errorf("read decision memos and record owners: %w", err)
	}
	if held == nil { // no event had an id: PlanOnce read nothing
		if _, held, err = recaller.Recall(ctx, nil, ids); err != nil {
			return pipeline.Once{}, nil, fmt.Errorf("read record owners: %w", err)
		}
	}
	if len(held) != len(ids) {
		return pipeline.Once{}, nil, fmt.Errorf("read record owners: answered %d of %d records", len(held), len(ids))
	}
	return once, held, nil
}

// refreshKnown writes the new values of known records (ins[j] for j in
// known, held by held[inAt[j]]) in one commit, without a lookup: matching a
// known record decides "known" whatever the candidates, and writes exactly
// this (the record to its person, under its keys, no version checked). The
// commit's claim checks that the person still holds the record; one that
// does not (moved by a split since the batch read it) is left out of the
// answer and goes through the matcher. Writes of one record apply in batch
// order. It returns the answers by index into ins.
func (r *IndexResolver) refreshKnown(ctx context.Context, ins []match.Incoming, known, inAt []int, held []Holding) (map[int]contact.Match, error) {
	if len(known) == 0 {
		return nil, nil
	}
	writes := make([]match.Write, len(known))
	for k, j := range known {
		in, person := ins[j], held[inAt[j]].PersonID
		q := r.matcher.Query(in)
		versions := make([]int64, len(q.Keys))
		for v := range versions {
			versions[v] = match.AnyVersion
		}
		writes[k] = match.Write{PersonID: person, Member: match.Member{RecordID: in.RecordID, Record: in.Record},
			Keys: q.Keys, Terms: q.Terms, KeyVersions: versions, ExpectPerson: person}
	}
	errs, err := r.index.Commit(ctx, writes)
	if err != nil {
		return nil, fmt.Errorf("refresh %d known records: %w", len(writes), err)
	}
	if len(errs) != len(writes) {
		return nil, fmt.Errorf("refresh known records: index answered %d of %d writes", len(errs), len(writes))
	}
	out := make(map[int]contact.Match, len(known))
	failed := map[string]bool{} // a record with a refused write: its later ones go through the matcher too
	for k, j := range known {
		id := ins[j].RecordID
		switch {
		case errs[k] == nil && !failed[id]:
			out[j] = knownMatch(writes[k].PersonID, "known_record", ins[j].Record)
		case errs[k] == nil || errors.Is(errs[k], match.ErrConflict):
			failed[id] = true
		default:
			return nil, fmt.Errorf("refresh known record %s: %w", id, errs[k])
		}
	}
	return out, nil
}

// holds says the index holds the record completely, with fingerprint fp.
func (h Holding) holds(fp string) bool {
	return h.PersonID != "" && h.Fingerprint != "" && h.Fingerprint == fp
}

// knownUnchanged is the answer on a known record whose values are indexed
// already: what the full path would decide, without its candidates.
func knownUnchanged(personID string, rec match.Record) contact.Match {
	return knownMatch(personID, ReasonKnownUnchanged, rec)
}

// knownMatch is the answer "known" to a person decided without a lookup
// (so without candidates), with the record's household id as the matcher
// gives it.
func knownMatch(personID, reason string, rec match.Record) contact.Match {
	hh := match.HouseholdKey(rec)
	e := match.Explanation{Decision: contact.DecisionKnown, Reason: reason, PersonID: personID, Probability: 1, HouseholdKey: hh}
	return contact.Match{PersonID: personID, Decision: contact.DecisionKnown, Score: 1, Explanation: e.String(),
		Candidates: []string{}, HouseholdID: hh}
}

// resolveDeletes resolves deletes without touching the index: a known record
// to its person, an unknown one to the person it would have created. The
// owner read with the batch's memos (held) stands for a record no upsert of
// the batch went through the full path for (full); the others are read
// again, after the batch's writes.
func (r *IndexResolver) resolveDeletes(ctx context.Context, ids []string, deletes []int, held []Holding, full map[string]bool, out []Resolution) error {
	if len(deletes) == 0 {
		return nil
	}
	owners := make([]string, len(deletes))
	var delIDs []string
	var readAt []int
	for j, i := range deletes {
		if held != nil && !full[ids[i]] {
			owners[j] = held[i].PersonID
			continue
		}
		delIDs = append(delIDs, ids[i])
		readAt = append(readAt, j)
	}
	if len(delIDs) > 0 {
		read, err := r.index.Owners(ctx, delIDs)
		if err != nil {
			return fmt.Errorf("resolve deletes: %w", err)
		}
		if len(read) != len(delIDs) {
			return fmt.Errorf("resolve deletes: index answered %d of %d records", len(read), len(delIDs))
		}
		for k, j := range readAt {
			owners[j] = read[k]
		}
	}
	for j, i := range deletes {
		delID := ids[i]
		e := match.Explanation{Decision: contact.DecisionKnown, Reason: "known_record", PersonID: owners[j], Probability: 1}
		score := 1.0
		if owners[j] == "" {
			// Never indexed: the person it would have created (the
			// matcher's NewPersonID, reached through Decide on an empty
			// index), so a later redo or re-creation agrees.
			res, _ := r.matcher.Decide(match.Incoming{RecordID: delID}, match.Query{RecordID: delID}, match.Found{})
			e = match.Explanation{Decision: contact.DecisionNew, Reason: "deleted_unknown_record", PersonID: res.PersonID}
			score = 0
		}
		out[i].Match = contact.Match{PersonID: e.PersonID, Decision: e.Decision, Score: score, Explanation: e.String()}
	}
	return nil
}

// matchBatch runs the matcher, matching the batch again (after a jittered
// pause) while records keep conflicting (match.ErrConflict, which the index
// also reports when it lost state a retry repairs). Records a failed attempt
// did apply are then known to the next one.
func (r *IndexResolver) matchBatch(ctx context.Context, idx match.Index, ins []match.Incoming) ([]match.Result, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	attempts := max(r.MaxAttempts, 1)
	pause := &backoff.Backoff{Min: 5 * time.Millisecond, Max: time.Second, Jitter: true}
	for attempt := 1; ; attempt++ {
		results, err := r.matcher.MatchBatch(ctx, idx, ins)
		if err == nil {
			return results, nil
		}
		if !errors.Is(err, match.ErrConflict) || attempt >= attempts {
			return nil, fmt.Errorf("match %d records: %w", len(ins), err)
		}
		if !pause.Wait(ctx) {
			return nil, fmt.Errorf("match %d records: %w (after %v)", len(ins), ctx.Err(), err)
		}
	}
}

// finish, in one round trip: records each resolved upsert's record as its
// person's link for its system (if the person has none there yet), remembers
// each new decision under its event, and reads every person's links.
func (r *IndexResolver) finish(ctx context.Context, changes []contact.Change, ids []string, once pipeline.Once, out []Resolution) error {
	var (
		memos   []Memo
		links   []Link
		persons []string
	)
	seen := map[string]bool{}
	for i, c := range changes {
		m := out[i].Match
		if c.EventID != "" && once.Fresh(i) {
			b, err := json.Marshal(decisionMemo{PersonID: m.PersonID, Decision: m.Decision, Score: m.Score,
				Explanation: m.Explanation, Candidates: m.Candidates, HouseholdID: m.HouseholdID, Awaiting: out[i].Awaiting})
			if err != nil {
				return fmt.Errorf("encode decision memo: %w", err)
			}
			memos = append(memos, Memo{Event: EventRef{RecordID: ids[i], EventID: c.EventID}, Data: b})
		}
		if m.Decision == contact.DecisionAmbiguous || m.PersonID == "" {
			continue
		}
		// Also for a remembered upsert: a no-op, unless a failure after the
		// memo was written kept the link from being written.
		if c.Op != contact.OpDelete {
			links = append(links, Link{PersonID: m.PersonID, System: c.SourceSystem, RecordID: c.SourceRecordID})
		}
		if !seen[m.PersonID] {
			seen[m.PersonID] = true
			persons = append(persons, m.PersonID)
		}
	}
	if len(memos) == 0 && len(links) == 0 && len(persons) == 0 {
		return nil
	}
	read, err := r.store.Keep(ctx, memos, links, persons)
	if err != nil {
		return fmt.Errorf("person links and decision memos: %w", err)
	}
	for i := range out {
		if l, ok := read[out[i].Match.PersonID]; ok && out[i].Match.Decision != contact.DecisionAmbiguous {
			out[i].Links = maps.Clone(l)
		}
	}
	return nil
}
