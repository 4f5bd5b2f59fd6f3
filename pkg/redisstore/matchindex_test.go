package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
)

// indexHarness runs one scenario against one index and records everything
// the index answered, so the answers of MemIndex and MatchIndex can be
// compared step by step.
type indexHarness struct {
	t          *testing.T
	ctx        context.Context
	idx        match.Index
	transcript []any
}

func (h *indexHarness) lookup(qs ...match.Query) []match.Found {
	h.t.Helper()
	found, err := h.idx.Lookup(h.ctx, qs)
	if err != nil {
		h.t.Fatalf("lookup: %v", err)
	}
	h.transcript = append(h.transcript, found)
	return found
}

// commit applies writes and returns each outcome: ok, conflict or error.
func (h *indexHarness) commit(ws ...match.Write) []string {
	h.t.Helper()
	errs, err := h.idx.Commit(h.ctx, ws)
	if err != nil {
		h.t.Fatalf("commit: %v", err)
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		switch {
		case e == nil:
			out[i] = "ok"
		case errors.Is(e, match.ErrConflict):
			out[i] = "conflict"
		default:
			out[i] = "error"
		}
	}
	h.transcript = append(h.transcript, out)
	return out
}

func (h *indexHarness) wantCommit(want string, ws ...match.Write) {
	h.t.Helper()
	if got := strings.Join(h.commit(ws...), ","); got != want {
		h.t.Fatalf("commit outcomes %s, want %s", got, want)
	}
}

// matchAll runs records through a matcher batch and records the verdicts.
func (h *indexHarness) matchAll(m *match.Matcher, ins []match.Incoming) []match.Result {
	h.t.Helper()
	res, err := m.MatchBatch(h.ctx, h.idx, ins)
	if err != nil {
		h.t.Fatalf("match batch: %v", err)
	}
	for _, r := range res {
		h.transcript = append(h.transcript, fmt.Sprintf("%s %s %s %s", r.RecordID, r.Decision, r.PersonID, r.Explanation))
	}
	return res
}

func rec(given, family string) match.Record { return match.Record{Given: given, Family: family} }

// create is a write creating person pid with record rid under keys at the
// given versions.
func create(pid, rid string, r match.Record, keys []string, versions []int64, terms ...string) match.Write {
	return match.Write{PersonID: pid, NewPerson: true, Member: match.Member{RecordID: rid, Record: r},
		Keys: keys, Terms: terms, KeyVersions: versions}
}

// link is a write adding record rid (owned by expect) to existing person pid.
func link(pid, expect, rid string, r match.Record, keys []string, terms ...string) match.Write {
	return match.Write{PersonID: pid, Member: match.Member{RecordID: rid, Record: r},
		Keys: keys, Terms: terms, KeyVersions: anyVersions(len(keys)), ExpectPerson: expect}
}

func anyVersions(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = match.AnyVersion
	}
	return v
}

func ks(keys ...string) []string { return keys }
func vs(v ...int64) []int64      { return v }

func personIDs(f match.Found) []string {
	var out []string
	for _, p := range f.Persons {
		out = append(out, p.ID)
	}
	return out
}

func memberIDs(p match.Person) []string {
	var out []string
	for _, m := range p.Members {
		out = append(out, m.RecordID)
	}
	return out
}

// indexScenario is one behaviour of the consistency contract; each runs
// against MemIndex and MatchIndex, and both must answer alike.
type indexScenario struct {
	name string
	// keyCap overrides match.KeyCap (nil: default).
	keyCap func(string) int
	run    func(h *indexHarness)
}

