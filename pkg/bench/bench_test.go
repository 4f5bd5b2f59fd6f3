package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
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
