package matcher_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// The resolution policy on in-memory fakes; the same policy on the Redis
// adapters is tested in pkg/redisstore (TestMatchResolver).

// memIndex is match.MemIndex with Owners, counting its commits; failCommits
// makes the next commits fail with err.
type memIndex struct {
	*match.MemIndex
	mu          sync.Mutex
	commits     int
	failCommits int
	err         error
}

func newMemIndex() *memIndex { return &memIndex{MemIndex: match.NewMemIndex()} }

func (x *memIndex) Owners(_ context.Context, ids []string) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = x.PersonOf(id)
	}
	return out, nil
}

func (x *memIndex) Commit(ctx context.Context, ws []match.Write) ([]error, error) {
	x.mu.Lock()
	x.commits++
	fail := x.failCommits > 0
	if fail {
		x.failCommits--
	}
	x.mu.Unlock()
	if fail {
		return nil, x.err
	}
	return x.MemIndex.Commit(ctx, ws)
}

// memDecisions is an in-memory matcher.DecisionStore.
type memDecisions struct {
	mu    sync.Mutex
	memos map[matcher.EventRef][]byte
	links map[string]map[string]string
	// trips counts calls (each one round trip in Redis).
	trips int
}

func newMemDecisions() *memDecisions {
	return &memDecisions{memos: map[matcher.EventRef][]byte{}, links: map[string]map[string]string{}}
}

func (s *memDecisions) Memos(_ context.Context, refs []matcher.EventRef) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trips++
	out := make([][]byte, len(refs))
	for i, r := range refs {
		out[i] = slices.Clone(s.memos[r])
	}
	return out, nil
}

func (s *memDecisions) Keep(_ context.Context, memos []matcher.Memo, links []matcher.Link, persons []string) (map[string]map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trips++
	for _, m := range memos {
		if _, ok := s.memos[m.Event]; !ok {
			s.memos[m.Event] = slices.Clone(m.Data)
		}
	}
	for _, l := range links {
		if s.links[l.PersonID] == nil {
			s.links[l.PersonID] = map[string]string{}
		}
		if _, ok := s.links[l.PersonID][l.System]; !ok {
			s.links[l.PersonID][l.System] = l.RecordID
		}
	}
	out := map[string]map[string]string{}
	for _, p := range persons {
		out[p] = maps.Clone(s.links[p])
		if out[p] == nil {
			out[p] = map[string]string{}
		}
	}
	return out, nil
}

