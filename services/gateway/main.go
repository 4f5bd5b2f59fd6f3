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
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := gateway.Command(os.Getenv, func() (gateway.Clients, error) { return app.GatewayClients(os.Getenv) })
	cmd.Version = cli.Build().String()
	code := cli.Execute(ctx, cmd, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
