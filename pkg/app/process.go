package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/obs"
)

// process is what every long-running contactsync command sets up first:
// the common configuration, the logger and the one metrics registry.
type process struct {
	cfg Config
	log *zap.Logger
	reg *prometheus.Registry
}

// startProcess reads the common configuration from the environment and
// makes the logger and the registry; close flushes the logger.
func startProcess(getenv func(string) string) (*process, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log, err := obs.NewLogger(cfg.LogLevel, false)
	if err != nil {
		return nil, err
	}
	return &process{cfg: cfg, log: log, reg: obs.NewRegistry()}, nil
}

func (p *process) close() { _ = p.log.Sync() }

// serveWorker runs a sink consumer (the deliverer, an applier) beside the
// admin server (/metrics, /healthz, and /readyz: the brokers answer, through
// the process's TLS and SASL) until ctx ends or either fails. started is
// logged once both are set up.
func (p *process) serveWorker(ctx context.Context, run func(context.Context) error, started string, fields ...zap.Field) error {
	probe, err := KafkaClient(p.cfg)
	if err != nil {
		return err
	}
	defer probe.Close()
	admin, err := obs.NewAdmin(p.cfg.AdminAddr, p.reg, p.log, []obs.ReadyCheck{{Name: "kafka", Check: probe.Ping}}, nil)
	if err != nil {
		return err
	}
	p.log.Info(started, append(fields, zap.String("admin", admin.Addr()))...)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error { return run(gctx) })
	return g.Wait()
}