func defaultMatcher(t testing.TB) *match.Matcher {
	t.Helper()
	model, err := match.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := match.NewMatcher(model, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func upsert(system, id string, v contact.Values) contact.Change {
	return contact.Change{EventID: "ev-" + system + "-" + id, SourceSystem: system, SourceRecordID: id,
		Origin: contact.OriginAdmin, Op: contact.OpUpsert, Values: v}
}

func deletion(system, id string) contact.Change {
	c := upsert(system, id, nil)
	c.EventID, c.Op = "del-"+system+"-"+id, contact.OpDelete
	return c
}

func ann() contact.Values {
	return contact.Values{contact.GivenName: "Ann", contact.FamilyName: "Lee",
		contact.Email: "ann.lee@lee-family.net", contact.DateOfBirth: "1980-04-12", contact.Country: "AU"}
}

func bob() contact.Values {
	return contact.Values{contact.GivenName: "Boris", contact.FamilyName: "Novak",
		contact.Email: "boris@novak.example", contact.DateOfBirth: "1961-11-02", contact.Country: "AU"}
}

type fixture struct {
	idx   *memIndex
	store *memDecisions
	r     *matcher.IndexResolver
}

func newFixture(t testing.TB) fixture {
	f := fixture{idx: newMemIndex(), store: newMemDecisions()}
	f.r = matcher.NewIndexResolver(defaultMatcher(t), f.idx, f.store)
	return f
}

func (f fixture) resolve(t testing.TB, changes ...contact.Change) []matcher.Resolution {
	t.Helper()
	res, err := f.r.Resolve(context.Background(), changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(changes) {
		t.Fatalf("%d resolutions for %d changes", len(res), len(changes))
	}
	return res
}

// An event decided before is answered from its memo without touching the
// index; the same event twice in one batch is decided once; the same
// record as a new event is known.
func TestIndexResolverOncePerEvent(t *testing.T) {
	f := newFixture(t)
	changes := []contact.Change{upsert("offline", "OFF-1", ann()), upsert("online", "web-1", ann()), upsert("offline", "OFF-2", bob())}
	first := f.resolve(t, append(slices.Clone(changes), changes[1])...)
	if !reflect.DeepEqual(first[3], first[1]) {
		t.Errorf("an event twice in a batch: %+v, then %+v", first[1], first[3])
	}
	if first[0].Match.Decision != contact.DecisionNew || first[1].Match.Decision != contact.DecisionLinked ||
		first[1].Match.PersonID != first[0].Match.PersonID || first[2].Match.Decision != contact.DecisionNew {
		t.Fatalf("first pass: %+v", first)
	}
	if persons, records := f.idx.Stats(); persons != 2 || records != 3 {
		t.Fatalf("%d persons, %d records; want 2, 3", persons, records)
	}
	commits := f.idx.commits
	again := f.resolve(t, changes...)
	for i := range changes {
		if !reflect.DeepEqual(again[i], first[i]) {
			t.Errorf("replay of %s: %+v\nfirst answer %+v", changes[i].EventID, again[i], first[i])
		}
	}
	if f.idx.commits != commits {
		t.Errorf("a replayed batch committed to the index")
	}
	resent := changes[1]
	resent.EventID += "-resent"
	if got := f.resolve(t, resent)[0].Match; got.Decision != contact.DecisionKnown || got.PersonID != first[1].Match.PersonID {
		t.Errorf("record resent as a new event: %+v", got)
	}
	// Events without id are neither remembered nor merged.
	noID := upsert("crm", "c-1", ann())
	noID.EventID = ""
	res := f.resolve(t, noID, noID)
	if res[0].Match.Decision != contact.DecisionLinked || res[1].Match.Decision != contact.DecisionKnown {
		t.Errorf("two events without id: %+v / %+v", res[0].Match, res[1].Match)
	}
}

func TestIndexResolverLinksAndDeletes(t *testing.T) {
	f := newFixture(t)
	res := f.resolve(t, upsert("offline", "OFF-1", ann()), upsert("online", "web-1", ann()), upsert("offline", "OFF-2", ann()))
	p := res[0].Match.PersonID
	wantLinks := map[string]string{"offline": "OFF-1", "online": "web-1"}
	for i := range res {
		if res[i].Match.PersonID != p || !maps.Equal(res[i].Links, wantLinks) {
			t.Errorf("resolution %d: %+v, want person %s with links %v", i, res[i], p, wantLinks)
		}
	}
	consentOnly := upsert("online", "web-77", contact.Values{contact.DoNotEmail: "true"})
	if got := f.resolve(t, consentOnly)[0]; got.Match.Decision != contact.DecisionNew ||
		got.Match.PersonID != match.DefaultPersonID("online/web-77") || got.Links["online"] != "web-77" {
		t.Errorf("record without matchable values: %+v", got)
	}
	res = f.resolve(t, deletion("online", "web-1"), deletion("offline", "NEVER-SEEN"), upsert("crm", "c-5", ann()), deletion("crm", "c-5"))
	if res[0].Match.Decision != contact.DecisionKnown || res[0].Match.PersonID != p || res[0].Links["crm"] != "c-5" {
		t.Errorf("delete of a known record: %+v", res[0])
	}
	if res[1].Match.Decision != contact.DecisionNew || res[1].Match.PersonID != match.DefaultPersonID("offline/NEVER-SEEN") || len(res[1].Links) != 0 {
		t.Errorf("delete of an unknown record: %+v", res[1])
	}
	if owner, ok := f.idx.PersonOf("offline/NEVER-SEEN"); ok {
		t.Errorf("deleted unknown record entered the index (person %s)", owner)
	}
	if res[3].Match.PersonID != p || res[3].Match.Decision != contact.DecisionKnown {
		t.Errorf("upsert then delete in one batch: %+v", res[3].Match)
	}
	if _, err := f.r.Resolve(context.Background(), []contact.Change{{EventID: "x", SourceSystem: "online"}}); err == nil {
		t.Error("a change without a record id was resolved")
	}
}

func TestIndexResolverAmbiguousIsRemembered(t *testing.T) {
	f := newFixture(t)
	rec := match.FromValues(ann())
	for _, id := range []string{"p-old-1", "p-old-2"} {
		errs, err := f.idx.Commit(context.Background(), []match.Write{{PersonID: id, NewPerson: true,
			Member: match.Member{RecordID: "legacy/" + id, Record: rec}, Keys: match.Keys(rec), Terms: match.Terms(rec),
			KeyVersions: slices.Repeat([]int64{match.AnyVersion}, len(match.Keys(rec)))}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	ev := upsert("online", "web-5", ann())
	res := f.resolve(t, ev)[0]
	if m := res.Match; m.Decision != contact.DecisionAmbiguous || !slices.Equal(m.Candidates, []string{"p-old-1", "p-old-2"}) || res.Links != nil {
		t.Fatalf("record matching two persons: %+v", res)
	}
	if again := f.resolve(t, ev)[0]; !reflect.DeepEqual(again, res) {
		t.Errorf("replay of the ambiguous event: %+v, first %+v", again, res)
	}
}

// A batch whose commit conflicts is matched again (after a pause) until it
// goes through, up to MaxAttempts; other failures are not retried.
func TestIndexResolverRetriesConflicts(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	f := newFixture(t)
	f.idx.failCommits, f.idx.err = 3, fmt.Errorf("scripts lost: %w", match.ErrConflict)
	res, err := f.r.Resolve(ctx, []contact.Change{upsert("offline", "OFF-1", ann())})
	if err != nil || res[0].Match.Decision != contact.DecisionNew {
		t.Fatalf("after 3 conflicts: %+v, %v", res, err)
	}
	if f.idx.commits != 4 {
		t.Errorf("%d commits, want 4", f.idx.commits)
	}

	f = newFixture(t)
	f.r.MaxAttempts = 2
	f.idx.failCommits, f.idx.err = 5, fmt.Errorf("scripts lost: %w", match.ErrConflict)
	if _, err := f.r.Resolve(ctx, []contact.Change{upsert("offline", "OFF-1", ann())}); !errors.Is(err, match.ErrConflict) {
		t.Errorf("conflicting beyond MaxAttempts: %v", err)
	}
	if f.idx.commits != 2 {
		t.Errorf("%d commits, want 2", f.idx.commits)
	}

	f = newFixture(t)
	down := errors.New("index down")
	f.idx.failCommits, f.idx.err = 1, down
	if _, err := f.r.Resolve(ctx, []contact.Change{upsert("offline", "OFF-1", ann())}); !errors.Is(err, down) || f.idx.commits != 1 {
		t.Errorf("failure of the index: %v after %d commits, want it at once", err, f.idx.commits)
	}
}

// A batch costs one memo read and one write of links and memos, whatever
// its size; a replay costs the same two and no index commit.
func TestIndexResolverStoreRoundTrips(t *testing.T) {
	f := newFixture(t)
	var changes []contact.Change
	for i := range 20 {
		changes = append(changes, upsert("crm", fmt.Sprint("c-", i), contact.Values{contact.Email: fmt.Sprintf("p%d@mail.net", i)}))
	}
	f.resolve(t, changes...)
	f.resolve(t, changes...)
	if f.store.trips != 4 {
		t.Errorf("two batches: %d store round trips, want 4", f.store.trips)
	}
}

func TestRecordIDIsUnambiguous(t *testing.T) {
	pairs := [][2][2]string{
		{{"online/web", "0001"}, {"online", "web/0001"}},
		{{"a%2Fb", "c"}, {"a/b", "c"}},
		{{"a", "%2F"}, {"a%2F", ""}},
	}
	for _, p := range pairs {
		a, b := matcher.RecordID(p[0][0], p[0][1]), matcher.RecordID(p[1][0], p[1][1])
		if a == b {
			t.Errorf("%q and %q share record id %q", p[0], p[1], a)
		}
	}
	if got := matcher.RecordID("offline", "OFF-1/x"); got != "offline/OFF-1/x" {
		t.Errorf("usual record id changed: %q", got)
	}
	if got := matcher.RecordID("online/web", "0001"); !strings.HasPrefix(got, "online%2Fweb/") {
		t.Errorf("system's slash not escaped: %q", got)
	}
}
