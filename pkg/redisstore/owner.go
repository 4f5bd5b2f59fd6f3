package redisstore

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// A record's owner key (Keys.recordOwner) holds the person that holds the
// record, and, once everything a write of the record makes visible is in
// place (member, blocking keys, terms), the fingerprint of the record as
// indexed (match.Fingerprint): "<person>|<fingerprint>". A write claims the
// record with the bare person id first and seals it with the fingerprint
// last, so a fingerprint is only ever seen on a record indexed completely:
// the matcher's resolver answers a known record whose fingerprint equals its
// incoming version's without a lookup or a write, which is only safe because
// a write that died half-way leaves no fingerprint behind (its redo takes the
// full path and completes it). Person ids therefore hold no "|" (Commit
// refuses them); a value without one (a write under way, or an index written
// before fingerprints) is a bare person.

// ownerSeparator separates the person from the fingerprint in an owner value.
const ownerSeparator = "|"

// sealedOwner is the owner value of a record indexed completely.
func sealedOwner(personID, fingerprint string) string {
	return personID + ownerSeparator + fingerprint
}

// parseOwner splits an owner value into the person and the fingerprint
// ("" when the value is bare).
func parseOwner(v string) (personID, fingerprint string) {
	if i := strings.LastIndex(v, ownerSeparator); i >= 0 {
		return v[:i], v[i+len(ownerSeparator):]
	}
	return v, ""
}

// ownerPersonLua sets `person` to the person part of the owner value `cur`
// (see parseOwner).
const ownerPersonLua = `local person = string.match(cur, '^(.*)|') or cur
`

// sealOwnerScript adds the fingerprint to a record's owner if the owner is
// still the bare person the write claimed it for. KEYS[1] = owner; ARGV[1] =
// the bare person, ARGV[2] = the sealed value.
var sealOwnerScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0`)
