package obs

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/cli"
)

// newBuildInfo is contactsync_build_info: always 1, labelled with the
// binary's version and commit (pkg/cli), so that a dashboard shows which
// build each process runs and a deploy shows as a label change.
func newBuildInfo() prometheus.Collector {
	b := cli.Build()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "contactsync", Name: "build_info",
		Help:        "Always 1; the labels say which build the process runs.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion},
	}, func() float64 { return 1 })
}

// LagSample is one consumer group's lag on one partition.
type LagSample struct {
	Group, Topic string
	Partition    int32
	Lag          int64
}

// LagReader reads the current lag of the groups a process runs.
type LagReader func(context.Context) ([]LagSample, error)

// lagCollector asks the broker for the lag when scraped, so the gauge is
// right in every replica without any of them keeping a count.
type lagCollector struct {
	read    LagReader
	timeout time.Duration
	log     *zap.Logger
	lag, up *prometheus.Desc
}

// NewLagCollector exports contactsync_consumer_lag{group,topic,partition}
// (records not yet committed past) and contactsync_consumer_lag_up (1 when
// the last read worked, 0 when the broker did not answer within timeout:
// the lag series are then absent, not stale).
func NewLagCollector(read LagReader, timeout time.Duration, log *zap.Logger) prometheus.Collector {
	return &lagCollector{
		read: read, timeout: timeout, log: log,
		lag: prometheus.NewDesc("contactsync_consumer_lag",
			"Records on the partition that the consumer group has not committed past.",
			[]string{"group", "topic", "partition"}, nil),
		up: prometheus.NewDesc("contactsync_consumer_lag_up",
			"1 when the consumer lag could be read from the brokers at this scrape, else 0.", nil, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.up
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	samples, err := c.read(ctx)
	if err != nil {
		c.log.Warn("consumer lag not read", zap.Error(err))
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(s.Lag),
			s.Group, s.Topic, strconv.Itoa(int(s.Partition)))
	}
}
