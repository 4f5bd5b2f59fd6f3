// Package deliver loads one target system's sink topic into that system,
// only inside its delivery windows.
//
// Offline systems of record are often not 24x7. The sink topic is the buffer:
// outside a window the loader pauses its fetches and holds its place (the
// consumer group's committed offset); inside, it applies polls of records in
// batches, in partition order (a person's create before her gifts), and
// commits after the store has them. Stores apply by event id, so a batch
// redelivered after a crash between the store's commit and Kafka's changes
// nothing: effectively once.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/backoff"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/window"
)

// Store applies sink records to the target system in one transaction,
// skipping event ids it already has; it returns how many were new.
type Store interface {
	Apply(ctx context.Context, batch []Delivery) (applied int, err error)
}

// ReportingStore is a Store that may refuse part of a record for a person
// to look at (the offline applier keeps a value edited offline over the
// sync's and reports the conflict). Its kick-outs are produced before the
// batch is committed; a store that already applied a record reports its
// kick-outs again on redelivery, with the same ids, so none is lost to a
// crash between the store's commit and Kafka's.
type ReportingStore interface {
	Store
	ApplyReporting(ctx context.Context, batch []Delivery) (Outcome, error)
}

// Outcome is what a ReportingStore did with a batch.
type Outcome struct {
	Applied  int
	KickOuts []contact.KickOut
}

// Delivery is one decoded sink record and where it was read.
type Delivery struct {
	Record    contact.SinkRecord
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte // the record as read, kept by kick-outs
}

// Codec decodes sink records and encodes kick-outs.
type Codec interface {
	DecodeSink([]byte) (contact.SinkRecord, error)
	EncodeKickOut(contact.KickOut) ([]byte, error)
}

// Config configures a Loader.
type Config struct {
	System       string // target system, for logs and metrics
	Brokers      []string
	Group        string
	Topic        string // the system's sink topic
	KickOutTopic string
	InstanceID   string // static membership; optional
	Schedule     window.Schedule
	// MaxPollRecords is the largest batch applied in one store transaction
	// while a window is open (records arriving as they come).
	MaxPollRecords int
	// MaxWindowRecords bounds the backlog a window starts with, applied as
	// one batch (so a person's changes held while the window was closed are
	// coalesced into one write per field); a larger backlog is applied in
	// batches of this size.
	MaxWindowRecords int
	SessionTimeout   time.Duration
	BackoffMax       time.Duration
}

// Clock is the loader's time source; tests replace it to open and close
// windows at will.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Loader is one target system's delivery loop.
type Loader struct {
	mu       sync.Mutex
	assigned map[int32]bool // the sink topic's partitions this replica holds
	cfg      Config
	store    Store
	codec    Codec
	log      *zap.Logger
	clock    Clock
	opts     []kgo.Opt
	metrics  *metrics
}

type metrics struct {
	open      prometheus.Gauge
	delivered prometheus.Counter
	skipped   prometheus.Counter
	kickOuts  prometheus.Counter
	failures  prometheus.Counter
}

// New validates cfg and returns a Loader. clock may be nil (the wall clock).
func New(cfg Config, store Store, codec Codec, log *zap.Logger, reg prometheus.Registerer, clock Clock, extra ...kgo.Opt) (*Loader, error) {
	if cfg.System == "" || cfg.Topic == "" || cfg.Group == "" || cfg.KickOutTopic == "" || len(cfg.Brokers) == 0 {
		return nil, errors.New("deliver: system, topic, group, kick-out topic and brokers are required")
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 1000
	}
	if cfg.MaxWindowRecords <= 0 {
		cfg.MaxWindowRecords = 100_000
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if clock == nil {
		clock = realClock{}
	}
	labels := prometheus.Labels{"system": cfg.System}
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "contactsync", Name: "delivery_window_open",
			Help: "1 while the target system's delivery window is open.", ConstLabels: labels}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contactsync", Name: "delivered_records_total",
			Help: "Sink records applied to the target system.", ConstLabels: labels}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contactsync", Name: "delivery_redelivered_total",
			Help: "Sink records the target already had (redelivery after a crash).", ConstLabels: labels}),
		kickOuts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contactsync", Name: "delivery_kickouts_total",
			Help: "Sink records kicked out: undecodable, or refused in part by the target (apply.conflict).", ConstLabels: labels}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contactsync", Name: "delivery_failures_total",
			Help: "Batches the target system refused; they are retried.", ConstLabels: labels}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.delivered, m.skipped, m.kickOuts, m.failures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("deliver metrics: %w", err)
			}
		}
	}
	opts := append(pipeline.SinkConsumer{ClientID: "contactsync-deliver-" + cfg.System, Group: cfg.Group,
		Topic: cfg.Topic, InstanceID: cfg.InstanceID, SessionTimeout: cfg.SessionTimeout}.Opts(),
		kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(kzap.New(log.Named("kgo"), kzap.Level(kgo.LogLevelWarn))))
	l := &Loader{cfg: cfg, store: store, codec: codec, log: log.With(zap.String("system", cfg.System)),
		clock: clock, metrics: m, assigned: map[int32]bool{}}
	track := func(held bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, p := range parts[cfg.Topic] {
				if held {
					l.assigned[p] = true
				} else {
					delete(l.assigned, p)
				}
			}
		}
	}
	opts = append(opts, kgo.OnPartitionsAssigned(track(true)), kgo.OnPartitionsRevoked(track(false)),
		kgo.OnPartitionsLost(track(false)))
	l.opts = append(opts, extra...)
	return l, nil
}