var indexScenarios = []indexScenario{
	{
		name: "create then look up",
		run: func(h *indexHarness) {
			h.wantCommit("ok", create("p1", "a/1", rec("ann", "lee"), ks("nm:1", "dob:1"), vs(0, 0), "tf:x"))
			f := h.lookup(
				match.Query{RecordID: "b/1", Keys: ks("nm:1", "dob:1", "em:1"), Terms: []string{"tf:x", "tf:y"}},
				match.Query{RecordID: "a/1"},
				match.Query{})[0]
			want := match.Found{
				Keys:         []match.KeyState{{Version: 1, Persons: 1}, {Version: 1, Persons: 1}, {}},
				Persons:      []match.Person{{ID: "p1", HitKeys: []int{0, 1}, Members: []match.Member{{RecordID: "a/1", Record: rec("ann", "lee")}}}},
				TermCounts:   []int64{1, 0},
				TotalRecords: 1,
			}
			if !reflect.DeepEqual(f, want) {
				h.t.Errorf("found %+v\nwant  %+v", f, want)
			}
			known := h.lookup(match.Query{RecordID: "a/1"})[0]
			if known.KnownPerson != "p1" || len(known.Persons) != 1 || known.Persons[0].HitKeys != nil {
				h.t.Errorf("known record: %+v", known)
			}
		},
	},
	{
		name: "stale create conflicts and applies nothing",
		run: func(h *indexHarness) {
			h.wantCommit("ok", create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0), "tf:x"))
			h.wantCommit("conflict", create("p2", "b/1", rec("ann", "lee"), ks("nm:1", "dob:2"), vs(0, 0), "tf:x"))
			f := h.lookup(match.Query{RecordID: "b/1", Keys: ks("nm:1", "dob:2"), Terms: []string{"tf:x"}})[0]
			if f.KnownPerson != "" || !slices.Equal(personIDs(f), []string{"p1"}) || f.Keys[1] != (match.KeyState{}) ||
				f.TotalRecords != 1 || f.TermCounts[0] != 1 {
				h.t.Errorf("after a stale create: %+v", f)
			}
			// The same create at the current versions goes through.
			h.wantCommit("ok", create("p2", "b/1", rec("ann", "lee"), ks("nm:1", "dob:2"), vs(1, 0), "tf:x"))
		},
	},
	{
		name: "replaying an applied write conflicts on its record",
		run: func(h *indexHarness) {
			w := create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0))
			h.wantCommit("ok,conflict", w, w)
			h.wantCommit("conflict", w)
			l := link("p1", "", "b/1", rec("ann", "lee"), ks("nm:1"))
			h.wantCommit("ok", l)
			h.wantCommit("conflict", l)
			f := h.lookup(match.Query{Keys: ks("nm:1")})[0]
			if f.TotalRecords != 2 || f.Keys[0].Version != 2 || len(f.Persons) != 1 || len(f.Persons[0].Members) != 2 {
				h.t.Errorf("after replays: %+v", f)
			}
		},
	},
	{
		name: "person existence is checked",
		run: func(h *indexHarness) {
			// A link to a person that does not exist conflicts and leaves
			// the record unclaimed.
			h.wantCommit("conflict", link("p9", "", "b/1", rec("bo", "li"), ks("nm:2")))
			if f := h.lookup(match.Query{RecordID: "b/1", Keys: ks("nm:2")})[0]; f.KnownPerson != "" || f.Keys[0] != (match.KeyState{}) {
				h.t.Errorf("failed link left traces: %+v", f)
			}
			h.wantCommit("conflict,ok", link("p9", "", "b/1", rec("bo", "li"), ks("nm:2")), // still missing
				create("p9", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0)))
			h.wantCommit("ok", link("p9", "", "b/1", rec("bo", "li"), ks("nm:2")))
		},
	},
	{
		name: "create of an existing person conflicts",
		run: func(h *indexHarness) {
			h.wantCommit("ok", create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0)))
			h.wantCommit("conflict", create("p1", "a/2", rec("ann", "lee"), ks("nm:3"), vs(0)))
			h.wantCommit("conflict", link("p1", "", "a/1", rec("ann", "lee"), ks("nm:1")))
		},
	},
	{
		name: "writes of one commit see the previous ones",
		run: func(h *indexHarness) {
			h.wantCommit("ok,ok,ok,conflict,ok",
				create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0), "tf:x"),
				link("p1", "", "b/1", rec("anne", "lee"), ks("nm:1", "em:1"), "tf:x"),
				// Counts the two additions under nm:1 above.
				create("p3", "c/1", rec("ann", "leigh"), ks("nm:1", "dob:1"), vs(2, 0)),
				// Decided before them: stale.
				create("p4", "d/1", rec("ann", "lea"), ks("nm:1"), vs(0)),
				// Independent of everything above.
				create("p5", "e/1", rec("zed", "zu"), ks("nm:9"), vs(0)),
			)
			f := h.lookup(match.Query{Keys: ks("nm:1", "em:1"), Terms: []string{"tf:x"}})[0]
			if !slices.Equal(personIDs(f), []string{"p1", "p3"}) || f.Keys[0].Version != 3 || f.Keys[0].Persons != 2 ||
				f.TermCounts[0] != 2 || f.TotalRecords != 4 {
				h.t.Errorf("found %+v", f)
			}
			if got := memberIDs(f.Persons[0]); !slices.Equal(got, []string{"a/1", "b/1"}) {
				h.t.Errorf("p1 members %v", got)
			}
		},
	},
	{
		name: "a write depending on a conflicting one conflicts",
		run: func(h *indexHarness) {
			h.wantCommit("conflict,conflict,conflict",
				create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(5)),
				link("p1", "", "b/1", rec("ann", "lee"), ks("nm:1")),
				create("p3", "c/1", rec("ann", "lee"), ks("nm:1"), vs(2)),
			)
			if f := h.lookup(match.Query{Keys: ks("nm:1")})[0]; f.TotalRecords != 0 || len(f.Persons) != 0 {
				h.t.Errorf("found %+v", f)
			}
		},
	},
	{
		name: "a known record is refreshed, not counted again",
		run: func(h *indexHarness) {
			h.wantCommit("ok,ok",
				create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0), "tf:x"),
				link("p1", "", "b/1", rec("ann", "lee"), ks("nm:1"), "tf:x"))
			newer := match.Record{Given: "ann", Family: "lee", EmailKey: "ann@lee.net"}
			h.wantCommit("ok", link("p1", "p1", "a/1", newer, ks("nm:1", "em:7"), "tf:x"))
			f := h.lookup(match.Query{RecordID: "a/1", Keys: ks("nm:1", "em:7"), Terms: []string{"tf:x"}})[0]
			if f.KnownPerson != "p1" || f.TotalRecords != 2 || f.TermCounts[0] != 2 ||
				f.Keys[0].Version != 3 || f.Keys[0].Persons != 1 || f.Keys[1].Version != 1 {
				h.t.Errorf("found %+v", f)
			}
			// The refreshed member moves to the end.
			if p := f.Persons[0]; !slices.Equal(memberIDs(p), []string{"b/1", "a/1"}) || p.Members[1].Record != newer {
				h.t.Errorf("members %+v", p.Members)
			}
			// Expecting the wrong owner conflicts.
			h.wantCommit("conflict", link("p1", "p2", "a/1", newer, ks("nm:1")))
		},
	},
	{
		name:   "a key past its cap turns generic",
		keyCap: func(string) int { return 2 },
		run: func(h *indexHarness) {
			office := "em:office"
			h.wantCommit("ok", create("p1", "a/1", rec("ann", "lee"), ks(office, "nm:1"), vs(0, 0)))
			h.wantCommit("ok", create("p2", "a/2", rec("bo", "li"), ks(office, "nm:2"), vs(1, 0)))
			h.wantCommit("ok", create("p3", "a/3", rec("cy", "wu"), ks(office, "nm:3"), vs(2, 0)))
			f := h.lookup(match.Query{Keys: ks(office, "nm:3")})[0]
			if f.Keys[0] != (match.KeyState{Version: 2, Persons: 3, Generic: true}) {
				h.t.Errorf("office key %+v, want generic", f.Keys[0])
			}
			if !slices.Equal(personIDs(f), []string{"p3"}) || !slices.Equal(f.Persons[0].HitKeys, []int{1}) {
				h.t.Errorf("generic key proposed candidates: %+v", f.Persons)
			}
			// Later writes leave a generic key alone.
			h.wantCommit("ok", create("p4", "a/4", rec("di", "xu"), ks(office), anyVersions(1)))
			h.wantCommit("ok", link("p1", "", "a/5", rec("ann", "lee"), ks(office)))
			if f := h.lookup(match.Query{Keys: ks(office)})[0]; f.Keys[0] != (match.KeyState{Version: 2, Persons: 3, Generic: true}) || f.Persons != nil {
				h.t.Errorf("office key after more writes: %+v", f)
			}
		},
	},
	{
		name: "moving a record empties its old person",
		run: func(h *indexHarness) {
			h.wantCommit("ok,ok",
				create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0)),
				create("p2", "b/1", rec("bo", "li"), ks("nm:2"), vs(0)))
			h.wantCommit("ok", link("p2", "p1", "a/1", rec("ann", "lee"), ks("nm:1")))
			f := h.lookup(match.Query{RecordID: "a/1", Keys: ks("nm:1", "nm:2")})[0]
			if f.KnownPerson != "p2" || !slices.Equal(personIDs(f), []string{"p2"}) || f.Keys[0].Persons != 2 || f.TotalRecords != 2 {
				h.t.Errorf("after the move: %+v", f)
			}
			if got := memberIDs(f.Persons[0]); !slices.Equal(got, []string{"b/1", "a/1"}) {
				h.t.Errorf("p2 members %v", got)
			}
			// The emptied person is gone: links to it conflict.
			h.wantCommit("conflict", link("p1", "", "c/1", rec("ann", "lee"), ks("nm:1")))
		},
	},
	{
		name: "a refresh is checked against the record's owner",
		run: func(h *indexHarness) {
			h.wantCommit("ok,ok,ok",
				create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0)),
				link("p1", "", "a/2", rec("ann", "lee"), ks("nm:1")),
				create("p2", "b/1", rec("bo", "li"), ks("nm:2"), vs(0)))
			h.wantCommit("ok", link("p2", "p1", "a/1", rec("ann", "lee"), ks("nm:1")))
			// p1 still exists (a/2), but no longer holds a/1: its refresh
			// conflicts and changes no key (the transcript compares the
			// versions with MemIndex).
			h.wantCommit("conflict", link("p1", "p1", "a/1", rec("ann", "lee"), ks("nm:1", "nm:2")))
			h.lookup(match.Query{RecordID: "a/1", Keys: ks("nm:1", "nm:2")})
			// The holder's refresh bumps both keys, one of which it was not
			// under yet.
			h.wantCommit("ok", link("p2", "p2", "a/1", rec("ann", "lee"), ks("nm:1", "nm:3")))
			h.lookup(match.Query{RecordID: "a/1", Keys: ks("nm:1", "nm:2", "nm:3")})
		},
	},
	{
		name: "invalid writes are errors, the others still apply",
		run: func(h *indexHarness) {
			bad := create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0, 0))
			noPerson := create("", "a/2", rec("ann", "lee"), ks("nm:2"), vs(0))
			h.wantCommit("error,error,ok", bad, noPerson, create("p3", "a/3", rec("cy", "wu"), ks("nm:3"), vs(0)))
		},
	},
	{
		name: "the matcher decides alike on both",
		run: func(h *indexHarness) {
			m, err := match.NewMatcher(match.BaseModel(), match.Options{})
			if err != nil {
				h.t.Fatal(err)
			}
			base := match.Record{Given: "robert", Family: "heidrich", DOB: "19440910", HouseNumber: "49",
				Street: "degraves cres", AddressLine2: "wonga sq", Locality: "samford", Region: "nsw", Postcode: "6104"}
			var ins []match.Incoming
			for i := range 40 {
				r := base
				r.Given = []string{"robert", "robret", "bob", "olivia", "oliiva"}[i%5]
				if i%5 >= 3 {
					r.Family, r.DOB, r.Street = "noack", "19661109", "endeavour st"
				}
				r.HouseNumber = fmt.Sprint(40 + i%3)
				ins = append(ins, match.Incoming{RecordID: fmt.Sprintf("s/%d", i), Record: r})
			}
			ins = append(ins, ins[3]) // the same record twice in a batch
			first := h.matchAll(m, ins[:25])
			h.matchAll(m, ins[25:])
			again := h.matchAll(m, ins[:10])
			for i, r := range again {
				if first[i].Decision == contact.DecisionAmbiguous {
					continue // held for review, not indexed
				}
				if r.Decision != contact.DecisionKnown || r.PersonID != first[i].PersonID {
					h.t.Errorf("re-match of %s: %s %s, first %s", r.RecordID, r.Decision, r.PersonID, first[i].PersonID)
				}
			}
			var qs []match.Query
			for _, in := range ins {
				qs = append(qs, m.Query(in))
			}
			h.lookup(qs...)
		},
	},
}

