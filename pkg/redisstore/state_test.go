package redisstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/routertest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

func TestStateConflictFailsTheBatch(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	store := redisstore.NewStateStore(rdb, redisstore.Keys{Prefix: testenv.Unique("t")}, time.Hour)
	if err := store.Save(ctx, []router.Commit{{PersonID: "p", BaseVersion: 0, State: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	err := store.Save(ctx, []router.Commit{{PersonID: "p", BaseVersion: 0, State: []byte("2")}})
	if !errors.Is(err, router.ErrStateConflict) {
		t.Fatalf("a save from a stale version: %v, want ErrStateConflict", err)
	}
	got, err := store.Load(ctx, []string{"p"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["p"].Data) != "1" || got["p"].Version != 1 {
		t.Errorf("state = %q v%d, want \"1\" v1", got["p"].Data, got["p"].Version)
	}
}

// States and memos are stored compressed and read back as written; values
// stored before compression (plain JSON) are still read as they are.
func TestStatesAndMemosAreCompressedAndOldOnesStillRead(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	keys := redisstore.Keys{Prefix: testenv.Unique("t")}
	store := redisstore.NewStateStore(rdb, keys, time.Hour)
	state := bytes.Repeat([]byte(`{"golden":{"given_name":{"value":"Anna"}}}`), 20)
	memo := bytes.Repeat([]byte("sink.offline p-1 update "), 20)
	if err := store.Save(ctx, []router.Commit{{PersonID: "p", State: state, Memos: map[string][]byte{"e1": memo}}}); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.HGet(ctx, keys.State("p"), "data").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rawMemo, err := rdb.Get(ctx, keys.Memo("p", "e1")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)*4 > len(state) || len(rawMemo)*4 > len(memo) {
		t.Errorf("stored state %d bytes of %d, memo %d of %d: not compressed", len(raw), len(state), len(rawMemo), len(memo))
	}
	got, err := store.Load(ctx, []string{"p"})
	if err != nil {
		t.Fatal(err)
	}
	memos, _, err := store.Read(ctx, []router.EventRef{{PersonID: "p", EventID: "e1"}, {PersonID: "p", EventID: "e2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["p"].Data, state) || !bytes.Equal(memos[0], memo) || memos[1] != nil {
		t.Errorf("read back state %q, memos %q", got["p"].Data, memos)
	}

	// As stored before compression.
	if err := rdb.HSet(ctx, keys.State("q"), "data", `{"version":3}`, "version", 5).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, keys.Memo("q", "e9"), `{"in":"matched/0/1","out":[]}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = store.Load(ctx, []string{"q"})
	if err != nil {
		t.Fatal(err)
	}
	memos, _, err = store.Read(ctx, []router.EventRef{{PersonID: "q", EventID: "e9"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["q"].Data) != `{"version":3}` || got["q"].Version != 5 || string(memos[0]) != `{"in":"matched/0/1","out":[]}` {
		t.Errorf("uncompressed values read as state %q v%d, memo %q", got["q"].Data, got["q"].Version, memos[0])
	}
}

// The router on the Redis store: a batch redone after its state and memos
// were written (the Kafka commit failed) re-emits the same records, byte
// for byte, without applying the rules again; a later event continues from
// the stored state.
func TestRouterRedoAfterStateWriteReemitsTheSameOutputs(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	store := redisstore.NewStateStore(rdb, redisstore.Keys{Prefix: testenv.Unique("t")}, time.Hour)
	engine := &routertest.CountingEngine{}
	st := router.New(pipeline.DefaultTopics(), routertest.JSONCodec{}, engine, store, nil)
	batch := []*kgo.Record{routertest.Matched(t, "p-1", "e1", 1, 0), routertest.Matched(t, "p-2", "e2", 1, 1), routertest.Matched(t, "p-1", "e3", 1, 2), routertest.Matched(t, "p-1", "e4", 1, 3)}
	first, err := st.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := st.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if engine.Calls != 4 || len(first) != 4 || len(again) != len(first) {
		t.Fatalf("%d engine calls, %d outputs then %d on redo; want 4, 4, 4", engine.Calls, len(first), len(again))
	}
	for i := range first {
		if first[i].Topic != again[i].Topic || !bytes.Equal(first[i].Key, again[i].Key) || !bytes.Equal(first[i].Value, again[i].Value) {
			t.Errorf("output %d differs on redo:\n first %s %s\n again %s %s", i, first[i].Topic, first[i].Value, again[i].Topic, again[i].Value)
		}
	}
	next, err := st.Process(ctx, []*kgo.Record{routertest.Matched(t, "p-1", "e5", 1, 4)})
	if err != nil || len(next) != 1 {
		t.Fatalf("next event: %d outputs, %v", len(next), err)
	}
	var sr contact.SinkRecord
	if err := json.Unmarshal(next[0].Value, &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Reason != "change 4" {
		t.Errorf("state not carried over: %q, want %q", sr.Reason, "change 4")
	}
}
