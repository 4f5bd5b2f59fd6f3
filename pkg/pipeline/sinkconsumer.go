package pipeline

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// SinkConsumer names the consumer of one target system's sink topic: an
// applier or a delivery loader.
type SinkConsumer struct {
	ClientID       string
	Group          string
	Topic          string
	InstanceID     string // static membership; empty: dynamic
	SessionTimeout time.Duration
}

// Opts are the client options every sink consumer shares: committed
// records only, offsets committed by hand once a batch's outcome is known,
// and a batch kept on its replica until it is committed, so two replicas
// never write the same batch at once. The router writes sink topics in
// transactions: their commit markers are handed to the consumer too (skip
// them, see kgo.Record.Attrs.IsControl) so that committing a batch commits
// past them, and a consumer that has written everything shows a lag of 0,
// not 1 per partition. The caller adds its logger and connection options.
func (s SinkConsumer) Opts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ClientID(s.ClientID),
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(s.SessionTimeout),
		kgo.KeepControlRecords(),
	}
	if s.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.InstanceID))
	}
	return opts
}