// Run delivers until ctx ends; the batch in hand is applied and committed
// first.
func (l *Loader) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(l.opts...)
	if err != nil {
		return fmt.Errorf("deliver %s: kafka client: %w", l.cfg.System, err)
	}
	defer cl.Close() // leaves the group
	l.log.Info("delivery started", zap.String("topic", l.cfg.Topic), zap.Stringer("windows", l.cfg.Schedule))
	for ctx.Err() == nil {
		open, change, changes := l.cfg.Schedule.Next(l.clock.Now())
		if !open {
			l.waitClosed(ctx, cl, change, changes)
			continue
		}
		if err := l.deliverUntil(ctx, cl, change, changes); err != nil {
			return err
		}
	}
	return nil
}

// waitClosed holds the loader's place while the window is closed: fetches
// are paused until it opens.
func (l *Loader) waitClosed(ctx context.Context, cl *kgo.Client, opens time.Time, changes bool) {
	l.metrics.open.Set(0)
	cl.PauseFetchTopics(l.cfg.Topic)
	defer cl.ResumeFetchTopics(l.cfg.Topic)
	l.log.Info("delivery window closed; records wait in the sink topic", zap.String("opens", opens.Format(time.RFC3339)))
	wait := time.Hour // a closed schedule always opens again; re-check hourly if it did not say when
	if changes {
		wait = opens.Sub(l.clock.Now())
	}
	select {
	case <-ctx.Done():
	case <-l.clock.After(wait): // waiting for the schedule, not synchronisation
	}
}

// deliverUntil polls and delivers while the window is open: until it
// closes (when changes) or ctx ends.
func (l *Loader) deliverUntil(ctx context.Context, cl *kgo.Client, closes time.Time, changes bool) error {
	l.metrics.open.Set(1)
	if changes {
		l.log.Info("delivery window open", zap.String("closes", closes.Format(time.RFC3339)))
		if err := l.deliverBacklog(ctx, cl, closes); err != nil {
			return err
		}
	}
	for ctx.Err() == nil && (!changes || l.clock.Now().Before(closes)) {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if changes {
			pollCtx, cancel = context.WithTimeout(ctx, closes.Sub(l.clock.Now()))
		}
		fetches := cl.PollRecords(pollCtx, l.cfg.MaxPollRecords)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				l.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", partition), zap.Error(err))
			}
		})
		var err error
		if recs := fetches.Records(); len(recs) > 0 {
			err = l.deliver(ctx, cl, recs)
		}
		cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
	return nil
}

