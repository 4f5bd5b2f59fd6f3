package match

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// A personal identity number (contact.NationalID) is personal data that the
// index must not hold in the clear, yet one digit off or two digits swapped
// is a typo, not another person. So a Record keeps only fingerprints: a
// keyed hash of the whole value, and short keyed hashes of the value with
// each one character deleted (and of the whole value in that form). Two
// values one substitution, one adjacent transposition, one insertion or
// one deletion apart share one of the short hashes; other values share
// none but by chance (32 bits each). The stored form is
// "<16 hex>.<8 hex>...", about 100 characters for a 10-digit number.
//
// identifierKey keys the hashes so that the fingerprints cannot be looked
// up in a table of hashed numbers made without it.
var identifierKey = []byte("contactsync national_id fingerprint v1")

// maxIdentifierRunes bounds the characters fingerprinted; no identity or
// card number comes near it.
const maxIdentifierRunes = 32

// identifierFingerprint returns the fingerprint form of a normalised
// identity number (normalize.NationalID), "" for "".
func identifierFingerprint(id string) string {
	if id == "" {
		return ""
	}
	if len(id) > maxIdentifierRunes {
		id = id[:maxIdentifierRunes] // normalize.NationalID leaves ASCII only
	}
	var b strings.Builder
	b.WriteString(identifierHash("id", id, 8))
	b.WriteByte('.')
	b.WriteString(identifierHash("del", id, 4))
	for i := range len(id) {
		b.WriteString(identifierHash("del", id[:i]+id[i+1:], 4))
	}
	return b.String()
}

func identifierHash(domain, value string, size int) string {
	mac := hmac.New(sha256.New, identifierKey)
	mac.Write([]byte(domain + "\x00" + value))
	return hex.EncodeToString(mac.Sum(nil)[:size])
}

// identifierWhole returns the whole-value part of a fingerprint.
func identifierWhole(fp string) string {
	whole, _, _ := strings.Cut(fp, ".")
	return whole
}

// identifiersNear reports whether two fingerprints share a one-deletion
// hash: their values are one edit apart.
func identifiersNear(a, b string) bool {
	_, da, _ := strings.Cut(a, ".")
	_, db, _ := strings.Cut(b, ".")
	for i := 0; i+8 <= len(da); i += 8 {
		for j := 0; j+8 <= len(db); j += 8 {
			if da[i:i+8] == db[j:j+8] {
				return true
			}
		}
	}
	return false
}

// Levels of the national_id comparison.
const (
	levelIDNear = 1
	levelIDElse = 2
)

// compareNationalID grades two identity numbers by their fingerprints:
// equal, one edit apart (a typo), different.
func compareNationalID(a, b *Record) int {
	if a.NationalID == "" || b.NationalID == "" {
		return NullLevel
	}
	if identifierWhole(a.NationalID) == identifierWhole(b.NationalID) {
		return levelExact
	}
	if identifiersNear(a.NationalID, b.NationalID) {
		return levelIDNear
	}
	return levelIDElse
}
