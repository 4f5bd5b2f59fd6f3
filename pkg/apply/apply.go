// Package apply writes one online system's sink topic to that system's API:
// `contactsync apply`. It is the online counterpart of deliver, which loads
// an offline system's staging table.
//
// Each poll is a batch. Its records are grouped by person (the sink topic's
// key): a person's records are applied one after the other, in order, and
// up to Concurrency persons at a time. Every write carries the sink record's
// event id as its idempotency key, so a write redone after a crash or a
// retry takes effect once. Transient failures (5xx, timeouts) are retried
// with jittered exponential backoff, a 429 after its Retry-After; a
// platform that keeps failing opens a circuit breaker that holds every
// call and every fetch until a probe succeeds. A rejection (4xx) becomes a
// kick-out with the platform's answer and the record: never dropped, never
// retried forever. The batch's offsets are committed only once every
// record's outcome is known and its kick-outs are in Kafka.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/backoff"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// Stage is the name kick-outs of the applier carry.
const Stage = "apply"

// Kick-out reasons.
const (
	ReasonRejected = "apply.rejected" // the platform refused the write
	ReasonDecode   = "apply.decode"   // the sink record could not be read
)

// Platform is the online platform's API as the applier uses it; an adapter
// per platform implements it. Write makes the change rec describes, with
// rec.EventID as its idempotency key, and returns nil once it took effect
// (or had already), a *Rejected the platform's refusal, a *Throttled its
// "too many requests"; any other error is transient.
type Platform interface {
	Write(ctx context.Context, rec contact.SinkRecord) error
}

// Codec decodes sink records and encodes kick-outs.
type Codec interface {
	DecodeSink([]byte) (contact.SinkRecord, error)
	EncodeKickOut(contact.KickOut) ([]byte, error)
}

// Config configures an Applier.
type Config struct {
	System       string // the online system, for logs and metrics
	Brokers      []string
	Group        string
	Topic        string // the system's sink topic
	KickOutTopic string
	InstanceID   string // static membership; optional
	// Concurrency is how many persons' writes run at once (default 8).
	Concurrency int
	// MaxPollRecords bounds a batch (default 500).
	MaxPollRecords int
	// CallTimeout bounds one call (default 30s); a timeout is transient.
	CallTimeout time.Duration
	// RetryMin and RetryMax pace retries of transient failures (default
	// 200ms to 30s, jittered).
	RetryMin, RetryMax time.Duration
	// MaxThrottle caps a Retry-After (default 5m).
	MaxThrottle time.Duration
	// BreakerThreshold consecutive transient failures open the breaker for
	// BreakerCooldown (defaults 5 and 30s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	SessionTimeout   time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 500
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 5
	}
	def(&c.CallTimeout, 30*time.Second)
	def(&c.RetryMin, 200*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.MaxThrottle, 5*time.Minute)
	def(&c.BreakerCooldown, 30*time.Second)
	def(&c.SessionTimeout, 10*time.Second)
}

// Clock is the applier's time source; tests replace it.
type Clock struct {
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Applier is one online system's apply loop.
type Applier struct {
	cfg      Config
	platform Platform
	codec    Codec
	log      *zap.Logger
	clock    Clock
	opts     []kgo.Opt
	metrics  *metrics
	breaker  *breaker
}

// New validates cfg and returns an Applier. clock's fields may be nil (the
// wall clock).
func New(cfg Config, platform Platform, codec Codec, log *zap.Logger, reg prometheus.Registerer, clock Clock, extra ...kgo.Opt) (*Applier, error) {
	if cfg.System == "" || cfg.Topic == "" || cfg.Group == "" || cfg.KickOutTopic == "" || len(cfg.Brokers) == 0 {
		return nil, errors.New("apply: system, topic, group, kick-out topic and brokers are required")
	}
	cfg.defaults()
	if clock.Now == nil {
		clock.Now = time.Now
	}
	if clock.After == nil {
		clock.After = time.After
	}
	m, err := newMetrics(cfg.System, reg)
	if err != nil {
		return nil, err
	}
	a := &Applier{cfg: cfg, platform: platform, codec: codec, log: log.With(zap.String("system", cfg.System)),
		clock: clock, metrics: m}
	a.breaker = newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown, clock.Now, clock.After, func(open bool) {
		if open {
			m.breakerOpen.Set(1)
			a.log.Warn("platform failing: circuit breaker open, calls and fetches paused", zap.Duration("cooldown", cfg.BreakerCooldown))
			return
		}
		m.breakerOpen.Set(0)
		a.log.Info("platform answering again: circuit breaker closed")
	})
	a.opts = append(pipeline.SinkConsumer{ClientID: "contactsync-apply-" + cfg.System, Group: cfg.Group,
		Topic: cfg.Topic, InstanceID: cfg.InstanceID, SessionTimeout: cfg.SessionTimeout}.Opts(),
		kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(kzap.New(log.Named("kgo"), kzap.Level(kgo.LogLevelWarn))))
	a.opts = append(a.opts, extra...)
	return a, nil
}

