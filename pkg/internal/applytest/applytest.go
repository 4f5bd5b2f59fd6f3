// Package applytest holds what the integration tests of the applier and of
// its platform adapters share: their topics, the codec, the records put on
// the sink, running the applier, and reading its kick-outs back.
package applytest

import (
	"context"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
)

// Topics creates a sink and a kick-out topic of partitions partitions with
// unique names starting with prefix, and returns them with a unique group.
func Topics(ctx context.Context, t testing.TB, brokers []string, prefix string, partitions int32) (sink, kickOut, group string) {
	t.Helper()
	sink, kickOut, group = testenv.Unique(prefix+".sink."), testenv.Unique(prefix+".ko."), testenv.Unique(prefix+"-")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{sink, kickOut}, partitions, -1); err != nil {
		t.Fatal(err)
	}
	return sink, kickOut, group
}

// Codec returns the pipeline's Avro codec.
func Codec(t testing.TB) *avrocodec.Codec {
	t.Helper()
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	return codec
}

// Produce writes recs with a client closed at the end of the test.
func Produce(ctx context.Context, t testing.TB, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Start runs a until the returned stop is called; stop waits for Run to
// return. An error of Run fails the test.
func Start(ctx context.Context, t testing.TB, a *apply.Applier) (stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(runCtx); err != nil {
			t.Error(err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// ConsumeKickOuts sends the kick-outs of topic, from its start, to out
// until ctx ends. Run it in a goroutine.
func ConsumeKickOuts(ctx context.Context, t testing.TB, brokers []string, topic string, codec *avrocodec.Codec, out chan<- contact.KickOut) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			ko, err := codec.DecodeKickOut(r.Value)
			if err != nil {
				t.Errorf("kick-out: %v", err)
				return
			}
			out <- ko
		})
	}
}
