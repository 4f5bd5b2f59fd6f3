package platformsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
)

// EnvVar documents one environment variable of `contactsync platform-sim`.
type EnvVar struct{ Name, Default, Help string }

// Env lists platform-sim's configuration.
var Env = []EnvVar{
	{"CONTACTSYNC_PLATFORM_ADDR", "127.0.0.1:8091", "listen address of the API, portal and control endpoints (no authentication: keep it on loopback)"},
	{"CONTACTSYNC_PLATFORM_GATEWAY_URL", "(none)", "where webhooks go, e.g. http://127.0.0.1:8090/webhooks/platform; empty = recorded, not sent"},
	{"CONTACTSYNC_PLATFORM_SECRET_FILE", "(none)", "file holding the webhook signing secret (or CONTACTSYNC_PLATFORM_SECRET)"},
	{"CONTACTSYNC_PLATFORM_SYSTEM", "online", "the system name the webhooks carry"},
	{"CONTACTSYNC_PLATFORM_FAULTS", "(none)", `faults at start, JSON, e.g. {"rate_limit":3,"retry_after":"2s","server_errors":2,"delay":"100ms"}`},
}

const long = `Runs the reference online platform: a REST API for contacts and gifts (/api/...),
donor portal endpoints (/portal/...), control endpoints for tests (/control/...),
and signed webhooks of every change to the gateway. See docs/platform-api.md.

Environment:
`

// Command is `contactsync platform-sim`: it runs the platform until the
// context ends. getenv is read only when it runs, never for its help.
func Command(getenv func(string) string) *cobra.Command {
	var b strings.Builder
	b.WriteString(long)
	for _, e := range Env {
		fmt.Fprintf(&b, "  %-34s default %-16s %s\n", e.Name, e.Default, e.Help)
	}
	return &cobra.Command{
		Use:   "platform-sim",
		Short: "run the reference online platform (tests, demo, adapter contract)",
		Long:  strings.TrimRight(b.String(), "\n"),
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), getenv, cmd.OutOrStdout())
		},
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	opts := Options{System: get("CONTACTSYNC_PLATFORM_SYSTEM", "online"), GatewayURL: get("CONTACTSYNC_PLATFORM_GATEWAY_URL", "")}
	secret := []byte(get("CONTACTSYNC_PLATFORM_SECRET", ""))
	if f := get("CONTACTSYNC_PLATFORM_SECRET_FILE", ""); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	if len(secret) > 0 {
		opts.Secrets = [][]byte{secret}
	}
	var err error
	if opts.Faults, err = ParseFaults(get("CONTACTSYNC_PLATFORM_FAULTS", "")); err != nil {
		return err
	}
	p, err := New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", get("CONTACTSYNC_PLATFORM_ADDR", "127.0.0.1:8091"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	runCtx, stopWebhooks := context.WithCancel(ctx)
	defer stopWebhooks()
	webhooksDone := make(chan struct{})
	go func() {
		defer close(webhooksDone)
		p.Run(runCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	target := opts.GatewayURL
	if target == "" {
		target = "(not sent)"
	}
	fmt.Fprintf(stdout, "platform-sim on http://%s (system %s), webhooks to %s\n", ln.Addr(), opts.System, target)
	select {
	case err = <-errc:
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = srv.Shutdown(shut)
	}
	stopWebhooks()
	<-webhooksDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
