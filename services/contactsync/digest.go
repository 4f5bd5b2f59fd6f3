package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/digest"
	"github.com/contactsync/contactsync/pkg/digest/notify"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/review"
)

func digestCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest [--day YYYY-MM-DD] [--dry-run]",
		Short: "send the daily digest: yesterday's kick-outs by reason, the review backlog, a link to the dashboard",
		Long: `digest reads the kick-out store and sends yesterday's (UTC) kick-outs by reason,
each against its usual daily level over the week before (spikes marked), the
open kick-outs and the review backlog with the age of their oldest item, and
links to the dashboard. Run it daily (cron, or the chart's CronJob).

It posts {"text": ...} to a Slack-compatible webhook and/or mails it over SMTP
(STARTTLS when the server offers it):
  CONTACTSYNC_DIGEST_WEBHOOK_URL       incoming webhook URL (a secret)
  CONTACTSYNC_DIGEST_SMTP_ADDR         SMTP relay host:port
  CONTACTSYNC_DIGEST_SMTP_FROM         sender address
  CONTACTSYNC_DIGEST_SMTP_TO           recipients, comma-separated
  CONTACTSYNC_DIGEST_SMTP_USERNAME     login (PLAIN, only over TLS), optional
  CONTACTSYNC_DIGEST_SMTP_PASSWORD     its password, or
  CONTACTSYNC_DIGEST_SMTP_PASSWORD_FILE  a file holding it
  CONTACTSYNC_DIGEST_DASHBOARD_URL     the dashboard's address, for the links
With --dry-run it prints the digest instead of sending it.`,
		Args: cli.NoArgs,
	}
	dayFlag := cmd.Flags().String("day", "", "report on this UTC day instead of yesterday")
	dry := cmd.Flags().Bool("dry-run", false, "print the digest; send nothing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		now := time.Now().UTC()
		day := digest.Yesterday(now)
		if *dayFlag != "" {
			d, err := time.Parse(time.DateOnly, *dayFlag)
			if err != nil {
				return fmt.Errorf("%w: --day %q is not YYYY-MM-DD", cli.ErrUsage, *dayFlag)
			}
			day = d
		}
		dc, err := notify.ConfigFromEnv(getenv)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if !*dry && !dc.Enabled() {
			return fmt.Errorf("config: set %s and/or %s (or use --dry-run)", notify.EnvWebhookURL, notify.EnvSMTPAddr)
		}
		cfg, err := app.ConfigFromEnv(getenv)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		a, err := app.New(cmd.Context(), cfg, zap.NewNop(), obs.NewRegistry())
		if err != nil {
			return err
		}
		defer a.Close()
		deps, err := a.DashboardDeps(nil)
		if err != nil {
			return err
		}
		deps.Registry = nil
		svc, err := review.NewService(deps)
		if err != nil {
			return err
		}
		f, err := dashboard.DigestFigures(cmd.Context(), svc, day, now)
		if err != nil {
			return err
		}
		f.DashboardURL = dc.DashboardURL
		m := digest.Build(f)
		if *dry {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "Subject: %s\n\n%s", m.Subject, m.Text)
			return err
		}
		if err := notify.Send(cmd.Context(), dc, m); err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.ErrOrStderr(), "digest sent: %s\n", m.Subject)
		return err
	}
	return cmd
}
