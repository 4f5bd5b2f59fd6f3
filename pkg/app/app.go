package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/collector"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/stream"
)

// Stage names, as accepted by `contactsync run`.
const (
	StageIngest    = pipeline.StageIngest
	StageMatcher   = pipeline.StageMatcher
	StageRouter    = pipeline.StageRouter
	StageCollector = pipeline.StageCollector
)

// AllStages lists every stage in pipeline order (the topology's order).
var AllStages = []string{StageIngest, StageMatcher, StageRouter, StageCollector}

// App holds a process's dependencies, built once from Config.
type App struct {
	cfg      Config
	log      *zap.Logger
	reg      *prometheus.Registry
	rdb      redis.UniversalClient
	ownRedis bool
	codec    *avrocodec.Codec
	metrics  *pipeline.Metrics
	rules    *rulesAdapter
	topology pipeline.Topology
	kgoOpts  []kgo.Opt
	dashURL  atomic.Value
	adminURL atomic.Value
	matcher  *match.Matcher
}

// Option adjusts how an App is built (tests and the demo use them).
type Option func(*App)

// WithRedisClient uses rdb instead of dialling Config.RedisAddr.
func WithRedisClient(rdb redis.UniversalClient) Option {
	return func(a *App) { a.rdb = rdb }
}

// WithKafkaOptions appends client options to every Kafka client of the App
// (after the configured TLS and SASL).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(a *App) { a.kgoOpts = append(a.kgoOpts, opts...) }
}

// New builds the App: it loads and validates the rules (no stage starts on
// an invalid config), compiles the schemas and connects to Redis.
func New(ctx context.Context, cfg Config, log *zap.Logger, reg *prometheus.Registry, opts ...Option) (*App, error) {
	a := &App{cfg: cfg, log: log, reg: reg}
	for _, o := range opts {
		o(a)
	}
	var err error
	if a.rules, err = newRulesAdapter(cfg); err != nil {
		return nil, err
	}
	if a.topology, err = topologyOf(cfg, a.rules.systems()); err != nil {
		return nil, err
	}
	if a.matcher, err = newMatcher(cfg); err != nil {
		return nil, err
	}
	if a.codec, err = newCodec(ctx, cfg); err != nil {
		return nil, err
	}
	if a.metrics, err = pipeline.NewMetrics(reg); err != nil {
		return nil, err
	}
	sec, err := KafkaOptions(cfg)
	if err != nil {
		return nil, err
	}
	a.kgoOpts = append(sec, a.kgoOpts...)
	if a.rdb == nil {
		if a.rdb, err = NewRedis(cfg); err != nil {
			return nil, err
		}
		a.ownRedis = true
	}
	return a, nil
}

// Close releases what New opened.
func (a *App) Close() error {
	if a.ownRedis {
		return a.rdb.Close()
	}
	return nil
}

// Codec is the process's Avro codec.
func (a *App) Codec() *avrocodec.Codec { return a.codec }

// Redis is the process's Redis client.
func (a *App) Redis() redis.UniversalClient { return a.rdb }

// Systems are the target systems named by the rules (one sink topic each).
func (a *App) Systems() []string { return a.rules.systems() }

// Topology is the pipeline's declared topology: stages, groups, topics.
func (a *App) Topology() pipeline.Topology { return a.topology }

// Topics returns every topic the pipeline uses.
func (a *App) Topics() []string { return a.topology.AllTopics() }

// SinkTopic returns the sink topic of a target system.
func (a *App) SinkTopic(system string) string { return a.cfg.Topics.Sink(system) }

// KafkaOptions are the options of every Kafka client of the App (TLS, SASL,
// and those given WithKafkaOptions); seed brokers are not among them.
func (a *App) KafkaOptions() []kgo.Opt { return slices.Clone(a.kgoOpts) }

// Config returns the process configuration.
func (a *App) Config() Config { return a.cfg }

// Queue is the kick-out and review store.
func (a *App) Queue() *redisstore.Queue {
	return redisstore.NewQueue(a.rdb, redisstore.Keys{Prefix: a.cfg.RedisPrefix}, a.codec, a.cfg.KickOutRetention,
		redisstore.WithFacts(review.FactsReader(a.sources(), a.codec)))
}

