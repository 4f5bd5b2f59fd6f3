package kafkaops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// An unfinished transaction on a group's input is what keeps read_committed
// stages from ever draining; the failure report must name it.
func TestDiagnoseNamesOpenTransaction(t *testing.T) {
	brokers := testenv.RealKafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	topic, group := testenv.Unique("diag"), testenv.Unique("diag-group")
	if err := EnsureTopics(ctx, brokers, []string{topic}, 1, 1); err != nil {
		t.Fatal(err)
	}
	txnID := testenv.Unique("diag-txn")
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(txnID), kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("held open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	inputs := []GroupInputs{{Group: group, Topics: []string{topic}}}

	idleCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = WaitIdle(idleCtx, brokers, inputs)
	if err == nil || !strings.Contains(err.Error(), "1 records behind") || !strings.Contains(err.Error(), group+" "+topic+"/0") {
		t.Errorf("WaitIdle = %v, want 1 record behind on %s %s/0", err, group, topic)
	}

	report := Diagnose(ctx, brokers, inputs)
	t.Log(report)
	for _, want := range []string{
		"open transaction on " + topic + "/0",
		"partition " + topic + "/0: last stable offset 0 < high watermark 1",
		"transaction " + txnID + ": Ongoing",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if err := prod.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}
