package stream

import (
	"testing"
	"time"
)

func TestBatchSizeGrowsOnBacklogWithinBudget(t *testing.T) {
	cfg := Config{MaxPollRecords: 500, MaxBatchRecords: 8000, TransactionTimeout: 40 * time.Second, ProcessTimeout: 40 * time.Second}
	b := newBatchSize(cfg)
	steps := []struct {
		polled int
		took   time.Duration
		want   int
	}{
		{500, 50 * time.Millisecond, 1000},   // full poll: doubles
		{1000, 100 * time.Millisecond, 2000}, // again
		{300, 30 * time.Millisecond, 2000},   // not full: stays
		{2000, 200 * time.Millisecond, 4000},
		{4000, 400 * time.Millisecond, 8000},
		{8000, 800 * time.Millisecond, 8000}, // at the ceiling
		{8000, 8 * time.Second, 8000},        // 1 ms per record: 10 s budget fits 10,000
		{8000, 16 * time.Second, 5000},       // 2 ms per record: 5,000 fit
		{100, 10 * time.Second, 500},         // slow records: never below the floor
	}
	for i, s := range steps {
		b.committed(s.polled, s.took)
		if b.n != s.want {
			t.Fatalf("step %d (%d records in %s): size %d, want %d", i, s.polled, s.took, b.n, s.want)
		}
	}
	b.n = 4000
	b.aborted()
	if b.n != 500 {
		t.Fatalf("after an abort: %d, want the floor 500", b.n)
	}
}
