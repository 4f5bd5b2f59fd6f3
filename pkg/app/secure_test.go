package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
)

// harnessVars returns the harness's variables (.harness/env), or skips the
// test outside CI when one is unset (it fails in CI, where `make test` must
// have set them).
func harnessVars(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			if testenv.InCI() {
				t.Fatalf("CI=true but %s is unset: run the tests through `make test` (a broker started by an older harness has no SASL listener: restart it)", n)
			}
			t.Skipf("%s is unset: this test needs the secured services that `make test` starts", n)
		}
		out[n] = v
	}
	return out
}

// secureKafkaEnv is the configuration of a client of the harness's SASL_SSL
// listener: TLS with a client certificate, SCRAM or PLAIN, the password in a
// file.
func secureKafkaEnv(t *testing.T, mechanism string) map[string]string {
	h := harnessVars(t, "KAFKA_SASL_BROKERS", "HARNESS_CA_FILE", "HARNESS_CLIENT_CERT_FILE", "HARNESS_CLIENT_KEY_FILE",
		"KAFKA_SCRAM_USER", "KAFKA_SCRAM_PASSWORD_FILE")
	return map[string]string{
		"KAFKA_BROKERS":            h["KAFKA_SASL_BROKERS"],
		"KAFKA_TLS_CA_FILE":        h["HARNESS_CA_FILE"],
		"KAFKA_TLS_CERT_FILE":      h["HARNESS_CLIENT_CERT_FILE"],
		"KAFKA_TLS_KEY_FILE":       h["HARNESS_CLIENT_KEY_FILE"],
		"KAFKA_SASL_MECHANISM":     mechanism,
		"KAFKA_SASL_USERNAME":      h["KAFKA_SCRAM_USER"],
		"KAFKA_SASL_PASSWORD_FILE": h["KAFKA_SCRAM_PASSWORD_FILE"],
	}
}

// secureRedisEnv is the configuration of a client of the harness's TLS
// Redis: client certificate, ACL user, password in a file.
func secureRedisEnv(t *testing.T) map[string]string {
	h := harnessVars(t, "REDIS_TLS_ADDR", "HARNESS_CA_FILE", "HARNESS_CLIENT_CERT_FILE", "HARNESS_CLIENT_KEY_FILE",
		"REDIS_ACL_USER", "REDIS_ACL_PASSWORD_FILE")
	return map[string]string{
		"REDIS_ADDR":          h["REDIS_TLS_ADDR"],
		"REDIS_TLS_CA_FILE":   h["HARNESS_CA_FILE"],
		"REDIS_TLS_CERT_FILE": h["HARNESS_CLIENT_CERT_FILE"],
		"REDIS_TLS_KEY_FILE":  h["HARNESS_CLIENT_KEY_FILE"],
		"REDIS_USERNAME":      h["REDIS_ACL_USER"],
		"REDIS_PASSWORD_FILE": h["REDIS_ACL_PASSWORD_FILE"],
	}
}

