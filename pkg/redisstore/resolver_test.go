package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

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

// ann is the canonical form of one person's details, as ingest emits them.
func ann() contact.Values {
	return contact.Values{contact.GivenName: "Ann", contact.FamilyName: "Lee",
		contact.Email: "ann.lee@lee-family.net", contact.DateOfBirth: "1980-04-12", contact.Country: "AU"}
}

// backend is the Redis a test runs on: a client for the test's own reads
// and checks, and a way to open more clients to the same Redis, one per
// simulated matcher process.
type backend struct {
	rdb       redis.UniversalClient
	newClient func() redis.UniversalClient
	real      bool
}

// standalone is testenv's Redis: the server at REDIS_ADDR, or a miniredis.
func standalone(t testing.TB) backend {
	rdb, real := testenv.Redis(t)
	addr := rdb.(*redis.Client).Options().Addr
	return backend{rdb: rdb, real: real, newClient: func() redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}}
}

// cluster is the Redis Cluster at REDIS_CLUSTER_ADDRS (comma-separated seed
// nodes); tests using it are skipped without one. It checks what a single
// server cannot: a cluster rejects a script whose keys span slots
// (CROSSSLOT), and orders commands per slot only.
func cluster(t testing.TB) backend {
	seeds := os.Getenv("REDIS_CLUSTER_ADDRS")
	if seeds == "" {
		t.Skip("REDIS_CLUSTER_ADDRS is unset: no Redis Cluster to test on")
	}
	open := func() redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(seeds, ",")})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	rdb := open()
	if err := rdb.Ping(testenv.Context(t, 5*time.Second)).Err(); err != nil {
		t.Fatalf("redis cluster at %s: %v", seeds, err)
	}
	return backend{rdb: rdb, real: true, newClient: open}
}

// keysMatching lists the keys matching a pattern, on every master of a
// cluster.
func keysMatching(t testing.TB, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu  sync.Mutex
		out []string
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 10000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("no scan for %T", rdb)
	}
	if err != nil {
		t.Fatalf("scan %s: %v", pattern, err)
	}
	slices.Sort(out)
	return out
}

// freshKeys returns keys under a new prefix whose keys are deleted when the
// test ends (miniredis slows down as its key space grows).
func freshKeys(t testing.TB, rdb redis.UniversalClient) redisstore.Keys {
	keys := redisstore.Keys{Prefix: testenv.Unique("t")}
	t.Cleanup(func() { dropPrefix(t, rdb, keys.Prefix) })
	return keys
}

func dropPrefix(t testing.TB, rdb redis.UniversalClient, prefix string) {
	keys := keysMatching(t, rdb, prefix+":*")
	ctx := context.Background()
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 1000)]
		keys = keys[len(chunk):]
		p := rdb.Pipeline()
		for _, k := range chunk {
			p.Unlink(ctx, k) // one key per command: keys of many slots
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Errorf("clean up: %v", err)
			return
		}
	}
}

// personCount counts the persons in the index under keys.
func personCount(t testing.TB, rdb redis.UniversalClient, keys redisstore.Keys) int {
	t.Helper()
	return len(keysMatching(t, rdb, keys.Prefix+":p:*:members"))
}

// snapshot reads every key under a prefix with its contents, to show that
// something changed nothing.
func snapshot(t testing.TB, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range keysMatching(t, rdb, prefix+":*") {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "set":
			var members []string
			members, err = rdb.SMembers(ctx, k).Result()
			slices.Sort(members)
			v = members
		default:
			t.Fatalf("key %s of type %s", k, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprintf("%s %v", typ, v)
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, fmt.Sprintf("%s: %q -> %q", k, before[k], v))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k+": deleted")
		}
	}
	slices.Sort(out)
	return out
}

// resolverUnderTest is the matcher's resolution policy on the Redis
// adapters, as the app wires it, with its index at hand for checks.
type resolverUnderTest struct {
	*matcher.IndexResolver
	idx *redisstore.MatchIndex
}