// Run applies until ctx ends. A batch cut short by shutdown is not
// committed: the next run writes it again, and the idempotency keys make
// the platform take each write once.
func (a *Applier) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(a.opts...)
	if err != nil {
		return fmt.Errorf("apply %s: kafka client: %w", a.cfg.System, err)
	}
	defer cl.Close()
	a.log.Info("applier started", zap.String("topic", a.cfg.Topic), zap.Int("concurrency", a.cfg.Concurrency))
	for ctx.Err() == nil {
		// An open breaker holds fetching too: nothing is read that could
		// not be written.
		if a.breaker.isOpen() {
			cl.PauseFetchTopics(a.cfg.Topic)
			ok := a.breaker.wait(ctx)
			a.breaker.release()
			cl.ResumeFetchTopics(a.cfg.Topic)
			if !ok {
				return nil
			}
		}
		fetches := cl.PollRecords(ctx, a.cfg.MaxPollRecords)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				a.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", partition), zap.Error(err))
			}
		})
		if recs := fetches.Records(); len(recs) > 0 {
			a.applyBatch(ctx, cl, recs)
		}
		cl.AllowRebalance()
	}
	return nil
}

// applyBatch writes one poll and commits it once every outcome is known.
func (a *Applier) applyBatch(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) {
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: a.cfg.KickOutTopic}, a.codec, nil)
	data := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		if !r.Attrs.IsControl() {
			data = append(data, r)
		}
	}
	done, err := a.Process(ctx, data, out)
	if err != nil || !done {
		if err != nil {
			a.log.Error("batch not finished; it will be written again", zap.Error(err))
		}
		return
	}
	work := context.WithoutCancel(ctx)
	if len(out.Records) > 0 {
		if err := a.produce(ctx, cl, out.Records); err != nil {
			return // not committed: the batch is written again (idempotently) after a restart
		}
		a.metrics.kickOuts.Add(float64(len(out.Records)))
	}
	if err := cl.CommitRecords(work, recs...); err != nil {
		a.log.Warn("commit after apply failed; the batch will be written again (idempotently)", zap.Error(err))
	}
}

// produce puts the batch's kick-outs in Kafka, retrying until it works or
// ctx ends.
func (a *Applier) produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	b := &backoff.Backoff{Min: a.cfg.RetryMin, Max: a.cfg.RetryMax, Jitter: true, After: a.clock.After}
	for {
		err := cl.ProduceSync(context.WithoutCancel(ctx), recs...).FirstErr()
		if err == nil {
			return nil
		}
		a.log.Warn("producing kick-outs failed; retrying", zap.Error(err))
		if !b.Wait(ctx) {
			return err
		}
	}
}

