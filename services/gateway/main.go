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

	"github.com/contactsync/contactsync/pkg/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := gateway.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