func (r resolverUnderTest) Index() *redisstore.MatchIndex { return r.idx }

func newResolver(rdb redis.UniversalClient, keys redisstore.Keys, m *match.Matcher) resolverUnderTest {
	idx := redisstore.NewMatchIndex(rdb, keys)
	return resolverUnderTest{IndexResolver: matcher.NewIndexResolver(m, idx, redisstore.NewDecisionStore(rdb, keys, 0)), idx: idx}
}

func totalRecords(t testing.TB, ctx context.Context, r resolverUnderTest) int64 {
	t.Helper()
	f, err := r.Index().Lookup(ctx, []match.Query{{}})
	if err != nil {
		t.Fatal(err)
	}
	return f[0].TotalRecords
}

func resolve(t testing.TB, ctx context.Context, r resolverUnderTest, changes ...contact.Change) []matcher.Resolution {
	t.Helper()
	res, err := r.Resolve(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(changes) {
		t.Fatalf("%d resolutions for %d changes", len(res), len(changes))
	}
	return res
}

// person returns the details of person e of a population of different
// people (distinct names for e < 50, distinct birth dates, addresses and
// emails).
func person(e int) contact.Values {
	given := []string{"Amelia", "Boris", "Chen", "Dmitri", "Esther", "Farah", "Gustav", "Hana", "Ivan", "Jonah"}
	family := []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak"}
	streets := []string{"Harbour Street", "Quarry Road", "Wattle Avenue", "Kingfisher Close", "Orchard Lane", "Beacon Parade", "Sturt Terrace", "Marlin Way"}
	towns := []string{"Newtown", "Ballarat", "Dubbo", "Mildura", "Katoomba"}
	g, f := given[e%len(given)], family[(e/len(given))%len(family)]
	return contact.Values{
		contact.GivenName: g, contact.FamilyName: f,
		contact.DateOfBirth:  fmt.Sprintf("19%02d-%02d-%02d", 40+e%50, 1+e%12, 1+(7*e)%28),
		contact.AddressLine1: fmt.Sprintf("%d %s", 3+7*e, streets[e%len(streets)]), contact.Locality: towns[(e/len(streets))%len(towns)],
		contact.Postcode: fmt.Sprint(2042 + 37*e), contact.Country: "AU",
		contact.Email: strings.ToLower(g+"."+f) + "@mail.net",
	}
}

// contacts returns n different people, each with an offline record and,
// for every other one, an online record with small differences.
func contacts(n int) []contact.Change {
	var out []contact.Change
	for e := range n {
		v := person(e)
		out = append(out, upsert("offline", fmt.Sprintf("OFF-%d", e), v))
		if e%2 == 0 {
			w := v.Clone()
			delete(w, contact.AddressLine1)
			w[contact.Phone] = fmt.Sprintf("+6129%07d", 1234000+17*e)
			out = append(out, upsert("online", fmt.Sprintf("web-%d", e), w))
		}
	}
	return out
}

// resolverTests run on testenv's Redis (TestMatchResolver) and on a Redis
// Cluster (TestMatchResolverOnCluster).
var resolverTests = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"ConcurrentMatchOrCreate", testConcurrentMatchOrCreate},
	{"ConcurrentManyPersons", testConcurrentManyPersons},
	{"ReplayIsIdempotent", testReplayIsIdempotent},
	{"StrangersSharingGenericValues", testStrangersSharingGenericValues},
	{"LinksDeletesAndEmptyRecords", testLinksDeletesAndEmptyRecords},
	{"Ambiguous", testAmbiguous},
	{"CraftedIDsDoNotCollide", testCraftedIDsDoNotCollide},
}

func TestMatchResolver(t *testing.T) {
	b := standalone(t)
	t.Logf("real redis: %v", b.real)
	for _, tt := range resolverTests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b) })
	}
}

func TestMatchResolverOnCluster(t *testing.T) {
	b := cluster(t)
	for _, tt := range resolverTests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, b) })
	}
}

