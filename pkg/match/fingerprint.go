package match

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// Fingerprint names a record as the index holds it: the member record
// (in its JSON form, the form an index stores), its blocking keys and its
// terms. Two records with one fingerprint are indexed the same way, so a
// known record whose incoming version has the fingerprint its owner was
// indexed with needs no lookup and no write: deciding it again would only
// answer "known" and rewrite what is there. The keys and terms are part of
// it so that a change of how they are derived (a new blocking rule) makes
// every record look changed once, and the index gets the new keys.
//
// It is 16 characters of base64 (96 bits of SHA-256): a collision between
// two versions of one record is not a concern.
func Fingerprint(r Record, keys, terms []string) string {
	b, err := json.Marshal(r)
	if err != nil {
		// A Record is plain strings: Marshal does not fail. Should it
		// ever, an empty fingerprint matches no stored one.
		return ""
	}
	h := sha256.New()
	h.Write(b)
	for _, list := range [][]string{keys, terms} {
		h.Write([]byte{0})
		for _, s := range list {
			h.Write([]byte(s))
			h.Write([]byte{1})
		}
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:12])
}
