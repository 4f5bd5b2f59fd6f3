// Command demo runs the whole contactsync pipeline in-process on an
// embedded Kafka (kfake) and Redis (miniredis) with generated data, and
// shows what happened (`make demo`). It is a binary of its own so that the
// production binaries link neither.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, newCommand(os.Getenv, isTerminal(os.Stdin)), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// newCommand is the demo's command line; serve is the default of --serve.
func newCommand(getenv func(string) string, serve bool) *cobra.Command {
	opts := demo.Options{Getenv: getenv}
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "run the whole pipeline in-process on generated data and show what happened",
		Long: `Starts an in-process Kafka (kfake) and Redis (miniredis), runs every stage on them,
and closes the online loop in the same process: the reference platform
(platform-sim) sends signed webhooks to the gateway, the applier writes the online
sink back through the platform's API. It feeds a generated data set phase by phase
(offline rows as Debezium CDC, online donors through the platform's API and donor
portal) and prints what the pipeline did: how changes were matched, the sink
records per target system, the kick-outs, the review queue, and what crossed each
online edge (webhooks accepted and rejected, the applier's API calls with injected
429s and 500s, offline ids written back). In a terminal it then keeps everything
and the kick-out dashboard running until interrupted (--serve=false ends after the
summary).`,
		Version: cli.Build().String(),
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Out = cmd.OutOrStdout()
			return demo.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&opts.Seed, "seed", 7, "seed of the generated data")
	f.IntVar(&opts.Offline, "offline", 40, "offline contacts in the initial load")
	f.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "give up if the pipeline is not idle by then")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "log the pipeline's own messages")
	// In a terminal the demo keeps the dashboard open; in scripts it ends.
	f.BoolVar(&opts.Serve, "serve", serve, "keep the pipeline and kick-out dashboard running after the summary")
	return cmd
}

// isTerminal reports whether f is a terminal (/dev/null is a character
// device too, so the file mode cannot tell).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
