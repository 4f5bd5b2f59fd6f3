package main

import (
	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// onlineCommands are the online edge: the webhook gateway (the same as the
// services/gateway binary, for all-in-one installs) and the reference
// online platform (docs/platform-api.md).
func onlineCommands(getenv func(string) string) []*cobra.Command {
	return []*cobra.Command{
		gateway.Command(getenv, func() (gateway.Clients, error) { return app.GatewayClients(getenv) }),
		platformsim.Command(getenv),
	}
}
