package apply

import (
	"errors"
	"fmt"
	"time"
)

// Rejected is a platform's refusal of a write that no retry can change (a
// validation error, an unknown record): the record becomes a kick-out.
type Rejected struct {
	Status  int    // the platform's HTTP status (0: refused before any call)
	Code    string // the platform's error code, e.g. validation_failed
	Message string // the platform's error text (never a value of the record)
}

func (e *Rejected) Error() string {
	msg := fmt.Sprintf("platform rejected the write: %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Throttled is a platform's "too many requests": the write is retried after
// Wait (its Retry-After), which does not count towards the circuit breaker.
type Throttled struct {
	Wait time.Duration
}

func (e *Throttled) Error() string {
	return fmt.Sprintf("platform throttled the write (retry after %v)", e.Wait)
}

// Outcomes the adapter's errors are sorted into. Anything not Rejected or
// Throttled is transient (5xx, timeouts, network): retried with backoff.
func isRejected(err error) (*Rejected, bool) {
	var r *Rejected
	return r, errors.As(err, &r)
}

func isThrottled(err error) (*Throttled, bool) {
	var t *Throttled
	return t, errors.As(err, &t)
}
