package app

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // delivery windows name time zones; slim images have no zoneinfo

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pgstore"
	"github.com/contactsync/contactsync/pkg/window"
)

// Delivery settings, read by `contactsync deliver` only.
const (
	EnvDeliverSystem   = "CONTACTSYNC_DELIVER_SYSTEM"
	EnvDeliverDSN      = "CONTACTSYNC_DELIVER_DSN"
	EnvDeliverTable    = "CONTACTSYNC_DELIVER_TABLE"
	EnvDeliverWindows  = "CONTACTSYNC_DELIVER_WINDOWS"
	EnvDeliverTimezone = "CONTACTSYNC_DELIVER_TIMEZONE"
)

// DeliverConfig is what `contactsync deliver` needs beyond Config.
type DeliverConfig struct {
	System   string
	DSN      string // may hold a password: never logged
	Table    string
	Schedule window.Schedule
}

// DeliverConfigFromEnv reads the delivery settings; all problems at once.
func DeliverConfigFromEnv(cfg Config, getenv func(string) string) (DeliverConfig, error) {
	get := withDefaults(getenv)
	var errs []error
	dc := DeliverConfig{
		System: get(EnvDeliverSystem, cfg.OfflineSystem),
		DSN:    get(EnvDeliverDSN, ""),
		Table:  get(EnvDeliverTable, "contactsync_inbox"),
	}
	if dc.DSN == "" {
		errs = append(errs, fmt.Errorf("%s: required (postgres://user:password@host:port/db)", EnvDeliverDSN))
	}
	loc, err := time.LoadLocation(get(EnvDeliverTimezone, "UTC"))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvDeliverTimezone, err))
	}
	if dc.Schedule, err = window.Parse(get(EnvDeliverWindows, "always"), loc); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvDeliverWindows, err))
	}
	return dc, errors.Join(errs...)
}

// RunDeliver loads one system's sink topic into its PostgreSQL staging
// table inside the configured windows, until ctx ends.
func RunDeliver(ctx context.Context, getenv func(string) string) error {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dc, err := DeliverConfigFromEnv(cfg, getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	rules, err := loadRules(cfg)
	if err != nil {
		return err
	}
	topo, err := topologyOf(cfg, rules.Systems())
	if err != nil {
		return err
	}
	spec, ok := topo.Loader(dc.System)
	if !ok {
		return fmt.Errorf("config: %s=%q is not a system of the rules (%v)", EnvDeliverSystem, dc.System, rules.Systems())
	}
	log, err := obs.NewLogger(cfg.LogLevel, false)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := obs.NewRegistry()
	codec, err := newCodec(ctx, cfg)
	if err != nil {
		return err
	}
	inbox, err := pgstore.Open(ctx, dc.DSN, dc.Table)
	if err != nil {
		return err
	}
	defer inbox.Close()
	kopts, err := KafkaOptions(cfg)
	if err != nil {
		return err
	}
	loader, err := deliver.New(deliver.Config{
		System:         dc.System,
		Brokers:        cfg.KafkaBrokers,
		Group:          spec.Group,
		Topic:          spec.Inputs[0].Topic,
		KickOutTopic:   topo.Topics.KickOuts,
		InstanceID:     spec.Group + "-" + cfg.Instance,
		Schedule:       dc.Schedule,
		SessionTimeout: cfg.SessionTimeout,
	}, inbox, codec, log.Named("deliver"), reg, nil, kopts...)
	if err != nil {
		return err
	}
	// Readiness: the brokers answer (through the loader's TLS and SASL).
	probe, err := KafkaClient(cfg)
	if err != nil {
		return err
	}
	defer probe.Close()
	ready := []obs.ReadyCheck{{Name: "kafka", Check: probe.Ping}}
	admin, err := obs.NewAdmin(cfg.AdminAddr, reg, log, ready, nil)
	if err != nil {
		return err
	}
	log.Info("contactsync delivering", zap.String("system", dc.System), zap.String("table", dc.Table),
		zap.Stringer("windows", dc.Schedule), zap.String("admin", admin.Addr()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error { return loader.Run(gctx) })
	return g.Wait()
}
