package platformsim

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

func TestCommandHelpHasNoSideEffects(t *testing.T) {
	tr := clitest.NewTrap(t)
	getenv := func(string) string { t.Error("--help read the environment"); return "" }
	clitest.CheckHelp(t, tr, func() *cobra.Command { return Command(getenv) })
	r := clitest.Run(t, func() *cobra.Command { return Command(getenv) }, "--help")
	if !strings.Contains(r.Stdout, "CONTACTSYNC_PLATFORM_GATEWAY_URL") {
		t.Fatalf("--help: %s", r.Stdout)
	}
	env := map[string]string{"CONTACTSYNC_PLATFORM_GATEWAY_URL": "http://127.0.0.1:1/webhooks/p"}
	r = clitest.Run(t, func() *cobra.Command { return Command(func(k string) string { return env[k] }) })
	if r.Code != cli.ExitFail || !strings.Contains(r.Stderr, "needs a webhook secret") {
		t.Fatalf("gateway URL without secret: exit %d, %q", r.Code, r.Stderr)
	}
}
