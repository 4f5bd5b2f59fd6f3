package match

import (
	"context"
	"errors"
)

// ErrConflict is wrapped by the per-write error of Index.Commit when the
// index changed since the Lookup the write was decided on (another matcher
// added a record under one of its keys, or claimed its record id). The
// caller looks the record up again and re-decides; this is what makes
// match-or-create atomic without a global lock.
var ErrConflict = errors.New("index changed since lookup")

// AnyVersion in Write.KeyVersions skips the version check of a key (used
// for generic keys: their content never influences a decision).
const AnyVersion int64 = -1

// Index is the identity index the matcher reads candidates from and writes
// decisions to. Both methods take a batch so that a networked implementation
// (Redis) can serve a whole poll in one round trip each: one Lookup for the
// batch, one Commit for its decisions.
//
// Consistency contract: Lookup reports a version per key; Commit applies each
// write atomically and only if every key version and the record's owner are
// still what the write expects, otherwise it rejects that write with an error
// wrapping ErrConflict and applies nothing of it. Writes of one Commit are
// applied in order, each one seeing the previous ones. The Matcher checks key
// versions only on writes that create a person (the only way to make a
// duplicate); links check that the person exists and the record is unclaimed.
//
// A Redis implementation can keep, per blocking key, a set of person ids and
// a version counter, per person a hash of member records (Member as JSON),
// per record id its person, per term a counter and one total. Lookup is then
// one pipeline (or one Lua script) for the whole batch: key sets, counters,
// versions, record owners and the members of every person found; Commit is
// one EVALSHA per write in a single pipeline, each script checking owner,
// person existence and expected versions before it adds the member, SADDs
// the person to its keys (switching a key to generic past KeyCap), INCRs the
// versions and counts the terms. MemIndex is the reference behaviour.
type Index interface {
	// Lookup returns what is needed to score each query's record, in
	// query order.
	Lookup(ctx context.Context, queries []Query) ([]Found, error)
	// Commit applies writes in order. The returned slice has one entry per
	// write: nil when applied, an error wrapping ErrConflict when the
	// index changed. The error is for failures of the index itself, in
	// which case the state of the writes is unknown and the caller retries
	// the batch (writes are idempotent: replaying an applied write
	// conflicts on its record id, and re-matching it yields "known").
	Commit(ctx context.Context, writes []Write) ([]error, error)
}

// Query asks for the candidates of one incoming record.
type Query struct {
	// RecordID identifies the record in its source system ("system/id");
	// if the index already holds it, Found.KnownPerson says where.
	RecordID string
	// Keys are the record's blocking keys (see Keys).
	Keys []string
	// Terms are the record's term-frequency keys (see Terms).
	Terms []string
	// Reference is the record id of a known record the incoming record
	// claims to be ("offline/12345", an offline id carried by an online
	// event), or "". The index answers with its person in
	// Found.ReferencePerson.
	Reference string
}

// Found is the index's answer to one Query.
type Found struct {
	// KnownPerson is the person already holding Query.RecordID, or "".
	KnownPerson string
	// ReferencePerson is the person holding Query.Reference, or "" (no
	// reference, or an id the index does not hold). That person is also
	// among Persons, with its members.
	ReferencePerson string
	// Keys describes each query key, in query order.
	Keys []KeyState
	// Persons are the candidate persons: every person under a non-generic
	// query key (and the known and reference persons, if any), each with
	// all its members.
	Persons []Person
	// TermCounts holds, per query term, how many indexed records have that
	// value; TotalRecords is the number of indexed records.
	TermCounts   []int64
	TotalRecords int64
}

// KeyState is the state of one blocking key.
type KeyState struct {
	// Version changes whenever a record is added under the key.
	Version int64
	// Persons is how many persons the key holds (at least the cap when
	// generic: the index may stop counting there).
	Persons int
	// Generic is set once the key holds more persons than KeyCap allows;
	// its persons are then not returned as candidates.
	Generic bool
}

// Person is a candidate person with all its member records.
type Person struct {
	ID      string
	Members []Member
	// HitKeys are the indexes (into Query.Keys) of the keys that found
	// the person.
	HitKeys []int
}

// Member is one source record linked to a person.
type Member struct {
	RecordID string `json:"id"`
	Record   Record `json:"r"`
}

// Write links a record to a person, creating the person if needed.
type Write struct {
	PersonID string
	// NewPerson says the person must not exist yet (conflict otherwise);
	// when false it must exist.
	NewPerson bool
	Member    Member
	// Keys and Terms are the record's blocking and term-frequency keys:
	// the person is added under every key, and term counts are increased
	// when the record is new to the index.
	Keys  []string
	Terms []string
	// KeyVersions are the versions of Keys the decision was based on,
	// parallel to Keys (AnyVersion to skip one).
	KeyVersions []int64
	// ExpectPerson is the person the record belonged to at lookup ("" for
	// a record new to the index).
	ExpectPerson string
}
