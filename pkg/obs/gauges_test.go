package obs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/cli"
)

func TestBuildInfo(t *testing.T) {
	b := cli.Build()
	want := `# HELP contactsync_build_info Always 1; the labels say which build the process runs.
# TYPE contactsync_build_info gauge
contactsync_build_info{commit="` + b.Commit + `",goversion="` + b.GoVersion + `",version="` + b.Version + `"} 1
`
	if err := testutil.GatherAndCompare(NewRegistry(), strings.NewReader(want), "contactsync_build_info"); err != nil {
		t.Error(err)
	}
}

// The lag gauge has one series per group and partition read at the scrape;
// when the read fails, _up is 0 and no lag series is exported (a stale
// number would hide that the sync stopped).
func TestLagCollector(t *testing.T) {
	samples := []LagSample{{Group: "cs-ingest", Topic: "in", Partition: 0, Lag: 7}, {Group: "cs-ingest", Topic: "in", Partition: 1, Lag: 0}}
	var fail error
	read := func(ctx context.Context) ([]LagSample, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("lag read without a deadline")
		}
		return samples, fail
	}
	reg := NewRegistry()
	reg.MustRegister(NewLagCollector(read, time.Second, zap.NewNop()))
	want := `# HELP contactsync_consumer_lag Records on the partition that the consumer group has not committed past.
# TYPE contactsync_consumer_lag gauge
contactsync_consumer_lag{group="cs-ingest",partition="0",topic="in"} 7
contactsync_consumer_lag{group="cs-ingest",partition="1",topic="in"} 0
# HELP contactsync_consumer_lag_up 1 when the consumer lag could be read from the brokers at this scrape, else 0.
# TYPE contactsync_consumer_lag_up gauge
contactsync_consumer_lag_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "contactsync_consumer_lag", "contactsync_consumer_lag_up"); err != nil {
		t.Error(err)
	}
	fail = errors.New("no broker")
	want = `# HELP contactsync_consumer_lag_up 1 when the consumer lag could be read from the brokers at this scrape, else 0.
# TYPE contactsync_consumer_lag_up gauge
contactsync_consumer_lag_up 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "contactsync_consumer_lag", "contactsync_consumer_lag_up"); err != nil {
		t.Error(err)
	}
}
