package baseline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileDir is the report directory on disk (the command's own is in app).
type fileDir string

func (d fileDir) Append(name string, size int64) (File, error) {
	f, err := os.OpenFile(filepath.Join(string(d), name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	_, err = f.Seek(size, io.SeekStart)
	return f, err
}
func (d fileDir) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}
func (d fileDir) WriteFile(name string, data []byte) error {
	return os.WriteFile(filepath.Join(string(d), name), data, 0o644)
}

// TestBenchBaseline (BENCH=1; BASELINE_N persons, default 100000) times a
// baseline of generated exports from files to report, and reads the
// process's peak RSS.
func TestBenchBaseline(t *testing.T) {
	if os.Getenv("BENCH") == "" {
		t.Skip("benchmark: set BENCH=1 (BASELINE_N persons, default 100000)")
	}
	n := 100000
	if v := os.Getenv("BASELINE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	offPath, onPath := filepath.Join(tmp, "offline.csv"), filepath.Join(tmp, "online.csv")
	offF, _ := os.Create(offPath)
	onF, _ := os.Create(onPath)
	ob, nb := bufio.NewWriter(offF), bufio.NewWriter(onF)
	truth, err := Generate(n, ob, nb)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{ob.Flush(), nb.Flush(), offF.Close(), onF.Close()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	open := func(p string) Source {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		st, _ := f.Stat()
		s, err := NewCSVSource(bufio.NewReaderSize(f, 1<<20), st.Size(), Columns{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	report := filepath.Join(tmp, "report")
	if err := os.Mkdir(report, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent)) // as the command runs it
	}
	cfg := testConfig(t)
	cfg.verifyReplay = false
	var stats runStats
	cfg.stats = &stats
	// The live heap at the end of the online pass (the index and history
	// complete), sampled then; BASELINE_HEAPPROFILE also writes its profile.
	var liveHeap uint64
	cfg.Progress = func(p Progress) {
		if p.Phase != "online" || p.Total == 0 || p.Done < p.Total {
			return
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		liveHeap = ms.HeapAlloc
		if path := os.Getenv("BASELINE_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}
	}
	start := time.Now()
	sum, err := Run(context.Background(), cfg, open(offPath), open(onPath), fileDir(report), false)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	offline, online := sum.Read["offline"], sum.Read["online"]
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	t.Logf("baseline of %d offline x %d online records (%d persons generated): %v wall, %v CPU (the whole test), %.0f records/s, peak RSS %s",
		offline, online, n, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(offline+online)/elapsed.Seconds(), peakRSS())
	t.Logf("links %d of %d true, ambiguous %v, creates %v, pairs differing %d of %d, rejected %v",
		sum.Links, len(truth.Links), sum.Ambiguous, sum.Creates, sum.PairsDiffering, len(truth.Differences), sum.Rejected)
	t.Logf("live heap at the end of the online pass %d MiB (%d bytes per record read)", liveHeap>>20, liveHeap/uint64(max(offline+online, 1)))
	t.Logf("%.1f member records scored per record read, %d records decided again after parallel scoring (%d workers)",
		float64(stats.Compared)/float64(offline+online), stats.Redecided, runtime.GOMAXPROCS(0))
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("unknown (%d bytes of status)", len(b))
}
