package gateway

import (
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

func TestRedisDeduper(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	d := NewRedisDeduper(rdb, testenv.Unique("gwtest")+":", time.Minute)
	t.Cleanup(func() {
		for _, k := range []string{d.key("online", "e1"), d.key("online/e", "1")} {
			rdb.Del(ctx, k)
		}
	})
	if seen, err := d.Seen(ctx, "online", "e1"); err != nil || seen {
		t.Fatalf("Seen before Remember = %v, %v", seen, err)
	}
	for range 2 {
		if err := d.Remember(ctx, "online", "e1"); err != nil {
			t.Fatal(err)
		}
	}
	if seen, err := d.Seen(ctx, "online", "e1"); err != nil || !seen {
		t.Fatalf("Seen after Remember = %v, %v", seen, err)
	}
	// Ids with separators do not collide with another pair.
	if d.key("online", "e/1") == d.key("online/e", "1") || d.key("a", "bc") == d.key("ab", "c") {
		t.Fatal("keys of different (system, event id) pairs collide")
	}
	if seen, _ := d.Seen(ctx, "offline", "e1"); seen {
		t.Fatal("an event id of another system counted as seen")
	}
	if ttl := rdb.TTL(ctx, d.key("online", "e1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v, want (0, 1m]", ttl)
	}
}
