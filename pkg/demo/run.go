package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// Options configure a demo run.
type Options struct {
	Seed    uint64
	Offline int
	Timeout time.Duration
	Verbose bool
	// Serve keeps the pipeline and the kick-out dashboard running after the
	// summary, until ctx ends (Ctrl-C).
	Serve  bool
	Out    io.Writer
	Getenv func(string) string // configuration; brokers and Redis are replaced by the embedded ones
}

// Run starts an in-process Kafka (kfake) and Redis (miniredis), runs every
// stage on them, feeds a generated data set phase by phase, and prints what
// the pipeline did.
func Run(ctx context.Context, opts Options) error {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	out := opts.Out
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(time.Second),
		// kfake keeps every record in memory; the demo is small, but bound
		// it anyway so a long --serve session cannot grow without end.
		kfake.BrokerConfigs(map[string]string{"log.retention.bytes": "268435456"}),
	)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	defer cluster.Close()
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true) // TTLs expire in real time, as on a real server
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return fmt.Errorf("start miniredis: %w", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	brokers := cluster.ListenAddrs()
	login, password, err := dashboard.GenerateLogin("demo")
	if err != nil {
		return err
	}
	env := map[string]string{
		dashboard.EnvUsers:            login,
		dashboard.EnvAddr:             freeAddr(opts.Getenv(dashboard.EnvAddr), "127.0.0.1:8080"),
		"KAFKA_BROKERS":               strings.Join(brokers, ","),
		"REDIS_ADDR":                  mr.Addr(),
		"CONTACTSYNC_ADMIN_ADDR":      "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT": "3s",
		"CONTACTSYNC_INSTANCE":        "demo",
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return opts.Getenv(k)
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if getenv(app.EnvOnlineSources) == "" {
		// The platform's webhooks of the applier's own writes say origin
		// "sync"; ingest takes that from the platform's topic only when told
		// to, and the router then knows them for echoes.
		env[app.EnvOnlineSources] = cfg.Topics.OnlineEvents + "=" + cfg.OnlineSystem + ":" + string(contact.OriginSync)
		if cfg, err = app.ConfigFromEnv(getenv); err != nil {
			return err
		}
	}
	log := zap.NewNop()
	if opts.Verbose {
		if log, err = obs.NewLogger("info", true); err != nil {
			return err
		}
	}
	reg := obs.NewRegistry()
	a, err := app.New(ctx, cfg, log, reg, app.WithRedisClient(rdb))
	if err != nil {
		return err
	}
	if err := kafkaops.EnsureTopics(ctx, brokers, a.Topics(), cfg.Partitions, 1); err != nil {
		return err
	}
	applyGroup := cfg.GroupPrefix + "-apply-" + cfg.OnlineSystem
	inputs := append(a.Inputs(), kafkaops.GroupInputs{Group: applyGroup, Topics: []string{a.SinkTopic(cfg.OnlineSystem)}})

	runCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx, app.AllStages, nil) }()

	edge, err := startOnlineEdge(runCtx, onlineEdgeConfig{
		System: cfg.OnlineSystem, EventsTopic: cfg.Topics.OnlineEvents, SinkTopic: a.SinkTopic(cfg.OnlineSystem),
		KickOutTopic: cfg.Topics.KickOuts, Group: applyGroup, Brokers: brokers, Redis: rdb, Codec: a.Codec(),
		Log: log, Registry: reg,
	})
	if err != nil {
		return err
	}
	defer func() { _ = edge.stop() }()

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer producer.Close()

	ds := Generate(opts.Seed, opts.Offline)
	fmt.Fprintf(out, "contactsync demo: in-process Kafka (kfake) + Redis (miniredis), seed %d\n", opts.Seed)
	fmt.Fprintf(out, "online side: platform-sim -> gateway -> pipeline -> applier -> platform-sim, all in this process\n\n")
	waitIdle := func(ctx context.Context) error {
		waitCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		return edge.settle(waitCtx, func(ctx context.Context) error { return kafkaops.WaitIdle(ctx, brokers, inputs) })
	}
	// feed puts one phase in: offline rows as Debezium CDC on its topic,
	// online activity through the platform, which sends webhooks.
	// With faults, the platform's API answers the next calls (the
	// applier's) with 429s and 500s once the phase's own calls are made.
	feed := func(name string, phase []Input, faults bool) error {
		var recs []*kgo.Record
		webhooksBefore := len(edge.platform.Deliveries())
		for _, in := range phase {
			if in.Topic == "online" {
				if err := edge.feedOnline(ctx, in); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				continue
			}
			recs = append(recs, &kgo.Record{Topic: cfg.Topics.OfflineCDC, Key: in.Key, Value: in.Value})
		}
		if faults {
			if err := edge.injectFaults(); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return fmt.Errorf("produce %s: %w", name, err)
			}
		}
		if err := waitIdle(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out, "%-57s %3d CDC rows, %3d webhooks, pipeline idle\n", name+":", len(recs), len(edge.platform.Deliveries())-webhooksBefore)
		return edge.platform.SetFaults(platformsim.Faults{}) // what was injected and not used
	}
	phaseNames := []string{"offline initial load (Debezium snapshot)", "online donors and gifts (platform API)", "edits on both sides (offline CDC, donor portal)"}
	for i, phase := range ds.Phases {
		name := fmt.Sprintf("phase %d, %s", i+1, phaseNames[min(i, len(phaseNames)-1)])
		if i == 2 {
			// Before the edits: the offline system takes the sync's creates
			// of new online donors in; its CDC gives them offline ids.
			created, err := offlineCreates(ctx, a, brokers, cfg.Topics.Sink(cfg.OfflineSystem))
			if err != nil {
				return err
			}
			if err := feed("       offline system applies the creates (its CDC)", created, false); err != nil {
				return err
			}
		}
		// The applier's first calls meet a platform that is rate limiting
		// and failing: retried, with no effect on the outcome.
		if err := feed(name, phase, i == 1); err != nil {
			return err
		}
	}
	if err := edge.showRejections(ctx); err != nil {
		return err
	}
	if err := waitIdle(ctx); err != nil {
		return err
	}

	if err := summarise(ctx, out, a, brokers, cfg.Topics.Matched, ds.Expect); err != nil {
		return err
	}
	online, err := readSinks(ctx, a, brokers, a.SinkTopic(cfg.OnlineSystem))
	if err != nil {
		return err
	}
	if err := edge.summarise(out, online); err != nil {
		return err
	}
	if opts.Serve {
		fmt.Fprintf(out, "\nKick-out dashboard: %s  (user demo, password %s)\n", a.DashboardURL(), password)
		fmt.Fprintf(out, "Online platform: %s/api/contacts (donor portal %s/portal/..., see docs/platform-api.md)\n", edge.apiURL, edge.apiURL)
		fmt.Fprintln(out, "See, fix and replay the kick-outs, approve the review item; the pipeline keeps running. Ctrl-C stops.")
		select {
		case <-ctx.Done():
		case err := <-runErr:
			return fmt.Errorf("pipeline: %w", err)
		}
	} else {
		fmt.Fprintln(out, "\n(run `make demo` in a terminal, or with DEMO_ARGS=--serve, to keep the kick-out dashboard open)")
	}
	if err := edge.stop(); err != nil {
		return fmt.Errorf("online edge: %w", err)
	}
	stopPipeline()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

