package redisstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

func change(system, id, email string) contact.Change {
	return contact.Change{EventID: system + id, SourceSystem: system, SourceRecordID: id,
		Values: contact.Values{contact.Email: email, contact.GivenName: "Ann", contact.FamilyName: "Lee"}}
}

func TestExactResolverLinksAndIsIdempotent(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	r := redisstore.NewExactResolver(rdb, redisstore.Keys{Prefix: testenv.Unique("t")})

	first, err := r.Resolve(ctx, []contact.Change{change("offline", "OFF-1", "ann@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Match.Decision != contact.DecisionNew {
		t.Fatalf("first record: decision %s, want new", first[0].Match.Decision)
	}
	p := first[0].Match.PersonID
	second, err := r.Resolve(ctx, []contact.Change{change("online", "web-1", "ann@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	if got := second[0].Match; got.Decision != contact.DecisionLinked || got.PersonID != p {
		t.Fatalf("online record: %s to %s, want linked to %s", got.Decision, got.PersonID, p)
	}
	if second[0].Links["offline"] != "OFF-1" || second[0].Links["online"] != "web-1" {
		t.Errorf("links = %v", second[0].Links)
	}
	again, err := r.Resolve(ctx, []contact.Change{change("online", "web-1", "ann@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	if got := again[0].Match; got.Decision != contact.DecisionKnown || got.PersonID != p {
		t.Errorf("same record again: %s to %s, want known %s", got.Decision, got.PersonID, p)
	}
}

func TestExactResolverSameRecordConcurrentlyGetsOnePerson(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	r := redisstore.NewExactResolver(rdb, redisstore.Keys{Prefix: testenv.Unique("t")})
	var wg sync.WaitGroup
	persons := make([]string, 8)
	for i := range persons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Resolve(ctx, []contact.Change{change("online", "web-9", "zed@example.org")})
			if err != nil {
				t.Error(err)
				return
			}
			persons[i] = res[0].Match.PersonID
		}()
	}
	wg.Wait()
	for _, p := range persons {
		if p != persons[0] {
			t.Fatalf("one record resolved to several persons: %v", persons)
		}
	}
}