func (a *App) sources() review.Sources {
	return review.Sources{Topology: a.topology}
}

// DashboardDeps returns what the kick-out dashboard and CLI need; producer
// puts replays on the replay topic.
func (a *App) DashboardDeps(producer review.Producer) (review.Deps, error) {
	decoders, err := newDecoders(a.cfg, a.codec)
	if err != nil {
		return review.Deps{}, err
	}
	rc, err := loadRules(a.cfg)
	if err != nil {
		return review.Deps{}, err
	}
	return review.Deps{
		Store: a.Queue(), Producer: producer, Codec: a.codec, Sources: a.sources(), MaxReplays: a.cfg.MaxReplays,
		Decode: func(format string, r *kgo.Record) ([]contact.Change, error) {
			d, ok := decoders[format]
			if !ok {
				return nil, fmt.Errorf("no decoder for format %q", format)
			}
			return d(r)
		},
		Log: a.log.Named("dashboard"), Registry: a.reg,
		Fields: rc.Fields(), Pairs: a.pairStore(), Split: a.splitStore(), Persons: goldenReader{states: redisstore.NewStateStore(a.rdb, redisstore.Keys{Prefix: a.cfg.RedisPrefix}, 0)},
	}, nil
}

// AdminURL is where the admin server (/metrics, /healthz, /readyz) listens
// once Run has started it (empty before).
func (a *App) AdminURL() string {
	if v := a.adminURL.Load(); v != nil {
		return v.(string)
	}
	return ""
}

// DashboardURL is where the dashboard listens once Run has started it
// (empty when it does not run).
func (a *App) DashboardURL() string {
	if v := a.dashURL.Load(); v != nil {
		return v.(string)
	}
	return ""
}

// stage is a built stream stage. Its own InputTopics must agree with the
// topology's (a test checks it); the runner subscribes to the topology's.
type stage interface {
	stream.Processor
	InputTopics() []string
}

func (a *App) newStage(spec pipeline.Stage) (stage, error) {
	keys := redisstore.Keys{Prefix: a.cfg.RedisPrefix}
	switch spec.Name {
	case StageIngest:
		return newIngest(a.cfg, spec, a.codec, a.metrics, a.Systems())
	case StageMatcher:
		resolver := matcher.NewIndexResolver(a.matcher, redisstore.NewMatchIndex(a.rdb, keys), redisstore.NewDecisionStore(a.rdb, keys, 0)).
			WithPairs(redisstore.NewPairStore(a.rdb, keys))
		return matcher.New(a.cfg.Topics, a.codec, resolver, a.metrics), nil
	case StageRouter:
		st := router.New(a.cfg.Topics, a.codec, a.rules, redisstore.NewStateStore(a.rdb, keys, 0), a.metrics)
		st.UnsafeSkipMemos = a.cfg.Failpoints.On("router.skip-memo")
		return st, nil
	case StageCollector:
		return collector.New(a.cfg.Topics, a.codec, a.Queue(), a.metrics), nil
	}
	return nil, fmt.Errorf("stage %q is declared but not built", spec.Name)
}

// Runner builds the stream runner of one stage.
func (a *App) Runner(name string) (*stream.Runner, error) {
	spec, ok := a.topology.Stage(name)
	if !ok {
		return nil, fmt.Errorf("unknown stage %q (stages: %v)", name, a.topology.StageNames())
	}
	st, err := a.newStage(spec)
	if err != nil {
		return nil, err
	}
	group := spec.Group
	return stream.New(stream.Config{
		Name:            name,
		Brokers:         a.cfg.KafkaBrokers,
		Group:           group,
		Topics:          spec.InputTopics(),
		TransactionalID: group + "-" + a.cfg.Instance,
		// Static membership: a restarted replica takes its partitions back
		// at once instead of after a session timeout and a rebalance.
		InstanceID:      group + "-" + a.cfg.Instance,
		SessionTimeout:  a.cfg.SessionTimeout,
		MaxBatchRecords: a.cfg.MaxBatchRecords,
		Failpoints:      a.cfg.Failpoints,
	}, st, a.log.Named(name), a.reg, a.kgoOpts...)
}

