package platformclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// A link-only update (the offline id written back, no field changed) is a
// PATCH of external_ids and nothing else: the platform's record keeps
// every value it has and gains the offline id.
func TestLinkOnlyUpdatePatchesExternalIDsOnly(t *testing.T) {
	p, err := platformsim.New(platformsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var patches []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPatch {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("PATCH body %q: %v", body, err)
			}
			mu.Lock()
			patches = append(patches, m)
			mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := contact.SinkRecord{EventID: "e1", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkCreate, Set: contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Phone: "+12175550998"}}
	if err := c.Write(ctx, create); err != nil {
		t.Fatal(err)
	}
	before := onlyContact(t, p)
	links := contact.SinkRecord{EventID: "sk-links", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: before.ID, Links: map[string]string{"offline": "OFF-77", "online": before.ID},
		Reason: "links (offline id written back) from offline"}
	for range 2 { // a redelivery: one change
		if err := c.Write(ctx, links); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]any{"external_ids": map[string]any{"offline": "OFF-77"}}
	if len(patches) != 2 || !reflect.DeepEqual(patches[0], want) {
		t.Fatalf("PATCH bodies %v, want %v (its own id is not an external id)", patches, want)
	}
	after, _ := p.Contact(before.ID)
	if after.ExternalIDs["offline"] != "OFF-77" || after.FirstName != "Ben" || after.LastName != "Brown" || after.Phone != "+12175550998" {
		t.Fatalf("after the link-only update: %+v", after)
	}
	updates := 0
	for _, d := range p.Deliveries() {
		if d.Type == "contact.updated" {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("%d contact.updated webhooks, want 1 (the redelivery is the same write)", updates)
	}
}
