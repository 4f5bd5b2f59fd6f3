package baseline

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/contactsync/contactsync/pkg/match"
)

// index is the baseline's identity index: the same answers as
// match.MemIndex (the reference behaviour of match.Index: candidates per
// blocking key in insertion order, per-key person caps, term counts), in a
// form that holds a million persons in a few hundred bytes each. Strings
// are stored once in an arena of fixed chunks, records and persons are
// int32 slots, blocking keys and terms ("rule:<20 hex digits>") are 12-byte
// map keys, and a key's persons are an int32 posting list, inline for the
// common one-person key. Most of it holds no pointers, so the garbage
// collector does not walk it.
//
// It is written by one goroutine and read by many only while no one
// writes (see matchBatch).
type index struct {
	keyCap func(key string) int

	arena arena
	// Records (one slot per version of a record: a record seen again gets
	// a new slot and leaves its person's members).
	recs       []packedRecord
	recPerson  []int32
	owner      map[string]int32 // record id -> its current slot
	personIdx  map[string]int32 // person id -> person
	personIDs  []span
	members    [][]int32 // person -> member slots, in order of arrival
	persons    int       // persons with a member
	keys       map[ckey]keyEntry
	otherKeys  map[string]keyEntry // keys not of the hashed form
	overflow   [][]int32           // persons of keys holding more than one
	terms      map[ckey]int64
	otherTerms map[string]int64
	records    int64 // records new to the index (term counts' total)
	prefixes   map[string]uint16
}

// ckey is a hashed key or term, "<prefix>:<20 hex digits>", as 12 bytes.
type ckey struct {
	prefix uint16
	hash   [10]byte
}

// keyEntry is one blocking key: how many persons it holds and which (the
// first inline, the others in overflow), or generic past its cap. Twelve
// bytes: there are about ten keys per person.
type keyEntry struct {
	count int32
	first int32
	more  int32 // index into overflow; noMore: the key holds one person; isGeneric
}

const (
	noMore    = -1
	isGeneric = -2
)

func (e keyEntry) generic() bool { return e.more == isGeneric }

// span is a string in the arena.
type span struct {
	chunk, off, n int32
}

// packedRecord is a match.Record in the arena: its fields one after the
// other, with their lengths.
type packedRecord struct {
	id    span
	chunk int32
	off   int32
	lens  [numRecordFields]uint16
}

const numRecordFields = 12

// recordFields lists a match.Record's fields in packing order.
func recordFields(r *match.Record) [numRecordFields]*string {
	return [numRecordFields]*string{&r.Given, &r.Family, &r.EmailKey, &r.Phone, &r.HouseNumber, &r.Street,
		&r.AddressLine2, &r.Locality, &r.Region, &r.Postcode, &r.DOB, &r.Organisation}
}

func newIndex() *index {
	return &index{
		keyCap: match.KeyCap, owner: map[string]int32{}, personIdx: map[string]int32{},
		keys: map[ckey]keyEntry{}, otherKeys: map[string]keyEntry{}, terms: map[ckey]int64{},
		otherTerms: map[string]int64{}, prefixes: map[string]uint16{},
	}
}

// arena holds strings in chunks that never move, so the strings made over
// them (unsafe.String) stay valid while the arena lives.
type arena struct {
	chunks [][]byte
}

const chunkSize = 1 << 20

func (a *arena) add(parts ...string) (chunk, off int32) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > cap(a.chunks[last]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(chunkSize, n)))
		last++
	}
	off = int32(len(a.chunks[last]))
	for _, p := range parts {
		a.chunks[last] = append(a.chunks[last], p...)
	}
	return int32(last), off
}

func (a *arena) str(chunk, off int32, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[chunk][off], n)
}

func (a *arena) span(s string) span {
	c, o := a.add(s)
	return span{chunk: c, off: o, n: int32(len(s))}
}

func (a *arena) spanStr(s span) string { return a.str(s.chunk, s.off, int(s.n)) }

// compact returns the 12-byte form of a hashed key or term; ok is false for
// any other form.
func (x *index) compact(key string, add bool) (ckey, bool) {
	const hexLen = 20
	if len(key) < hexLen+2 || key[len(key)-hexLen-1] != ':' {
		return ckey{}, false
	}
	var k ckey
	if _, err := hex.Decode(k.hash[:], []byte(key[len(key)-hexLen:])); err != nil {
		return ckey{}, false
	}
	if strings.ContainsAny(key[len(key)-hexLen:], "ABCDEF") {
		return ckey{}, false // hex.Decode takes upper case; the string would not round-trip
	}
	prefix := key[:len(key)-hexLen-1]
	p, ok := x.prefixes[prefix]
	if !ok {
		if !add || len(x.prefixes) >= 1<<16-1 {
			// Not seen yet (a reader does not add): p = 0 names no prefix,
			// so the key is found nowhere, as it should be.
			return ckey{}, true
		}
		p = uint16(len(x.prefixes) + 1)
		x.prefixes[prefix] = p
	}
	k.prefix = p
	return k, true
}

