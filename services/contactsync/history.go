package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/obs"
)

func historyCommand(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "history PERSON|SYSTEM:RECORD",
		Short: "why did this field change? a person's field decisions across systems, oldest first",
		Long: `history reads the audit topic from its start and prints every decision the
router made about the person's fields, one line each: the change's source
time, the field, the golden value before -> the value proposed, the system
and origin it came from, the rule and policy that decided, and the outcome
(sent to which systems, held for review, approved, echo suppressed,
unchanged, or why the current value was kept).

The argument is a person id (p-...) or SYSTEM:RECORD (e.g. offline:OFF-1),
which is resolved to its person through the identity index in Redis. The
audit topic keeps what its retention (CONTACTSYNC_AUDIT_RETENTION) allows.`,
		Example: "  contactsync history online:web-0042\n  contactsync history p-3f2a9c0d1e2b4a5f",
		Args:    cli.Args(1, 1, "one person id or SYSTEM:RECORD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := app.ConfigFromEnv(getenv)
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
			a, err := app.New(cmd.Context(), cfg, zap.NewNop(), obs.NewRegistry())
			if err != nil {
				return err
			}
			defer a.Close()
			h, err := a.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(h.Entries) == 0 && h.Unreadable == 0 {
				_, err := fmt.Fprintf(out, "no decisions recorded for %s\n", h.PersonID)
				return err
			}
			fmt.Fprintf(out, "history of %s\n", h.PersonID)
			return history.Write(out, h)
		},
	}
}