// testConcurrentMatchOrCreate: eight matchers, each with its own client,
// receive records of the same new person at the same moment. Exactly one
// may create the person; the others must link to it. Repeated to give races
// many chances.
func testConcurrentMatchOrCreate(t *testing.T, b backend) {
	ctx := testenv.Context(t, 5*time.Minute)
	m := defaultMatcher(t)
	const workers = 8
	rounds := 50
	if !b.real {
		rounds = 20 // miniredis runs the scripts slowly under -race
	}
	clients := make([]redis.UniversalClient, workers)
	for i := range clients {
		clients[i] = b.newClient()
	}
	for round := range rounds {
		keys := freshKeys(t, b.rdb)
		resolvers := make([]resolverUnderTest, workers)
		for i := range resolvers {
			resolvers[i] = newResolver(clients[i], keys, m)
		}
		results := make([]matcher.Resolution, workers)
		errs := make([]error, workers)
		start := make(chan struct{})
		var done sync.WaitGroup
		for i := range workers {
			done.Add(1)
			go func() {
				defer done.Done()
				<-start
				res, err := resolvers[i].Resolve(ctx, []contact.Change{upsert(fmt.Sprintf("sys%d", i), fmt.Sprintf("r%d", round), ann())})
				if err == nil {
					results[i] = res[0]
				}
				errs[i] = err
			}()
		}
		close(start)
		done.Wait()

		decisions := map[contact.Decision]int{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d worker %d: %v", round, i, err)
			}
			decisions[results[i].Match.Decision]++
			if results[i].Match.PersonID != results[0].Match.PersonID {
				t.Fatalf("round %d: one person resolved to several: %s and %s", round, results[0].Match.PersonID, results[i].Match.PersonID)
			}
		}
		if decisions[contact.DecisionNew] != 1 || decisions[contact.DecisionLinked] != workers-1 {
			t.Fatalf("round %d: decisions %v, want 1 new and %d linked", round, decisions, workers-1)
		}
		if n := personCount(t, b.rdb, keys); n != 1 {
			t.Fatalf("round %d: %d persons in the index, want 1", round, n)
		}
		person := results[0].Match.PersonID
		for i := range workers {
			if p, err := resolvers[0].Index().PersonOf(ctx, matcher.RecordID(fmt.Sprintf("sys%d", i), fmt.Sprintf("r%d", round))); err != nil || p != person {
				t.Fatalf("round %d: record of sys%d owned by %q (%v), want %s", round, i, p, err, person)
			}
		}
		links, err := b.rdb.HGetAll(ctx, keys.Links(person)).Result()
		if err != nil || len(links) != workers {
			t.Fatalf("round %d: person links %v (%v), want %d systems", round, links, err, workers)
		}
		dropPrefix(t, b.rdb, keys.Prefix)
	}
}