func (x *index) key(key string) (keyEntry, bool) {
	if k, ok := x.compact(key, false); ok {
		e, found := x.keys[k]
		return e, found
	}
	e, found := x.otherKeys[key]
	return e, found
}

func (x *index) setKey(key string, e keyEntry) {
	if k, ok := x.compact(key, true); ok {
		x.keys[k] = e
		return
	}
	x.otherKeys[key] = e
}

func (x *index) term(t string) int64 {
	if k, ok := x.compact(t, false); ok {
		return x.terms[k]
	}
	return x.otherTerms[t]
}

func (x *index) addTerm(t string) {
	if k, ok := x.compact(t, true); ok {
		x.terms[k]++
		return
	}
	x.otherTerms[t]++
}

// keyPersons calls fn with each person of a key, in insertion order.
func (x *index) keyPersons(e keyEntry, fn func(p int32)) {
	if e.count == 0 || e.generic() {
		return
	}
	fn(e.first)
	if e.more >= 0 {
		for _, p := range x.overflow[e.more] {
			fn(p)
		}
	}
}

func (x *index) record(slot int32) match.Record {
	pr := &x.recs[slot]
	var r match.Record
	off := pr.off
	for i, f := range recordFields(&r) {
		*f = x.arena.str(pr.chunk, off, int(pr.lens[i]))
		off += int32(pr.lens[i])
	}
	return r
}

func (x *index) recordID(slot int32) string { return x.arena.spanStr(x.recs[slot].id) }

func (x *index) personID(p int32) string { return x.arena.spanStr(x.personIDs[p]) }

// lookup is what the index says about one query: a match.Found without the
// member records, cheap to compare (see sameLookup).
type lookup struct {
	known, reference int32 // person, -1: none
	keys             []match.KeyState
	persons          []candidatePerson
	termCounts       []int64
	total            int64
}

type candidatePerson struct {
	person  int32
	members []int32 // shared with the index: read only
	hitKeys []int
}

// look answers a query as MemIndex.Lookup does.
func (x *index) look(q match.Query) lookup {
	l := lookup{known: -1, reference: -1, keys: make([]match.KeyState, len(q.Keys)), termCounts: make([]int64, len(q.Terms)), total: x.records}
	add := func(p int32, keyIndex int) {
		for i := range l.persons {
			if l.persons[i].person == p {
				if keyIndex >= 0 && !slices.Contains(l.persons[i].hitKeys, keyIndex) {
					l.persons[i].hitKeys = append(l.persons[i].hitKeys, keyIndex)
				}
				return
			}
		}
		if len(x.members[p]) == 0 {
			return // a person emptied by a record moving away
		}
		cp := candidatePerson{person: p, members: x.members[p]}
		if keyIndex >= 0 {
			cp.hitKeys = []int{keyIndex}
		}
		l.persons = append(l.persons, cp)
	}
	if q.RecordID != "" {
		if slot, ok := x.owner[q.RecordID]; ok {
			l.known = x.recPerson[slot]
		}
	}
	for ki, key := range q.Keys {
		e, ok := x.key(key)
		if !ok {
			continue
		}
		l.keys[ki] = match.KeyState{Persons: int(e.count), Generic: e.generic()}
		x.keyPersons(e, func(p int32) { add(p, ki) })
	}
	if l.known >= 0 {
		add(l.known, -1)
	}
	if q.Reference != "" {
		if slot, ok := x.owner[q.Reference]; ok {
			l.reference = x.recPerson[slot]
			add(l.reference, -1)
		}
	}
	for ti, t := range q.Terms {
		l.termCounts[ti] = x.term(t)
	}
	return l
}

