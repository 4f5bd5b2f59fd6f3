package app_test

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

// The stage services take no arguments: they answer --help without side
// effects and reject anything else before they read their configuration.
func TestStageCommandLines(t *testing.T) {
	for name, stage := range map[string]string{"ingest": app.StageIngest, "matcher": app.StageMatcher,
		"router": app.StageRouter, "kickouts": app.StageCollector} {
		t.Run(name, func(t *testing.T) {
			tr := clitest.NewTrap(t)
			newCmd := func() *cobra.Command { return app.StageCommand(name, stage, tr.Env(nil)) }
			clitest.CheckHelp(t, tr, newCmd)
			for _, args := range [][]string{{"extra"}, {"--bogus"}, {"-stages", "ingest"}, {"help", "me"}} {
				if r := clitest.Run(t, newCmd, args...); r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, "Usage:") {
					t.Errorf("%q: exit %d, want %d\n%s", args, r.Code, cli.ExitUsage, r.Stderr)
				}
			}
			if r := clitest.Run(t, newCmd, "--version"); r.Code != 0 || !strings.Contains(r.Stdout, cli.Build().Version) {
				t.Errorf("--version: exit %d\n%s", r.Code, r.Stdout)
			}
			if n := tr.Contacts(); n != 0 {
				t.Errorf("contacted a service %d time(s)", n)
			}
		})
	}
}