// Run runs the named stages and the admin server until ctx ends, then shuts
// everything down gracefully. extra handlers are served on the admin port.
func (a *App) Run(ctx context.Context, stages []string, extra map[string]http.Handler) error {
	if len(stages) == 0 {
		return errors.New("no stage to run")
	}
	// Ready means every stage has joined its group and reaches the broker,
	// and Redis answers: a replica that cannot work is taken out of rotation.
	ready := []obs.ReadyCheck{{Name: "redis", Check: redisReady(a.rdb)}}
	var runners []*stream.Runner
	for _, name := range stages {
		r, err := a.Runner(name)
		if err != nil {
			return err
		}
		runners = append(runners, r)
		ready = append(ready, obs.ReadyCheck{Name: "stage " + name, Check: r.Ready})
	}
	if a.cfg.Profile {
		extra = maps.Clone(extra)
		if extra == nil {
			extra = map[string]http.Handler{}
		}
		maps.Copy(extra, obs.ProfileHandlers())
	}
	lagClient, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.KafkaBrokers...)}, a.kgoOpts...)...)
	if err != nil {
		return fmt.Errorf("lag kafka client: %w", err)
	}
	defer lagClient.Close()
	adm, inputs := kadm.NewClient(lagClient), a.stageInputs(stages)
	lagGauge := obs.NewLagCollector(lagReader(adm, inputs), lagTimeout, a.log)
	if err := a.reg.Register(lagGauge); err != nil {
		return fmt.Errorf("register lag gauge: %w", err)
	}
	defer a.reg.Unregister(lagGauge)
	admin, err := obs.NewAdmin(a.cfg.AdminAddr, a.reg, a.log, ready, extra)
	if err != nil {
		return err
	}
	a.adminURL.Store("http://" + admin.Addr() + "/")
	a.log.Info("contactsync running", zap.Strings("stages", stages), zap.String("admin", admin.Addr()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error { logProgress(gctx, adm, inputs, a.log); return nil })
	if slices.Contains(stages, StageCollector) {
		if err := a.startDashboard(gctx, g); err != nil {
			return err
		}
	}
	for _, r := range runners {
		g.Go(func() error { return r.Run(gctx) })
	}
	return g.Wait()
}

// Inputs returns every stream stage's group and input topics, in pipeline
// order, as the topology declares them.
func (a *App) Inputs() []kafkaops.GroupInputs {
	out := make([]kafkaops.GroupInputs, 0, len(a.topology.Stages))
	for _, s := range a.topology.Stages {
		out = append(out, kafkaops.GroupInputs{Group: s.Group, Topics: s.InputTopics()})
	}
	return out
}

// newDashboard builds the dashboard server and its listener.
func (a *App) newDashboard(dc dashboard.Config, producer review.Producer) (*dashboard.Server, net.Listener, error) {
	deps, err := a.DashboardDeps(producer)
	if err != nil {
		return nil, nil, err
	}
	srv, err := dashboard.New(dc, deps, dashboard.WithPeople(people{a}))
	if err != nil {
		return nil, nil, fmt.Errorf("dashboard: %w", err)
	}
	ln, err := net.Listen("tcp", dc.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dashboard: %w", err)
	}
	return srv, ln, nil
}

// startDashboard serves the kick-out dashboard beside the collector stage,
// when logins or a token are configured.
func (a *App) startDashboard(ctx context.Context, g *errgroup.Group) error {
	dc := a.cfg.Dashboard
	if dc.Users == "" && dc.TokenSHA256 == "" {
		a.log.Warn("kick-out dashboard not started: set " + dashboard.EnvUsers + " or " + dashboard.EnvTokenSHA256)
		return nil
	}
	producer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.KafkaBrokers...)}, a.kgoOpts...)...)
	if err != nil {
		return fmt.Errorf("dashboard kafka client: %w", err)
	}
	srv, ln, err := a.newDashboard(dc, producer)
	if err != nil {
		producer.Close()
		return err
	}
	a.dashURL.Store("http://" + ln.Addr().String() + "/")
	a.log.Info("kick-out dashboard", zap.String("url", a.DashboardURL()))
	g.Go(func() error {
		defer producer.Close()
		return srv.Serve(ctx, ln)
	})
	return nil
}