// newRedisIndex returns a MatchIndex under a fresh prefix, whose keys are
// deleted when the test ends.
func newRedisIndex(t *testing.T, rdb redis.UniversalClient, keyCap func(string) int) (*MatchIndex, Keys) {
	keys := Keys{Prefix: testenv.Unique("t")}
	t.Cleanup(func() {
		ctx := context.Background()
		all, err := scanKeys(ctx, rdb, keys.p()+":*")
		if err == nil && len(all) > 0 {
			err = rdb.Unlink(ctx, all...).Err() // one server: keys of any slot
		}
		if err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	return NewMatchIndexWithOptions(rdb, keys, MatchIndexOptions{KeyCap: keyCap}), keys
}

func TestIndexScenarios(t *testing.T) {
	rdb, real := testenv.Redis(t)
	t.Logf("real redis: %v", real)
	for _, sc := range indexScenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx := testenv.Context(t, time.Minute)
			keyCap := sc.keyCap
			if keyCap == nil {
				keyCap = match.KeyCap
			}
			var transcripts [2][]any
			for i, name := range []string{"mem", "redis"} {
				t.Run(name, func(t *testing.T) {
					var idx match.Index = match.NewMemIndexWithCap(keyCap)
					if name == "redis" {
						idx, _ = newRedisIndex(t, rdb, keyCap)
					}
					h := &indexHarness{t: t, ctx: ctx, idx: idx}
					sc.run(h)
					transcripts[i] = h.transcript
				})
			}
			mem, red := transcripts[0], transcripts[1]
			if len(mem) != len(red) {
				t.Fatalf("mem answered %d steps, redis %d", len(mem), len(red))
			}
			for i := range mem {
				if !reflect.DeepEqual(mem[i], red[i]) {
					t.Errorf("step %d differs:\nmem   %+v\nredis %+v", i, mem[i], red[i])
				}
			}
		})
	}
}

