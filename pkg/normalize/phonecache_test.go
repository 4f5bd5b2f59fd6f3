package normalize

import (
	"errors"
	"maps"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// The cache answers exactly what Phone and Canonical answer, the first
// time and again, and stays within its size.
func TestPhoneCacheAnswersAsPhone(t *testing.T) {
	c := NewPhoneCache(3)
	inputs := []struct{ raw, region string }{
		{"(02) 9876 5432", "AU"}, {"+61 2 9876 5432", ""}, {"0000", "AU"}, {"not a number", "US"},
		{"217-555-0101", "US"}, {"217-555-0101", "AU"}, {"(02) 9876 5432", "AU"}, {"0000", "AU"},
	}
	for round := range 2 {
		for _, in := range inputs {
			want, wantErr := Phone(in.raw, in.region)
			got, err := c.Phone(in.raw, in.region)
			if got != want || (err == nil) != (wantErr == nil) || (err != nil && (!errors.Is(err, ErrPhone) || err.Error() != wantErr.Error())) {
				t.Errorf("round %d: Phone(%q, %q) cached = %q, %v; want %q, %v", round, in.raw, in.region, got, err, want, wantErr)
			}
			if len(c.m) > 3 {
				t.Fatalf("cache holds %d numbers, more than its 3", len(c.m))
			}
		}
	}
	v := contact.Values{contact.Phone: " 02 9876 5432 ", contact.Email: "Ann@Example.org", contact.Country: "australia"}
	for range 2 {
		got, gotErrs := c.Canonical(v, "US")
		want, wantErrs := Canonical(v, "US")
		if !maps.Equal(got, want) || len(gotErrs) != len(wantErrs) {
			t.Errorf("cached Canonical = %v %v, want %v %v", got, gotErrs, want, wantErrs)
		}
	}
}
