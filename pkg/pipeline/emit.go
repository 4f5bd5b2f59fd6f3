package pipeline

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
)

// KickOutEncoder encodes a kick-out for the kick-out topic.
type KickOutEncoder interface {
	EncodeKickOut(contact.KickOut) ([]byte, error)
}

// Metrics are the pipeline's domain metrics, shared by all stages of a
// process (one registry per process).
type Metrics struct {
	KickOuts    *prometheus.CounterVec // stage, reason
	Decisions   *prometheus.CounterVec // decision
	SinkRecords *prometheus.CounterVec // system, entity, op
	Reviews     *prometheus.CounterVec // system
	Echoes      *prometheus.CounterVec // system
	Duplicates  *prometheus.CounterVec // stage: events seen before, re-emitted from memory
}

// NewMetrics registers the pipeline metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "contactsync", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		KickOuts:    vec("kickouts_total", "Records kicked out for review, by stage and reason.", "stage", "reason"),
		Decisions:   vec("match_decisions_total", "Match decisions by kind.", "decision"),
		SinkRecords: vec("sink_records_total", "Records emitted to target systems.", "system", "entity", "op"),
		Reviews:     vec("review_items_total", "Changes held for review.", "system"),
		Echoes:      vec("echoes_suppressed_total", "Changes recognised as echoes of the sync's own writes.", "system"),
		Duplicates:  vec("duplicate_events_total", "Events seen before (redelivery or replay of a done event).", "stage"),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.KickOuts, m.Decisions, m.SinkRecords, m.Reviews, m.Echoes, m.Duplicates} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register pipeline metrics: %w", err)
	}
	return m, nil
}

// Output collects one batch's output records for a stage.
type Output struct {
	stage   string
	topics  Topics
	enc     KickOutEncoder
	metrics *Metrics
	// kickOutMax caps the raw value kept in a kick-out.
	kickOutMax int
	Records    []*kgo.Record
}

// NewOutput starts the output of one batch.
func NewOutput(stage string, topics Topics, enc KickOutEncoder, m *Metrics, opts ...OutputOption) *Output {
	o := &Output{stage: stage, topics: topics, enc: enc, metrics: m, kickOutMax: DefaultKickOutMaxBytes}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Emit adds an output record.
func (o *Output) Emit(r *kgo.Record) { o.Records = append(o.Records, r) }

// KickOut emits the kick-out of input record in. decorate, if not nil, adds
// stage-specific detail (explanation, person id).
func (o *Output) KickOut(in *kgo.Record, reason string, cause error, decorate func(*contact.KickOut)) error {
	ko := kickOutFrom(o.stage, reason, cause, in)
	if decorate != nil {
		decorate(&ko)
	}
	return o.emitKickOut(FitKickOut(ko, o.kickOutMax))
}

func (o *Output) emitKickOut(ko contact.KickOut) error {
	val, err := o.enc.EncodeKickOut(ko)
	if err != nil {
		return fmt.Errorf("encode kick-out: %w", err)
	}
	o.Emit(&kgo.Record{Topic: o.topics.KickOuts, Key: []byte(ko.ID), Value: val})
	if o.metrics != nil {
		o.metrics.KickOuts.WithLabelValues(o.stage, ko.Reason).Inc()
	}
	return nil
}

// Guard runs fn and turns a panic into an error, so that one poisonous
// record becomes a kick-out instead of a crash loop.
func Guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: fmt.Sprint(p)}
		}
	}()
	return fn()
}

// PanicError is a recovered panic while processing one record.
type PanicError struct{ Value string }

func (e *PanicError) Error() string { return "internal error while processing record: " + e.Value }

// OutputOption adjusts an Output.
type OutputOption func(*Output)

// WithKickOutMaxBytes caps the raw value kept in a kick-out (default
// DefaultKickOutMaxBytes; see FitKickOut).
func WithKickOutMaxBytes(n int) OutputOption {
	return func(o *Output) {
		if n > 0 {
			o.kickOutMax = n
		}
	}
}
