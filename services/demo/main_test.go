package main

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

func TestDemoCommandLine(t *testing.T) {
	tr := clitest.NewTrap(t)
	newCmd := func() *cobra.Command { return newCommand(tr.Env(nil), false) }
	clitest.CheckHelp(t, tr, newCmd)
	for _, args := range [][]string{{"extra"}, {"--seed", "x"}, {"-seed", "7"}} {
		if r := clitest.Run(t, newCmd, args...); r.Code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, r.Code, cli.ExitUsage, r.Stderr)
		}
	}
}