// testConcurrentManyPersons: eight matchers, each with its own client and
// system, each hold one record of every person of a population and resolve
// them in batches, each in its own order, all at once. Every person must end
// as exactly one person holding its eight records.
func testConcurrentManyPersons(t *testing.T, b backend) {
	ctx := testenv.Context(t, 5*time.Minute)
	m := defaultMatcher(t)
	keys := freshKeys(t, b.rdb)
	const workers, batch = 8, 5
	people := 40
	if !b.real {
		people = 12 // miniredis slows down with every key
	}
	results := make([][]matcher.Resolution, workers) // worker -> person -> resolution
	errs := make([]error, workers)
	start := make(chan struct{})
	var done sync.WaitGroup
	for w := range workers {
		r := newResolver(b.newClient(), keys, m)
		order := rand.New(rand.NewPCG(uint64(w), 7)).Perm(people)
		results[w] = make([]matcher.Resolution, people)
		done.Add(1)
		go func() {
			defer done.Done()
			<-start
			for i := 0; i < people; i += batch {
				es := order[i:min(i+batch, people)]
				changes := make([]contact.Change, len(es))
				for j, e := range es {
					changes[j] = upsert(fmt.Sprintf("sys%d", w), fmt.Sprintf("r%d", e), person(e))
				}
				res, err := r.Resolve(ctx, changes)
				if err != nil {
					errs[w] = err
					return
				}
				for j, e := range es {
					results[w][e] = res[j]
				}
			}
		}()
	}
	close(start)
	done.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	owner := map[string]int{} // person id -> person of the population
	for e := range people {
		id, news := results[0][e].Match.PersonID, 0
		for w := range workers {
			got := results[w][e].Match
			switch {
			case got.PersonID != id:
				t.Errorf("person %d: worker %d resolved it to %s, worker 0 to %s (%s)", e, w, got.PersonID, id, got.Explanation)
			case got.Decision == contact.DecisionNew:
				news++
			case got.Decision != contact.DecisionLinked:
				t.Errorf("person %d, worker %d: %s", e, w, got.Explanation)
			}
		}
		if news != 1 {
			t.Errorf("person %d was created %d times", e, news)
		}
		if other, ok := owner[id]; ok {
			t.Errorf("persons %d and %d merged into %s", other, e, id)
		}
		owner[id] = e
	}
	if n := personCount(t, b.rdb, keys); n != people {
		t.Errorf("%d persons in the index, want %d", n, people)
	}
}

// testReplayIsIdempotent: replaying the same events (a redo after a crash,
// a reprocessed partition) gives the same answers and changes nothing; the
// same records sent again as new events are known to their persons.
func testReplayIsIdempotent(t *testing.T, b backend) {
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	m := defaultMatcher(t)
	r := newResolver(b.rdb, keys, m)
	people := 40
	if !b.real {
		people = 16 // miniredis slows down with every key
	}
	changes := contacts(people)
	// An event twice in one batch is decided once.
	first := resolve(t, ctx, r, append(slices.Clone(changes), changes[1])...)
	if dup := first[len(changes)]; !reflect.DeepEqual(dup, first[1]) {
		t.Errorf("an event twice in a batch: %+v, then %+v", first[1], dup)
	}
	first = first[:len(changes)]
	persons, records := personCount(t, b.rdb, keys), totalRecords(t, ctx, r)
	if persons != people || records != int64(len(changes)) {
		t.Fatalf("%d persons, %d records after the first pass; want %d, %d", persons, records, people, len(changes))
	}
	for i, c := range changes {
		want := contact.DecisionNew
		if c.SourceSystem == "online" {
			want = contact.DecisionLinked
		}
		if first[i].Match.Decision != want {
			t.Errorf("%s/%s: %s", c.SourceSystem, c.SourceRecordID, first[i].Match.Explanation)
		}
		if c.SourceSystem == "online" && first[i].Match.PersonID != first[i-1].Match.PersonID {
			t.Errorf("%s/%s: not linked to its offline record: %s", c.SourceSystem, c.SourceRecordID, first[i].Match.Explanation)
		}
	}

	// The whole batch again, then each event alone through another
	// resolver on another client.
	before := snapshot(t, b.rdb, keys.Prefix)
	other := newResolver(b.newClient(), keys, m)
	again := resolve(t, ctx, r, changes...)
	for i, c := range changes {
		alone := resolve(t, ctx, other, c)[0]
		for _, res := range []matcher.Resolution{again[i], alone} {
			if !reflect.DeepEqual(res, first[i]) {
				t.Errorf("replay of %s: %+v\nfirst answer %+v", c.EventID, res, first[i])
			}
		}
	}
	if diff := diffSnapshots(before, snapshot(t, b.rdb, keys.Prefix)); len(diff) > 0 {
		t.Errorf("replays changed the index:\n%s", strings.Join(diff, "\n"))
	}

	// The same records as new events: known, no new person or record.
	for i, c := range changes {
		c.EventID += "-resent"
		if res := resolve(t, ctx, other, c)[0]; res.Match.Decision != contact.DecisionKnown || res.Match.PersonID != first[i].Match.PersonID {
			t.Errorf("%s resent: %s", c.SourceRecordID, res.Match.Explanation)
		}
	}
	if p, n := personCount(t, b.rdb, keys), totalRecords(t, ctx, r); p != persons || n != records {
		t.Errorf("after resending: %d persons, %d records; want %d, %d", p, n, persons, records)
	}
}

