package review

import (
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// A held change's custom fields are shown for review after the built-in
// ones, so a reviewer sees everything an approval would send on.
func TestReviewViewShowsCustomFields(t *testing.T) {
	v := reviewViewOf(StoredReview{ReviewItem: contact.ReviewItem{
		Proposed: contact.Values{contact.FamilyName: "Adams", "membership_level": "Gold", "appeal_code": "XMAS26"},
		Current:  contact.Values{contact.FamilyName: "Adam", "membership_level": "Bronze"},
	}})
	want := []FieldDiff{
		{Field: "family_name", Current: "Adam", Proposed: "Adams"},
		{Field: "appeal_code", Current: "", Proposed: "XMAS26"},
		{Field: "membership_level", Current: "Bronze", Proposed: "Gold"},
	}
	if !reflect.DeepEqual(v.Fields, want) {
		t.Fatalf("fields %+v", v.Fields)
	}
}
