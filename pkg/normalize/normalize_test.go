package normalize

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  José   María ", "jose maria"},
		{"O'Brien", "obrien"},
		{"O’Brien", "obrien"},
		{"Mary-Jane", "mary jane"},
		{"J.R.", "jr"},
		{"Strauß", "strauss"},
		{"Søren Kierkegaard", "soren kierkegaard"},
		{"Łukasz", "lukasz"},
		{"ＪＯＨＮ", "john"}, // full-width forms fold under NFKC
		{"Zoë", "zoe"},
		{"smith, john", "smith john"},
		{"李 小龍", "李 小龍"},
		{"Ĳssel", "ijssel"},
		{"", ""},
		{" - ", ""},
	}
	for _, tt := range tests {
		if got := Name(tt.in); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSoundex(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Robert", "R163"}, {"Rupert", "R163"}, {"Rubin", "R150"},
		{"Ashcraft", "A261"}, {"Ashcroft", "A261"}, {"Tymczak", "T522"},
		{"Pfister", "P236"}, {"Honeyman", "H555"}, {"Lee", "L000"},
		{"O'Brien", "O165"}, {"", ""}, {"李", ""},
	}
	for _, tt := range tests {
		if got := Soundex(tt.in); got != tt.want {
			t.Errorf("Soundex(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNameVariants(t *testing.T) {
	tests := []struct {
		in          string
		first       string
		mustInclude []string
	}{
		{"Bob", "bob", []string{"robert"}},
		{"Robert", "robert", nil},
		{"Mary Jane", "mary jane", []string{"mary"}},
		{"abby", "abby", []string{"abigail"}},
	}
	for _, tt := range tests {
		got := NameVariants(tt.in)
		if len(got) == 0 || got[0] != tt.first {
			t.Errorf("NameVariants(%q) = %q, want %q first", tt.in, got, tt.first)
		}
		for _, v := range tt.mustInclude {
			if !slices.Contains(got, v) {
				t.Errorf("NameVariants(%q) = %q, want it to include %q", tt.in, got, v)
			}
		}
		if !slices.IsSorted(got[1:]) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("NameVariants(%q) = %q, want sorted unique variants after the name", tt.in, got)
		}
	}
	if got := NameVariants("  "); got != nil {
		t.Errorf("NameVariants(blank) = %q, want nil", got)
	}
}

func TestIsNickname(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"Bob", "Robert", true},
		{"robert", "BOB", true},
		{"Bob", "Rob", true}, // both nicknames of robert
		{"Bob", "Bob", false},
		{"Abel", "Abner", false},
		{"Mitchell", "Green", false},
		{"", "Robert", false},
	}
	for _, tt := range tests {
		if got := IsNickname(tt.a, tt.b); got != tt.want {
			t.Errorf("IsNickname(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestEmbeddedNicknames(t *testing.T) {
	table, err := parseNicknames(nicknamesCSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) < 1000 {
		t.Fatalf("only %d nicknames parsed, want > 1000", len(table))
	}
	if !slices.Contains(table["kc"], "casey") {
		t.Errorf("dotted initials not folded: kc -> %q", table["kc"])
	}
}

func TestEmail(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"  John.Smith@Example.COM ", "John.Smith@example.com", false},
		{"mailto:a@b.co", "a@b.co", false},
		{"John.Smith@GMail.com", "john.smith@gmail.com", false},
		{"user+tag@bücher.de", "user+tag@xn--bcher-kva.de", false},
		{"user@example.com.", "user@example.com", false},
		{"jane@sub.domain.org", "jane@sub.domain.org", false},
		{"plainaddress", "", true},
		{"@example.com", "", true},
		{"a@b", "", true},
		{"a b@example.com", "", true},
		{"a..b@example.com", "", true},
		{".a@example.com", "", true},
		{"a@-example.com", "", true},
		{"a@example.c", "", true},
		{"a@example.123", "", true},
		{"a@exa mple.com", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Email(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrEmail) {
			t.Errorf("Email(%q) error %v does not wrap ErrEmail", tt.in, err)
		}
	}
}

func TestEmailMatchKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"John.Smith+news@GoogleMail.com", "johnsmith@gmail.com"},
		{"j.o.h.n.smith@gmail.com", "johnsmith@gmail.com"},
		{"John.Smith+x@Example.com", "john.smith@example.com"},
		{"+only@example.com", "+only@example.com"},
		{"Not An Email", "not an email"},
	}
	for _, tt := range tests {
		if got := EmailMatchKey(tt.in); got != tt.want {
			t.Errorf("EmailMatchKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPhone(t *testing.T) {
	tests := []struct {
		in, region, want string
		wantErr          bool
	}{
		{"(02) 9876 5432", "AU", "+61298765432", false},
		{"0412 345 678", "AU", "+61412345678", false},
		{"+61 412 345 678", "", "+61412345678", false},
		{"+61412345678", "US", "+61412345678", false},
		{"415-555-0132", "US", "+14155550132", false},
		{"415-555-0132 ext. 12", "US", "+14155550132", false},
		{"020 7946 0000", "gb", "+442079460000", false},
		{"0412 345 678", "", "", true}, // national number without a region
		{"12", "AU", "", true},
		{"not a number", "AU", "", true},
		{"", "AU", "", true},
	}
	for _, tt := range tests {
		got, err := Phone(tt.in, tt.region)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q, error %v", tt.in, tt.region, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrPhone) {
			t.Errorf("Phone(%q) error %v does not wrap ErrPhone", tt.in, err)
		}
	}
}

func TestSplitHouseNumber(t *testing.T) {
	tests := []struct{ in, number, rest string }{
		{"12 Smith Street", "12", "Smith Street"},
		{"12a, Smith St", "12a", "Smith St"},
		{"12-14 Smith St", "12-14", "Smith St"},
		{"3/12 Smith St", "3/12", "Smith St"},
		{"Unit 3, 12 Smith St", "12", "Unit 3 Smith St"},
		{"Hauptstraße 12", "12", "Hauptstraße"},
		{"PO Box 123", "", "PO Box 123"},
		{"P.O. Box 55", "", "P.O. Box 55"},
		{"wallaby place", "", "wallaby place"},
		{"", "", ""},
	}
	for _, tt := range tests {
		number, rest := SplitHouseNumber(tt.in)
		if number != tt.number || rest != tt.rest {
			t.Errorf("SplitHouseNumber(%q) = %q, %q; want %q, %q", tt.in, number, rest, tt.number, tt.rest)
		}
	}
}

func TestStreet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Smith Street", "smith st"},
		{"smith st.", "smith st"},
		{"North Wallaby Place", "n wallaby pl"},
		{"pridhamstreet", "pridham st"},
		{"Broadway", "broadway"},
		{"Station Road", "station rd"},
		{"Kings Avenue", "kings ave"},
	}
	for _, tt := range tests {
		if got := Street(tt.in); got != tt.want {
			t.Errorf("Street(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPostcode(t *testing.T) {
	tests := []struct{ in, country, want string }{
		{" 2119 ", "AU", "2119"},
		{"sw1a1aa", "GB", "SW1A 1AA"},
		{"SW1A  1AA", "uk", "SW1A 1AA"},
		{"k1a0b1", "CA", "K1A 0B1"},
		{"1234ab", "NL", "1234 AB"},
		{"123456789", "US", "12345-6789"},
		{"12345 6789", "US", "12345-6789"},
		{"12345", "US", "12345"},
		{"2OOO", "AU", "2OOO"},
		{" ab  12 ", "", "AB 12"},
	}
	for _, tt := range tests {
		if got := Postcode(tt.in, tt.country); got != tt.want {
			t.Errorf("Postcode(%q, %q) = %q, want %q", tt.in, tt.country, got, tt.want)
		}
	}
}

func TestDate(t *testing.T) {
	tests := []struct{ in, region, want string }{
		{"19560409", "", "1956-04-09"},
		{"1956-04-09", "", "1956-04-09"},
		{"1956/4/9", "", "1956-04-09"},
		{"1956-04-09T10:00:00Z", "", "1956-04-09"},
		{"09/04/1956", "", "1956-04-09"},
		{"09/04/1956", "AU", "1956-04-09"},
		{"04/09/1956", "US", "1956-04-09"},
		{"13/04/1956", "US", "1956-04-13"}, // month-first impossible, day-first valid
		{"9 Apr 1956", "", "1956-04-09"},
		{"April 9, 1956", "", "1956-04-09"},
		{"19450493", "", "19450493"}, // impossible date keeps its digits
		{"1945-02-30", "", "19450230"},
		{"unknown", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := DateForRegion(tt.in, tt.region); got != tt.want {
			t.Errorf("DateForRegion(%q, %q) = %q, want %q", tt.in, tt.region, got, tt.want)
		}
	}
	if got := DateDigits("1956-04-09"); got != "19560409" {
		t.Errorf("DateDigits = %q", got)
	}
}

func TestCanonical(t *testing.T) {
	in := contact.Values{
		contact.GivenName:    "  José  ",
		contact.FamilyName:   "O'Brien",
		contact.Email:        "Jose@Example.COM",
		contact.Phone:        "0412 345 678",
		contact.Country:      "australia",
		contact.Postcode:     " 2119",
		contact.DateOfBirth:  "09/04/1956",
		contact.DoNotEmail:   "Yes",
		contact.GivingTotal:  "$1,250.50",
		contact.AddressLine2: "   ",
	}
	got, errs := Canonical(in, "US")
	if len(errs) != 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	want := contact.Values{
		contact.GivenName:   "José",
		contact.FamilyName:  "O'Brien",
		contact.Email:       "Jose@example.com",
		contact.Phone:       "+61412345678", // read in the contact's country, not the default
		contact.Country:     "AU",
		contact.Postcode:    "2119",
		contact.DateOfBirth: "1956-04-09",
		contact.DoNotEmail:  "true",
		contact.GivingTotal: "1250.50",
	}
	if len(got) != len(want) {
		t.Errorf("Canonical = %v, want %v", got, want)
	}
	for f, v := range want {
		if got[f] != v {
			t.Errorf("Canonical[%s] = %q, want %q", f, got[f], v)
		}
	}

	bad := contact.Values{
		contact.Email:       "not-an-email",
		contact.Phone:       "12",
		contact.DateOfBirth: "19450493",
		contact.DoNotMail:   "maybe",
		contact.GivingTotal: "lots",
		contact.GivenName:   "Ann",
	}
	got, errs = Canonical(bad, "AU")
	var reasons []string
	for _, e := range errs {
		reasons = append(reasons, e.Reason)
		if _, kept := got[e.Field]; kept {
			t.Errorf("rejected field %s kept in output", e.Field)
		}
	}
	if want := []string{"email", "phone", "date", "bool", "decimal"}; !slices.Equal(reasons, want) {
		t.Errorf("reasons = %q, want %q (field order)", reasons, want)
	}
	if got[contact.GivenName] != "Ann" {
		t.Errorf("good field lost: %v", got)
	}
	if !errors.Is(errs[0], ErrEmail) || !errors.Is(errs[1], ErrPhone) || !errors.Is(errs[2], ErrDate) {
		t.Errorf("field errors do not unwrap to their causes: %v", errs)
	}
	for _, e := range errs {
		if msg := e.Error(); msg == "" || containsAny(msg, "not-an-email", "19450493", "maybe", "lots") {
			t.Errorf("FieldError message %q leaks the value", msg)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestNationalID(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"850709-1234", "8507091234"},
		{" ab 12 34 56 c ", "AB123456C"},
		{"QQ.123.456.C", "QQ123456C"},
		{"000-000-000", ""},
		{"---", ""},
		{"", ""},
		{"٣٤٥", ""}, // no ASCII digits: nothing to compare
	}
	for _, tt := range tests {
		if got := NationalID(tt.raw); got != tt.want {
			t.Errorf("NationalID(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
