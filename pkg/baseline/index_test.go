package baseline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/matcheval"
)

// decisionRow is what a test compares of one match result.
type decisionRow struct {
	RecordID, Decision, PersonID, Probability, Candidates, Explanation string
}

func rowOf(res match.Result) decisionRow {
	var cands []string
	for _, c := range res.Candidates {
		cands = append(cands, fmt.Sprintf("%s/%s/%s/%.9f", c.PersonID, c.BestMember, c.Relation, c.Probability))
	}
	return decisionRow{res.RecordID, string(res.Decision), res.PersonID, fmt.Sprintf("%.12f", res.Probability),
		fmt.Sprint(cands), res.Explanation.String()}
}

// sameDecisionSets are records of both systems with households,
// organisations, moves, nicknames and typos (the match evaluation's
// generated set), and the point-zero set, in the order a baseline reads
// them: offline first.
func sameDecisionSets(t *testing.T) map[string][]Record {
	t.Helper()
	var off, on []Record
	for i, l := range matcheval.GenerateHouseholds(7, 150) {
		rec := Record{ID: l.RecordID, Values: maps.Clone(l.Values)}
		if i%2 == 0 {
			off = append(off, rec)
		} else {
			on = append(on, rec)
		}
	}
	households := map[string][]Record{"offline": off, "online": on}
	_, offCSV, onCSV := generated(t, 400)
	pointZero := map[string][]Record{}
	for sys, b := range map[string][]byte{"offline": offCSV, "online": onCSV} {
		src := csvSource(t, b)
		for {
			rec, err := src.Next()
			if err != nil {
				break
			}
			pointZero[sys] = append(pointZero[sys], rec)
		}
	}
	// A record seen twice (an export with a duplicate row, changed).
	dup := pointZero["offline"][3]
	dup.Values = maps.Clone(dup.Values)
	dup.Values[contact.Phone] = "+61 411 000 999"
	pointZero["offline"] = append(pointZero["offline"], dup)
	return map[string][]Record{
		"households offline": households["offline"], "households online": households["online"],
		"point zero offline": pointZero["offline"], "point zero online": pointZero["online"],
	}
}

// TestSameDecisionsAsTheStreamMatcher matches generated sets through the
// baseline's index and parallel scoring and, record by record, through the
// stream's matcher over match.MemIndex: every decision, person, probability,
// candidate list and explanation must be the same, with the real key caps
// and with caps small enough to make keys generic.
func TestSameDecisionsAsTheStreamMatcher(t *testing.T) {
	sets := sameDecisionSets(t)
	cfg := testConfig(t)
	for _, tc := range []struct {
		name    string
		keyCap  func(string) int
		workers int
		batch   int
	}{
		{"real caps, 1 worker", match.KeyCap, 1, 50},
		{"real caps, 4 workers", match.KeyCap, 4, 50},
		{"caps of 3, 3 workers", func(string) int { return 3 }, 3, 29},
		{"caps of 3, 2 workers, batches of 500", func(string) int { return 3 }, 2, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, set := range []string{"households", "point zero"} {
				var want, got []decisionRow
				mem := match.NewMemIndexWithCap(tc.keyCap)
				rc := cfg
				rc.Workers = tc.workers
				r := &run{cfg: rc, idx: newIndex()}
				r.idx.keyCap = tc.keyCap
				for _, sys := range []string{"offline", "online"} {
					recs := sets[set+" "+sys]
					for chunk := range slices.Chunk(recs, tc.batch) {
						items := r.prepare(sys, chunk, 0)
						var ptrs []*prepared
						for i := range items {
							if items[i].rejected != "" {
								continue
							}
							ptrs = append(ptrs, &items[i])
							res, err := cfg.Matcher.Match(context.Background(), mem, items[i].in)
							if err != nil {
								t.Fatal(err)
							}
							want = append(want, rowOf(res))
						}
						results, err := r.matchBatch(context.Background(), ptrs)
						if err != nil {
							t.Fatal(err)
						}
						for _, res := range results {
							got = append(got, rowOf(res))
						}
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d results, want %d", set, len(got), len(want))
				}
				decisions := map[string]int{}
				for i := range want {
					decisions[want[i].Decision]++
					if got[i] != want[i] {
						t.Errorf("%s record %d:\n got %+v\nwant %+v", set, i, got[i], want[i])
					}
				}
				persons, _ := mem.Stats()
				if r.idx.persons != persons {
					t.Errorf("%s: %d persons, want %d", set, r.idx.persons, persons)
				}
				t.Logf("%s: %v, %d persons, %d decided again after parallel scoring", set, decisions, persons, r.redecided)
				if set == "households" && (decisions["linked"] == 0 || decisions["new"] == 0) {
					t.Errorf("the set exercises too little: %v", decisions)
				}
			}
		})
	}
}

// TestReportIsTheSameWhateverTheParallelism runs the same baseline with 1,
// 2 and 5 workers: every report file must be the same byte for byte.
func TestReportIsTheSameWhateverTheParallelism(t *testing.T) {
	_, off, on := generated(t, 600)
	var want *memDir
	for _, workers := range []int{1, 2, 5} {
		cfg := testConfig(t)
		cfg.Workers, cfg.BatchSize = workers, 64
		dir := newMemDir()
		if _, err := Run(context.Background(), cfg, csvSource(t, off), csvSource(t, on), dir, false); err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = dir
			continue
		}
		for name, b := range want.files {
			if g, _ := dir.ReadFile(name); !bytes.Equal(g, b.Bytes()) {
				t.Errorf("%d workers: %s differs from 1 worker's", workers, name)
			}
		}
	}
}

// sliceSource is a Source over records in memory.
type sliceSource struct{ recs []Record }

func (s *sliceSource) Next() (Record, error) {
	if len(s.recs) == 0 {
		return Record{}, io.EOF
	}
	rec := s.recs[0]
	s.recs = s.recs[1:]
	return rec, nil
}

// TestReplayedStatesAreTheRulesOwn runs the household set (persons of
// several records, duplicates within a system, records changed at
// different times) with every replayed golden state checked against the
// state the rules returned when it was made.
func TestReplayedStatesAreTheRulesOwn(t *testing.T) {
	sets := sameDecisionSets(t)
	off, on := slices.Clone(sets["households offline"]), slices.Clone(sets["households online"])
	for i := range off {
		off[i].Changed = time.Date(2026, time.Month(1+i%11), 1+i%27, 0, 0, 0, 0, time.UTC)
	}
	for i := range on {
		if i%3 == 0 {
			on[i].Changed = time.Date(2026, 6, 1+i%27, 12, 0, 0, 0, time.UTC)
		}
	}
	cfg := testConfig(t)
	cfg.BatchSize = 40
	sum, err := Run(context.Background(), cfg, &sliceSource{off}, &sliceSource{on}, newMemDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Links == 0 || sum.Duplicates["offline"] == 0 {
		t.Errorf("the set exercises too little: %+v", sum)
	}
}
