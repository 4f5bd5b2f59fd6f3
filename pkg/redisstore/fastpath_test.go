package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// again is the change as a new event (a redelivery keeps the event id).
func again(c contact.Change, n int) contact.Change {
	c.EventID = fmt.Sprintf("%s-again-%d", c.EventID, n)
	return c
}

func reasonOf(m contact.Match) string {
	_, rest, _ := strings.Cut(m.Explanation, "(")
	reason, _, _ := strings.Cut(rest, ")")
	return reason
}

// memberOf returns the record the index holds for a record id.
func memberOf(t testing.TB, ctx context.Context, idx *redisstore.MatchIndex, recordID string) (string, match.Record) {
	t.Helper()
	f, err := idx.Lookup(ctx, []match.Query{{RecordID: recordID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f[0].Persons {
		for _, m := range p.Members {
			if m.RecordID == recordID {
				return p.ID, m.Record
			}
		}
	}
	t.Fatalf("record %s is not in the index", recordID)
	return "", match.Record{}
}

// TestMatchResolverKnownUnchanged checks the resolver's fast path and its
// guards: a known record whose values are indexed resolves as known with no
// lookup or commit (two round trips for the batch); a changed record, and
// every later upsert of a record changed earlier in the batch, take the full
// path and reindex it; a record moved by a split resolves to its new person,
// and so does its delete; a redelivered event keeps its first answer.
func TestMatchResolverKnownUnchanged(t *testing.T) {
	b := standalone(t)
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	client := b.newClient()
	r := newResolver(client, keys, defaultMatcher(t))
	changes := contacts(6)
	first := resolve(t, ctx, r, changes...)

	h := &trips{}
	client.AddHook(h)
	var resent []contact.Change
	for _, c := range changes {
		resent = append(resent, again(c, 1))
	}
	got := resolve(t, ctx, r, resent...)
	for i, res := range got {
		if res.Match.Decision != contact.DecisionKnown || res.Match.PersonID != first[i].Match.PersonID ||
			reasonOf(res.Match) != matcher.ReasonKnownUnchanged {
			t.Errorf("unchanged %s: %+v, first answer %+v", changes[i].SourceRecordID, res.Match, first[i].Match)
		}
		if len(res.Links) == 0 {
			t.Errorf("unchanged %s: no links", changes[i].SourceRecordID)
		}
		if res.Match.HouseholdID != first[i].Match.HouseholdID {
			t.Errorf("unchanged %s: household %q, first answer %q", changes[i].SourceRecordID, res.Match.HouseholdID, first[i].Match.HouseholdID)
		}
	}
	if p, s := h.pipelines.Load(), h.singles.Load(); p != 2 || s != 0 {
		t.Errorf("a batch of unchanged known records took %d pipelines and %d single commands, want 2 and 0", p, s)
	}

	// A changed record takes the full path, which reindexes it; then its
	// new values are the indexed ones.
	off0 := changes[0]
	changed := again(off0, 2)
	changed.Values = off0.Values.Clone()
	changed.Values[contact.Email] = "amelia.new@mail.net"
	res := resolve(t, ctx, r, changed)[0].Match
	if res.Decision != contact.DecisionKnown || res.PersonID != first[0].Match.PersonID || reasonOf(res) != "known_record" ||
		res.HouseholdID == "" || res.HouseholdID != match.HouseholdKey(match.FromValues(changed.Values)) {
		t.Errorf("changed record: %+v", res)
	}
	if _, m := memberOf(t, ctx, r.Index(), "offline/OFF-0"); m.EmailKey != match.FromValues(changed.Values).EmailKey {
		t.Errorf("the index holds %+v after a change of email", m)
	}
	if res := resolve(t, ctx, r, again(changed, 3))[0].Match; reasonOf(res) != matcher.ReasonKnownUnchanged {
		t.Errorf("the changed values again: %+v", res)
	}

	// Changed, then back, in one batch: the second upsert must not be
	// answered from the owner read before the batch (it held the values
	// the batch returns to), or the index would keep the first change.
	reverted := again(off0, 4)
	reverted.Values = changed.Values.Clone()
	reverted.Values[contact.Email] = "amelia.other@mail.net"
	back := again(changed, 5)
	for _, res := range resolve(t, ctx, r, reverted, back) {
		if res.Match.Decision != contact.DecisionKnown || res.Match.PersonID != first[0].Match.PersonID {
			t.Errorf("changed and back: %+v", res.Match)
		}
	}
	if _, m := memberOf(t, ctx, r.Index(), "offline/OFF-0"); m.EmailKey != match.FromValues(back.Values).EmailKey {
		t.Errorf("after a change and back in one batch the index holds %+v", m)
	}

	// A new record twice with the same values in one batch: the second
	// is known where the first went, without being matched; once more
	// with other values, it is rewritten.
	fresh := upsert("crm", "c-1", person(40))
	twice := resolve(t, ctx, r, fresh, again(fresh, 1))
	if twice[0].Match.Decision != contact.DecisionNew || twice[1].Match.PersonID != twice[0].Match.PersonID ||
		reasonOf(twice[1].Match) != matcher.ReasonKnownUnchanged {
		t.Errorf("a new record twice in a batch: %+v", twice)
	}
	other := again(fresh, 2)
	other.Values = fresh.Values.Clone()
	other.Values[contact.Email] = "someone.else@mail.net"
	thrice := resolve(t, ctx, r, again(fresh, 3), other, again(fresh, 4))
	for _, res := range thrice {
		if res.Match.Decision != contact.DecisionKnown || res.Match.PersonID != twice[0].Match.PersonID {
			t.Errorf("a record, changed and back in a batch: %+v", res.Match)
		}
	}
	if _, m := memberOf(t, ctx, r.Index(), "crm/c-1"); m.EmailKey != match.FromValues(fresh.Values).EmailKey {
		t.Errorf("after a change and back in one batch the index holds %+v", m)
	}

	// A split moves a record: its owner changes, and the fast path
	// follows it (the record's values did not change).
	web0 := changes[1]
	if web0.SourceRecordID != "web-0" {
		t.Fatalf("fixture: %s", web0.SourceRecordID)
	}
	from := first[1].Match.PersonID
	if err := r.Index().Move(ctx, from, "p-split", []string{"online/web-0"}); err != nil {
		t.Fatal(err)
	}
	if res := resolve(t, ctx, r, again(web0, 6))[0].Match; res.PersonID != "p-split" || res.Decision != contact.DecisionKnown {
		t.Errorf("a moved record: %+v", res)
	}
	del := again(web0, 7)
	del.Op, del.Values = contact.OpDelete, nil
	if res := resolve(t, ctx, r, del)[0].Match; res.PersonID != "p-split" || res.Decision != contact.DecisionKnown {
		t.Errorf("the delete of a moved record: %+v", res)
	}
	// A redelivered event keeps the answer it had, split or not.
	if res := resolve(t, ctx, r, resent[1])[0].Match; res.PersonID != from || res.Explanation != got[1].Match.Explanation {
		t.Errorf("a redelivered event: %+v, first answer %+v", res, got[1].Match)
	}
	if res := resolve(t, ctx, r, again(web0, 6))[0].Match; res.PersonID != "p-split" {
		t.Errorf("a redelivered event after the split: %+v", res)
	}
}

// TestMatchResolverOwnerWithoutFingerprint checks that a record whose owner
// carries no fingerprint (an index written before fingerprints, or a write
// that died half-way) takes the full path, which seals it.
func TestMatchResolverOwnerWithoutFingerprint(t *testing.T) {
	b := standalone(t)
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.newClient(), keys, defaultMatcher(t))
	c := upsert("offline", "OFF-1", ann())
	first := resolve(t, ctx, r, c)[0].Match
	ownerKey := ""
	for _, k := range keysMatching(t, b.rdb, keys.Prefix+":mi:r:*") {
		if !strings.Contains(k, ":ev:") && !strings.HasSuffix(k, ":lock") {
			ownerKey = k
		}
	}
	if ownerKey == "" {
		t.Fatal("no owner key")
	}
	if err := b.rdb.Set(ctx, ownerKey, first.PersonID, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if res := resolve(t, ctx, r, again(c, 1))[0].Match; res.PersonID != first.PersonID || reasonOf(res) != "known_record" {
		t.Errorf("a record with a bare owner: %+v", res)
	}
	if res := resolve(t, ctx, r, again(c, 2))[0].Match; res.PersonID != first.PersonID || reasonOf(res) != matcher.ReasonKnownUnchanged {
		t.Errorf("after the full path sealed it: %+v", res)
	}
}

// splitAfterRecall is the Redis decision store with a split landing right
// after the resolver read the owners: the holdings it returns are stale.
type splitAfterRecall struct {
	*redisstore.DecisionStore
	idx      *redisstore.MatchIndex
	from, to string
	record   string
}

func (s *splitAfterRecall) Recall(ctx context.Context, refs []matcher.EventRef, ids []string) ([][]byte, []matcher.Holding, error) {
	memos, held, err := s.DecisionStore.Recall(ctx, refs, ids)
	if err == nil && s.record != "" {
		err = s.idx.Move(ctx, s.from, s.to, []string{s.record})
		s.record = ""
	}
	return memos, held, err
}

// TestMatchResolverRecordMovedAfterRead checks that a known record whose
// values changed, and which a split moved after the resolver read its
// owner, resolves to its new person (the refresh without lookup conflicts
// and the record goes through the matcher), and that its unchanged
// neighbour in the batch still takes the fast path.
func TestMatchResolverRecordMovedAfterRead(t *testing.T) {
	b := standalone(t)
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	client := b.newClient()
	m := defaultMatcher(t)
	idx := redisstore.NewMatchIndex(client, keys)
	store := &splitAfterRecall{DecisionStore: redisstore.NewDecisionStore(client, keys, 0), idx: idx}
	r := matcher.NewIndexResolver(m, idx, store)
	changes := contacts(2) // OFF-0, web-0 (one person), OFF-1
	res, err := r.Resolve(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	from := res[0].Match.PersonID
	if res[1].Match.PersonID != from {
		t.Fatalf("fixture: %+v", res)
	}
	changed := again(changes[1], 1)
	changed.Values = changed.Values.Clone()
	changed.Values[contact.Phone] = "+61298765432"
	store.from, store.to, store.record = from, "p-split", "online/web-0"
	res, err = r.Resolve(ctx, []contact.Change{changed, again(changes[2], 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := res[0].Match; got.PersonID != "p-split" || got.Decision != contact.DecisionKnown {
		t.Errorf("a changed record moved after the read: %+v", got)
	}
	if got := res[1].Match; reasonOf(got) != matcher.ReasonKnownUnchanged {
		t.Errorf("its unchanged neighbour: %+v", got)
	}
	if person, rec := memberOf(t, ctx, idx, "online/web-0"); person != "p-split" || rec.Phone != "+61298765432" {
		t.Errorf("the index holds %s %+v", person, rec)
	}
}

// TestMatchResolverRefreshKeepsBatchOrder checks that a record matched
// earlier in a batch than a known record's change is scored against the
// known record's values before the change: the refresh without lookup must
// not overtake it.
func TestMatchResolverRefreshKeepsBatchOrder(t *testing.T) {
	b := standalone(t)
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.newClient(), keys, defaultMatcher(t))
	off := upsert("offline", "OFF-0", person(0))
	first := resolve(t, ctx, r, off)[0].Match
	same := upsert("crm", "c-0", person(0))
	moved := again(off, 1)
	moved.Values = person(1)
	res := resolve(t, ctx, r, same, moved)
	if res[0].Match.Decision != contact.DecisionLinked || res[0].Match.PersonID != first.PersonID {
		t.Errorf("a record with the known record's values before its change: %+v", res[0].Match)
	}
	if res[1].Match.Decision != contact.DecisionKnown || res[1].Match.PersonID != first.PersonID {
		t.Errorf("the change: %+v", res[1].Match)
	}
	// The other way round, the change comes first and is seen.
	back := again(off, 2)
	later := upsert("crm", "c-1", person(0))
	res = resolve(t, ctx, r, back, later)
	if res[0].Match.PersonID != first.PersonID || res[1].Match.Decision != contact.DecisionLinked || res[1].Match.PersonID != first.PersonID {
		t.Errorf("a change back, then a record with its values: %+v", res)
	}
}
