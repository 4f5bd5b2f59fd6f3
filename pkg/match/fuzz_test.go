package match

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// FuzzFromValues feeds arbitrary contact values through the whole comparison
// path: no panics, keys safe for Redis, a record compared with itself never
// disagrees.
func FuzzFromValues(f *testing.F) {
	f.Add("Robert", "Smith", "r.smith+x@GMail.com", "0412 345 678", "12a Wallaby Place", "Delmar", "2119", "AU", "1956-04-09")
	f.Add("", "", "", "", "", "", "", "", "19450493")
	f.Fuzz(func(t *testing.T, given, family, email, phone, line1, line2, postcode, country, dob string) {
		v := contact.Values{
			contact.GivenName: given, contact.FamilyName: family, contact.Email: email, contact.Phone: phone,
			contact.AddressLine1: line1, contact.AddressLine2: line2, contact.Postcode: postcode,
			contact.Country: country, contact.DateOfBirth: dob,
		}
		r := FromValues(v)
		if cached := NewRecordCache(1).FromValues(v); cached != r {
			t.Fatalf("RecordCache gave %+v, FromValues %+v", cached, r)
		}
		for _, k := range append(Keys(r), Terms(r)...) {
			if strings.ContainsAny(k, " {}\t\r\n") {
				t.Fatalf("unsafe key %q", k)
			}
		}
		lv := Compare(&r, &r)
		for c, l := range lv {
			if l != NullLevel && l != levelExact {
				t.Fatalf("record disagrees with itself on %s: %s", comparisons[c].name, LevelLabel(c, l))
			}
		}
	})
}