func merged(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func configOf(t *testing.T, env map[string]string) Config {
	t.Helper()
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKafkaSASLMechanisms: every mechanism authenticates on the SASL_SSL
// listener through the options every client uses, and a wrong password or
// a missing client certificate is refused.
func TestKafkaSASLMechanisms(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	brokerMetadata := func(env map[string]string) error {
		cl, err := KafkaClient(configOf(t, env), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			return err
		}
		defer cl.Close()
		_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	}
	for _, mech := range []string{SASLScramSHA512, SASLScramSHA256, SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			if err := brokerMetadata(secureKafkaEnv(t, mech)); err != nil {
				t.Fatalf("%s: %v", mech, err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		env := secureKafkaEnv(t, SASLScramSHA512)
		delete(env, "KAFKA_SASL_PASSWORD_FILE")
		env["KAFKA_SASL_PASSWORD"] = "wrong"
		if err := brokerMetadata(env); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		env := secureKafkaEnv(t, SASLScramSHA512)
		delete(env, "KAFKA_TLS_CERT_FILE")
		delete(env, "KAFKA_TLS_KEY_FILE")
		if err := brokerMetadata(env); err == nil {
			t.Fatal("a client without certificate was accepted")
		}
	})
}

// TestRedisTLSAndACL: the configured client reaches the TLS Redis as its ACL
// user; a wrong password is refused.
func TestRedisTLSAndACL(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	ping := func(env map[string]string) error {
		rdb, err := NewRedis(configOf(t, env))
		if err != nil {
			return err
		}
		defer rdb.Close()
		return rdb.Ping(ctx).Err()
	}
	env := secureRedisEnv(t)
	if err := ping(env); err != nil {
		t.Fatal(err)
	}
	delete(env, "REDIS_PASSWORD_FILE")
	env["REDIS_PASSWORD"] = "wrong"
	if err := ping(env); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

// securePipeline runs every stage from env alone (Kafka and Redis clients
// built from the configuration, as the shipped binaries build them), feeds
// a new online donor's gift and checks that her contact and gift reach the
// offline sink without a kick-out, and that /readyz says ready.
func securePipeline(t *testing.T, env map[string]string) *App {
	t.Helper()
	name := testenv.Unique("sec")
	env = merged(map[string]string{
		"CONTACTSYNC_TOPIC_PREFIX":    name + ".",
		"CONTACTSYNC_GROUP_PREFIX":    name,
		"CONTACTSYNC_REDIS_PREFIX":    name,
		"CONTACTSYNC_INSTANCE":        "test",
		"CONTACTSYNC_ADMIN_ADDR":      "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT": "6s",
		"CONTACTSYNC_PARTITIONS":      "2",
	}, env)
	cfg := configOf(t, env)
	ctx := testenv.Context(t, 4*time.Minute)
	a, err := New(ctx, cfg, zaptest.NewLogger(t).Named("pipeline"), obs.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	kopts := a.KafkaOptions()
	if err := kafkaops.EnsureTopics(ctx, cfg.KafkaBrokers, a.Topics(), cfg.Partitions, 1, kopts...); err != nil {
		t.Fatal(err)
	}
	inputs := a.Inputs()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, AllStages, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("pipeline stopped with: %v", err)
		}
	})

	prod, err := KafkaClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	gift := `{"event_id":"evt-2","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:01:00Z","origin":"api",
		"contact":{"id":"web-2","reference_source":"online","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org"},
		"gift":{"id":"g-2","amount":"10.00","currency":"USD"}}`
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topics.OnlineEvents, Key: []byte("web-2"), Value: []byte(gift)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := kafkaops.WaitIdle(ctx, cfg.KafkaBrokers, inputs, kopts...); err != nil {
		t.Fatal(err)
	}
	sink, err := kafkaops.ReadTopic(ctx, cfg.KafkaBrokers, cfg.Topics.Sink("offline"), kopts...)
	if err != nil {
		t.Fatal(err)
	}
	kicked, err := kafkaops.ReadTopic(ctx, cfg.KafkaBrokers, cfg.Topics.KickOuts, kopts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink) != 2 || len(kicked) != 0 {
		t.Fatalf("offline sink has %d records, kick-outs %d; want 2 (contact and gift) and 0", len(sink), len(kicked))
	}
	waitReadyz(t, a.AdminURL(), http.StatusOK, "ready")
	return a
}

// TestPipelineOverSASLSSLAndRedisTLS runs the stages against the broker's
// SASL_SSL listener (SCRAM-SHA-512, client certificate) and the TLS Redis
// with an ACL user.
func TestPipelineOverSASLSSLAndRedisTLS(t *testing.T) {
	securePipeline(t, merged(secureKafkaEnv(t, SASLScramSHA512), secureRedisEnv(t)))
}

// TestPipelineOnRedisCluster runs the stages on the harness's 3-node Redis
// Cluster given as REDIS_ADDR, as a deployment would configure it: every
// Redis script of the pipeline must keep to one slot.
func TestPipelineOnRedisCluster(t *testing.T) {
	h := harnessVars(t, "REDIS_CLUSTER_ADDRS")
	brokers := testenv.RealKafka(t)
	a := securePipeline(t, map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "REDIS_ADDR": h["REDIS_CLUSTER_ADDRS"]})
	if _, ok := a.Redis().(*redis.ClusterClient); !ok {
		t.Fatalf("REDIS_ADDR with three addresses gave a %T, want a cluster client", a.Redis())
	}
}

// waitReadyz polls url's /readyz until it answers code with a body
// containing want.
func waitReadyz(t *testing.T, url string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		if url != "" {
			got, body := getReadyz(t, url)
			if got == code && strings.Contains(body, want) {
				return
			}
			last = body
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	t.Fatalf("/readyz never answered %d with %q; last answer: %s", code, want, last)
}

func getReadyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
