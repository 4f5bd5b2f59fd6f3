package review

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	replays   *prometheus.CounterVec // kind (replay, fix_resubmit), result (ok, refused, failed)
	decisions *prometheus.CounterVec // decision (approved, rejected)
}

// newMetrics registers the service's metrics on reg (nil: unregistered).
// A second service on the same registry (the API and the CLI in one
// process) shares the first one's collectors.
func newMetrics(reg prometheus.Registerer, store Store) (*metrics, error) {
	m := &metrics{
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "contactsync",
			Name: "kickout_replays_total", Help: "Kick-out replays by kind (replay, fix_resubmit) and result (ok, refused, failed)."},
			[]string{"kind", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "contactsync",
			Name: "review_decisions_total", Help: "Review decisions (approved, rejected)."}, []string{"decision"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.replays, err = registerOrReuse(reg, m.replays); err != nil {
		return nil, err
	}
	if m.decisions, err = registerOrReuse(reg, m.decisions); err != nil {
		return nil, err
	}
	// Backlog gauges read the store when scraped, so they are right in
	// every replica without any of them keeping a count.
	gauge := func(name, help string, read func(context.Context) (int64, error)) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "contactsync", Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := read(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		})
	}
	for _, c := range []prometheus.Collector{
		gauge("kickouts_open", "Kick-outs waiting for a person.", func(ctx context.Context) (int64, error) {
			return store.CountKickOutsByStatus(ctx, KickOutOpen)
		}),
		gauge("review_pending", "Review items waiting for a decision.", func(ctx context.Context) (int64, error) {
			return store.CountReviews(ctx, ReviewPending)
		}),
	} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return nil, fmt.Errorf("register review metrics: %w", err)
		}
	}
	return m, nil
}

func registerOrReuse(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("register review metrics: %w", err)
}
