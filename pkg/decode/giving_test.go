package decode

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// The giving summary of the reference schema (the most recent gift's
// amount, the highest gift's amount and date, the first gift's date) is
// read from the offline row like giving_total, and cleared like it.
func TestDebeziumGivingSummary(t *testing.T) {
	d := newDebezium(t)
	value := `{"before":{"id":"OFF-7","giving_total":"10.00","last_gift_amount":"10.00","highest_gift_amount":"10.00",
		"highest_gift_date":"2025-01-02","first_gift_date":"2025-01-02","last_gift_date":"2025-01-02"},
		"after":{"id":"OFF-7","giving_total":"260.00","last_gift_amount":"50.00","highest_gift_amount":"200.00",
		"highest_gift_date":"2026-06-01","first_gift_date":null,"last_gift_date":"2026-11-01","updated_by":"admin"},
		"op":"u",` + pgSource + `}`
	changes, err := d.Decode(nil, []byte(value), "cdc", 0, 1)
	if err != nil || len(changes) != 1 {
		t.Fatalf("decode: %d changes, %v", len(changes), err)
	}
	got := changes[0]
	want := contact.Values{contact.GivingTotal: "260.00", contact.LastGiftAmount: "50.00", contact.HighestGiftAmount: "200.00",
		contact.HighestGiftDate: "2026-06-01", contact.LastGiftDate: "2026-11-01"}
	for f, v := range want {
		if got.Values[f] != v {
			t.Errorf("%s = %q, want %q", f, got.Values[f], v)
		}
	}
	if !got.IsCleared(contact.FirstGiftDate) {
		t.Errorf("first_gift_date set to null is not a clear: cleared %v", got.Cleared)
	}
}
