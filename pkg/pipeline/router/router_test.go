package router_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/routertest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
)

func TestRedoneBatchReemitsRememberedOutputs(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	engine := &routertest.CountingEngine{}
	st := router.New(pipeline.DefaultTopics(), routertest.JSONCodec{}, engine, newMemStore(), nil)

	batch := []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 0), routertest.Matched(t, "p-1", "e2", 0, 1), routertest.Matched(t, "p-2", "e3", 0, 2)}
	first, err := st.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || engine.Calls != 3 {
		t.Fatalf("first pass: %d outputs, %d engine calls; want 3 and 3", len(first), engine.Calls)
	}
	// The Kafka commit "failed" after Redis was written: the same batch
	// comes again. It must produce the same records without applying again.
	again, err := st.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if engine.Calls != 3 {
		t.Errorf("redone batch applied the rules again (%d calls)", engine.Calls)
	}
	if len(again) != len(first) {
		t.Fatalf("redone batch emitted %d records, want %d", len(again), len(first))
	}
	for i := range first {
		if first[i].Topic != again[i].Topic || !bytes.Equal(first[i].Value, again[i].Value) {
			t.Errorf("output %d differs on redo:\n first %s %s\n again %s %s", i, first[i].Topic, first[i].Value, again[i].Topic, again[i].Value)
		}
	}
	// A new event for p-1 continues from the stored state (2 changes so far).
	next, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e4", 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	var sr contact.SinkRecord
	if err := json.Unmarshal(next[0].Value, &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Reason != "change 3" {
		t.Errorf("state not carried over: got %q, want %q", sr.Reason, "change 3")
	}
}

// A store conflict fails the batch (it is redone from the new state), and
// the redo emits the outputs once.
func TestStoreConflictFailsTheBatch(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	store := newMemStore()
	engine := &routertest.CountingEngine{}
	st := router.New(pipeline.DefaultTopics(), routertest.JSONCodec{}, engine, store, nil)
	store.failNextSave = fmt.Errorf("person p-1: %w", router.ErrStateConflict)
	batch := []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 0)}
	if _, err := st.Process(ctx, batch); !errors.Is(err, router.ErrStateConflict) {
		t.Fatalf("batch with a conflicting save: %v, want ErrStateConflict", err)
	}
	out, err := st.Process(ctx, batch)
	if err != nil || len(out) != 1 {
		t.Fatalf("redone batch: %d records, %v; want 1", len(out), err)
	}
}

// An event delivered twice as two input records (a webhook sent twice) is
// applied once and emitted once; only a redo of the same record re-emits.
func TestDuplicateDeliveryEmitsNothing(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	engine := &routertest.CountingEngine{}
	st := router.New(pipeline.DefaultTopics(), routertest.JSONCodec{}, engine, newMemStore(), nil)
	first, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 10)})
	if err != nil || len(first) != 1 {
		t.Fatalf("first delivery: %d records, %v", len(first), err)
	}
	second, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 11)})
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 0 || engine.Calls != 1 {
		t.Fatalf("second delivery emitted %d records after %d engine calls; want 0 and 1", len(second), engine.Calls)
	}
	both, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-2", "e2", 0, 12), routertest.Matched(t, "p-2", "e2", 0, 13)})
	if err != nil || len(both) != 1 {
		t.Fatalf("the same event twice in one batch: %d records, %v; want 1", len(both), err)
	}
}

// A memo written before the binary form (JSON, base64 values) still works
// after an upgrade: a redo of its input re-emits its records, another
// delivery of the event emits nothing, and the rules are not applied.
func TestMemoOfTheJSONFormIsStillHonoured(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	store := newMemStore()
	store.memos[router.EventRef{PersonID: "p-1", EventID: "e1"}] = []byte(
		`{"in":"matched/0/5","out":[{"t":"contactsync.sink.offline","k":"cC0x","v":"c2luaw=="},{"t":"contactsync.audit","k":"cC0x","v":"YXVkaXQ="}]}`)
	engine := &routertest.CountingEngine{}
	st := router.New(pipeline.DefaultTopics(), routertest.JSONCodec{}, engine, store, nil)
	redo, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(redo) != 2 || string(redo[0].Value) != "sink" || string(redo[0].Key) != "p-1" || redo[1].Topic != "contactsync.audit" || string(redo[1].Value) != "audit" {
		t.Fatalf("redo of a JSON memo emitted %+v", redo)
	}
	again, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e1", 0, 6)})
	if err != nil || len(again) != 0 || engine.Calls != 0 {
		t.Fatalf("another delivery: %d records, %v, %d engine calls; want none", len(again), err, engine.Calls)
	}
}
