package normalize

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrEmail is wrapped by every error Email returns.
var ErrEmail = errors.New("invalid email address")

// caseInsensitiveMailboxes lists providers known to treat the local part
// case-insensitively; only for them is the local part lower-cased in the
// stored form. Elsewhere "John.Smith@corp.example" may legally differ from
// "john.smith@corp.example", so the stored value keeps its case and only the
// match key folds it.
var caseInsensitiveMailboxes = map[string]bool{
	"gmail.com": true, "googlemail.com": true,
	"outlook.com": true, "hotmail.com": true, "live.com": true, "msn.com": true,
	"yahoo.com": true, "ymail.com": true, "icloud.com": true, "me.com": true,
	"mac.com": true, "aol.com": true, "proton.me": true, "protonmail.com": true,
	"fastmail.com": true, "gmx.com": true, "gmx.net": true, "bigpond.com": true,
}

// idnaProfile converts internationalised domain names to their ASCII
// (punycode) form, validating labels the way a mail client's resolver would.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.Transitional(false),
)

// Email returns the canonical stored form of an email address: surrounding
// space and a "mailto:" prefix removed, the domain lower-cased and converted
// to ASCII (IDNA), the local part lower-cased only for providers known to
// ignore its case. It rejects anything that is not shaped like
// local@domain.tld. The error wraps ErrEmail and never contains the address.
func Email(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !utf8.ValidString(s) {
		// IDNA would map broken bytes to U+FFFD and encode them.
		return "", fmt.Errorf("%w: not UTF-8", ErrEmail)
	}
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = strings.TrimSpace(s[7:])
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", fmt.Errorf("%w: no @", ErrEmail)
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocalPart(local); err != nil {
		return "", err
	}
	asciiDomain, err := emailDomain(domain)
	if err != nil {
		return "", err
	}
	if caseInsensitiveMailboxes[asciiDomain] {
		local = strings.ToLower(local)
	}
	return local + "@" + asciiDomain, nil
}

func checkLocalPart(local string) error {
	if local == "" {
		return fmt.Errorf("%w: empty local part", ErrEmail)
	}
	if len(local) > 64 {
		return fmt.Errorf("%w: local part longer than 64 bytes", ErrEmail)
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return fmt.Errorf("%w: misplaced dot in local part", ErrEmail)
	}
	for _, r := range local {
		// Quoted local parts are legal but practically never real contact
		// addresses; rejecting their specials keeps the shape check simple.
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError || strings.ContainsRune(`"(),:;<>@[\]`, r) {
			return fmt.Errorf("%w: character %U not allowed in local part", ErrEmail, r)
		}
	}
	return nil
}

func emailDomain(domain string) (string, error) {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return "", fmt.Errorf("%w: empty domain", ErrEmail)
	}
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil {
		// idna's errors quote the offending label, and this error reaches
		// kick-out texts: say what is wrong, not what was written.
		return "", fmt.Errorf("%w: domain is not a valid internationalised domain name", ErrEmail)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", fmt.Errorf("%w: domain longer than 253 bytes", ErrEmail)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: domain has no dot", ErrEmail)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%w: bad domain label", ErrEmail)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: bad character in domain", ErrEmail)
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || (!strings.HasPrefix(tld, "xn--") && strings.IndexFunc(tld, unicode.IsDigit) >= 0) {
		return "", fmt.Errorf("%w: bad top-level domain", ErrEmail)
	}
	return ascii, nil
}

// EmailMatchKey returns the form of an email address used only for matching:
// lower case, "+tag" sub-addressing dropped, and for Gmail (which ignores dots
// and treats googlemail.com as gmail.com) dots dropped from the local part. A
// value that Email rejects is only trimmed and lower-cased, so a malformed
// address still matches itself exactly. Two addresses with the same key are
// very likely the same mailbox; they need not be deliverable as written.
func EmailMatchKey(e string) string {
	canonical, err := Email(e)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(e))
	}
	canonical = strings.ToLower(canonical)
	at := strings.LastIndexByte(canonical, '@')
	local, domain := canonical[:at], canonical[at+1:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}
