package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
)

// healthcheckCommand is `contactsync healthcheck`: the probe of a
// container image that has no shell and no curl (distroless). It asks the
// process's own admin server and exits 0 when it answers 2xx.
func healthcheckCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck [--path /readyz | /healthz] [--addr HOST:PORT | --url URL]",
		Short: "probe a contactsync process's admin server: exit 0 when it answers 2xx (for container health checks)",
		Long: `healthcheck GETs the admin server of the contactsync process next to it (same
container) and exits 0 when the answer is 2xx, 1 otherwise. By default it asks
/readyz (every dependency answers, every stage has joined its group) at
CONTACTSYNC_ADMIN_ADDR, with an unspecified host (0.0.0.0, ::) asked on
loopback. --path /healthz asks liveness only; --url asks any URL (another
server's health endpoint).`,
		Args: cli.NoArgs,
	}
	path := cmd.Flags().String("path", "/readyz", "path to GET on the admin server")
	addr := cmd.Flags().String("addr", "", "admin address (default: CONTACTSYNC_ADMIN_ADDR, else 127.0.0.1:9100)")
	url := cmd.Flags().String("url", "", "full URL to GET instead of the admin server's --path")
	timeout := cmd.Flags().Duration("timeout", 3*time.Second, "give up after this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		target := *url
		if target == "" {
			a := *addr
			if a == "" {
				a = getenv("CONTACTSYNC_ADMIN_ADDR")
			}
			if a == "" {
				a = "127.0.0.1:9100"
			}
			host, err := probeHost(a)
			if err != nil {
				return cli.Usagef("admin address %q: %v", a, err)
			}
			target = "http://" + host + *path
		}
		return probe(cmd.Context(), target, *timeout, cmd.OutOrStdout())
	}
	return cmd
}

// probeHost turns a listen address into one to dial: a server listening on
// every interface is asked on loopback.
func probeHost(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// probe GETs target and fails unless it answers 2xx; the first line of the
// answer is printed either way (readiness says which check failed).
func probe(ctx context.Context, target string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return cli.Usagef("url %q: %v", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(out, "%s %s\n%s", target, resp.Status, body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", target, resp.Status)
	}
	return nil
}
