package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// Redis memory per person at a large number of persons: the pipeline run
// holds a few thousand persons, far too few to see how the index's layout
// scales, and pushing a million through Kafka would take the benchmark
// hours. So persons are seeded straight through the real stores
// (redisstore.MatchIndex's Commit, redisstore.DecisionStore's links), in
// large pipelined batches, and Redis's memory is measured after: the whole
// instance's used_memory before and after, and MEMORY USAGE of every key of
// the prefix by layout.

// SeedFigures is the Redis memory of one seeding run.
type SeedFigures struct {
	Persons     int
	Records     int // offline records, plus online records linked to 60 % of the persons
	Elapsed     time.Duration
	UsedBefore  int64 // INFO memory used_memory of the instance before seeding
	UsedAfter   int64
	Keys        int64
	KeysByKind  map[string]int64
	BytesByKind map[string]int64 // MEMORY USAGE (SAMPLES 0) summed per layout
	Encodings   map[string]map[string]int64
}

// Group is what a layout belongs to in the report: the identity index, the
// matcher's person links, the router's state, or memos.
func Group(kind string) string {
	switch {
	case kind == "p:memo" || kind == "mi:r:ev":
		return "memos"
	case kind == "p:state":
		return "router state"
	case kind == "p:links":
		return "links"
	}
	return "index"
}

// seedPerson is the i-th generated person's record: plausible and distinct
// people, with the sharing of values a donor file has (a few hundred given
// names, some thousands of surnames, dates of birth over 80 years, 10,000
// postcodes, household-free addresses), so blocking keys are shared as they
// would be.
func seedPerson(rng *rand.Rand, i int) match.Record {
	syll := []string{"ka", "lo", "mi", "ve", "ru", "sa", "to", "ne", "bi", "da", "go", "hu", "ja", "pe", "ri", "so", "ta", "wu", "ze", "fo"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		return b.String()
	}
	streets := []string{"st", "ave", "rd", "cres", "way", "pl", "dr", "ln"}
	cities := []string{"springfield", "madison", "austin", "boulder", "portland", "salem", "dover", "helena", "albany", "trenton"}
	dob := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(80*365))
	given := word(1) + word(1)[:1] + []string{"a", "o", "e", "i", "y"}[rng.IntN(5)] // ~500 given names
	return match.Record{
		Given:       given,
		Family:      word(3), // 8,000 surnames
		EmailKey:    fmt.Sprintf("%s.%d@mailbox.org", word(3), i),
		Phone:       fmt.Sprintf("+1217%07d", i%10_000_000),
		HouseNumber: fmt.Sprint(1 + rng.IntN(999)),
		Street:      word(2) + " " + streets[rng.IntN(len(streets))],
		Locality:    cities[rng.IntN(len(cities))],
		Region:      "il",
		Postcode:    fmt.Sprintf("6%04d", rng.IntN(10000)),
		DOB:         dob.Format("20060102"),
	}
}

// SeedPersons writes persons into the identity index under prefix, batch by
// batch (each one Commit: a create per person, then a link of its online
// record for 60 % of them, and the person's links), as the matcher would
// after deciding each record a new person or a link.
func SeedPersons(ctx context.Context, rdb redis.UniversalClient, prefix string, persons, batch int, logf func(string, ...any)) (int, error) {
	keys := redisstore.Keys{Prefix: prefix}
	idx := redisstore.NewMatchIndex(rdb, keys)
	store := redisstore.NewDecisionStore(rdb, keys, 0)
	rng := rand.New(rand.NewPCG(15, 1))
	records := 0
	start := time.Now()
	for from := 0; from < persons; from += batch {
		var writes []match.Write
		var links []matcher.Link
		for i := from; i < min(from+batch, persons); i++ {
			r := seedPerson(rng, i)
			offline := fmt.Sprintf("offline/OFF-%07d", i)
			pid := match.DefaultPersonID(offline)
			ks, terms := match.Keys(r), match.Terms(r)
			anyV := make([]int64, len(ks))
			for k := range anyV {
				anyV[k] = match.AnyVersion
			}
			writes = append(writes, match.Write{PersonID: pid, NewPerson: true, Member: match.Member{RecordID: offline, Record: r},
				Keys: ks, Terms: terms, KeyVersions: anyV})
			links = append(links, matcher.Link{PersonID: pid, System: "offline", RecordID: fmt.Sprintf("OFF-%07d", i)})
			if i%5 < 3 {
				online := r
				online.HouseNumber, online.Street = "", "" // an online account without the address lines
				oks := match.Keys(online)
				oany := make([]int64, len(oks))
				for k := range oany {
					oany[k] = match.AnyVersion
				}
				writes = append(writes, match.Write{PersonID: pid, Member: match.Member{RecordID: fmt.Sprintf("online/web-%07d", i), Record: online},
					Keys: oks, Terms: match.Terms(online), KeyVersions: oany})
				links = append(links, matcher.Link{PersonID: pid, System: "online", RecordID: fmt.Sprintf("web-%07d", i)})
			}
		}
		errs, err := idx.Commit(ctx, writes)
		if err != nil {
			return records, fmt.Errorf("seed persons %d..: %w", from, err)
		}
		for i, e := range errs {
			if e != nil {
				return records, fmt.Errorf("seed record %s: %w", writes[i].Member.RecordID, e)
			}
		}
		if _, err := store.Keep(ctx, nil, links, nil); err != nil {
			return records, fmt.Errorf("seed links: %w", err)
		}
		records += len(writes)
		if done := min(from+batch, persons); logf != nil && (done/batch)%50 == 0 {
			logf("seeded %d persons (%d records) in %s", done, records, time.Since(start).Round(time.Second))
		}
	}
	return records, nil
}

