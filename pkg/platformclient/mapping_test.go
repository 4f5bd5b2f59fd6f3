package platformclient

import (
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Custom fields go out by name in a custom_fields object; on an update a
// cleared one is null, on a create clears are not sent.
func TestPatchCarriesCustomFields(t *testing.T) {
	rec := contact.SinkRecord{
		TargetSystem: "online",
		Set:          contact.Values{contact.GivenName: "Anna", "appeal_code": "XMAS26", "gift_aid": "true"},
		Clear:        []contact.Field{"membership_level", contact.Phone},
	}
	got := patchOf(rec, false)
	want := map[string]any{
		"first_name":    "Anna",
		"phone":         nil,
		"custom_fields": map[string]any{"appeal_code": "XMAS26", "gift_aid": "true", "membership_level": nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("update body\n got %#v\nwant %#v", got, want)
	}
	created := patchOf(rec, true)
	if cf := created["custom_fields"]; !reflect.DeepEqual(cf, map[string]any{"appeal_code": "XMAS26", "gift_aid": "true"}) {
		t.Fatalf("create body custom_fields %#v", cf)
	}
	if _, ok := patchOf(contact.SinkRecord{Set: contact.Values{contact.GivenName: "A"}}, false)["custom_fields"]; ok {
		t.Fatal("custom_fields sent without custom values")
	}
}