// testStrangersSharingGenericValues: an office phone and a placeholder
// birth date shared by many unrelated people link none of them.
func testStrangersSharingGenericValues(t *testing.T, b backend) {
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.rdb, keys, defaultMatcher(t))
	given := []string{"Amelia", "Boris", "Chen", "Dmitri", "Esther", "Farah", "Gustav", "Hana", "Ivan", "Jonah", "Kira", "Liam", "Mona", "Nils"}
	family := []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Silva", "Haddad"}
	var changes []contact.Change
	for i, g := range given {
		changes = append(changes, upsert("crm", fmt.Sprintf("c%d", i), contact.Values{
			contact.GivenName: g, contact.FamilyName: family[i%len(family)],
			contact.Phone: "+61293744000", contact.DateOfBirth: "1900-01-01",
			contact.Email: "noemail@none.com", contact.Country: "AU",
		}))
	}
	// One batch and one at a time must both keep them apart.
	for _, batch := range [][]contact.Change{changes[:7], changes[7:8], changes[8:9], changes[9:10], changes[10:11], changes[11:]} {
		for i, res := range resolve(t, ctx, r, batch...) {
			if res.Match.Decision != contact.DecisionNew {
				t.Errorf("%s: %s", batch[i].SourceRecordID, res.Match.Explanation)
			}
		}
	}
	if n := personCount(t, b.rdb, keys); n != len(given) {
		t.Errorf("%d persons for %d strangers", n, len(given))
	}
	// Past the cap (10 persons) the phone key is generic: it proposes no
	// candidates any more, and the explanation says so.
	last := resolve(t, ctx, r, upsert("crm", "late", contact.Values{contact.GivenName: "Otto", contact.FamilyName: "Berg",
		contact.Phone: "+61293744000", contact.DateOfBirth: "1900-01-01"}))[0]
	if last.Match.Decision != contact.DecisionNew || !strings.Contains(last.Match.Explanation, "generic=tel") || len(last.Match.Candidates) != 0 {
		t.Errorf("record sharing the office phone: %+v", last.Match)
	}
}

