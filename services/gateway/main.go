// Command gateway runs contactsync's webhook gateway: it authenticates the
// webhooks of the configured online sources and puts each accepted event on
// its source's Kafka topic before answering 200. Replicas are stateless and
// may run behind any load balancer. `gateway --help` lists its settings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := gateway.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, func() (gateway.Clients, error) {
		return clients(os.Getenv)
	})
	stop()
	os.Exit(code)
}

// clients reaches Kafka and Redis with the security settings every
// contactsync process reads (TLS, SASL, Redis ACL and Cluster).
func clients(getenv func(string) string) (gateway.Clients, error) {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return gateway.Clients{}, err
	}
	kafkaOpts, err := app.KafkaOptions(cfg)
	if err != nil {
		return gateway.Clients{}, err
	}
	return gateway.Clients{
		KafkaBrokers: cfg.KafkaBrokers,
		KafkaOpts:    kafkaOpts,
		NewRedis:     func() (gateway.RedisClient, error) { return app.NewRedis(cfg) },
	}, nil
}
