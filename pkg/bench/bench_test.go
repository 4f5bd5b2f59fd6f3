package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// notesMarker starts the hand-written part of BENCHMARKS.md.
const notesMarker = "<!-- notes: kept by make bench -->"

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

// TestBench is `make bench`: it runs only with BENCH=1, on the real services
// (KAFKA_BROKERS, REDIS_ADDR), and asserts nothing about speed; it fails
// only when records are missing at a sink or a step cannot run.
func TestBench(t *testing.T) {
	if os.Getenv("BENCH") != "1" {
		t.Skip("the end-to-end benchmark runs with BENCH=1 (make bench)")
	}
	brokers := testenv.RealKafka(t)
	if os.Getenv("REDIS_ADDR") == "" {
		t.Skip("REDIS_ADDR is unset: the benchmark needs the real redis-server")
	}
	o := Options{
		Brokers:        brokers,
		RedisAddr:      os.Getenv("REDIS_ADDR"),
		Offline:        envInt(t, "BENCH_OFFLINE", 4000),
		Events:         envInt(t, "BENCH_EVENTS", 42000),
		NCOA:           envInt(t, "BENCH_NCOA", 20000),
		Rate:           envInt(t, "BENCH_RATE", 2000),
		RateFor:        time.Duration(envInt(t, "BENCH_RATE_SECONDS", 10)) * time.Second,
		CopierPolls:    []int{500, 10000},
		WorkDir:        t.TempDir(),
		ProfileDir:     os.Getenv("BENCH_PROFILE_DIR"),
		ProfileSeconds: envInt(t, "BENCH_PROFILE_SECONDS", 5),
		Logf:           t.Logf,
	}
	ctx := testenv.Context(t, time.Hour)
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Table())
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		return
	}
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	command := os.Getenv("BENCH_COMMAND")
	if command == "" {
		command = "make bench"
	}
	svg := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out)) + ".svg"
	if err := os.WriteFile(filepath.Join(filepath.Dir(out), svg), []byte(res.SVG()), 0o644); err != nil {
		t.Fatal(err)
	}
	md := res.Markdown(command, Machine(cpu), svg, o)
	// The notes (what limits each figure, with the profiles) are written
	// by people; a new run keeps them.
	if old, err := os.ReadFile(out); err == nil {
		if i := strings.Index(string(old), notesMarker); i >= 0 {
			md += "\n" + string(old[i:])
		}
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Markers of the seeded Redis memory section of BENCHMARKS.md (in the kept
// part: `make bench-redis` rewrites only this section).
const (
	redisMemStart = "<!-- redis memory per person: written by make bench-redis -->"
	redisMemEnd   = "<!-- end of redis memory per person -->"
)

// TestBenchRedisMemory is `make bench-redis`: with BENCH=1 and REDIS_ADDR, it
// seeds BENCH_PERSONS persons (default 100,000; 1,000,000 for the full run)
// through the real stores under a prefix of its own, measures Redis's memory
// per person, and with BENCH_OUT rewrites its section of BENCHMARKS.md. Run
// it on a Redis of its own: the instance's used_memory is part of the
// figures. The keys are removed after, unless BENCH_KEEP=1.
func TestBenchRedisMemory(t *testing.T) {
	if os.Getenv("BENCH") != "1" {
		t.Skip("the Redis memory benchmark runs with BENCH=1 (make bench-redis)")
	}
	if os.Getenv("REDIS_ADDR") == "" {
		t.Skip("REDIS_ADDR is unset: the benchmark needs the real redis-server")
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	t.Cleanup(func() { _ = rdb.Close() }) // after the clean-up below (LIFO)
	persons := envInt(t, "BENCH_PERSONS", 100000)
	ctx := testenv.Context(t, 2*time.Hour)
	prefix := fmt.Sprintf("benchmem%d", time.Now().UnixNano())
	if os.Getenv("BENCH_KEEP") != "1" {
		t.Cleanup(func() {
			ctx := context.Background()
			_ = scanPrefix(ctx, rdb, prefix, func(pl redis.Pipeliner, key string) func() {
				pl.Unlink(ctx, key)
				return func() {}
			})
		})
	}
	f, err := MeasureSeeded(ctx, rdb, prefix, persons, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	command := os.Getenv("BENCH_COMMAND")
	if command == "" {
		command = "make bench-redis"
	}
	out := os.Getenv("BENCH_OUT")
	var doc string
	if out != "" {
		old, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		doc = string(old)
	}
	// The router's state and the memos do not depend on the number of
	// persons: they are taken from the pipeline run's layout table.
	state, memos := pipelinePerPerson(doc)
	md := f.Markdown(command, state, memos)
	t.Logf("\n%s", md)
	if out == "" {
		return
	}
	doc = targetRow(doc, f, state)
	section := redisMemStart + "\n" + md + redisMemEnd
	i, j := strings.Index(doc, redisMemStart), strings.Index(doc, redisMemEnd)
	switch {
	case i >= 0 && j > i:
		doc = doc[:i] + section + doc[j+len(redisMemEnd):]
	default:
		if !strings.Contains(doc, notesMarker) {
			doc += "\n" + notesMarker + "\n"
		}
		doc += "\n## Redis memory per person at scale (seeded)\n\n" + section + "\n"
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pipelinePerPerson reads, from the layout table `make bench` wrote, the
// router state's bytes per person and the memos' bytes per event (the
// matcher's decision memo and the router's output memo; one of each per
// event). Zero when the table is not there.
func pipelinePerPerson(doc string) (statePerPerson, memoPerEvent float64) {
	rows := map[string][2]float64{} // layout -> keys, MiB
	for _, line := range strings.Split(doc, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		kind := strings.Trim(strings.TrimSpace(cells[1]), "`")
		keys, err1 := strconv.ParseFloat(strings.TrimSpace(cells[2]), 64)
		size, err2 := strconv.ParseFloat(strings.TrimSpace(cells[4]), 64)
		if err1 == nil && err2 == nil {
			rows[kind] = [2]float64{keys, size * mib}
		}
	}
	if r := rows["p:state"]; r[0] > 0 {
		statePerPerson = r[1] / r[0]
	}
	if ev := rows["mi:r:ev"]; ev[0] > 0 {
		memoPerEvent = (ev[1] + rows["p:memo"][1]) / ev[0]
	}
	return statePerPerson, memoPerEvent
}

// targetRow rewrites the Redis memory row of the targets table with the
// seeded figure: index and links at the seeded number of persons, plus the
// router state per person of the pipeline run.
func targetRow(doc string, f SeedFigures, statePerPerson float64) string {
	const rowStart = "| <= 2 KiB Redis per person, memos aside |"
	i := strings.Index(doc, rowStart)
	if i < 0 {
		return doc
	}
	end := strings.IndexByte(doc[i:], '\n')
	if end < 0 {
		end = len(doc) - i
	}
	index := f.PerPerson("index") + f.PerPerson("links")
	total := index + statePerPerson
	verdict := "**not met**"
	if total <= 2048 {
		verdict = "met"
	}
	row := fmt.Sprintf("%s %.0f bytes at %d persons (seeded, `make bench-redis`): index and links %.0f, router state %.0f | %s |",
		rowStart, total, f.Persons, index, statePerPerson, verdict)
	return doc[:i] + row + doc[i+end:]
}

func TestSeededSectionReadsThePipelineTable(t *testing.T) {
	doc := "| <= 2 KiB Redis per person, memos aside | 10989 bytes at 4620 persons | **not met** |\n" +
		"| `p:memo` | 1000 | 9.01 | 2.00 |\n| `mi:r:ev` | 1000 | 9.01 | 1.00 |\n| `p:state` | 4 | 1.00 | 0.01 |\n"
	state, memo := pipelinePerPerson(doc)
	if int(state) != 2621 || int(memo) != 3145 {
		t.Fatalf("state %.0f per person, memos %.0f per event", state, memo)
	}
	f := SeedFigures{Persons: 10, BytesByKind: map[string]int64{"mi:b": 5000, "p:links": 1000, "p:state": 99999}}
	got := targetRow(doc, f, state)
	want := "| <= 2 KiB Redis per person, memos aside | 3221 bytes at 10 persons (seeded, `make bench-redis`): index and links 600, router state 2621 | **not met** |\n"
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "`p:memo`") {
		t.Fatalf("rewritten:\n%s", got)
	}
}

func TestKeyKind(t *testing.T) {
	for key, want := range map[string]string{
		"cs:mi:b:{0a1b2}":                       "mi:b",
		"cs:mi:b:{0a1b2}:0011223344556677:p":    "mi:b:p",
		"cs:mi:b:{0a1b2}:0011223344556677:lock": "mi:b:lock",
		"cs:p:{p-1}:members":                    "p:members",
		"cs:p:{p-1}:memo:e:1":                   "p:memo",
		"cs:mi:r:{a%2F1}:ev:e:1":                "mi:r:ev",
		"cs:mi:{layout}":                        "mi",
	} {
		if got := keyKind("cs", key); got != want {
			t.Errorf("keyKind(%q) = %q, want %q", key, got, want)
		}
	}
}
