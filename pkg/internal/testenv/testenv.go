// Package testenv gives tests a Kafka and a Redis: the real ones that
// `make test` starts (KAFKA_BROKERS, REDIS_ADDR), or, where those are unset,
// in-process stand-ins (kfake, miniredis) so the same test still runs; and
// the real PostgreSQL (PG_DSN), which has no stand-in.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
)

// InCI reports whether the tests run in CI, where real services are required.
func InCI() bool { return os.Getenv("CI") == "true" }

// Kafka returns seed brokers and whether they are a real broker.
func Kafka(t testing.TB) (brokers []string, real bool) {
	t.Helper()
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		return strings.Split(v, ","), true
	}
	if InCI() {
		t.Fatal("CI=true but KAFKA_BROKERS is unset: run the tests through `make test`")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs(), false
}

// RealKafka returns the real broker's address, or skips the test outside CI
// when KAFKA_BROKERS is unset (it fails in CI).
func RealKafka(t testing.TB) []string {
	t.Helper()
	return strings.Split(required(t, "KAFKA_BROKERS", "the real broker"), ",")
}

// required returns the variable name, or skips the test outside CI when it
// is unset (it fails in CI, where `make test` must have set it).
func required(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if InCI() {
			t.Fatalf("CI=true but %s is unset: run the tests through `make test`", name)
		}
		t.Skipf("%s is unset: this test needs %s that `make test` starts", name, what)
	}
	return v
}

// Redis returns a client, and whether it talks to a real redis-server.
func Redis(t testing.TB) (redis.UniversalClient, bool) {
	t.Helper()
	addr, real := os.Getenv("REDIS_ADDR"), true
	if addr == "" {
		if InCI() {
			t.Fatal("CI=true but REDIS_ADDR is unset: run the tests through `make test`")
		}
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			t.Fatalf("miniredis: %v", err)
		}
		t.Cleanup(m.Close)
		addr, real = m.Addr(), false
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	return rdb, real
}

// Postgres returns the DSN of the real PostgreSQL that `make test` starts
// (PG_DSN), or skips the test outside CI when it is unset (it fails in CI).
func Postgres(t testing.TB) string {
	t.Helper()
	return required(t, "PG_DSN", "the PostgreSQL")
}

// StripeMock returns the URL of the stripe-mock that the harness starts
// (STRIPE_MOCK_URL), or skips the test outside CI when it is unset (it
// fails in CI).
func StripeMock(t testing.TB) string {
	t.Helper()
	return required(t, "STRIPE_MOCK_URL", "stripe-mock (Stripe's API validated against its OpenAPI spec)")
}

// Unique returns prefix plus a random suffix, so tests sharing a real broker
// or Redis do not see each other's topics, groups or keys.
func Unique(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
