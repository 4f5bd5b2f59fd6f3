package apply

import (
	"context"
	"sync"
	"time"
)

// breaker stops calls to a platform that keeps failing: after Threshold
// consecutive transient failures it opens for Cooldown, during which no
// call is made and the applier does not fetch; then one probe call is let
// through, whose outcome closes or re-opens it. Hand-written because the
// applier must block its workers until the probe is allowed (breaker
// libraries answer "open" and leave the caller to spin).
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time
	onChange  func(open bool)

	mu       sync.Mutex
	failures int
	openTill time.Time // zero: closed
	probing  bool
	changed  chan struct{} // closed and replaced when the state changes
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time, after func(time.Duration) <-chan time.Time, onChange func(bool)) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now, after: after, onChange: onChange, changed: make(chan struct{})}
}

// wait returns once a call may be made (true), or false if ctx ended.
func (b *breaker) wait(ctx context.Context) bool {
	for {
		b.mu.Lock()
		if b.openTill.IsZero() {
			b.mu.Unlock()
			return true
		}
		left := b.openTill.Sub(b.now())
		if left <= 0 && !b.probing {
			b.probing = true // this caller probes; the others wait for its outcome
			b.mu.Unlock()
			return true
		}
		changed := b.changed
		b.mu.Unlock()
		var timer <-chan time.Time
		if left > 0 {
			timer = b.after(left)
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-timer:
		}
	}
}

// isOpen reports whether calls are held back now.
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openTill.IsZero()
}

// success records a call the platform answered (any answer but a 5xx or
// a network failure): the breaker closes.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	b.probing = false
	if !b.openTill.IsZero() {
		b.openTill = time.Time{}
		b.signalLocked()
		if b.onChange != nil {
			b.onChange(false)
		}
	}
}

// failure records a transient failure: the threshold-th in a row, or a
// failed probe, opens the breaker for a cooldown.
func (b *breaker) failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.probing || b.failures >= b.threshold {
		wasOpen := !b.openTill.IsZero()
		b.probing = false
		b.openTill = b.now().Add(b.cooldown)
		b.signalLocked() // waiters re-read the new cooldown
		if !wasOpen && b.onChange != nil {
			b.onChange(true)
		}
	}
}

// release gives up a probe that was not made (shutdown).
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probing {
		b.probing = false
		b.signalLocked()
	}
}

func (b *breaker) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}
