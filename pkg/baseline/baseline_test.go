package baseline

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/rules"
)

// memDir is an in-memory report directory.
type memDir struct {
	mu    sync.Mutex
	files map[string]*bytes.Buffer
}

func newMemDir() *memDir { return &memDir{files: map[string]*bytes.Buffer{}} }

type memFile struct {
	d    *memDir
	name string
}

func (f memFile) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return f.d.files[f.name].Write(p)
}
func (memFile) Sync() error  { return nil }
func (memFile) Close() error { return nil }

func (d *memDir) Append(name string, size int64) (File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.files[name]
	if b == nil {
		b = &bytes.Buffer{}
		d.files[name] = b
	}
	if size > int64(b.Len()) {
		return nil, fmt.Errorf("%s: %d bytes, checkpoint says %d", name, b.Len(), size)
	}
	b.Truncate(int(size))
	return memFile{d: d, name: name}, nil
}

func (d *memDir) ReadFile(name string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return bytes.Clone(b.Bytes()), nil
}

func (d *memDir) WriteFile(name string, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = bytes.NewBuffer(bytes.Clone(data))
	return nil
}

func (d *memDir) rows(t *testing.T, name string) [][]string {
	t.Helper()
	b, err := d.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rows[1:]
}

func testConfig(t *testing.T) Config {
	t.Helper()
	model, err := match.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := match.NewMatcher(model, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		OfflineSystem: "offline", OnlineSystem: "online", Matcher: m, Rules: rules.Default(),
		DefaultRegion: "AU", Now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Fingerprint: "test",
		verifyReplay: true,
	}
}

func generated(t *testing.T, n int) (Truth, []byte, []byte) {
	t.Helper()
	var off, on bytes.Buffer
	truth, err := Generate(n, &off, &on)
	if err != nil {
		t.Fatal(err)
	}
	return truth, off.Bytes(), on.Bytes()
}

