package platformsim

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
)

// Custom fields are kept key by key like external ids, and the webhooks
// carry them (null for a clear) so ingest decodes them as declared.
func TestCustomFields(t *testing.T) {
	p, base := newSim(t, Options{})
	r := call(t, base, "POST", "/api/contacts", nil, `{"last_name":"Adams","custom_fields":{"appeal_code":"XMAS26","gift_aid":"yes"}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	id, _ := r.body["id"].(string)
	if r := call(t, base, "PATCH", "/api/contacts/"+id, nil, `{"custom_fields":{"appeal_code":null,"membership_level":"Gold"}}`); r.status != 200 {
		t.Fatalf("update: %d %v", r.status, r.body)
	}
	if r := call(t, base, "PATCH", "/api/contacts/"+id, nil, `{"custom_fields":{"x":1}}`); r.status != 422 || r.body["field"] != "custom_fields" {
		t.Fatalf("a number: %d %v, want 422 on custom_fields", r.status, r.body)
	}
	fs, err := contact.NewFieldSet(
		contact.FieldInfo{Name: "appeal_code", Kind: contact.Text},
		contact.FieldInfo{Name: "gift_aid", Kind: contact.Bool},
		contact.FieldInfo{Name: "membership_level", Kind: contact.Enum, Allowed: []string{"Bronze", "Gold"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode.NewOnline(decode.OnlineConfig{System: "online", Fields: fs})
	if err != nil {
		t.Fatal(err)
	}
	ds := p.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("%d webhooks, want 2", len(ds))
	}
	created, err := dec.Decode(nil, ds[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := created[0].Values; v["appeal_code"] != "XMAS26" || v["gift_aid"] != "true" {
		t.Fatalf("create webhook values %v", v)
	}
	updated, err := dec.Decode(nil, ds[1].Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := updated[0].Values; v["membership_level"] != "Gold" || !hasField(updated[0].Cleared, "appeal_code") {
		t.Fatalf("update webhook: values %v cleared %v", v, updated[0].Cleared)
	}
}