// found turns a lookup into the match.Found the matcher decides on.
func (x *index) found(l lookup) match.Found {
	f := match.Found{Keys: l.keys, TermCounts: l.termCounts, TotalRecords: l.total}
	if l.known >= 0 {
		f.KnownPerson = x.personID(l.known)
	}
	if l.reference >= 0 {
		f.ReferencePerson = x.personID(l.reference)
	}
	f.Persons = make([]match.Person, len(l.persons))
	for i, cp := range l.persons {
		ms := make([]match.Member, len(cp.members))
		for j, slot := range cp.members {
			ms[j] = match.Member{RecordID: x.recordID(slot), Record: x.record(slot)}
		}
		f.Persons[i] = match.Person{ID: x.personID(cp.person), Members: ms, HitKeys: cp.hitKeys}
	}
	return f
}

// sameLookup reports whether two lookups give the matcher the same input.
func sameLookup(a, b *lookup) bool {
	if a.known != b.known || a.reference != b.reference || a.total != b.total ||
		!slices.Equal(a.keys, b.keys) || !slices.Equal(a.termCounts, b.termCounts) || len(a.persons) != len(b.persons) {
		return false
	}
	for i := range a.persons {
		pa, pb := &a.persons[i], &b.persons[i]
		if pa.person != pb.person || !slices.Equal(pa.members, pb.members) || !slices.Equal(pa.hitKeys, pb.hitKeys) {
			return false
		}
	}
	return true
}

// commit applies a write as MemIndex.Commit does; the baseline is the only
// writer, so there is nothing to conflict with but its own mistakes.
func (x *index) commit(w *match.Write) error {
	if w.PersonID == "" || w.Member.RecordID == "" {
		return fmt.Errorf("baseline index: write without person or record id")
	}
	oldSlot, known := x.owner[w.Member.RecordID]
	expect := ""
	if known {
		expect = x.personID(x.recPerson[oldSlot])
	}
	p, exists := x.personIdx[w.PersonID]
	exists = exists && len(x.members[p]) > 0
	if expect != w.ExpectPerson || exists == w.NewPerson {
		return fmt.Errorf("baseline index: write of %s does not fit the index: %w", w.Member.RecordID, match.ErrConflict)
	}
	if _, ok := x.personIdx[w.PersonID]; !ok {
		p = int32(len(x.personIDs))
		sp := x.arena.span(w.PersonID)
		x.personIDs = append(x.personIDs, sp)
		x.members = append(x.members, nil)
		x.personIdx[x.arena.spanStr(sp)] = p
	}

	slot := int32(len(x.recs))
	pr := packedRecord{}
	rec := w.Member.Record
	fields := recordFields(&rec)
	parts := make([]string, 0, numRecordFields+1)
	for i, f := range fields {
		if len(*f) > 1<<16-1 {
			return fmt.Errorf("baseline index: record %s: a value of %d bytes", w.Member.RecordID, len(*f))
		}
		pr.lens[i] = uint16(len(*f))
		parts = append(parts, *f)
	}
	pr.chunk, pr.off = x.arena.add(parts...)
	// Members are shared with lookups in flight: never changed in place.
	if known {
		pr.id = x.recs[oldSlot].id
		old := x.recPerson[oldSlot]
		x.members[old] = slices.DeleteFunc(slices.Clone(x.members[old]), func(s int32) bool { return s == oldSlot })
		if len(x.members[old]) == 0 {
			x.persons--
		}
	} else {
		pr.id = x.arena.span(w.Member.RecordID)
	}
	if len(x.members[p]) == 0 {
		x.persons++
	}
	x.recs = append(x.recs, pr)
	x.recPerson = append(x.recPerson, p)
	x.members[p] = append(slices.Clip(x.members[p]), slot)
	x.owner[x.arena.spanStr(pr.id)] = slot

	for _, key := range w.Keys {
		e, ok := x.key(key)
		if !ok {
			e = keyEntry{first: -1, more: noMore}
		}
		if e.generic() || x.keyHas(e, p) {
			continue
		}
		e.count++
		switch {
		case int(e.count) > x.keyCap(key):
			if e.more >= 0 {
				x.overflow[e.more] = nil
			}
			e.first, e.more = -1, isGeneric
		case e.first < 0:
			e.first = p
		case e.more == noMore:
			e.more = int32(len(x.overflow))
			x.overflow = append(x.overflow, []int32{p})
		default:
			x.overflow[e.more] = append(x.overflow[e.more], p)
		}
		x.setKey(key, e)
	}
	if !known {
		for _, t := range w.Terms {
			x.addTerm(t)
		}
		x.records++
	}
	return nil
}

func (x *index) keyHas(e keyEntry, p int32) bool {
	if e.first == p {
		return true
	}
	return e.more >= 0 && slices.Contains(x.overflow[e.more], p)
}
