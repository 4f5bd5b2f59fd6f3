package stream_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/stream"
)

// A record the broker refuses aborts the transaction; the error must be
// logged (it was not: the batch was redone forever in silence), and the
// record's value must not be (it is personal data).
func TestRunnerLogsProduceFailures(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	in, out, group := testenv.Unique("in-"), testenv.Unique("out-"), testenv.Unique("g-")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{in, out}, 1, 1); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, brokers, in, 0, 1)
	secret := bytes.Repeat([]byte("PII"), 700_000) // over any record limit
	proc := stream.ProcessorFunc(func(context.Context, []*kgo.Record) ([]*kgo.Record, error) {
		return []*kgo.Record{{Topic: out, Key: []byte("k"), Value: secret}}, nil
	})
	core, logs := observer.New(zap.WarnLevel)
	r, err := stream.New(stream.Config{
		Name: "big", Brokers: brokers, Group: group, Topics: []string{in}, TransactionalID: group + "-0",
		SessionTimeout: 6 * time.Second, BackoffMin: 10 * time.Millisecond,
	}, proc, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()

	deadline := time.Now().Add(time.Minute)
	for {
		for _, e := range logs.All() {
			if e.Message != "produce failed" {
				continue
			}
			fields := e.ContextMap()
			if fields["topic"] != out || !strings.Contains(fields["error"].(string), "MESSAGE_TOO_LARGE") {
				t.Fatalf("produce failure logged as %v", fields)
			}
			for _, f := range e.Context {
				if strings.Contains(f.String, "PIIPII") {
					t.Fatalf("the record's value reached the log in field %s", f.Key)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			var msgs []string
			for _, e := range logs.All() {
				msgs = append(msgs, e.Message)
			}
			t.Fatalf("no produce failure logged; logged: %q", msgs)
		}
		time.Sleep(20 * time.Millisecond) // polling the log, with a deadline
	}
}
