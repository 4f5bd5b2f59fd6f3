package app

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
)

// lagTimeout bounds one lag read at a scrape or progress tick.
const lagTimeout = 5 * time.Second

// progressEvery is how often a process that is behind logs its progress
// (an initial load, or a catch-up after an outage).
const progressEvery = 30 * time.Second

// stageInputs are the topology's group inputs of the named stages.
func (a *App) stageInputs(stages []string) []kafkaops.GroupInputs {
	var out []kafkaops.GroupInputs
	for _, s := range a.topology.Stages {
		if slices.Contains(stages, s.Name) {
			out = append(out, kafkaops.GroupInputs{Group: s.Group, Topics: s.InputTopics()})
		}
	}
	return out
}

// lagReader reads the lag of inputs for contactsync_consumer_lag.
func lagReader(adm *kadm.Client, inputs []kafkaops.GroupInputs) obs.LagReader {
	return func(ctx context.Context) ([]obs.LagSample, error) {
		lags, err := kafkaops.GroupLags(ctx, adm, inputs)
		if err != nil {
			return nil, err
		}
		var out []obs.LagSample
		for _, g := range lags {
			for _, p := range g.Partitions {
				if p.Err == nil {
					out = append(out, obs.LagSample{Group: p.Group, Topic: p.Topic, Partition: p.Partition, Lag: p.Lag})
				}
			}
		}
		return out, nil
	}
}

// logProgress logs, every progressEvery while a group is behind, how far
// behind it is and how fast it catches up, and once when it has caught up:
// an initial load of a large offline table is visible in the logs without
// Prometheus.
func logProgress(ctx context.Context, adm *kadm.Client, inputs []kafkaops.GroupInputs, log *zap.Logger) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	last := map[string]int64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, lagTimeout)
		lags, err := kafkaops.GroupLags(rctx, adm, inputs)
		cancel()
		if err != nil {
			continue // the lag gauge's _up says so; a log line every tick would not help
		}
		for _, g := range lags {
			total := g.Total()
			prev, seen := last[g.Group]
			last[g.Group] = total
			switch {
			case total > 0:
				fields := []zap.Field{zap.String("group", g.Group), zap.Int64("behind", total), zap.Int("partitions", len(g.Partitions))}
				if seen {
					fields = append(fields, zap.Float64("catch_up_per_second", float64(prev-total)/progressEvery.Seconds()))
				}
				log.Info("catching up", fields...)
			case seen && prev > 0:
				log.Info("caught up", zap.String("group", g.Group))
			}
		}
	}
}
