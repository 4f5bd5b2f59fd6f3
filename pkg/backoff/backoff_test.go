package backoff

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestNextDoublesUpToMaxAndResets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		want     []time.Duration
	}{
		{"doubling", 100 * time.Millisecond, time.Second,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}},
		{"max below min", time.Second, time.Millisecond, []time.Duration{time.Second, time.Second, time.Second}},
		{"min equals max", time.Second, time.Second, []time.Duration{time.Second, time.Second}},
	} {
		b := New(tc.min, tc.max)
		var got []time.Duration
		for range tc.want {
			got = append(got, b.Next())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		b.Reset()
		if d := b.Next(); d != tc.min {
			t.Errorf("%s: after Reset %v, want %v", tc.name, d, tc.min)
		}
	}
}

func TestJitterStaysWithinHalfAndOneAndAHalf(t *testing.T) {
	b := &Backoff{Min: 8 * time.Millisecond, Max: time.Second, Jitter: true}
	base := 8 * time.Millisecond
	for i := 0; i < 20; i++ {
		d := b.Next()
		if d < base/2 || d >= base+base/2 {
			t.Fatalf("pause %d: %v outside [%v, %v)", i, d, base/2, base+base/2)
		}
		base = min(2*base, time.Second)
	}
}

// The pause is waited on the injected clock: the test, not the wall clock,
// ends it.
func TestWaitUsesTheInjectedClock(t *testing.T) {
	asked := make(chan time.Duration, 1)
	fire := make(chan time.Time)
	b := &Backoff{Min: time.Hour, Max: time.Hour, After: func(d time.Duration) <-chan time.Time {
		asked <- d
		return fire
	}}
	done := make(chan bool)
	go func() { done <- b.Wait(context.Background()) }()
	if d := <-asked; d != time.Hour {
		t.Fatalf("waited %v, want 1h", d)
	}
	fire <- time.Now()
	if !<-done {
		t.Fatal("Wait reported a cancelled context")
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &Backoff{Min: time.Hour, Max: time.Hour, After: func(time.Duration) <-chan time.Time { return nil }}
	if b.Wait(ctx) {
		t.Fatal("Wait returned true on a cancelled context")
	}
}
