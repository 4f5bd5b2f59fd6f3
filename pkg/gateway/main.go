package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/obs"
)

const long = `Serves POST /webhooks/<source> for the sources of CONTACTSYNC_GATEWAY_SOURCES:
verifies each webhook's signature (X-Contactsync-Timestamp, X-Contactsync-Signature:
v1=<hex HMAC-SHA256 of timestamp + "." + body>), and answers 200 once the event is
in Kafka, on the source's topic. A source of kind stripe is verified with Stripe's
Stripe-Signature (t=..., v1=...) and its customer and payment events are mapped
to the online event format first. Metrics, /healthz and /readyz on CONTACTSYNC_ADMIN_ADDR.

Environment (besides KAFKA_BROKERS, REDIS_ADDR and their TLS/SASL/ACL settings, see "contactsync env";
CONTACTSYNC_ADMIN_ADDR, CONTACTSYNC_LOG_LEVEL):
`

// RedisClient is the Redis client the dedupe cache uses.
type RedisClient = redis.UniversalClient

// Clients says how to reach Kafka and Redis (TLS, SASL, Redis ACL and
// Cluster). The composition root makes them as for every contactsync
// process; without it the gateway dials KAFKA_BROKERS and REDIS_ADDR in
// plain text.
type Clients struct {
	KafkaBrokers []string
	KafkaOpts    []kgo.Opt
	NewRedis     func() (RedisClient, error)
}

// Command is `contactsync gateway` (and the gateway service): it runs the
// gateway until the context ends. getenv and clients (may be nil) are
// called only when it runs, never for its help.
func Command(getenv func(string) string, clients func() (Clients, error)) *cobra.Command {
	var b strings.Builder
	b.WriteString(long)
	for _, e := range Env {
		fmt.Fprintf(&b, "  %-36s default %-16s %s\n", e.Name, e.Default, e.Help)
	}
	return &cobra.Command{
		Use:   "gateway",
		Short: "receive the online platforms' signed webhooks and put each event on Kafka before answering",
		Long:  strings.TrimRight(b.String(), "\n"),
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), getenv, clients)
		},
	}
}

func run(ctx context.Context, getenv func(string) string, clientsFn func() (Clients, error)) error {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	clients := Clients{
		KafkaBrokers: cfg.KafkaBrokers,
		NewRedis: func() (RedisClient, error) {
			return redis.NewClient(&redis.Options{Addr: cfg.RedisAddr}), nil
		},
	}
	if clientsFn != nil {
		if clients, err = clientsFn(); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
	}
	log, err := obs.NewLogger(cfg.LogLevel, false)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sources, err := LoadSources(cfg.SourcesPath, getenv)
	if err != nil {
		return err
	}
	reg := obs.NewRegistry()
	pub, err := NewKafkaPublisher(clients.KafkaBrokers, cfg.ProduceTimeout, clients.KafkaOpts...)
	if err != nil {
		return err
	}
	// Closed after the server drained: every in-flight request has its answer.
	defer pub.Close()
	var dedupe Deduper
	if cfg.DedupeTTL > 0 {
		rdb, err := clients.NewRedis()
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		defer func() { _ = rdb.Close() }()
		dedupe = NewRedisDeduper(rdb, getenvDefault(getenv, "CONTACTSYNC_REDIS_PREFIX", "cs")+":", cfg.DedupeTTL)
	}
	h, err := NewHandler(HandlerOptions{
		Sources: sources, Publisher: pub, Deduper: dedupe, Log: log, Metrics: NewMetrics(reg),
		MaxBody: cfg.MaxBody, Tolerance: cfg.Tolerance, ProduceTimeout: cfg.ProduceTimeout, RetryAfter: cfg.RetryAfter,
	})
	if err != nil {
		return err
	}
	srv, err := NewServer(h, ServerOptions{
		Addr: cfg.Addr, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Drain: cfg.DrainTimeout,
		WriteTimeout: cfg.ProduceTimeout + 10*time.Second,
	})
	if err != nil {
		return err
	}
	// Redis is not a readiness condition: without it the gateway still
	// stores every event (it only stops skipping redeliveries).
	ready := []obs.ReadyCheck{{Name: "kafka", Check: pub.Ping}}
	admin, err := obs.NewAdmin(cfg.AdminAddr, reg, log, ready, nil)
	if err != nil {
		return err
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name + "->" + s.Topic
	}
	topics := make([]string, len(sources))
	for i, s := range sources {
		topics[i] = s.Topic
	}
	// A missing topic makes every webhook of its source a 503; say so now
	// rather than at the first webhook (the topic may still be created).
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	missing, err := pub.MissingTopics(tctx, topics)
	cancel()
	switch {
	case err != nil:
		log.Warn("could not check the sources' topics", zap.Error(err))
	case len(missing) > 0:
		log.Error("sources' topics do not exist: their webhooks get 503 until they are created", zap.Strings("topics", missing))
	}
	log.Info("gateway listening", zap.String("addr", srv.Addr()), zap.Bool("tls", cfg.TLSCert != ""),
		zap.Strings("sources", names), zap.String("admin", admin.Addr()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return admin.Run(gctx) })
	return g.Wait()
}

func getenvDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
