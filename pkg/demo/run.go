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
	cfg, err := app.ConfigFromEnv(func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return opts.Getenv(k)
	})
	if err != nil {
		return err
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
	inputs := a.Inputs()

	runCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx, app.AllStages, nil) }()

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer producer.Close()

	ds := Generate(opts.Seed, opts.Offline)
	fmt.Fprintf(out, "contactsync demo: in-process Kafka (kfake) + Redis (miniredis), seed %d\n\n", opts.Seed)
	phaseNames := []string{"offline initial load (Debezium snapshot)", "online donors and gifts (webhooks)", "edits on both sides"}
	topicOf := map[string]string{"offline": cfg.Topics.OfflineCDC, "online": cfg.Topics.OnlineEvents}
	for i, phase := range ds.Phases {
		recs := make([]*kgo.Record, len(phase))
		for j, in := range phase {
			recs[j] = &kgo.Record{Topic: topicOf[in.Topic], Key: in.Key, Value: in.Value}
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce phase %d: %w", i+1, err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
		err := kafkaops.WaitIdle(waitCtx, brokers, inputs)
		cancel()
		if err != nil {
			return fmt.Errorf("phase %d: %w", i+1, err)
		}
		fmt.Fprintf(out, "phase %d, %-44s %3d records in, pipeline idle\n", i+1, phaseNames[min(i, len(phaseNames)-1)]+":", len(phase))
	}

	if err := summarise(ctx, out, a, brokers, cfg.Topics.Matched, ds.Expect); err != nil {
		return err
	}
	if opts.Serve {
		fmt.Fprintf(out, "\nKick-out dashboard: %s  (user demo, password %s)\n", a.DashboardURL(), password)
		fmt.Fprintln(out, "See, fix and replay the kick-outs, approve the review item; the pipeline keeps running. Ctrl-C stops.")
		select {
		case <-ctx.Done():
		case err := <-runErr:
			return fmt.Errorf("pipeline: %w", err)
		}
	} else {
		fmt.Fprintln(out, "\n(run `make demo` in a terminal, or with DEMO_ARGS=--serve, to keep the kick-out dashboard open)")
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
			if example == "" && s.Op == contact.SinkUpdate {
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