// TestIndexLookupRoundTrips checks that a whole batch is looked up in two
// round trips however many queries it has.
func TestIndexLookupRoundTrips(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	idx, _ := newRedisIndex(t, rdb, nil)
	var writes []match.Write
	var qs []match.Query
	for i := range 50 {
		k := fmt.Sprintf("nm:%d", i%7)
		writes = append(writes, link("p0", "", fmt.Sprintf("a/%d", i), rec("ann", "lee"), ks(k)))
		qs = append(qs, match.Query{RecordID: fmt.Sprintf("a/%d", i), Keys: ks(k, "dob:1"), Terms: []string{"tf:x"}})
	}
	writes[0] = create("p0", "a/0", rec("ann", "lee"), ks("nm:0"), vs(0))
	errs, err := idx.Commit(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("write %d: %v", i, e)
		}
	}
	counter := &countingHook{}
	rdb.AddHook(counter)
	defer counter.stop()
	found, err := idx.Lookup(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if n := counter.pipelines.Load(); n != 2 || counter.singles.Load() != 0 {
		t.Errorf("lookup of %d queries took %d pipelines and %d single commands, want 2 and 0", len(qs), n, counter.singles.Load())
	}
	for i, f := range found {
		if f.KnownPerson != "p0" || len(f.Persons) != 1 || len(f.Persons[0].Members) != 50 {
			t.Fatalf("query %d: %+v", i, f)
		}
	}
}