// testLinksDeletesAndEmptyRecords: the links of a person, records without
// matchable values, and deletes.
func testLinksDeletesAndEmptyRecords(t *testing.T, b backend) {
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.rdb, keys, defaultMatcher(t))

	// Links: the first record of a system stays the person's link there.
	res := resolve(t, ctx, r, upsert("offline", "OFF-1", ann()), upsert("online", "web-1", ann()), upsert("offline", "OFF-2", ann()))
	p := res[0].Match.PersonID
	if res[0].Match.Decision != contact.DecisionNew || res[1].Match.Decision != contact.DecisionLinked ||
		res[2].Match.Decision != contact.DecisionLinked || res[1].Match.PersonID != p || res[2].Match.PersonID != p {
		t.Fatalf("decisions: %+v", res)
	}
	wantLinks := map[string]string{"offline": "OFF-1", "online": "web-1"}
	for i := range res {
		if !maps.Equal(res[i].Links, wantLinks) {
			t.Errorf("resolution %d links %v, want %v", i, res[i].Links, wantLinks)
		}
	}
	if res[1].Match.Score < 0.99 || !strings.Contains(res[1].Match.Explanation, "linked(match)") || !slices.Equal(res[1].Match.Candidates, []string{p}) {
		t.Errorf("linked match: %+v", res[1].Match)
	}

	// A record with nothing to match on still gets a person, and keeps it
	// through its next event.
	consentOnly := upsert("online", "web-77", contact.Values{contact.DoNotEmail: "true"})
	first := resolve(t, ctx, r, consentOnly)[0]
	consentOnly.EventID += "-next"
	again := resolve(t, ctx, r, consentOnly)[0]
	if first.Match.Decision != contact.DecisionNew || first.Match.PersonID == p || first.Match.PersonID != match.DefaultPersonID("online/web-77") ||
		again.Match.Decision != contact.DecisionKnown || again.Match.PersonID != first.Match.PersonID {
		t.Errorf("record without matchable values: %+v then %+v", first.Match, again.Match)
	}
	if first.Links["online"] != "web-77" {
		t.Errorf("links %v", first.Links)
	}

	// Deletes: a known record resolves to its person; an unknown one to
	// the person it would have created, without entering the index; an
	// upsert and a delete in one batch agree.
	del := func(system, id string) contact.Change {
		c := upsert(system, id, nil)
		c.EventID, c.Op = "del-"+system+"-"+id, contact.OpDelete
		return c
	}
	res = resolve(t, ctx, r, del("online", "web-1"), del("offline", "NEVER-SEEN"), upsert("crm", "c-5", ann()), del("crm", "c-5"))
	if res[0].Match.Decision != contact.DecisionKnown || res[0].Match.PersonID != p ||
		res[0].Links["offline"] != "OFF-1" || res[0].Links["online"] != "web-1" || res[0].Links["crm"] != "c-5" {
		t.Errorf("delete of a known record: %+v", res[0])
	}
	if res[1].Match.Decision != contact.DecisionNew || res[1].Match.PersonID != match.DefaultPersonID("offline/NEVER-SEEN") || len(res[1].Links) != 0 {
		t.Errorf("delete of an unknown record: %+v", res[1])
	}
	if owner, _ := r.Index().PersonOf(ctx, "offline/NEVER-SEEN"); owner != "" {
		t.Errorf("deleted unknown record entered the index (person %s)", owner)
	}
	if res[2].Match.PersonID != p || res[3].Match.PersonID != p || res[3].Match.Decision != contact.DecisionKnown {
		t.Errorf("upsert then delete in one batch: %+v / %+v", res[2].Match, res[3].Match)
	}
	if _, err := r.Resolve(ctx, []contact.Change{{EventID: "x", SourceSystem: "online"}}); err == nil {
		t.Error("a change without a record id was resolved")
	}
}

