package stripeclient

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// TestAgainstStripeMock sends every request the client makes to
// stripe-mock, which validates it against Stripe's OpenAPI spec: a
// parameter Stripe does not know, or of the wrong shape, is a 400 there.
func TestAgainstStripeMock(t *testing.T) {
	base := testenv.StripeMock(t)
	ctx := testenv.Context(t, 30*time.Second)
	c, err := New(base, "sk_test_contactsync", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("create with every field and the offline id", func(t *testing.T) {
		if err := c.Write(ctx, createRec()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("update with clears and links", func(t *testing.T) {
		rec := contact.SinkRecord{EventID: testenv.Unique("e-up"), TargetSystem: "stripe", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: "cus_mock1",
			Set:   contact.Values{contact.Email: "new@example.org", contact.AddressLine1: "5 Lake Shore Drive", contact.Country: "US"},
			Clear: []contact.Field{contact.Phone, contact.AddressLine2, contact.GivenName, contact.FamilyName},
			Links: map[string]string{"offline": "off-1001"}}
		if err := c.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("update of one name part reads the customer first", func(t *testing.T) {
		rec := contact.SinkRecord{EventID: testenv.Unique("e-name"), TargetSystem: "stripe", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: "cus_mock1", Set: contact.Values{contact.FamilyName: "Baker"}}
		if err := c.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a request Stripe refuses is a rejection", func(t *testing.T) {
		_, err := c.call(ctx, "POST", "/v1/customers", "contactsync-bad", url.Values{"no_such_param": {"x"}})
		var rej *apply.Rejected
		if !errors.As(err, &rej) || rej.Status != 400 || rej.Code != "invalid_request_error" {
			t.Fatalf("err %v, want a 400 rejection", err)
		}
	})
	t.Run("a wrong key waits instead of kicking out", func(t *testing.T) {
		bad, _ := New(base, "not-a-key", nil)
		err := bad.Write(context.Background(), createRec())
		var rej *apply.Rejected
		if err == nil || errors.As(err, &rej) {
			t.Fatalf("err %v, want a transient error", err)
		}
	})
}
