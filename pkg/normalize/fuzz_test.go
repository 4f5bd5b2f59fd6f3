package normalize

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/contact"
)

func FuzzName(f *testing.F) {
	for _, s := range []string{"José María", "O'Brien", "ＪＯＨＮ", "Strauß", "İstanbul", "ǅ", "ﬁ", "a\u0301\u0302", "李 小龍"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n := Name(raw)
		if again := Name(n); again != n {
			t.Fatalf("Name not idempotent: %q -> %q -> %q", raw, n, again)
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("Name(%q) = %q has stray spaces", raw, n)
		}
		if utf8.ValidString(raw) && !utf8.ValidString(n) {
			t.Fatalf("Name(%q) = %q is not valid UTF-8", raw, n)
		}
		_ = NameVariants(raw)
		_ = Soundex(raw)
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"John.Smith@Example.COM", "user+tag@bücher.de", "a@b", "mailto:x@y.org", "a..b@c.com", "\"q\"@x.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := Email(raw)
		key := EmailMatchKey(raw)
		if again := EmailMatchKey(key); again != key {
			t.Fatalf("EmailMatchKey not idempotent: %q -> %q -> %q", raw, key, again)
		}
		if err != nil {
			// The error reaches kick-out texts: it must not quote the domain
			// (one with a dot, which none of the fixed messages has).
			if at := strings.LastIndexByte(raw, '@'); at >= 0 && strings.Contains(raw[at+1:], ".") && strings.Contains(err.Error(), raw[at+1:]) {
				t.Fatalf("Email(%q) error %q quotes the domain", raw, err)
			}
			return
		}
		again, err := Email(e)
		if err != nil || again != e {
			t.Fatalf("Email not idempotent: %q -> %q -> %q, %v", raw, e, again, err)
		}
		if EmailMatchKey(e) != key {
			t.Fatalf("match key differs between raw and canonical form of %q", raw)
		}
	})
}

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"(02) 9876 5432", "+61 412 345 678", "415-555-0132 ext 9", "0061412345678", "+", "++1"} {
		f.Add(s, "AU")
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		p, err := Phone(raw, region)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "+") {
			t.Fatalf("Phone(%q) = %q is not E.164", raw, p)
		}
		again, err := Phone(p, "")
		if err != nil || again != p {
			t.Fatalf("Phone not idempotent: %q -> %q -> %q, %v", raw, p, again, err)
		}
	})
}

func FuzzDate(f *testing.F) {
	for _, s := range []string{"19560409", "1956-04-09", "09/04/1956", "April 9, 1956", "19450493", "1956-04-09T10:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d := Date(raw)
		if again := Date(d); again != d {
			t.Fatalf("Date not idempotent: %q -> %q -> %q", raw, d, again)
		}
	})
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{"12 Smith Street", "Unit 3, 12 Smith St", "PO Box 1", "pridhamstreet", "2119"} {
		f.Add(s, "AU")
		f.Add(s, "GB")
	}
	f.Fuzz(func(t *testing.T, line, country string) {
		number, rest := SplitHouseNumber(line)
		if strings.ContainsAny(number, " \t\n,") {
			t.Fatalf("SplitHouseNumber(%q) number %q holds separators", line, number)
		}
		_ = rest
		s := Street(line)
		if again := Street(s); again != s {
			t.Fatalf("Street not idempotent: %q -> %q -> %q", line, s, again)
		}
		p := Postcode(line, country)
		if again := Postcode(p, country); again != p {
			t.Fatalf("Postcode not idempotent: %q -> %q -> %q", line, p, again)
		}
	})
}

func FuzzCanonical(f *testing.F) {
	f.Add("José", "Jose@Example.COM", "0412 345 678", "australia", " 2119", "09/04/1956", "yes", "$1,250.50")
	f.Add(" ", "bad", "12", "us", "123456789", "19450493", "maybe", "x")
	f.Fuzz(func(t *testing.T, given, email, phone, country, postcode, dob, flag, total string) {
		in := contact.Values{
			contact.GivenName: given, contact.Email: email, contact.Phone: phone,
			contact.Country: country, contact.Postcode: postcode, contact.DateOfBirth: dob,
			contact.DoNotEmail: flag, contact.GivingTotal: total,
		}
		once, errs := Canonical(in, "AU")
		for _, e := range errs {
			if _, kept := once[e.Field]; kept {
				t.Fatalf("rejected field %s kept", e.Field)
			}
		}
		twice, errs := Canonical(once, "AU")
		if len(errs) != 0 {
			t.Fatalf("canonical values rejected on second pass: %v (from %v)", errs, once)
		}
		if !maps.Equal(once, twice) {
			t.Fatalf("Canonical not idempotent:\n%v\n%v", once, twice)
		}
	})
}
