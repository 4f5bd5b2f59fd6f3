package review

import (
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestCompareInWords(t *testing.T) {
	melissa := contact.Values{contact.GivenName: "Melissa", contact.FamilyName: "Rodriguez", contact.DateOfBirth: "1965-03-04",
		contact.AddressLine1: "12 Oak Street", contact.Postcode: "2000", contact.Locality: "Springfield"}
	tests := []struct {
		name      string
		record    contact.Values
		candidate contact.Values
		want      []string
	}{
		{"household member", melissa, contact.Values{contact.GivenName: "Elizabeth", contact.FamilyName: "Rodriguez",
			contact.DateOfBirth: "1944-03-04", contact.AddressLine1: "12 oak street", contact.Postcode: "2000", contact.Locality: "SPRINGFIELD"},
			[]string{"different given name (Melissa / Elizabeth)", "same family name", "different date of birth (1965-03-04 / 1944-03-04)",
				"same street address", "same postcode", "same town"}},
		{"typo, initial-free, day/month swap", contact.Values{contact.GivenName: "Jon", contact.FamilyName: "Smith",
			contact.DateOfBirth: "1980-04-05"}, contact.Values{contact.GivenName: "John", contact.FamilyName: "Smyth", contact.DateOfBirth: "1980-05-04"},
			[]string{"similar given name (Jon / John)", "similar family name (Smith / Smyth)", "similar date of birth (1980-04-05 / 1980-05-04)"}},
		{"initial and phone formats", contact.Values{contact.GivenName: "J", contact.Phone: "+61 2 9999 0000"},
			contact.Values{contact.GivenName: "Jane", contact.Phone: "+61299990000"},
			[]string{"similar given name (J / Jane)", "same phone number"}},
		{"one side only", contact.Values{contact.Email: "a@b.example"}, contact.Values{contact.Postcode: "3000"},
			[]string{"no email address known for the candidate", "no postcode on the record (the candidate has one)"}},
		{"nothing in common", contact.Values{}, contact.Values{}, []string{}},
		{"short names are not typos", contact.Values{contact.GivenName: "Al"}, contact.Values{contact.GivenName: "Ed"},
			[]string{"different given name (Al / Ed)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{}
			for _, c := range CompareInWords(tt.record, tt.candidate) {
				got = append(got, c.Words)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSummaryInWords(t *testing.T) {
	cs := CompareInWords(contact.Values{contact.GivenName: "Ann", contact.Postcode: "2000"},
		contact.Values{contact.GivenName: "Bea", contact.Postcode: "2000"})
	if got, want := SummaryInWords(cs), "different given name (Ann / Bea); same postcode"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNameAndTown(t *testing.T) {
	for _, tt := range []struct {
		v          contact.Values
		name, town string
	}{
		{contact.Values{contact.GivenName: "Ann", contact.FamilyName: "Lee", contact.Locality: "Perth"}, "Ann Lee", "Perth"},
		{contact.Values{contact.Organisation: "Acme Pty Ltd"}, "Acme Pty Ltd", ""},
		{nil, "", ""},
	} {
		if n, tw := NameAndTown(tt.v); n != tt.name || tw != tt.town {
			t.Errorf("NameAndTown(%v) = %q, %q", tt.v, n, tw)
		}
	}
}