// TestIndexCrashSafety kills a creation (and a link) after each of its
// steps, as a process dying would, and redoes the record: the redo must end
// with one complete person, and the leftover locks must carry a TTL. A write
// that died leaves its record's owner without a fingerprint (so that the
// matcher's resolver does not take it as indexed), and the redo seals it.
// Unordered is the index as it runs on a cluster, where the seal is a step
// of its own.
func TestIndexCrashSafety(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	m, err := match.NewMatcher(match.BaseModel(), match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	robert := match.Record{Given: "robert", Family: "heidrich", DOB: "19440910", HouseNumber: "49",
		Street: "degraves cres", Locality: "samford", Postcode: "6104"}
	dup := robert
	dup.Given = "robret"
	for _, step := range []string{"locked", "member", "owner", "keys unordered"} {
		for _, what := range []string{"create", "link"} {
			t.Run(what+" dies after "+step, func(t *testing.T) {
				step, unordered := strings.CutSuffix(step, " unordered")
				ctx := testenv.Context(t, time.Minute)
				idx, keys := newRedisIndex(t, rdb, nil)
				first := match.Incoming{RecordID: "a/1", Record: robert}
				second := match.Incoming{RecordID: "b/1", Record: dup}
				victim := first
				if what == "link" {
					if _, err := m.Match(ctx, idx, first); err != nil {
						t.Fatal(err)
					}
					victim = second
				}
				crashed := NewMatchIndex(rdb, keys)
				crashed.ordered = !unordered
				crashed.failpoint = func(s string) error {
					if s == step {
						return errors.New("killed")
					}
					return nil
				}
				if _, err := m.Match(ctx, crashed, victim); err == nil {
					t.Fatal("the simulated crash did not happen")
				}
				// A link is complete after its "owner" step (its keys are
				// in that step's pipeline, and so is its seal but on a
				// cluster); nothing else is.
				complete := what == "link" && step == "owner"
				if _, fp := parseOwner(rdb.Get(ctx, keys.recordOwner(victim.RecordID)).Val()); fp != "" && !complete {
					t.Errorf("a write that died left its record sealed with fingerprint %q", fp)
				}
				// Locks left behind expire; we let them go now instead
				// of waiting for the TTL.
				locks, err := scanKeys(ctx, rdb, keys.p()+":*:lock")
				if err != nil {
					t.Fatal(err)
				}
				if what == "create" && step != "keys" && len(locks) == 0 {
					t.Error("a creation that died holds no locks")
				}
				for _, l := range locks {
					ttl, err := rdb.PTTL(ctx, l).Result()
					if err != nil || ttl <= 0 || ttl > idx.lockTTL {
						t.Errorf("lock %s has TTL %v (%v), want (0, %v]", l, ttl, err, idx.lockTTL)
					}
					rdb.Del(ctx, l)
				}

				redo, err := m.Match(ctx, idx, victim)
				if err != nil {
					t.Fatalf("redo: %v", err)
				}
				want := match.DefaultPersonID("a/1")
				if redo.PersonID != want {
					t.Fatalf("redo resolved to %s (%s), want %s", redo.PersonID, redo.Explanation, want)
				}
				// The person is complete: a third record finds it
				// through every key of the victim's record.
				third := match.Incoming{RecordID: "c/1", Record: victim.Record}
				q := m.Query(third)
				f, err := idx.Lookup(ctx, []match.Query{q})
				if err != nil {
					t.Fatal(err)
				}
				if len(f[0].Persons) != 1 || f[0].Persons[0].ID != want || len(f[0].Persons[0].HitKeys) != len(q.Keys) {
					t.Fatalf("after the redo: %+v", f[0])
				}
				res, err := m.Match(ctx, idx, third)
				if err != nil || res.Decision != contact.DecisionLinked || res.PersonID != want {
					t.Fatalf("third record: %+v %v", res.Explanation, err)
				}
				if n := countPersons(t, rdb, keys); n != 1 {
					t.Errorf("%d persons, want 1", n)
				}
				wantOwner := sealedOwner(want, match.Fingerprint(victim.Record))
				if got := rdb.Get(ctx, keys.recordOwner(victim.RecordID)).Val(); got != wantOwner {
					t.Errorf("owner after the redo %q, want %q", got, wantOwner)
				}
				if locks, _ := scanKeys(ctx, rdb, keys.p()+":*:lock"); len(locks) != 0 {
					t.Errorf("locks left after the redo: %v", locks)
				}
			})
		}
	}
}

// TestIndexLockHeldByAnother checks the lock protocol directly: a create
// whose key is locked by another process conflicts, releases what it took,
// and goes through once the lock is gone.
func TestIndexLockHeldByAnother(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	idx, keys := newRedisIndex(t, rdb, nil)
	idx.lockWait = time.Millisecond
	if err := rdb.Set(ctx, keys.matchKeyLock("dob:1"), "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	w := create("p1", "a/1", rec("ann", "lee"), ks("nm:1", "dob:1", "em:1"), vs(0, 0, 0))
	errs, err := idx.Commit(ctx, []match.Write{w})
	if err != nil || !errors.Is(errs[0], match.ErrConflict) {
		t.Fatalf("create under another's lock: %v, %v", errs, err)
	}
	locks, _ := scanKeys(ctx, rdb, keys.p()+":*:lock")
	if !slices.Equal(locks, []string{keys.matchKeyLock("dob:1")}) {
		t.Errorf("locks after the conflict: %v", locks)
	}
	if owner, _ := idx.PersonOf(ctx, "a/1"); owner != "" {
		t.Errorf("conflicting create claimed its record for %s", owner)
	}
	// Our own token cannot release another's lock.
	if n, _ := unlockScript.Run(ctx, rdb, []string{keys.matchKeyLock("dob:1")}, "not-the-token").Int(); n != 0 {
		t.Error("unlock deleted a lock held by another token")
	}
	rdb.Del(ctx, keys.matchKeyLock("dob:1")) // the other process finished (or its lock expired)
	errs, err = idx.Commit(ctx, []match.Write{w})
	if err != nil || errs[0] != nil {
		t.Fatalf("create after the lock went: %v, %v", errs, err)
	}
	if owner, _ := idx.PersonOf(ctx, "a/1"); owner != "p1" {
		t.Errorf("record owner %q", owner)
	}
}

// TestIndexScriptsReloaded checks that losing the scripts (a restart or a
// SCRIPT FLUSH) is reported as retryable (a match.ErrConflict) and repaired.
// It runs on a miniredis of its own even when REDIS_ADDR is set: SCRIPT
// FLUSH on the shared server would pull the scripts from under the tests of
// other packages.
func TestIndexScriptsReloaded(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := testenv.Context(t, time.Minute)
	idx, _ := newRedisIndex(t, rdb, nil)
	w := create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0))
	if _, err := idx.Commit(ctx, []match.Write{w}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Skipf("SCRIPT FLUSH: %v", err)
	}
	w2 := link("p1", "", "b/1", rec("ann", "lee"), ks("nm:1"))
	if _, err := idx.Commit(ctx, []match.Write{w2}); !errors.Is(err, errScriptsReloaded) || !errors.Is(err, match.ErrConflict) {
		t.Fatalf("commit without scripts: %v", err)
	}
	errs, err := idx.Commit(ctx, []match.Write{w2})
	if err != nil || errs[0] != nil {
		t.Fatalf("commit after reload: %v %v", errs, err)
	}
}

