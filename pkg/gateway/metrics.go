package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gateway's Prometheus series.
type Metrics struct {
	Requests          *prometheus.CounterVec   // by source and HTTP status
	SignatureFailures *prometheus.CounterVec   // by source and reason
	Duplicates        *prometheus.CounterVec   // by source: redeliveries answered from the dedupe cache
	Ignored           *prometheus.CounterVec   // by source and type: Stripe events the sync does not read
	ProduceSeconds    *prometheus.HistogramVec // by source and outcome (ok, error)
}

// unknownSource labels requests to a source that is not configured, so a
// client cannot create series by inventing paths.
const unknownSource = "_unknown"

// NewMetrics registers the gateway's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_gateway_requests_total", Help: "Webhook requests by source and HTTP status.",
		}, []string{"source", "status"}),
		SignatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_gateway_signature_failures_total", Help: "Requests that failed authentication, by source and reason.",
		}, []string{"source", "reason"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_gateway_duplicates_total", Help: "Redelivered events acknowledged without producing them again.",
		}, []string{"source"}),
		Ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "contactsync_gateway_ignored_total", Help: "Authenticated events acknowledged without producing them: types the sync does not read.",
		}, []string{"source", "type"}),
		ProduceSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "contactsync_gateway_produce_seconds", Help: "Time until Kafka confirmed (or failed) an event.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"source", "outcome"}),
	}
	reg.MustRegister(m.Requests, m.SignatureFailures, m.Duplicates, m.Ignored, m.ProduceSeconds)
	return m
}