// testAmbiguous: a record matching two persons is held for review with its
// candidates and explanation, and written nowhere; its replay is held again.
func testAmbiguous(t *testing.T, b backend) {
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.rdb, keys, defaultMatcher(t))
	// Two persons with the same details, made before this matcher (as a
	// migration would, without version checks).
	rec := match.FromValues(ann())
	for _, id := range []string{"p-old-1", "p-old-2"} {
		errs, err := r.Index().Commit(ctx, []match.Write{{PersonID: id, NewPerson: true,
			Member: match.Member{RecordID: "legacy/" + id, Record: rec}, Keys: match.Keys(rec), Terms: match.Terms(rec),
			KeyVersions: slices.Repeat([]int64{match.AnyVersion}, len(match.Keys(rec)))}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	ev := upsert("online", "web-5", ann())
	res := resolve(t, ctx, r, ev)[0]
	if m := res.Match; m.Decision != contact.DecisionAmbiguous || !slices.Equal(m.Candidates, []string{"p-old-1", "p-old-2"}) ||
		m.Score < 0.99 || res.Links != nil {
		t.Fatalf("record matching two persons: %+v", res)
	}
	// The explanation shows the reason, the keys that found the best
	// candidate, the field levels and the score.
	for _, want := range []string{"ambiguous(multiple_persons)", " p=", " keys=nm,", "above_link=2", "| given_name=exact:", " email=exact:", " prior="} {
		if !strings.Contains(res.Match.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, res.Match.Explanation)
		}
	}
	if owner, _ := r.Index().PersonOf(ctx, "online/web-5"); owner != "" {
		t.Errorf("ambiguous record was indexed to %s", owner)
	}
	if again := resolve(t, ctx, r, ev)[0]; !reflect.DeepEqual(again, res) {
		t.Errorf("replay of the ambiguous event: %+v, first %+v", again, res)
	}
}

// testCraftedIDsDoNotCollide: ids holding the separators of the key layout
// ("/", ":", "{", "}") neither link a stranger to someone else's person nor
// make a batch fail for good.
func testCraftedIDsDoNotCollide(t *testing.T, b backend) {
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	r := newResolver(b.rdb, keys, defaultMatcher(t))

	// System "online/web" + record "0001" is not system "online" + record
	// "web/0001".
	known := resolve(t, ctx, r, upsert("online", "web/0001", ann()))[0]
	stranger := resolve(t, ctx, r, upsert("online/web", "0001", person(3)))[0]
	if stranger.Match.Decision != contact.DecisionNew || stranger.Match.PersonID == known.Match.PersonID {
		t.Errorf("stranger online/web + 0001 resolved to %+v; the known record's person is %s", stranger.Match, known.Match.PersonID)
	}
	if stranger.Links["online/web"] != "0001" || len(stranger.Links) != 1 {
		t.Errorf("stranger's links %v", stranger.Links)
	}

	// The decision memo of event "e}" on record "x" is not the owner of
	// record "x}:ev:e": the second batch resolves instead of conflicting
	// forever.
	first := upsert("crm", "x", person(4))
	first.EventID = "e}"
	resolve(t, ctx, r, first)
	res, err := r.Resolve(ctx, []contact.Change{upsert("crm", "x}:ev:e", person(5))})
	if err != nil {
		t.Fatalf("batch with record x}:ev:e after event e} of record x: %v", err)
	}
	if m := res[0].Match; m.Decision != contact.DecisionNew || !strings.HasPrefix(m.PersonID, "p-") {
		t.Errorf("record x}:ev:e: %+v", m)
	}
}

// trips counts what a client sends: pipelines and single commands.
type trips struct{ pipelines, singles atomic.Int64 }

func (h *trips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.singles.Add(1); return next(ctx, cmd) }
}

func (h *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.pipelines.Add(1); return next(ctx, cmds) }
}

func (h *trips) total() int64 { return h.pipelines.Load() + h.singles.Load() }

// TestMatchResolverRoundTrips checks that a poll costs a fixed number of
// pipelines however many changes it holds: memos, lookup (2; the second
// only when candidates were found), commit (4 for a wave of creates, then 3
// for the wave of links to them), deletes' owners, links and memos.
func TestMatchResolverRoundTrips(t *testing.T) {
	b := standalone(t)
	ctx := testenv.Context(t, time.Minute)
	keys := freshKeys(t, b.rdb)
	client := b.newClient()
	r := newResolver(client, keys, defaultMatcher(t))
	resolve(t, ctx, r, upsert("crm", "warm-up", ann())) // loads the scripts
	h := &trips{}
	client.AddHook(h)
	for _, people := range []int{5, 20} {
		h.pipelines.Store(0)
		h.singles.Store(0)
		changes := contacts(people) // offline creates, online links to them
		del := upsert("crm", "gone", nil)
		del.Op = contact.OpDelete
		resolve(t, ctx, r, append(changes, del)...)
		if p, s := h.pipelines.Load(), h.singles.Load(); p > 1+2+4+3+1+1 || s != 0 {
			t.Errorf("%d changes: %d pipelines and %d single commands, want at most 12 and 0", len(changes)+1, p, s)
		}
		h.pipelines.Store(0)
		resolve(t, ctx, r, changes...) // replays: memos, then links
		if p, s := h.pipelines.Load(), h.singles.Load(); p != 2 || s != 0 {
			t.Errorf("replay of %d changes: %d pipelines and %d single commands, want 2 and 0", len(changes), p, s)
		}
		dropPrefix(t, b.rdb, keys.Prefix)
	}
}