// MeasureSeeded seeds persons under a fresh prefix and measures.
func MeasureSeeded(ctx context.Context, rdb redis.UniversalClient, prefix string, persons int, logf func(string, ...any)) (SeedFigures, error) {
	f := SeedFigures{Persons: persons}
	var err error
	if f.UsedBefore, err = usedMemory(ctx, rdb); err != nil {
		return f, err
	}
	start := time.Now()
	if f.Records, err = SeedPersons(ctx, rdb, prefix, persons, 2000, logf); err != nil {
		return f, err
	}
	f.Elapsed = time.Since(start)
	if f.UsedAfter, err = usedMemory(ctx, rdb); err != nil {
		return f, err
	}
	f.KeysByKind, f.BytesByKind, f.Encodings = map[string]int64{}, map[string]int64{}, map[string]map[string]int64{}
	err = scanPrefix(ctx, rdb, prefix, func(pl redis.Pipeliner, key string) func() {
		usage := pl.MemoryUsage(ctx, key, 0)
		enc := pl.ObjectEncoding(ctx, key)
		return func() {
			kind := keyKind(prefix, key)
			f.Keys++
			f.KeysByKind[kind]++
			f.BytesByKind[kind] += usage.Val()
			if f.Encodings[kind] == nil {
				f.Encodings[kind] = map[string]int64{}
			}
			f.Encodings[kind][enc.Val()]++
		}
	})
	return f, err
}

func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis memory: %w", err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n, nil
}

// scanPrefix visits every key under prefix: each queues its commands on a
// pipeline and returns what to do with their answers.
func scanPrefix(ctx context.Context, rdb redis.UniversalClient, prefix string, visit func(redis.Pipeliner, string) func()) error {
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 5000).Result()
		if err != nil {
			return err
		}
		pl := rdb.Pipeline()
		after := make([]func(), len(keys))
		for i, k := range keys {
			after[i] = visit(pl, k)
		}
		if _, err := pl.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for _, a := range after {
			a()
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// PerPerson is the bytes of a group per seeded person.
func (f SeedFigures) PerPerson(group string) float64 {
	var n int64
	for kind, b := range f.BytesByKind {
		if Group(kind) == group {
			n += b
		}
	}
	return per(n, int64(f.Persons))
}

// Markdown is the seeding run's section of BENCHMARKS.md. statePerPerson
// and memoPerEvent come from a pipeline run (0: not measured).
func (f SeedFigures) Markdown(command string, statePerPerson, memoPerEvent float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Seeded through the real stores (`%s`): %d persons, %d records (every person an offline record, 60 %% also an online one), in %s; one Redis instance of its own.\n\n",
		command, f.Persons, f.Records, f.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- instance used_memory: %.1f MiB before, %.1f MiB after: **%.0f bytes per person** (index and links)\n",
		float64(f.UsedBefore)/mib, float64(f.UsedAfter)/mib, per(f.UsedAfter-f.UsedBefore, int64(f.Persons)))
	fmt.Fprintf(&b, "- MEMORY USAGE per person: index %.0f bytes, links %.0f bytes; %d keys (%.2f per person)\n",
		f.PerPerson("index"), f.PerPerson("links"), f.Keys, per(f.Keys, int64(f.Persons)))
	if statePerPerson > 0 {
		fmt.Fprintf(&b, "- router state (`p:state`, from the pipeline run above): %.0f bytes per person\n", statePerPerson)
	}
	if memoPerEvent > 0 {
		fmt.Fprintf(&b, "- memos (from the pipeline run above): %.0f bytes per event, so %.1f MiB per 1,000 events/day at 7 days of retention\n",
			memoPerEvent, memoPerEvent*7000/mib)
	}
	kinds := make([]string, 0, len(f.KeysByKind))
	for k := range f.KeysByKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return f.BytesByKind[kinds[i]] > f.BytesByKind[kinds[j]] })
	b.WriteString("\n| layout | group | keys | per person | bytes per person | encodings |\n|---|---|---:|---:|---:|---|\n")
	for _, k := range kinds {
		var encs []string
		for e, n := range f.Encodings[k] {
			encs = append(encs, fmt.Sprintf("%s %d", e, n))
		}
		sort.Strings(encs)
		fmt.Fprintf(&b, "| `%s` | %s | %d | %.2f | %.0f | %s |\n", k, Group(k), f.KeysByKind[k], per(f.KeysByKind[k], int64(f.Persons)),
			per(f.BytesByKind[k], int64(f.Persons)), strings.Join(encs, ", "))
	}
	return b.String()
}
