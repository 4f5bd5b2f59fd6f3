package normalize

import "strings"

// NationalID returns the comparison form of a personal identity number (a
// tax or national identity number, a member or donor card number): its
// ASCII letters (upper-cased) and digits only, so "850709-1234",
// "850709 1234" and "8507091234" agree. Check digits are kept and not
// verified: schemes differ by country, and a value that fails its check is
// still evidence (one digit off). It returns "" when nothing is left, or
// when the value is one character repeated ("000000000", a stand-in for
// unknown).
func NationalID(raw string) string {
	var b strings.Builder
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		}
	}
	s := b.String()
	if s == "" || strings.Count(s, s[:1]) == len(s) {
		return ""
	}
	return s
}
