package redisstore

import "strings"

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
//	P:p:{PERSON}:members        hash   record id -> "<seq> <match.Record JSON>"
//	P:p:{PERSON}:seq            string member sequence (keeps members in arrival order)
//	P:mi:k:{KEY}                hash   v = version, n = persons ever added, g = "1" once generic
//	P:mi:k:{KEY}:p              zset   the key's persons, scored by arrival
//	P:mi:k:{KEY}:lock           string lock token of a person creation
//	P:mi:r:{RECORD}             string the person owning the index record id
//	P:mi:r:{RECORD}:lock        string lock token of a person creation
//	P:mi:r:{RECORD}:ev:EVENT    string the matcher's decision on an event of the record
//	P:mi:t:{TERM}               string records holding a term-frequency value
//	P:mi:{records}              string records in the index
//
// Every part that comes from data (SYSTEM, RECORD, PERSON, KEY, TERM,
// EVENT) is escaped (see part), so it holds no ":", "{" or "}" whatever its
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
// links and golden state.
func (k Keys) matchKey(key string) string         { return k.tagged("mi:k", part(key), "") }
func (k Keys) matchKeyPersons(key string) string  { return k.tagged("mi:k", part(key), ":p") }
func (k Keys) matchKeyLock(key string) string     { return k.tagged("mi:k", part(key), ":lock") }
func (k Keys) recordOwner(recordID string) string { return k.tagged("mi:r", part(recordID), "") }
func (k Keys) recordLock(recordID string) string  { return k.tagged("mi:r", part(recordID), ":lock") }
func (k Keys) personMembers(personID string) string {
	return k.tagged("p", part(personID), ":members")
}
func (k Keys) personSeq(personID string) string { return k.tagged("p", part(personID), ":seq") }
func (k Keys) termCount(term string) string     { return k.tagged("mi:t", part(term), "") }
func (k Keys) recordCount() string              { return k.p() + ":mi:{records}" }

// eventMemo remembers the matcher's decision on one event of one record; it
// shares the record's hash tag.
func (k Keys) eventMemo(recordID, eventID string) string {
	return k.tagged("mi:r", part(recordID), ":ev:"+part(eventID))
}
