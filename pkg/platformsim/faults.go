package platformsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Faults make the platform's API (/api/...) misbehave, for tests: the next
// RateLimit requests get 429 with Retry-After, then the next ServerErrors get
// 500, then the next ValidationErrors get 422; every request first waits
// Delay. A failed request changes nothing. The donor portal and the control
// endpoints are never affected.
type Faults struct {
	RateLimit        int      `json:"rate_limit"`
	RetryAfter       Duration `json:"retry_after"`
	ServerErrors     int      `json:"server_errors"`
	ValidationErrors int      `json:"validation_errors"`
	Delay            Duration `json:"delay"`
}

// Duration is a time.Duration written as in Go ("250ms", "2s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration must be a string like \"2s\"")
	}
	*d = Duration(v)
	return nil
}

func (f Faults) check() error {
	if f.RateLimit < 0 || f.ServerErrors < 0 || f.ValidationErrors < 0 {
		return fmt.Errorf("fault counts must not be negative")
	}
	if time.Duration(f.Delay) > time.Minute {
		return fmt.Errorf("delay is at most 1m")
	}
	return nil
}

// ParseFaults reads faults from JSON (CONTACTSYNC_PLATFORM_FAULTS).
func ParseFaults(s string) (Faults, error) {
	var f Faults
	if s == "" {
		return f, nil
	}
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return f, fmt.Errorf("faults: %w", err)
	}
	return f, f.check()
}

// injected is the fault a request gets, if any.
type injected struct {
	status     int
	retryAfter time.Duration
}

// take consumes one fault for a request; it is called under the lock.
func (f *Faults) take() (injected, bool) {
	switch {
	case f.RateLimit > 0:
		f.RateLimit--
		ra := time.Duration(f.RetryAfter)
		if ra <= 0 {
			ra = time.Second
		}
		return injected{status: 429, retryAfter: ra}, true
	case f.ServerErrors > 0:
		f.ServerErrors--
		return injected{status: 500}, true
	case f.ValidationErrors > 0:
		f.ValidationErrors--
		return injected{status: 422}, true
	}
	return injected{}, false
}
