// Package stream runs one pipeline stage as a Kafka consume-process-produce
// loop with exactly-once semantics: every poll is one Kafka transaction that
// holds the stage's output records and the consumed offsets, so a crash at
// any point either commits both or neither.
package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/backoff"
	"github.com/contactsync/contactsync/pkg/failpoint"
)

// Processor turns one poll's records into output records.
//
// Bad input must not be returned as an error: the processor turns it into a
// kick-out record so the partition moves on. A returned error means the
// stage could not work at all (Redis down, say): the transaction is aborted,
// the session rewinds to the last committed offsets, and the same records
// are offered again after a backoff.
type Processor interface {
	Process(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error)
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	return f(ctx, batch)
}

// Config configures a Runner.
type Config struct {
	Name    string // stage name, used in logs and metrics
	Brokers []string
	Group   string
	Topics  []string
	// TransactionalID must be stable per running instance (e.g. group name
	// plus a replica ordinal): a restarted instance then fences its crashed
	// predecessor at once instead of waiting for the transaction timeout.
	TransactionalID string
	// InstanceID enables static group membership (fast restarts); optional.
	InstanceID string
	// MaxPollRecords is the first batch's size and the floor of the
	// adaptive batch; MaxBatchRecords its ceiling. While polls come back
	// full (a backlog) the batch doubles, so a backlog costs few
	// transactions; it stays within a quarter of the transaction and
	// process timeouts at the measured time per record, and falls back to
	// the floor after an aborted batch.
	MaxPollRecords     int
	MaxBatchRecords    int
	SessionTimeout     time.Duration
	TransactionTimeout time.Duration
	// ProcessTimeout bounds one batch, including during shutdown drain.
	ProcessTimeout time.Duration
	// ShutdownTimeout bounds the final commit and leaving the group.
	ShutdownTimeout time.Duration
	BackoffMin      time.Duration
	BackoffMax      time.Duration
	// Failpoints crash the process at named points (fault tests only).
	Failpoints *failpoint.Set
}

func (c *Config) setDefaults() {
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = 500
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = 10_000
	}
	c.MaxBatchRecords = max(c.MaxBatchRecords, c.MaxPollRecords)
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 30 * time.Second
	}
	if c.ProcessTimeout == 0 {
		c.ProcessTimeout = 30 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 5 * time.Second
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("stage name is empty"))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no seed brokers"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("consumer group is empty"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("no input topics"))
	}
	if c.TransactionalID == "" {
		errs = append(errs, errors.New("transactional id is empty"))
	}
	return errors.Join(errs...)
}

// Runner is one stage's consume-process-produce loop.
type Runner struct {
	cfg     Config
	proc    Processor
	log     *zap.Logger
	metrics *runnerMetrics
	opts    []kgo.Opt
	// joined: the current session has an assignment from its group (set on
	// assignment, cleared when the session is lost or ends); client is the
	// session's client while it runs. Both are for Ready.
	joined atomic.Bool
	client atomic.Pointer[kgo.Client]
	// failpoints is never nil (an empty set does nothing).
	failpoints *failpoint.Set
}

// New validates cfg and returns a Runner. extra options are appended to the
// client options (tests use them to shorten timeouts).
func New(cfg Config, proc Processor, log *zap.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("stream %q: %w", cfg.Name, err)
	}
	m, err := newRunnerMetrics(reg, cfg.Name)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("contactsync-" + cfg.Name),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Control records (transaction markers) are taken in and committed
		// past, so a caught-up stage shows a lag of exactly 0 instead of
		// stopping one short at its input's last commit marker.
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.WithLogger(kzap.New(log.Named("kgo"), kzap.Level(kgo.LogLevelWarn))),
	}
	if reg != nil {
		opts = append(opts, kgo.WithHooks(kprom.NewMetrics("contactsync_kafka",
			kprom.Registerer(prometheus.WrapRegistererWith(prometheus.Labels{"stage": cfg.Name}, reg)))))
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	fp := cfg.Failpoints
	if fp == nil {
		fp = &failpoint.Set{}
	}
	r := &Runner{cfg: cfg, proc: proc, log: log.With(zap.String("stage", cfg.Name)), metrics: m, failpoints: fp}
	// Assigned is called after every join, even with nothing assigned.
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { r.joined.Store(true) }),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { r.joined.Store(false) }))
	r.opts = append(opts, extra...)
	return r, nil
}

