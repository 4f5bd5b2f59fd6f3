package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/cli"
)

// Main runs the stage service called name (services/<name>) with the
// process's arguments until SIGINT/SIGTERM and returns the exit code. It is
// all a service's main function needs.
func Main(name, stage string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Execute(ctx, StageCommand(name, stage, os.Getenv), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// StageCommand is the command line of a stage's own service: no arguments,
// configuration from the environment.
func StageCommand(name, stage string, getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: fmt.Sprintf("run contactsync's %s stage until interrupted", stage),
		Long: fmt.Sprintf(`Runs contactsync's %[1]s stage as its own service until SIGINT or SIGTERM.
It scales out by running more replicas: they share the Kafka consumer group
<CONTACTSYNC_GROUP_PREFIX>-%[1]s (give each a stable CONTACTSYNC_INSTANCE).

Configuration is read from the environment (contactsync env lists it):
KAFKA_BROKERS, REDIS_ADDR, CONTACTSYNC_RULES, CONTACTSYNC_ADMIN_ADDR, ...`, stage),
		Version: cli.Build().String(),
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return RunService(cmd.Context(), []string{stage}, getenv)
		},
	}
}

// RunService builds an App from the environment and runs stages until ctx
// ends: config -> dependencies -> Run(ctx).
func RunService(ctx context.Context, stages []string, getenv func(string) string) error {
	p, err := startProcess(getenv)
	if err != nil {
		return err
	}
	defer p.close()
	a, err := New(ctx, p.cfg, p.log, p.reg)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			p.log.Warn("close", zap.Error(err))
		}
	}()
	return a.Run(ctx, stages, nil)
}
