package platformclient

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

func newPlatform(t *testing.T) (*platformsim.Platform, *Client) {
	t.Helper()
	p, err := platformsim.New(platformsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// onlyContact returns the one contact of the platform.
func onlyContact(t *testing.T, p *platformsim.Platform) platformsim.Contact {
	t.Helper()
	var ids []string
	for _, d := range p.Deliveries() {
		if d.Type == "contact.created" {
			ids = append(ids, d.ContactID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d contacts created, want 1", len(ids))
	}
	c, _ := p.Contact(ids[0])
	return c
}

func TestWritesCreateUpdateAndGiftAsTheSync(t *testing.T) {
	p, c := newPlatform(t)
	ctx := context.Background()
	create := contact.SinkRecord{EventID: "e1", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkCreate, ReferenceSource: "offline", Links: map[string]string{"offline": "1001"},
		Set: contact.Values{contact.GivenName: "Anna", contact.Email: "anna@example.org", contact.Locality: "Springfield",
			contact.DoNotEmail: "true", contact.GivingTotal: "10.00"}}
	for range 2 { // the second is a redelivery: the idempotency key makes it one create
		if err := c.Write(ctx, create); err != nil {
			t.Fatal(err)
		}
	}
	got := onlyContact(t, p)
	if got.FirstName != "Anna" || got.Address == nil || got.Address.City != "Springfield" || got.ExternalIDs["offline"] != "1001" ||
		got.ReferenceSource != "offline" || got.Consent.Email == nil || *got.Consent.Email {
		t.Fatalf("created %+v", got)
	}
	update := contact.SinkRecord{EventID: "e2", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: got.ID, Set: contact.Values{contact.FamilyName: "Adams"}, Clear: []contact.Field{contact.Locality}}
	if err := c.Write(ctx, update); err != nil {
		t.Fatal(err)
	}
	gift := contact.SinkRecord{EventID: "e3", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityGift, Op: contact.SinkCreate,
		TargetRecordID: got.ID, Gift: &contact.Gift{GiftID: "g1", AmountMinor: 2550, Currency: "USD", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if err := c.Write(ctx, gift); err != nil {
		t.Fatal(err)
	}
	got, _ = p.Contact(got.ID)
	if got.LastName != "Adams" || (got.Address != nil && got.Address.City != "") {
		t.Fatalf("updated %+v", got)
	}
	for _, d := range p.Deliveries() {
		if d.Origin != OriginSync {
			t.Errorf("webhook %s has origin %q: the platform's echo must say sync", d.Type, d.Origin)
		}
	}
	if n := len(p.Deliveries()); n != 3 {
		t.Errorf("%d webhooks, want 3 (create, update, gift)", n)
	}
	// A create of a contact that has the offline id already updates it.
	again := create
	again.EventID, again.Set = "e4", contact.Values{contact.Phone: "+12175550101"}
	if err := c.Write(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _ = p.Contact(got.ID); got.Phone != "+12175550101" {
		t.Fatalf("create of a known offline id did not update it: %+v", got)
	}
}

func TestAnswersBecomeTheApplierOutcomes(t *testing.T) {
	p, c := newPlatform(t)
	ctx := context.Background()
	rec := contact.SinkRecord{EventID: "e1", PersonID: "p1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkCreate, Set: contact.Values{contact.GivenName: "Anna"}}
	if err := p.SetFaults(platformsim.Faults{RateLimit: 1, RetryAfter: platformsim.Duration(3 * time.Second), ServerErrors: 1, ValidationErrors: 1}); err != nil {
		t.Fatal(err)
	}
	var th *apply.Throttled
	if err := c.Write(ctx, rec); !errors.As(err, &th) || th.Wait != 3*time.Second {
		t.Fatalf("429: %v, want Throttled 3s", err)
	}
	var rej *apply.Rejected
	if err := c.Write(ctx, rec); err == nil || errors.As(err, &rej) || errors.As(err, &th) {
		t.Fatalf("500: %v, want a transient error", err)
	}
	if err := c.Write(ctx, rec); !errors.As(err, &rej) || rej.Status != 422 {
		t.Fatalf("422: %v, want Rejected 422", err)
	}
	bad := rec
	bad.Set = contact.Values{contact.Email: "not an address"}
	if err := c.Write(ctx, bad); !errors.As(err, &rej) || rej.Status != 422 || rej.Code != "validation_failed" || rej.Message == "" {
		t.Fatalf("invalid email: %v, want Rejected 422 validation_failed with the platform's text", err)
	}
	missing := contact.SinkRecord{EventID: "e9", TargetSystem: "online", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "c-nope", Set: contact.Values{contact.GivenName: "X"}}
	if err := c.Write(ctx, missing); !errors.As(err, &rej) || rej.Status != 404 {
		t.Fatalf("update of an unknown contact: %v, want Rejected 404", err)
	}
}

func TestAmount(t *testing.T) {
	for _, tt := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{2550, "USD", "25.50"}, {5, "EUR", "0.05"}, {0, "GBP", "0.00"}, {500, "JPY", "500"}, {1234, "KWD", "1.234"}, {-150, "usd", "-1.50"},
	} {
		if got := Amount(tt.minor, tt.currency); got != tt.want {
			t.Errorf("Amount(%d, %s) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}
