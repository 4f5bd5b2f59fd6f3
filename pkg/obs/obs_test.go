package obs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestReadyz: /readyz is 200 only when every check passes and names each
// failing one otherwise; a check that hangs counts as failed within the
// timeout; /healthz does not look at the checks.
func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	hangs := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name     string
		checks   []ReadyCheck
		wantCode int
		want     []string
	}{
		{"no checks", nil, http.StatusOK, []string{"ready"}},
		{"all pass", []ReadyCheck{{"redis", ok}, {"stage ingest", ok}}, http.StatusOK, []string{"ready"}},
		{"one fails", []ReadyCheck{{"redis", down}, {"stage ingest", ok}}, http.StatusServiceUnavailable,
			[]string{"not ready", "redis: connection refused"}},
		{"one hangs, one fails", []ReadyCheck{{"redis", hangs}, {"stage router", down}}, http.StatusServiceUnavailable,
			[]string{"redis: context deadline exceeded", "stage router: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAdmin("127.0.0.1:0", NewRegistry(), zap.NewNop(), tt.checks, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			start := time.Now()
			code, body := get(t, "http://"+a.Addr()+"/readyz")
			if code != tt.wantCode {
				t.Errorf("/readyz = %d %q, want %d", code, body, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("/readyz body %q lacks %q", body, w)
				}
			}
			if took := time.Since(start); took > readyTimeout+time.Second {
				t.Errorf("/readyz took %v", took)
			}
			if code, _ := get(t, "http://"+a.Addr()+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d, want 200", code)
			}
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
