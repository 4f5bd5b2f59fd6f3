package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/obs"
)

// Main runs the given stages as a service until SIGINT/SIGTERM and returns
// the process exit code. It is all a service's main function needs.
func Main(stages []string, getenv func(string) string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := RunService(ctx, stages, getenv); err != nil {
		fmt.Fprintf(stderr, "contactsync: %v\n", err)
		return 1
	}
	return 0
}

// RunService builds an App from the environment and runs stages until ctx
// ends: config -> dependencies -> Run(ctx).
func RunService(ctx context.Context, stages []string, getenv func(string) string) error {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log, err := obs.NewLogger(cfg.LogLevel, false)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := obs.NewRegistry()
	a, err := New(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Warn("close", zap.Error(err))
		}
	}()
	return a.Run(ctx, stages, nil)
}
