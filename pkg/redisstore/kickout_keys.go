package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// queueKeys is the one place that lays out the review store's keys. Every
// key starts with base, "<prefix>:{<prefix>-queue}": the braces are one
// hash tag shared by all of them, so on Redis Cluster they live in one slot
// and every save and status change stays a single atomic script.
//
//	base:ko:<id>                       hash: one kick-out (Avro body + index fields)
//	base:ko-claim:<id>                 string: who is replaying it right now
//	base:ix:all                        zset: every kick-out, scored by when it happened
//	base:ix:status:<status>            zset: kick-outs by status
//	base:ix:reason:<reason>            zset: kick-outs by reason
//	base:ix:stage:<stage>              zset: kick-outs by stage
//	base:ix:system:<system>            zset: kick-outs by source system
//	base:ix:group:<status>:<stage>|<reason>  zset: one row of the overview
//	base:groups, base:systems          sets: every stage|reason and system seen
//	base:t:<kind>:<value>              set: kick-outs by rec/person/event id or email hash
//	base:rv:<id>, base:rv-claim:<id>   hash, string: one review item and its claim
//	base:rv-ix:all, base:rv-ix:status:<status>  zsets: review items
//	base:audit                         stream: the audit log
type queueKeys struct{ base string }

func newQueueKeys(k Keys) queueKeys {
	p := k.p()
	return queueKeys{base: p + ":{" + p + "-queue}"}
}

func (k queueKeys) koKey(id string) string    { return k.base + ":ko:" + id }
func (k queueKeys) koClaim(id string) string  { return k.base + ":ko-claim:" + id }
func (k queueKeys) ixAll() string             { return k.base + ":ix:all" }
func (k queueKeys) ixStatus(st string) string { return k.base + ":ix:status:" + st }
func (k queueKeys) ixReason(r string) string  { return k.base + ":ix:reason:" + r }
func (k queueKeys) ixStage(s string) string   { return k.base + ":ix:stage:" + s }
func (k queueKeys) ixSystem(s string) string  { return k.base + ":ix:system:" + s }
func (k queueKeys) groupsKey() string         { return k.base + ":groups" }
func (k queueKeys) systemsKey() string        { return k.base + ":systems" }
func (k queueKeys) termKey(kind, v string) string {
	return k.base + ":t:" + kind + ":" + v
}
func (k queueKeys) ixGroup(st, stage, reason string) string {
	return k.base + ":ix:group:" + st + ":" + groupName(stage, reason)
}
func (k queueKeys) rvKey(id string) string    { return k.base + ":rv:" + id }
func (k queueKeys) rvClaim(id string) string  { return k.base + ":rv-claim:" + id }
func (k queueKeys) rvAll() string             { return k.base + ":rv-ix:all" }
func (k queueKeys) rvStatus(st string) string { return k.base + ":rv-ix:status:" + st }
func (k queueKeys) auditKey() string          { return k.base + ":audit" }

// groupName is a stage|reason member of the groups registry.
func groupName(stage, reason string) string { return stage + "|" + reason }

func splitGroup(g string) (stage, reason string) {
	stage, reason, _ = strings.Cut(g, "|")
	return stage, reason
}

// EmailHash is how an email address is indexed: the SHA-256 of its trimmed,
// lower-cased form, so the plain address never appears in a key name.
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// maxTermLen bounds an indexed lookup value; longer ones are not indexed.
const maxTermLen = 256

// termKeys are the lookup sets a kick-out is added to, so a search by
// record id, person id, event id or email finds it.
func (k queueKeys) termKeys(f review.Facts, ko contact.KickOut) []string {
	var out []string
	add := func(kind, v string) {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > maxTermLen {
			return
		}
		key := k.termKey(kind, v)
		for _, x := range out {
			if x == key {
				return
			}
		}
		out = append(out, key)
	}
	add("rec", f.RecordID)
	add("person", f.PersonID)
	add("event", f.EventID)
	add("event", ko.EventID)
	add("event", ko.OriginalEventID)
	add("person", ko.PersonID)
	if f.Email != "" {
		add("email", EmailHash(f.Email))
	}
	return out
}
