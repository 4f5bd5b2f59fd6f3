package main

import (
	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// onlineCommands are the online edge: the webhook gateway (the same as the
// services/gateway binary, for all-in-one installs), the applier that
// writes an online system's sink topic to its platform, and the reference
// online platform (docs/platform-api.md).
func onlineCommands(getenv func(string) string) []*cobra.Command {
	return []*cobra.Command{
		gateway.Command(getenv, func() (gateway.Clients, error) { return app.GatewayClients(getenv) }),
		{
			Use:   "apply",
			Short: "write an online system's sink topic to its platform's API (idempotent, in order per person)",
			Long: `Writes the sink records of an online system (CONTACTSYNC_APPLY_SYSTEM, default the online
system) to its platform's API at CONTACTSYNC_APPLY_URL: CONTACTSYNC_APPLY_PLATFORM=reference (the
reference platform, X-Change-Origin: sync) or stripe (Stripe customers, key in
CONTACTSYNC_APPLY_STRIPE_KEY or _FILE). Creates and updates carry the record's event id in their
idempotency key, each person's writes in order, retries of 5xx and
timeouts with backoff, 429 after its Retry-After, a circuit breaker while the platform is down. A
write the platform rejects (4xx) becomes a kick-out "apply.rejected". Offsets are committed once
every write's outcome is known. Group and topic are those of the system's apply-<system> loader
in the topology (contactsync topics --list); a system that is not online is refused. Other
settings: contactsync env.`,
			Args: cli.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return app.RunApply(cmd.Context(), getenv) },
		},
		platformsim.Command(getenv),
	}
}
