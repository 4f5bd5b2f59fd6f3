package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
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
