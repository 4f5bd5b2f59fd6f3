package gateway

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
	clients := func() (Clients, error) { t.Error("--help made clients"); return Clients{}, nil }
	clitest.CheckHelp(t, tr, func() *cobra.Command { return Command(getenv, clients) })
	r := clitest.Run(t, func() *cobra.Command { return Command(getenv, clients) }, "--help")
	for _, e := range Env {
		if !strings.Contains(r.Stdout, e.Name) {
			t.Fatalf("--help does not list %s", e.Name)
		}
	}
	r = clitest.Run(t, func() *cobra.Command { return Command(func(string) string { return "" }, nil) })
	if r.Code != cli.ExitFail || !strings.Contains(r.Stderr, "CONTACTSYNC_GATEWAY_SOURCES is required") {
		t.Fatalf("without sources: exit %d, %q", r.Code, r.Stderr)
	}
}
