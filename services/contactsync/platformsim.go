package main

import (
	"context"
	"io"

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
	return gateway.Main(ctx, args, getenv, stdout, stderr)
}

// Not yet dispatched from run(): main.go is being restructured into a CLI
// library, and the two commands are hooked in there ("platform-sim",
// "gateway"). Referenced here so that the linters do not flag them unused.
var _, _ = runPlatformSim, runGateway
