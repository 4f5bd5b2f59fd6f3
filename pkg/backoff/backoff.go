// Package backoff paces retries of a sick dependency: pauses that double
// from Min up to Max, optionally jittered, waited on an injectable clock so
// that tests decide when a pause ends. It is the one retry pacing of the
// pipeline (stage runner, delivery loader, match resolver).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is one retry loop's pacing. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Jitter spreads each pause over [d/2, 3d/2), so that processes that
	// failed together do not retry together.
	Jitter bool
	// After is the clock the pauses are waited on (nil: time.After).
	After func(time.Duration) <-chan time.Time

	next time.Duration
}

// New returns a backoff from lo to hi, waited on the wall clock.
func New(lo, hi time.Duration) *Backoff { return &Backoff{Min: lo, Max: hi} }

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.next = 0 }

// Next returns the pause before the next attempt and doubles the one after,
// up to Max.
func (b *Backoff) Next() time.Duration {
	d := b.next
	if d <= 0 {
		d = b.Min
	}
	b.next = min(2*d, b.Max)
	if b.Max < b.Min {
		b.next = b.Min
	}
	if b.Jitter && d > 0 {
		return d/2 + rand.N(d)
	}
	return d
}

// Wait pauses for Next and reports false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return b.Sleep(ctx, b.Next()) }

// Sleep pauses for d on the backoff's clock and reports false if ctx ended
// first. Pausing here paces retries; it is not synchronisation.
func (b *Backoff) Sleep(ctx context.Context, d time.Duration) bool {
	after := b.After
	if after == nil {
		after = time.After
	}
	select {
	case <-after(d):
		return true
	case <-ctx.Done():
		return false
	}
}