// deliverBacklog applies what waited while the window was closed as one
// batch (up to MaxWindowRecords): it reads the partitions this replica
// holds up to their end offsets at the window's opening, across as many
// polls as that takes, so the store coalesces each person's changes of the
// whole closed window into one write per field, ordered with her gifts.
func (l *Loader) deliverBacklog(ctx context.Context, cl *kgo.Client, closes time.Time) error {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, l.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	var committed kadm.OffsetResponses
	if err == nil {
		committed, err = adm.FetchOffsets(ctx, l.cfg.Group)
		if err == nil {
			err = committed.Error()
		}
	}
	if err != nil {
		// Not fatal: the backlog is then applied poll by poll.
		l.log.Warn("cannot read the backlog's end offsets; applying it poll by poll", zap.Error(err))
		return nil
	}
	next := map[int32]int64{} // partition -> first offset not yet read
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil {
			next[o.Partition] = c.At
		}
	})
	drained := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.assigned) == 0 {
			return false // not in the group yet
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if l.assigned[o.Partition] && next[o.Partition] < o.Offset {
				done = false
			}
		})
		return done
	}
	pollCtx, cancel := context.WithTimeout(ctx, closes.Sub(l.clock.Now()))
	defer cancel()
	var held []*kgo.Record
	for !drained() && len(held) < l.cfg.MaxWindowRecords && pollCtx.Err() == nil {
		fetches := cl.PollRecords(pollCtx, l.cfg.MaxWindowRecords-len(held))
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachRecord(func(r *kgo.Record) {
			held = append(held, r)
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
		if len(held) == 0 {
			cl.AllowRebalance() // nothing in hand yet: the group may move
		}
	}
	if len(held) == 0 {
		return nil
	}
	l.log.Info("delivering the window's backlog", zap.Int("records", len(held)))
	err = l.deliver(ctx, cl, held)
	cl.AllowRebalance()
	return err
}

// deliver applies one poll and commits it. The batch in hand is finished
// even when shutdown starts (bounded by the store's own timeouts), so that
// its work is committed rather than redone; a store that keeps failing is
// retried with backoff until ctx ends, holding the partition's place.
func (l *Loader) deliver(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	batch := make([]Delivery, 0, len(recs))
	var kickOuts []*kgo.Record
	for _, r := range recs {
		if r.Attrs.IsControl() {
			continue // a transaction marker: only committed past
		}
		s, err := l.codec.DecodeSink(r.Value)
		if err != nil {
			ko := pipeline.KickOutFrom("deliver", "deliver.decode", err, r)
			val, encErr := l.codec.EncodeKickOut(ko)
			if encErr != nil {
				return fmt.Errorf("deliver %s: encode kick-out: %w", l.cfg.System, encErr)
			}
			kickOuts = append(kickOuts, &kgo.Record{Topic: l.cfg.KickOutTopic, Key: []byte(ko.ID), Value: val})
			continue
		}
		batch = append(batch, Delivery{Record: s, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	}
	work := context.WithoutCancel(ctx)
	if len(batch) == 0 && len(kickOuts) == 0 {
		if err := cl.CommitRecords(work, recs...); err != nil {
			l.log.Warn("commit past transaction markers failed; they will be read again", zap.Error(err))
		}
		return nil
	}
	pause := &backoff.Backoff{Min: time.Second, Max: l.cfg.BackoffMax, After: l.clock.After}
	for {
		err := l.apply(work, cl, batch, &kickOuts)
		if err == nil {
			break
		}
		l.metrics.failures.Inc()
		d := pause.Next()
		l.log.Warn("delivery failed; retrying the batch", zap.Int("records", len(recs)), zap.Duration("backoff", d), zap.Error(err))
		if !pause.Sleep(ctx, d) {
			return nil // not committed: the next run redelivers, the store skips what it has
		}
	}
	if err := cl.CommitRecords(work, recs...); err != nil {
		// Harmless beyond redelivery: the store skips event ids it has.
		l.log.Warn("commit after delivery failed; the batch will be redelivered and skipped", zap.Error(err))
	}
	return nil
}

// apply produces the batch's kick-outs, then has the store apply its
// records. Kick-outs that went out are not produced again when only the
// store failed (their ids are stable, so a retry would be harmless, but it
// is work for nothing).
func (l *Loader) apply(ctx context.Context, cl *kgo.Client, batch []Delivery, kickOuts *[]*kgo.Record) error {
	if len(*kickOuts) > 0 {
		if err := cl.ProduceSync(ctx, *kickOuts...).FirstErr(); err != nil {
			return fmt.Errorf("produce kick-outs: %w", err)
		}
		l.metrics.kickOuts.Add(float64(len(*kickOuts)))
		*kickOuts = nil
	}
	applied, err := l.applyStore(ctx, cl, batch)
	if err != nil {
		return err
	}
	l.metrics.delivered.Add(float64(applied))
	l.metrics.skipped.Add(float64(len(batch) - applied))
	return nil
}

// applyStore has the store apply the batch and produces the kick-outs a
// ReportingStore returns, before the batch can be committed.
func (l *Loader) applyStore(ctx context.Context, cl *kgo.Client, batch []Delivery) (int, error) {
	rs, ok := l.store.(ReportingStore)
	if !ok {
		return l.store.Apply(ctx, batch)
	}
	out, err := rs.ApplyReporting(ctx, batch)
	if err != nil {
		return 0, err
	}
	if len(out.KickOuts) == 0 {
		return out.Applied, nil
	}
	recs := make([]*kgo.Record, 0, len(out.KickOuts))
	for _, ko := range out.KickOuts {
		val, err := l.codec.EncodeKickOut(ko)
		if err != nil {
			return 0, fmt.Errorf("encode kick-out: %w", err)
		}
		recs = append(recs, &kgo.Record{Topic: l.cfg.KickOutTopic, Key: []byte(ko.ID), Value: val})
	}
	// The store has committed: if this fails the batch is redelivered, and
	// the store reports the same kick-outs again.
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("produce the store's kick-outs: %w", err)
	}
	l.metrics.kickOuts.Add(float64(len(recs)))
	return out.Applied, nil
}
