package apply

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// What adapters of the Platform port that speak HTTP share: building a
// request, the exchange, and the throttling answer. Which statuses are
// transient and how a refusal reads stay with each adapter: the platforms
// differ there.

// maxAnswerBytes caps how much of an answer is read.
const maxAnswerBytes = 1 << 20

// NewRequest builds a JSON-accepting request to url with body (nil: none)
// of contentType, and the Idempotency-Key header when key is set. A request
// that cannot be built is Rejected: no retry builds it.
func NewRequest(ctx context.Context, method, url string, body io.Reader, contentType, key string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, &Rejected{Message: "build request: " + err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return req, nil
}

// Exchange sends req with hc and reads its answer (at most 1 MiB). A
// failed send or read is transient; its error starts with label.
func Exchange(hc *http.Client, req *http.Request, label string) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label, err) // transient
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read answer: %w", label, err)
	}
	return resp, out, nil
}

// ThrottledBy is the outcome of a 429 answer with header h at now: wait as
// its Retry-After says.
func ThrottledBy(h http.Header, now time.Time) *Throttled {
	return &Throttled{Wait: RetryAfter(h.Get("Retry-After"), now)}
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date) at now;
// 1s when missing or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return time.Second
}
