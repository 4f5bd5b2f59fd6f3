package main

import (
	"context"
	"io"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// runPlatformSim is `contactsync platform-sim`: the reference online
// platform (see docs/platform-api.md). It returns the exit code.
func runPlatformSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return platformsim.Main(ctx, args, getenv, stdout, stderr)
}

// runGateway is `contactsync gateway`, the same webhook gateway as the
// services/gateway binary, for all-in-one installs.
func runGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return gateway.Main(ctx, args, getenv, stdout, stderr, func() (gateway.Clients, error) {
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
	})
}

// Not yet dispatched from run(): main.go is being restructured into a CLI
// library, and the two commands are hooked in there ("platform-sim",
// "gateway"). Referenced here so that the linters do not flag them unused.
var _, _ = runPlatformSim, runGateway
