package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
)

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// runIngest runs the ingest stage on the given broker and Redis and returns
// its admin URL once the admin server listens.
func runIngest(t *testing.T, brokers, redisAddr string, ensureTopics bool) string {
	t.Helper()
	name := testenv.Unique("ready")
	cfg := configOf(t, map[string]string{
		"KAFKA_BROKERS":               brokers,
		"REDIS_ADDR":                  redisAddr,
		"CONTACTSYNC_TOPIC_PREFIX":    name + ".",
		"CONTACTSYNC_GROUP_PREFIX":    name,
		"CONTACTSYNC_INSTANCE":        "test",
		"CONTACTSYNC_ADMIN_ADDR":      "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT": "6s",
		"CONTACTSYNC_PARTITIONS":      "1",
	})
	ctx := testenv.Context(t, 2*time.Minute)
	a, err := New(ctx, cfg, zaptest.NewLogger(t), obs.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if ensureTopics {
		if err := kafkaops.EnsureTopics(ctx, cfg.KafkaBrokers, a.Topics(), cfg.Partitions, 1); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, []string{StageIngest}, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stage stopped with: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for a.AdminURL() == "" {
		if time.Now().After(deadline) {
			t.Fatal("admin server not started")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	return a.AdminURL()
}

// TestReadyzMeansReady: /readyz is 503 until the stage has joined its group
// and while Redis does not answer, 200 only when everything is; /healthz
// (liveness) is 200 throughout.
func TestReadyzMeansReady(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)

	t.Run("broker unreachable: never joined", func(t *testing.T) {
		url := runIngest(t, unusedAddr(t), mr.Addr(), false)
		for range 3 {
			code, body := getReadyz(t, url)
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "stage ingest: not joined") {
				t.Fatalf("/readyz = %d %q, want 503 naming the stage", code, body)
			}
		}
		assertHealthy(t, url)
	})
	t.Run("redis unreachable", func(t *testing.T) {
		url := runIngest(t, strings.Join(brokers, ","), unusedAddr(t), true)
		// Joined (the stage's line goes), still not ready because of Redis.
		deadline := time.Now().Add(time.Minute)
		for {
			code, body := getReadyz(t, url)
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis: ") {
				t.Fatalf("/readyz = %d %q, want 503 naming redis", code, body)
			}
			if !strings.Contains(body, "stage ingest") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stage never joined: %q", body)
			}
			time.Sleep(100 * time.Millisecond) // polling with a deadline
		}
		assertHealthy(t, url)
	})
	t.Run("ready, then redis goes away and comes back", func(t *testing.T) {
		url := runIngest(t, strings.Join(brokers, ","), mr.Addr(), true)
		waitReadyz(t, url, http.StatusOK, "ready")
		mr.Close()
		waitReadyz(t, url, http.StatusServiceUnavailable, "redis: ")
		assertHealthy(t, url)
		if err := mr.Restart(); err != nil {
			t.Fatal(err)
		}
		waitReadyz(t, url, http.StatusOK, "ready")
	})
}

func assertHealthy(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d, want 200 (liveness does not depend on the dependencies)", resp.StatusCode)
	}
}
