package fieldmap

import (
	"errors"
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestParse(t *testing.T) {
	got, err := Parse(" given_name = First , ,family_name=Last,national_id=ssn")
	if err != nil {
		t.Fatal(err)
	}
	want := map[contact.Field]string{contact.GivenName: "First", contact.FamilyName: "Last", contact.NationalID: "ssn"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %v, want %v", got, want)
	}
	if got, err := Parse(""); err != nil || len(got) != 0 {
		t.Errorf("Parse(\"\") = %v, %v", got, err)
	}
	for _, bad := range []string{"given_name", "nickname=x", "=col", "given_name="} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestColumns(t *testing.T) {
	header := []string{"\ufeff id ", "First", "email", "colour", "national_id"}
	CleanHeader(header)
	if header[0] != "id" {
		t.Fatalf("CleanHeader left %q", header[0])
	}
	got, err := Columns(header, map[contact.Field]string{contact.GivenName: "First"})
	if err != nil {
		t.Fatal(err)
	}
	// national_id is read by the matcher only (contact.MatchOnlyFields).
	want := []Column{{contact.GivenName, 1}, {contact.Email, 2}, {contact.NationalID, 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %v, want %v", got, want)
	}
	if _, err := Columns(header, map[contact.Field]string{contact.FamilyName: "Last"}); err == nil {
		t.Error("a mapped column missing from the header was accepted")
	}
	if _, err := Columns([]string{"id", "colour"}, nil); !errors.Is(err, ErrNoFieldColumn) {
		t.Errorf("no field column: err = %v", err)
	}
}
