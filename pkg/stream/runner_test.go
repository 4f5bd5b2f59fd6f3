package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/stream"
)

// copyProcessor copies every record to out, failing transiently on the
// first batch that contains failKey.
type copyProcessor struct {
	out     string
	failKey string
	failed  atomic.Bool
	seen    sync.Map // key -> times processed
}

func (p *copyProcessor) Process(_ context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	for _, r := range batch {
		if string(r.Key) == p.failKey && p.failed.CompareAndSwap(false, true) {
			return nil, errors.New("dependency down")
		}
	}
	var out []*kgo.Record
	for _, r := range batch {
		n, _ := p.seen.LoadOrStore(string(r.Key), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		out = append(out, &kgo.Record{Topic: p.out, Key: r.Key, Value: r.Value})
	}
	return out, nil
}

func TestRunnerCopiesExactlyOnceAcrossAbortAndRestart(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	in, out, group := testenv.Unique("in-"), testenv.Unique("out-"), testenv.Unique("g-")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{in, out}, 3, 1); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	produce(t, ctx, brokers, in, 0, n/2)

	proc := &copyProcessor{out: out, failKey: "k-00100"}
	newRunner := func() *stream.Runner {
		r, err := stream.New(stream.Config{
			Name: "copy", Brokers: brokers, Group: group, Topics: []string{in},
			TransactionalID: group + "-0", SessionTimeout: 6 * time.Second, // a real broker refuses less (group.min.session.timeout.ms)
			BackoffMin: 10 * time.Millisecond, MaxPollRecords: 200,
		}, proc, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	inputs := []kafkaops.GroupInputs{{Group: group, Topics: []string{in}}}

	// First run: processes half, including one aborted batch, then stops.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- newRunner().Run(runCtx) }()
	if err := kafkaops.WaitIdle(ctx, brokers, inputs); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !proc.failed.Load() {
		t.Fatal("the injected failure never happened")
	}

	// Second run, same transactional id: only the new half is processed.
	produce(t, ctx, brokers, in, n/2, n)
	runCtx, stop = context.WithCancel(ctx)
	go func() { done <- newRunner().Run(runCtx) }()
	if err := kafkaops.WaitIdle(ctx, brokers, inputs); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	recs, err := kafkaops.ReadTopic(ctx, brokers, out)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range recs {
		counts[string(r.Key)]++
	}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k-%05d", i)
		if counts[k] != 1 {
			t.Errorf("key %s appears %d times in the output, want 1", k, counts[k])
		}
	}
	if len(recs) != n {
		t.Errorf("output has %d records, want %d", len(recs), n)
	}
	// Committed offsets: nothing was processed twice after a commit.
	proc.seen.Range(func(k, v any) bool {
		if c := v.(*atomic.Int64).Load(); c > 1 {
			t.Errorf("key %s processed %d times; committed work must not be redone", k, c)
		}
		return true
	})
}

func produce(t *testing.T, ctx context.Context, brokers []string, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		k := fmt.Sprintf("k-%05d", i)
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte("v-" + k)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