func csvSource(t *testing.T, b []byte) Source {
	t.Helper()
	s, err := NewCSVSource(bytes.NewReader(b), int64(len(b)), Columns{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReportMatchesGroundTruth(t *testing.T) {
	truth, off, on := generated(t, 300)
	dir := newMemDir()
	sum, err := Run(context.Background(), testConfig(t), csvSource(t, off), csvSource(t, on), dir, false)
	if err != nil {
		t.Fatal(err)
	}

	links := map[string]string{}
	for _, r := range dir.rows(t, FileLinks) {
		if r[1] != "online" || r[3] != "offline" {
			t.Errorf("link of %s/%s to %s/%s: want online to offline", r[1], r[2], r[3], r[4])
		}
		links[r[2]] = r[4]
		if !strings.HasPrefix(r[6], "linked: probability") {
			t.Errorf("link %s: explanation %q", r[2], r[6])
		}
	}
	if !maps.Equal(links, truth.Links) {
		t.Errorf("links: got %d, want %d; differ: %v", len(links), len(truth.Links), diffKeys(links, truth.Links))
	}
	if a := dir.rows(t, FileAmbiguous); len(a) != 0 {
		t.Errorf("ambiguous: %v", a)
	}
	if r := dir.rows(t, FileRejected); len(r) != 0 {
		t.Errorf("rejected: %v", r)
	}

	var createdOffline []string
	for _, r := range dir.rows(t, FileCreates("offline")) {
		if r[1] != "online" {
			t.Errorf("create offline from %s/%s", r[1], r[2])
		}
		createdOffline = append(createdOffline, r[2])
	}
	sort.Strings(createdOffline)
	if !slices.Equal(createdOffline, truth.OnlineOnly) {
		t.Errorf("creates offline: got %v\nwant %v", createdOffline, truth.OnlineOnly)
	}
	// The default rules scope the online system to contacts that came from
	// it: offline-only contacts are not created online.
	if c := dir.rows(t, FileCreates("online")); len(c) != 0 {
		t.Errorf("creates online: %v", c)
	}

	diffs := map[string][]string{}
	for _, r := range dir.rows(t, FileDifferences) {
		diffs[r[4]] = append(diffs[r[4]], r[1])
		// Both exports carry no change time: the authority (offline) wins
		// every conflict, and its value goes online where online may take it.
		if r[6] != r[3] || r[7] != "offline" {
			t.Errorf("difference %v: want the offline value chosen", r)
		}
		if r[8] == "" || r[9] == "" {
			t.Errorf("difference %v: no rule or decision", r)
		}
		if r[10] != "online" {
			t.Errorf("difference %v: want it sent to online", r)
		}
	}
	if !maps.EqualFunc(diffs, truth.Differences, slices.Equal) {
		t.Errorf("differences: got %v\nwant %v", diffs, truth.Differences)
	}
	if sum.Links != len(truth.Links) || sum.Creates["offline"] != len(truth.OnlineOnly) || sum.PairsDiffering != len(truth.Differences) {
		t.Errorf("summary %+v", sum)
	}
	html, _ := dir.ReadFile(FileIndex)
	for _, want := range []string{"<svg", "phone", "address_line1", "date_of_birth"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if bytes.Contains(html, []byte("http://")) && bytes.Count(html, []byte("http://")) != 1 { // the SVG namespace only
		t.Error("index.html refers to outside assets")
	}
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k+"="+v+"/"+b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" missing")
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = out[:10]
	}
	return out
}

// stopAfter cancels the run after n records of a source: an interruption.
type stopAfter struct {
	Source
	n      int
	cancel context.CancelFunc
}

func (s *stopAfter) Next() (Record, error) {
	if s.n == 0 {
		s.cancel()
	}
	s.n--
	return s.Source.Next()
}

func TestInterruptedRunResumedWritesTheSameFiles(t *testing.T) {
	_, off, on := generated(t, 200)
	cfg := testConfig(t)
	cfg.BatchSize, cfg.CheckpointEvery = 7, 2

	want := newMemDir()
	if _, err := Run(context.Background(), cfg, csvSource(t, off), csvSource(t, on), want, false); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct {
		name    string
		offline bool
		after   int
	}{{"during offline", true, 61}, {"during online", false, 95}, {"right at the start", true, 0}} {
		t.Run(stop.name, func(t *testing.T) {
			got := newMemDir()
			ctx, cancel := context.WithCancel(context.Background())
			offSrc, onSrc := csvSource(t, off), csvSource(t, on)
			if stop.offline {
				offSrc = &stopAfter{Source: offSrc, n: stop.after, cancel: cancel}
			} else {
				onSrc = &stopAfter{Source: onSrc, n: stop.after, cancel: cancel}
			}
			if _, err := Run(ctx, cfg, offSrc, onSrc, got, false); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v", err)
			}
			if _, err := Run(context.Background(), cfg, csvSource(t, off), csvSource(t, on), got, true); err != nil {
				t.Fatal(err)
			}
			for name, b := range want.files {
				if g, _ := got.ReadFile(name); !bytes.Equal(g, b.Bytes()) {
					t.Errorf("%s differs after resume:\n%s\nwant\n%s", name, g, b.Bytes())
				}
			}
			// Resuming a finished run changes nothing.
			if _, err := Run(context.Background(), cfg, csvSource(t, off), csvSource(t, on), got, true); err != nil {
				t.Fatal(err)
			}
			if g, _ := got.ReadFile(FileLinks); !bytes.Equal(g, want.files[FileLinks].Bytes()) {
				t.Error("links.csv changed by resuming a finished run")
			}
		})
	}
	other := cfg
	other.Fingerprint = "other inputs"
	if _, err := Run(context.Background(), other, csvSource(t, off), csvSource(t, on), want, true); err == nil {
		t.Error("resumed a checkpoint of other inputs")
	}
}
