package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/platformclient"
	"github.com/contactsync/contactsync/pkg/stripeclient"
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
	EnvApplyPlatform    = "CONTACTSYNC_APPLY_PLATFORM"
	EnvApplyStripeKey   = "CONTACTSYNC_APPLY_STRIPE_KEY" // or _FILE
)

// Platform kinds `contactsync apply` can write to.
const (
	PlatformReference = "reference" // the reference platform's API (docs/platform-api.md)
	PlatformStripe    = "stripe"    // Stripe's API (customers)
)

// ApplyConfig is what `contactsync apply` needs beyond Config.
type ApplyConfig struct {
	System      string
	Platform    string
	URL         string
	StripeKey   string
	Concurrency int
}

// ApplyConfigFromEnv reads the applier's settings; all problems at once.
func ApplyConfigFromEnv(cfg Config, getenv func(string) string) (ApplyConfig, error) {
	get := withDefaults(getenv)
	r := &envReader{get: get}
	ac := ApplyConfig{System: get(EnvApplySystem, cfg.OnlineSystem), Platform: get(EnvApplyPlatform, PlatformReference)}
	switch ac.Platform {
	case PlatformReference:
		ac.URL = get(EnvApplyURL, "")
		if ac.URL == "" {
			r.fail(EnvApplyURL, errors.New("required (the platform's API, e.g. http://127.0.0.1:8091)"))
		}
	case PlatformStripe:
		ac.URL = get(EnvApplyURL, stripeclient.DefaultURL)
		if ac.StripeKey = r.secret(EnvApplyStripeKey); ac.StripeKey == "" && len(r.errs) == 0 {
			r.fail(EnvApplyStripeKey, errors.New("required with the stripe platform (a secret or restricted key that may write customers; or _FILE)"))
		}
	default:
		r.fail(EnvApplyPlatform, fmt.Errorf("want %s or %s", PlatformReference, PlatformStripe))
	}
	n, err := strconv.Atoi(get(EnvApplyConcurrency, "8"))
	if err != nil || n < 1 || n > 256 {
		r.fail(EnvApplyConcurrency, errors.New("want 1..256"))
	}
	ac.Concurrency = n
	return ac, errors.Join(r.errs...)
}

// newPlatform is the adapter of the configured platform kind.
func newPlatform(ac ApplyConfig) (apply.Platform, error) {
	if ac.Platform == PlatformStripe {
		return stripeclient.New(ac.URL, ac.StripeKey, nil)
	}
	return platformclient.New(ac.URL, nil)
}

// RunApply writes one online system's sink topic to its platform's API
// until ctx ends.
func RunApply(ctx context.Context, getenv func(string) string) error {
	p, err := startProcess(getenv)
	if err != nil {
		return err
	}
	defer p.close()
	cfg := p.cfg
	ac, err := ApplyConfigFromEnv(cfg, getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	topo, spec, err := applierOf(cfg, ac.System)
	if err != nil {
		return err
	}
	platform, err := newPlatform(ac)
	if err != nil {
		return fmt.Errorf("config: %s: %w", EnvApplyURL, err)
	}
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
	}, platform, codec, p.log.Named("apply"), p.reg, apply.Clock{}, kopts...)
	if err != nil {
		return err
	}
	return p.serveWorker(ctx, applier.Run, "contactsync applying", zap.String("system", ac.System), zap.String("platform", ac.Platform))
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