// Process writes the records of one batch: persons in parallel (up to
// Concurrency), each person's records in order. Rejections and unreadable
// records go to out as kick-outs. done is false when ctx ended before
// every record had its outcome; then nothing of the batch may be committed.
func (a *Applier) Process(ctx context.Context, recs []*kgo.Record, out *pipeline.Output) (done bool, err error) {
	var order []string
	byPerson := map[string][]*kgo.Record{}
	for _, r := range recs {
		k := string(r.Key)
		if _, ok := byPerson[k]; !ok {
			order = append(order, k)
		}
		byPerson[k] = append(byPerson[k], r)
	}
	var mu sync.Mutex // guards out
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	for _, k := range order {
		g.Go(func() error {
			for _, r := range byPerson[k] {
				if err := a.writeOne(gctx, r, out, &mu); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// errStopped says a write was abandoned because the applier is stopping.
var errStopped = errors.New("apply: stopping")

// writeOne writes one record until its outcome is known: applied, or
// kicked out. It returns an error only when ctx ended first (or a
// kick-out cannot be encoded).
func (a *Applier) writeOne(ctx context.Context, r *kgo.Record, out *pipeline.Output, mu *sync.Mutex) error {
	rec, err := a.codec.DecodeSink(r.Value)
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		return out.KickOut(r, ReasonDecode, err, nil)
	}
	retry := &backoff.Backoff{Min: a.cfg.RetryMin, Max: a.cfg.RetryMax, Jitter: true, After: a.clock.After}
	for attempt := 1; ; attempt++ {
		if !a.breaker.wait(ctx) {
			return errStopped
		}
		callCtx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
		start := a.clock.Now()
		err := a.platform.Write(callCtx, rec)
		cancel()
		a.metrics.latency.Observe(a.clock.Now().Sub(start).Seconds())
		if err == nil {
			a.breaker.success()
			a.metrics.calls.WithLabelValues("applied").Inc()
			return nil
		}
		if ctx.Err() != nil {
			a.breaker.release()
			return errStopped
		}
		if rej, ok := isRejected(err); ok {
			a.breaker.success() // the platform answered
			a.metrics.calls.WithLabelValues("rejected").Inc()
			a.log.Warn("platform rejected a write; kicked out", zap.String("event_id", rec.EventID),
				zap.Int("status", rej.Status), zap.String("code", rej.Code))
			mu.Lock()
			defer mu.Unlock()
			return out.KickOut(r, ReasonRejected, err, func(ko *contact.KickOut) {
				ko.EventID = rec.EventID
				ko.PersonID = rec.PersonID
				ko.Explanation = fmt.Sprintf("%s %s of %s for system %s", rec.Op, rec.Entity, rec.PersonID, rec.TargetSystem)
			})
		}
		if th, ok := isThrottled(err); ok {
			a.breaker.success() // the platform answered: slow down, it is not down
			a.metrics.calls.WithLabelValues("throttled").Inc()
			wait := min(max(th.Wait, a.cfg.RetryMin), a.cfg.MaxThrottle)
			if !retry.Sleep(ctx, wait) {
				return errStopped
			}
			continue
		}
		a.breaker.failure()
		a.metrics.calls.WithLabelValues("failed").Inc()
		a.log.Warn("write failed; retrying", zap.String("event_id", rec.EventID), zap.Int("attempt", attempt), zap.Error(err))
		if !retry.Wait(ctx) {
			return errStopped
		}
	}
}

type metrics struct {
	calls       *prometheus.CounterVec
	latency     prometheus.Histogram
	kickOuts    prometheus.Counter
	breakerOpen prometheus.Gauge
}

func newMetrics(system string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"system": system}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "contactsync", Name: "apply_calls_total",
			Help: "Calls to the online platform by outcome (applied, rejected, throttled, failed).", ConstLabels: labels}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "contactsync", Name: "apply_call_seconds",
			Help: "Duration of calls to the online platform.", ConstLabels: labels, Buckets: prometheus.DefBuckets}),
		kickOuts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contactsync", Name: "apply_kickouts_total",
			Help: "Sink records kicked out (rejected by the platform or unreadable).", ConstLabels: labels}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "contactsync", Name: "apply_breaker_open",
			Help: "1 while the circuit breaker holds calls to the platform.", ConstLabels: labels}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.latency, m.kickOuts, m.breakerOpen} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("apply metrics: %w", err)
			}
		}
	}
	return m, nil
}