// Ready returns nil when the runner's session has joined its group and a
// broker answers now (for /readyz), else why not.
func (r *Runner) Ready(ctx context.Context) error {
	cl := r.client.Load()
	if cl == nil || !r.joined.Load() {
		return fmt.Errorf("not joined to group %s", r.cfg.Group)
	}
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Run consumes until ctx is cancelled, then finishes the batch in hand,
// commits it and leaves the group within ShutdownTimeout. A session that
// fails for good (e.g. fenced) is replaced after a backoff; Run returns only
// on shutdown.
func (r *Runner) Run(ctx context.Context) error {
	pause := backoff.New(r.cfg.BackoffMin, r.cfg.BackoffMax)
	for {
		err := r.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.metrics.sessionRestarts.Inc()
		r.log.Warn("kafka session ended; starting a new one", zap.Error(err))
		if !pause.Wait(ctx) {
			return nil
		}
	}
}

func (r *Runner) runSession(ctx context.Context) error {
	sess, err := kgo.NewGroupTransactSession(r.opts...)
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	r.client.Store(sess.Client())
	defer func() {
		r.client.Store(nil)
		r.joined.Store(false)
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
		defer cancel()
		done := make(chan struct{})
		go func() { sess.Close(); close(done) }()
		select {
		case <-done:
		case <-closeCtx.Done():
			r.log.Warn("leaving the group did not finish within the shutdown timeout")
		}
	}()

	pause := backoff.New(r.cfg.BackoffMin, r.cfg.BackoffMax)
	size := newBatchSize(r.cfg)
	for {
		fetches := sess.PollRecords(ctx, size.n)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", partition), zap.Error(err))
			}
		})
		polled := fetches.Records()
		if len(polled) == 0 {
			continue
		}
		batch := polled[:0:0]
		for _, rec := range polled {
			if !rec.Attrs.IsControl() {
				batch = append(batch, rec)
			}
		}
		start := time.Now()
		committed, err := r.transact(ctx, sess, batch)
		if err != nil {
			return err
		}
		if committed {
			size.committed(len(polled), time.Since(start))
			pause.Reset()
			continue
		}
		size.aborted()
		// Aborted: the session rewound to the committed offsets and the
		// same records come again. Back off so a sick dependency can heal.
		if !pause.Wait(ctx) {
			return ctx.Err()
		}
	}
}

// transact processes one batch inside one Kafka transaction. It reports
// whether the transaction committed; an error means the session is unusable.
func (r *Runner) transact(ctx context.Context, sess *kgo.GroupTransactSession, batch []*kgo.Record) (bool, error) {
	if err := sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	// The batch in hand is finished even when shutdown starts, so that its
	// work is committed rather than redone; ProcessTimeout bounds it.
	workCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ProcessTimeout)
	defer cancel()

	var (
		out  []*kgo.Record
		perr error
	)
	if len(batch) > 0 { // a poll of only control records just commits past them
		start := time.Now()
		out, perr = r.proc.Process(workCtx, batch)
		r.metrics.processSeconds.Observe(time.Since(start).Seconds())
		r.metrics.recordsIn.Add(float64(len(batch)))
	}

	var produceFailures atomic.Int64
	if perr == nil {
		for _, rec := range out {
			// Never a cancellable context here: a cancelled produce fails
			// its promise, and the transaction must then abort, not commit.
			sess.Produce(context.Background(), rec, func(rec *kgo.Record, err error) {
				if err != nil {
					produceFailures.Add(1)
					// Every failure is logged, or a record the broker
					// refuses would have its batch redone in silence. The
					// key and value are personal data: only their sizes.
					r.log.Warn("produce failed", zap.String("topic", rec.Topic),
						zap.Int("key_bytes", len(rec.Key)), zap.Int("value_bytes", len(rec.Value)), zap.Error(err))
				}
			})
		}
	} else {
		r.metrics.processErrors.Inc()
		r.log.Warn("batch failed; aborting and retrying", zap.Int("records", len(batch)), zap.Error(perr))
	}

	endCtx, endCancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout+r.cfg.TransactionTimeout)
	defer endCancel()
	if perr == nil {
		// Every promise must have reported before the failures are counted:
		// a produce error does not abort a transaction by itself, so
		// committing past it would lose the record silently.
		if err := sess.Client().Flush(endCtx); err != nil {
			perr = fmt.Errorf("flush: %w", err)
		}
	}
	r.failpoints.Hit(r.cfg.Name + ".before-commit")
	committed, err := sess.End(endCtx, kgo.TransactionEndTry(perr == nil && produceFailures.Load() == 0))
	if err != nil {
		return false, fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		r.metrics.aborted.Inc()
		if perr == nil {
			r.log.Warn("transaction aborted (rebalance or produce failure); batch will be redone",
				zap.Int64("produce_failures", produceFailures.Load()))
		}
		return false, nil
	}
	r.failpoints.Hit(r.cfg.Name + ".after-commit")
	r.metrics.committed.Inc()
	r.metrics.recordsOut.Add(float64(len(out)))
	return true, nil
}

// batchSize is the adaptive number of records polled per transaction.
type batchSize struct {
	n, floor, ceiling int
	budget            time.Duration // a batch should take no longer
}

func newBatchSize(cfg Config) *batchSize {
	return &batchSize{n: cfg.MaxPollRecords, floor: cfg.MaxPollRecords, ceiling: cfg.MaxBatchRecords,
		budget: min(cfg.TransactionTimeout, cfg.ProcessTimeout) / 4}
}

// committed adapts the size after a batch of polled records took took.
func (b *batchSize) committed(polled int, took time.Duration) {
	if polled >= b.n { // a full poll: more is waiting
		b.n = min(2*b.n, b.ceiling)
	}
	if polled > 0 && took > 0 {
		// Never more than the budget allows at this batch's pace.
		fit := int(int64(b.budget) * int64(polled) / int64(took))
		b.n = max(b.floor, min(b.n, fit))
	}
}

// aborted goes back to the floor: a batch that is redone should be small.
func (b *batchSize) aborted() { b.n = b.floor }
