package redisstore_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/matcheval"
	"github.com/contactsync/contactsync/pkg/normalize"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// benchBatch is the number of changes per Resolve call (one poll).
const benchBatch = 500

// febrl4 returns FEBRL4 (dataset4a then dataset4b) as canonical upserts
// from two systems, as ingest would emit them. It finds shared/data/febrl
// by walking up from the test directory and skips without it.
func febrl4(b *testing.B) []contact.Change {
	b.Helper()
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "data", "febrl")
		if _, err := os.Stat(filepath.Join(candidate, "dataset4a.csv")); err == nil {
			dir = candidate
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			b.Skip("FEBRL data not found: no shared/data/febrl in any parent directory")
		}
		dir = parent
	}
	var out []contact.Change
	for _, name := range []string{"dataset4a", "dataset4b"} {
		f, err := os.Open(filepath.Join(dir, name+".csv"))
		if err != nil {
			b.Fatal(err)
		}
		r := csv.NewReader(f)
		r.TrimLeadingSpace = true
		r.FieldsPerRecord = 11
		if _, err := r.Read(); err != nil { // header
			b.Fatal(err)
		}
		for {
			row, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			v := matcheval.FEBRLValues(row)
			canon, _ := normalize.Canonical(v, "AU")
			out = append(out, upsert(name, strings.TrimSpace(row[0]), canon))
		}
		f.Close()
	}
	return out
}

// BenchmarkResolve streams FEBRL4 (10,000 records: 5,000 originals, then
// their duplicates, from two systems) through the matcher stage's resolvers
// in polls of 500, into an empty index per iteration, and reports matches/s:
//
//   - redis-match: matcher.IndexResolver on the Redis adapters at REDIS_ADDR (skipped
//     without one);
//   - mem-match: the same matcher and polls over match.MemIndex in process,
//     the ceiling that Redis's round trips are measured against;
//   - redis-exact: ExactResolver, the foundation resolver (exact keys, one
//     round trip per command), on the same Redis.
//
// Run them together (-bench BenchmarkResolve -v): the parent then logs
// redis-match's rate as a ratio of the others'.
func BenchmarkResolve(b *testing.B) {
	changes := febrl4(b)
	m := defaultMatcher(b)
	polls := (len(changes) + benchBatch - 1) / benchBatch
	rates := map[string]float64{}

	// bench runs resolve over every poll of FEBRL4 b.N times, each time
	// into a fresh index, and records the rate and the first decisions.
	bench := func(b *testing.B, name string, resolve func(i int, poll []contact.Change) ([]contact.Decision, error), reset func()) {
		decisions := map[contact.Decision]int{}
		for i := 0; i < b.N; i++ {
			for start := 0; start < len(changes); start += benchBatch {
				ds, err := resolve(i, changes[start:min(start+benchBatch, len(changes))])
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					for _, d := range ds {
						decisions[d]++
					}
				}
			}
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		b.StopTimer()
		rates[name] = float64(b.N*len(changes)) / b.Elapsed().Seconds()
		b.ReportMetric(rates[name], "matches/s")
		b.Logf("decisions on FEBRL4: %v", decisions)
	}

	// onRedis runs a resolver made per iteration on the Redis at
	// REDIS_ADDR, counting its round trips.
	onRedis := func(b *testing.B, name string, newResolver func(rdb redis.UniversalClient, keys redisstore.Keys) matcher.Resolver) {
		addr := os.Getenv("REDIS_ADDR")
		if addr == "" {
			b.Skip("REDIS_ADDR is unset: this benchmark needs a real redis-server")
		}
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		h := &trips{}
		rdb.AddHook(h)
		ctx := context.Background()
		var (
			keys     redisstore.Keys
			r        matcher.Resolver
			sent     int64
			resolver = -1
		)
		b.ResetTimer()
		bench(b, name, func(i int, poll []contact.Change) ([]contact.Decision, error) {
			if i != resolver {
				keys, resolver = redisstore.Keys{Prefix: testenv.Unique("bench")}, i
				r = newResolver(rdb, keys)
			}
			before := h.total()
			res, err := r.Resolve(ctx, poll)
			sent += h.total() - before
			ds := make([]contact.Decision, len(res))
			for j, x := range res {
				ds[j] = x.Match.Decision
			}
			return ds, err
		}, func() { dropPrefix(b, rdb, keys.Prefix) })
		b.ReportMetric(float64(sent)/float64(b.N*polls), "roundtrips/poll")
	}

	b.Run("redis-match", func(b *testing.B) {
		onRedis(b, "redis-match", func(rdb redis.UniversalClient, keys redisstore.Keys) matcher.Resolver {
			return newResolver(rdb, keys, m)
		})
	})
	b.Run("mem-match", func(b *testing.B) {
		ctx := context.Background()
		var idx *match.MemIndex
		resolver := -1
		b.ResetTimer()
		bench(b, "mem-match", func(i int, poll []contact.Change) ([]contact.Decision, error) {
			if i != resolver {
				idx, resolver = match.NewMemIndex(), i
			}
			ins := make([]match.Incoming, len(poll))
			for j, c := range poll {
				ins[j] = match.Incoming{RecordID: matcher.RecordID(c.SourceSystem, c.SourceRecordID), Record: match.FromValues(c.Values)}
			}
			res, err := m.MatchBatch(ctx, idx, ins)
			ds := make([]contact.Decision, len(res))
			for j, x := range res {
				ds[j] = x.Decision
			}
			return ds, err
		}, func() {})
	})
	b.Run("redis-exact", func(b *testing.B) {
		onRedis(b, "redis-exact", func(rdb redis.UniversalClient, keys redisstore.Keys) matcher.Resolver {
			return redisstore.NewExactResolver(rdb, keys)
		})
	})

	if r := rates["redis-match"]; r > 0 {
		for _, base := range []string{"mem-match", "redis-exact"} {
			if rates[base] > 0 {
				b.Logf("redis-match: %.0f matches/s = %.3f x %s (%.0f matches/s)", r, r/rates[base], base, rates[base])
			}
		}
	}
}

