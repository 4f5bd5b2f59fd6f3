package review

import (
	"reflect"
	"strings"
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

// "Fix & resubmit" of an Avro kick-out accepts the configured custom
// fields in an edited change and still refuses names nobody declared.
func TestEditedChangeCustomFields(t *testing.T) {
	fields, err := contact.NewFieldSet(
		contact.FieldInfo{Name: "appeal_code", Kind: contact.Text},
		contact.FieldInfo{Name: "membership_level", Kind: contact.Enum, Allowed: []string{"Bronze", "Gold"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	const head = `{"source_system":"s","source_record_id":"r","origin":"api","op":"upsert",`
	for _, tc := range []struct {
		name, edit string
		fields     *contact.FieldSet
		want       string // error text; empty: accepted
		check      func(contact.Change) bool
	}{
		{name: "custom value", edit: head + `"values":{"appeal_code":"XMAS26","email":"a@b.org"}}`, fields: fields,
			check: func(c contact.Change) bool {
				return c.Values["appeal_code"] == "XMAS26" && c.Values[contact.Email] == "a@b.org"
			}},
		{name: "custom clear", edit: head + `"cleared":["membership_level"]}`, fields: fields,
			check: func(c contact.Change) bool { return len(c.Cleared) == 1 && c.Cleared[0] == "membership_level" }},
		{name: "undeclared value", edit: head + `"values":{"solicit_code":"X"}}`, fields: fields, want: `unknown field "solicit_code" in values`},
		{name: "undeclared clear", edit: head + `"cleared":["solicit_code"]}`, fields: fields, want: `unknown field "solicit_code" in cleared`},
		{name: "custom without a field set", edit: head + `"values":{"appeal_code":"XMAS26"}}`, want: `unknown field "appeal_code"`},
	} {
		c, err := changeFromJSON(tc.edit, tc.fields)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want == "" && !tc.check(c):
			t.Errorf("%s: change %+v", tc.name, c)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}
