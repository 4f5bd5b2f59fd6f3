package stream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type runnerMetrics struct {
	recordsIn       prometheus.Counter
	recordsOut      prometheus.Counter
	committed       prometheus.Counter
	aborted         prometheus.Counter
	processErrors   prometheus.Counter
	sessionRestarts prometheus.Counter
	processSeconds  prometheus.Observer
}

func newRunnerMetrics(reg prometheus.Registerer, stage string) (*runnerMetrics, error) {
	labels := prometheus.Labels{"stage": stage}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "contactsync", Subsystem: "stage", Name: name, Help: help, ConstLabels: labels,
		})
	}
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "contactsync", Subsystem: "stage", Name: "process_seconds",
		Help: "Time to process one polled batch.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	})
	m := &runnerMetrics{
		recordsIn:       counter("records_in_total", "Records consumed (counting redelivered batches again)."),
		recordsOut:      counter("records_out_total", "Records produced in committed transactions."),
		committed:       counter("transactions_committed_total", "Committed transactions."),
		aborted:         counter("transactions_aborted_total", "Aborted transactions (batch redone)."),
		processErrors:   counter("process_errors_total", "Batches whose processing failed transiently."),
		sessionRestarts: counter("session_restarts_total", "Kafka sessions replaced after a fatal error."),
		processSeconds:  hist,
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.recordsIn, m.recordsOut, m.committed, m.aborted, m.processErrors, m.sessionRestarts, hist} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics of stage %q: %w", stage, err)
		}
	}
	return m, nil
}