func TestWaves(t *testing.T) {
	writes := []match.Write{
		create("p1", "a/1", match.Record{}, ks("k1"), vs(0)),
		create("p2", "a/2", match.Record{}, ks("k2"), vs(0)),
		link("p1", "", "a/3", match.Record{}, ks("k3")),      // shares p1 with 0
		create("p4", "a/4", match.Record{}, ks("k3"), vs(0)), // shares k3 with 2
		create("p5", "a/5", match.Record{}, ks("k5"), vs(0)),
		link("p2", "p1", "a/1", match.Record{}, nil), // shares a/1, p1, p2
	}
	got := waves(writes, []int{0, 1, 2, 3, 4, 5})
	want := [][]int{{0, 1, 4}, {2}, {3, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waves %v, want %v", got, want)
	}
	// Links under one key share a wave; a create under it waits for them,
	// and a link after that create waits for it.
	writes = []match.Write{
		link("p1", "", "b/1", match.Record{}, ks("pc:1", "nm:1")),
		link("p2", "", "b/2", match.Record{}, ks("pc:1")),
		link("p3", "", "b/3", match.Record{}, ks("pc:1", "nm:1")),
		create("p4", "b/4", match.Record{}, ks("pc:1"), vs(0)),
		link("p5", "", "b/5", match.Record{}, ks("pc:1")),
		link("p6", "", "b/6", match.Record{}, ks("nm:1")),
	}
	got = waves(writes, []int{0, 1, 2, 3, 4, 5})
	want = [][]int{{0, 1, 2, 5}, {3}, {4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waves %v, want %v", got, want)
	}
}

// TestIndexOwnerFingerprint checks the owner's seal: every applied write
// leaves its record sealed with the fingerprint of what it indexed, a
// refresh with other values reseals it, a move seals it for the new person,
// and an undone claim leaves it bare; Owners and Lookup read the person.
func TestIndexOwnerFingerprint(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			ctx := testenv.Context(t, time.Minute)
			idx, keys := newRedisIndex(t, rdb, nil)
			idx.ordered = !unordered
			owner := func(id string) string { return rdb.Get(ctx, keys.recordOwner(id)).Val() }
			sealed := func(w match.Write) string {
				return sealedOwner(w.PersonID, match.Fingerprint(w.Member.Record))
			}
			commit := func(ws ...match.Write) {
				t.Helper()
				errs, err := idx.Commit(ctx, ws)
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range errs {
					if e != nil {
						t.Fatalf("write %d: %v", i, e)
					}
				}
			}
			c := create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0))
			l := link("p1", "", "a/2", rec("ann", "lee"), ks("nm:1"))
			commit(c, l)
			if owner("a/1") != sealed(c) || owner("a/2") != sealed(l) {
				t.Fatalf("owners %q %q, want %q %q", owner("a/1"), owner("a/2"), sealed(c), sealed(l))
			}
			refresh := link("p1", "p1", "a/2", rec("anne", "lee"), ks("nm:1", "nm:2"))
			commit(refresh)
			if owner("a/2") != sealed(refresh) || sealed(refresh) == sealed(l) {
				t.Errorf("owner after a refresh %q, want %q", owner("a/2"), sealed(refresh))
			}
			if err := idx.Move(ctx, "p1", "p9", []string{"a/2"}); err != nil {
				t.Fatal(err)
			}
			if want := sealedOwner("p9", match.Fingerprint(refresh.Member.Record)); owner("a/2") != want {
				t.Errorf("owner after a move %q, want %q", owner("a/2"), want)
			}
			if ids, err := idx.Owners(ctx, []string{"a/1", "a/2", "a/3"}); err != nil || !slices.Equal(ids, []string{"p1", "p9", ""}) {
				t.Errorf("owners %v %v", ids, err)
			}
			f, err := idx.Lookup(ctx, []match.Query{{RecordID: "a/2"}})
			if err != nil || f[0].KnownPerson != "p9" {
				t.Errorf("lookup of a moved record: %+v %v", f, err)
			}
			// A link to a person that is gone undoes its claim: the
			// record is free again, with no seal.
			gone := link("p-gone", "", "a/3", rec("ann", "lee"), ks("nm:1"))
			if errs, err := idx.Commit(ctx, []match.Write{gone}); err != nil || !errors.Is(errs[0], match.ErrConflict) {
				t.Fatalf("link to a missing person: %v %v", errs, err)
			}
			if v := owner("a/3"); v != "" {
				t.Errorf("owner after an undone claim %q", v)
			}
			bad := link("p|1", "", "a/4", rec("ann", "lee"), nil)
			if errs, err := idx.Commit(ctx, []match.Write{bad}); err != nil || errs[0] == nil {
				t.Errorf("a person id with a separator was accepted: %v %v", errs, err)
			}
		})
	}
}

// countingHook counts the pipelines and single commands a client sends.
type countingHook struct {
	pipelines, singles atomic.Int64
	off                atomic.Bool
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.off.Load() {
			h.singles.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.off.Load() {
			h.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

func (h *countingHook) stop() { h.off.Store(true) }

func scanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var out []string
	iter := rdb.Scan(ctx, 0, pattern, 10000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	slices.Sort(out)
	return out, iter.Err()
}

// countPersons counts the persons of an index (members hashes).
func countPersons(t testing.TB, rdb redis.UniversalClient, keys Keys) int {
	t.Helper()
	ps, err := scanKeys(context.Background(), rdb, keys.p()+":p:*:members")
	if err != nil {
		t.Fatal(err)
	}
	return len(ps)
}