// BenchmarkResolveKnown is the commonest input of a gift stream: records the
// index holds already, arriving again as new events with the same values.
// FEBRL4 is resolved once into a fresh index (not timed), then every record
// again, in polls of 500, on the Redis at REDIS_ADDR (the records the first
// pass left ambiguous are matched again); it reports matches/s,
// round trips per poll and Redis commands per record (INFO commandstats of
// the whole server, so run it on an instance of its own for that figure).
func BenchmarkResolveKnown(b *testing.B) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		b.Skip("REDIS_ADDR is unset: this benchmark needs a real redis-server")
	}
	changes := febrl4(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	keys := redisstore.Keys{Prefix: testenv.Unique("bench")}
	defer dropPrefix(b, rdb, keys.Prefix)
	r := newResolver(rdb, keys, defaultMatcher(b))
	for start := 0; start < len(changes); start += benchBatch {
		if _, err := r.Resolve(ctx, changes[start:min(start+benchBatch, len(changes))]); err != nil {
			b.Fatal(err)
		}
	}
	h := &trips{}
	rdb.AddHook(h)
	calls := func() int64 {
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, line := range strings.Split(info, "\n") {
			if i := strings.Index(line, ":calls="); i > 0 {
				var c int64
				if _, err := fmt.Sscanf(line[i:], ":calls=%d", &c); err == nil {
					n += c
				}
			}
		}
		return n
	}
	before := calls()
	known := 0 // records found known (not those the first pass left ambiguous)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for start := 0; start < len(changes); start += benchBatch {
			poll := slices.Clone(changes[start:min(start+benchBatch, len(changes))])
			for j := range poll {
				poll[j].EventID = fmt.Sprintf("%s-again-%d", poll[j].EventID, i)
			}
			res, err := r.Resolve(ctx, poll)
			if err != nil {
				b.Fatal(err)
			}
			for _, x := range res {
				if x.Match.Decision == contact.DecisionKnown {
					known++
				}
			}
		}
	}
	b.StopTimer()
	n := float64(b.N * len(changes))
	b.ReportMetric(n/b.Elapsed().Seconds(), "matches/s")
	b.ReportMetric(float64(h.total())/float64(b.N*((len(changes)+benchBatch-1)/benchBatch)), "roundtrips/poll")
	b.ReportMetric(float64(calls()-before)/n, "commands/record")
	b.ReportMetric(float64(known)/n, "known/record")
}
