package redisstore

import (
	"encoding/hex"
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// Keys builds the key names under one prefix (default "cs"). Every key
// layout of the identity index, the decision memos and the golden states is
// here (P is the prefix; {…} is the hash tag):
//
//	P:xw:{SYSTEM:RECORD}        string ExactResolver's crosswalk: the record's person
//	P:bk:{KEY}                  set    ExactResolver's persons sharing a blocking key
//	P:p:{PERSON}:links          hash   system -> record id of the person
//	P:p:{PERSON}:state          hash   the person's golden state and its version
//	P:p:{PERSON}:memo:EVENT     string the router's outputs for an event of the person
//	P:p:{PERSON}:members        string the person's member records, in arrival order
//	P:mi:b:{BUCKET}            hash   blocking keys of one bucket: KEYID -> "<version>,<persons>"
//	P:mi:b:{BUCKET}:KEYID:p    string a blocking key's persons once too many to sit in its bucket
//	P:mi:b:{BUCKET}:KEYID:lock string lock token of a person creation under a blocking key
//	P:mi:r:{RECORD}             string the person owning the index record id
//	P:mi:r:{RECORD}:lock        string lock token of a person creation
//	P:mi:r:{RECORD}:ev:EVENT    string the matcher's decision on an event of the record
//	P:mi:f:{BUCKET}             hash   term-frequency counters of one bucket: TERMID -> records
//	P:mi:{layout}               string the identity index's layout version (see indexLayout)
//	P:mi:{records}              string records in the index
//
// Blocking keys and terms are not named by their text: each is a 64-bit id
// in one of a fixed number of buckets, both cut from its SHA-256 (see
// blockID), so that the many keys holding one or two persons share a few
// compact hashes instead of costing a Redis key each. The stored values are
// encoded in codec.go.
//
// Every other part that comes from data (SYSTEM, RECORD, PERSON, EVENT) is
// escaped (see part), so it holds no ":", "{" or "}" whatever its
// bytes: a key names exactly one tuple of parts, no id can end a hash tag or
// pose as a suffix (the memo of event "e}" on record "x" is not the owner of
// record "x}:ev:e"), and each person's and each record's keys share one hash
// tag, so the scripts that touch them stay in one Cluster slot.
type Keys struct{ Prefix string }

func (k Keys) p() string {
	if k.Prefix == "" {
		return "cs"
	}
	return k.Prefix
}

// part escapes one data part of a key: bytes outside a small safe set
// (letters, digits and "-._~@+/=,") become "%XX", "%" included, so the
// encoding is injective and the usual ids stay readable ("OFF-1",
// "ann@mail.net"). The empty part is "%" (never the escape of anything
// else), so a hash tag is never empty: Redis would hash the whole key.
func part(s string) string {
	if s == "" {
		return "%"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~@+/=,", c) >= 0
}

// tagged is P:kind:{tag}suffix.
func (k Keys) tagged(kind, tag, suffix string) string {
	return k.p() + ":" + kind + ":{" + tag + "}" + suffix
}

// Crosswalk is the key that maps (system, record id) to a person id.
func (k Keys) Crosswalk(system, recordID string) string {
	return k.tagged("xw", part(system)+":"+part(recordID), "")
}

// Block is the set of person ids that share a blocking key.
func (k Keys) Block(key string) string { return k.tagged("bk", part(key), "") }

// Links is the hash system -> record id of one person.
func (k Keys) Links(personID string) string { return k.tagged("p", part(personID), ":links") }

// State is the golden state of one person.
func (k Keys) State(personID string) string { return k.tagged("p", part(personID), ":state") }

// Memo holds the outputs computed for one event of one person.
func (k Keys) Memo(personID, eventID string) string {
	return k.tagged("p", part(personID), ":memo:"+part(eventID))
}

// Identity index (see MatchIndex); person keys share the tag of the person's
// links and golden state, a blocking key's lock and overflow the tag of its
// bucket.
func (k Keys) blockBucket(id blockID) string {
	return k.tagged("mi:b", bucketTag(id.bucket, blockBucketBits), "")
}
func (k Keys) blockOverflow(id blockID) string {
	return k.tagged("mi:b", bucketTag(id.bucket, blockBucketBits), ":"+hex.EncodeToString(id.field[:])+":p")
}
func (k Keys) matchKeyLock(key string) string {
	id := blockOf(key)
	return k.tagged("mi:b", bucketTag(id.bucket, blockBucketBits), ":"+hex.EncodeToString(id.field[:])+":lock")
}
func (k Keys) termBucket(id blockID) string {
	return k.tagged("mi:f", bucketTag(id.bucket, termBucketBits), "")
}
func (k Keys) recordOwner(recordID string) string { return k.tagged("mi:r", part(recordID), "") }
func (k Keys) recordLock(recordID string) string  { return k.tagged("mi:r", part(recordID), ":lock") }
func (k Keys) personMembers(personID string) string {
	return k.tagged("p", part(personID), ":members")
}
func (k Keys) recordCount() string { return k.p() + ":mi:{records}" }
func (k Keys) layout() string      { return k.p() + ":mi:{layout}" }

// eventMemo remembers the matcher's decision on one event of one record; it
// shares the record's hash tag.
func (k Keys) eventMemo(recordID, eventID string) string {
	return k.tagged("mi:r", part(recordID), ":ev:"+part(eventID))
}

// bucketTag is a bucket number as fixed-width lower-case hex.
func bucketTag(bucket uint32, bits int) string {
	digits := (bits + 3) / 4
	var b [8]byte
	for i := digits - 1; i >= 0; i-- {
		b[i] = hexLower[bucket&15]
		bucket >>= 4
	}
	return string(b[:digits])
}

const hexLower = "0123456789abcdef"