func summarise(ctx context.Context, out io.Writer, a *app.App, brokers []string, matchedTopic string, exp Expectation) error {
	codec := a.Codec()
	matched, err := kafkaops.ReadTopic(ctx, brokers, matchedTopic)
	if err != nil {
		return err
	}
	decisions := map[contact.Decision]int{}
	persons := map[string]bool{}
	var linkedExamples []string
	for _, r := range matched {
		m, err := codec.DecodeMatched(r.Value)
		if err != nil {
			return fmt.Errorf("decode matched record: %w", err)
		}
		decisions[m.Match.Decision]++
		persons[m.Match.PersonID] = true
		if m.Match.Decision == contact.DecisionLinked && len(linkedExamples) < 3 {
			linkedExamples = append(linkedExamples, fmt.Sprintf("%s %s -> %s (%s)",
				m.Change.SourceSystem, m.Change.SourceRecordID, m.Match.PersonID, m.Match.Explanation))
		}
	}
	fmt.Fprintf(out, "\nMatching: %d changes resolved to %d persons\n", len(matched), len(persons))
	for _, d := range []contact.Decision{contact.DecisionNew, contact.DecisionLinked, contact.DecisionKnown} {
		fmt.Fprintf(out, "  %-8s %4d\n", d, decisions[d])
	}
	for _, ex := range linkedExamples {
		fmt.Fprintf(out, "  e.g. %s\n", ex)
	}
	fmt.Fprintf(out, "  (generated: %d offline contacts, %d online records of known people, %d of new people)\n",
		exp.OfflineContacts, exp.OnlineMatches, exp.OnlineNew)

	fmt.Fprintln(out, "\nSink records (changed fields only, one topic per target system)")
	for _, system := range a.Systems() {
		recs, err := kafkaops.ReadTopic(ctx, brokers, a.SinkTopic(system))
		if err != nil {
			return err
		}
		kinds := map[string]int{}
		var example string
		for _, r := range recs {
			s, err := codec.DecodeSink(r.Value)
			if err != nil {
				return fmt.Errorf("decode sink record: %w", err)
			}
			kinds[string(s.Entity)+" "+string(s.Op)]++
			if example == "" && s.Op == contact.SinkUpdate && len(s.Set)+len(s.Clear) > 0 { // not a link-only write-back
				example = describeSink(s)
			}
		}
		fmt.Fprintf(out, "  %-10s %4d  %s\n", system, len(recs), formatCounts(kinds))
		if example != "" {
			fmt.Fprintf(out, "             e.g. %s\n", example)
		}
	}

	q := a.Queue()
	counts, err := q.ReasonCounts(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	fmt.Fprintf(out, "\nKick-outs: %d kept for review and replay (nothing dropped)\n", total)
	kos, err := q.KickOuts(ctx, 100)
	if err != nil {
		return err
	}
	byReason := map[string]string{}
	for _, ko := range kos {
		byReason[ko.Reason] = fmt.Sprintf("%s: %s", ko.Stage, ko.Error)
	}
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(out, "  %-28s %3d  %s\n", r, counts[r], truncate(byReason[r], 90))
	}
	reviews, statuses, err := q.Reviews(ctx, 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nReview queue: %d item(s)\n", len(reviews))
	for i, it := range reviews {
		fmt.Fprintf(out, "  %s %s for %s: %s [%s]\n", it.ID, it.Reason, it.TargetSystem, formatValues(it.Proposed), statuses[i])
	}
	return nil
}

func describeSink(s contact.SinkRecord) string {
	var parts []string
	for _, f := range contact.Fields {
		if v, ok := s.Set[f.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%q", f.Name, v))
		}
	}
	for _, f := range s.Clear {
		parts = append(parts, string(f)+"=<clear>")
	}
	return fmt.Sprintf("%s %s %s: %s", s.Op, s.Entity, s.TargetRecordID, strings.Join(parts, " "))
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func formatValues(v contact.Values) string {
	var parts []string
	for _, f := range contact.Fields {
		if x, ok := v[f.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%q", f.Name, x))
		}
	}
	return strings.Join(parts, " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// freeAddr returns want (or def) when it can be listened on, else a free
// port on loopback, so a second demo does not fail on a busy 8080.
func freeAddr(want, def string) string {
	if want == "" {
		want = def
	}
	ln, err := net.Listen("tcp", want)
	if err != nil {
		return "127.0.0.1:0"
	}
	_ = ln.Close()
	return want
}
