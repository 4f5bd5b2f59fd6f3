package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/platformclient"
)

// GatewayClients reaches Kafka and Redis for the webhook gateway with the
// security settings every contactsync process reads (TLS, SASL, Redis ACL
// and Cluster).
func GatewayClients(getenv func(string) string) (gateway.Clients, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return gateway.Clients{}, err
	}
	kafkaOpts, err := KafkaOptions(cfg)
	if err != nil {
		return gateway.Clients{}, err
	}
	return gateway.Clients{
		KafkaBrokers: cfg.KafkaBrokers,
		KafkaOpts:    kafkaOpts,
		NewRedis:     func() (gateway.RedisClient, error) { return NewRedis(cfg) },
	}, nil
}

// Applier settings, read by `contactsync apply` only.
const (
	EnvApplySystem      = "CONTACTSYNC_APPLY_SYSTEM"
	EnvApplyURL         = "CONTACTSYNC_APPLY_URL"
	EnvApplyConcurrency = "CONTACTSYNC_APPLY_CONCURRENCY"
)

// ApplyConfig is what `contactsync apply` needs beyond Config.
type ApplyConfig struct {
	System      string
	URL         string
	Concurrency int
}

// ApplyConfigFromEnv reads the applier's settings; all problems at once.
func ApplyConfigFromEnv(cfg Config, getenv func(string) string) (ApplyConfig, error) {
	get := withDefaults(getenv)
	ac := ApplyConfig{System: get(EnvApplySystem, cfg.OnlineSystem), URL: get(EnvApplyURL, "")}
	var errs []error
	if ac.URL == "" {
		errs = append(errs, fmt.Errorf("%s: required (the platform's API, e.g. http://127.0.0.1:8091)", EnvApplyURL))
	}
	n, err := strconv.Atoi(get(EnvApplyConcurrency, "8"))
	if err != nil || n < 1 || n > 256 {
		errs = append(errs, fmt.Errorf("%s: want 1..256", EnvApplyConcurrency))
	}
	ac.Concurrency = n
	return ac, errors.Join(errs...)
}

// RunApply writes one online system's sink topic to its platform's API
// until ctx ends.
func RunApply(ctx context.Context, getenv func(string) string) error {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ac, err := ApplyConfigFromEnv(cfg, getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	topo, spec, err := applierOf(cfg, ac.System)
	if err != nil {
		return err
	}
	platform, err := platformclient.New(ac.URL, nil)
	if err != nil {
		return fmt.Errorf("config: %s: %w", EnvApplyURL, err)
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
	kopts, err := KafkaOptions(cfg)
	if err != nil {
		return err
	}
	applier, err := apply.New(apply.Config{
		System:         ac.System,
		Brokers:        cfg.KafkaBrokers,
		Group:          spec.Group,
		Topic:          spec.Inputs[0].Topic,
		KickOutTopic:   topo.Topics.KickOuts,
		InstanceID:     spec.Group + "-" + cfg.Instance,
		Concurrency:    ac.Concurrency,
		SessionTimeout: cfg.SessionTimeout,
	}, platform, codec, log.Named("apply"), reg, apply.Clock{}, kopts...)
	if err != nil {
		return err
	}
	probe, err := KafkaClient(cfg)
	if err != nil {
		return err
	}
	defer probe.Close()
	admin, err := obs.NewAdmin(cfg.AdminAddr, reg, log, []obs.ReadyCheck{{Name: "kafka", Check: probe.Ping}}, nil)
	if err != nil {
		return err
	}
	log.Info("contactsync applying", zap.String("system", ac.System), zap.String("admin", admin.Addr()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error { return applier.Run(gctx) })
	return g.Wait()
}

// applierOf returns the topology of cfg and the applier of system in it,
// refusing a system that is not an online target (the offline system is
// loaded by contactsync deliver or apply-offline).
func applierOf(cfg Config, system string) (pipeline.Topology, pipeline.Stage, error) {
	topo, err := TopologyOf(cfg)
	if err != nil {
		return pipeline.Topology{}, pipeline.Stage{}, err
	}
	spec, ok := topo.Loader(system)
	switch {
	case !ok:
		return pipeline.Topology{}, pipeline.Stage{}, fmt.Errorf("config: %s=%q is not a system of the rules", EnvApplySystem, system)
	case spec.Kind != pipeline.LoaderApply:
		return pipeline.Topology{}, pipeline.Stage{}, fmt.Errorf("config: %s=%q is not an online system (%s, %s): its sink topic is loaded by contactsync deliver or apply-offline",
			EnvApplySystem, system, "CONTACTSYNC_ONLINE_SYSTEM", EnvOnlineSources)
	}
	return topo, spec, nil
}
