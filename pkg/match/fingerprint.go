package match

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// fingerprintVersion is part of every fingerprint: change it to make every
// record look changed once (see Fingerprint).
const fingerprintVersion = "1"

// Fingerprint names a record as the index holds it (the member record, in
// its JSON form, the form an index stores). A known record whose incoming
// version has the fingerprint its owner was indexed with needs no lookup and
// no write: deciding it again would only answer "known" and rewrite what is
// there.
//
// The blocking keys and terms are left out: deriving them costs more than
// the rest of the fast path. A change of how they are derived (a new
// blocking rule) therefore reaches a record when its values change, as it
// already reaches no record that has no new event: only a reindex covers
// every record. Bumping fingerprintVersion makes the next event of every
// record take the full path, which adds the new keys.
//
// It is 16 characters of base64 (96 bits of SHA-256): a collision between
// two versions of one record is not a concern.
func Fingerprint(r Record) string {
	b, err := json.Marshal(r)
	if err != nil {
		// A Record is plain strings: Marshal does not fail. Should it
		// ever, an empty fingerprint matches no stored one.
		return ""
	}
	h := sha256.New()
	h.Write([]byte(fingerprintVersion))
	h.Write([]byte{0})
	h.Write(b)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:12])
}
