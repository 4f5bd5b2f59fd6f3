package match

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemIndex is an in-memory Index for tests, evaluation and single-process
// use. It follows the same consistency contract as the Redis index: key
// versions, per-key person caps (generic keys) and conflict detection on
// Commit. It is safe for concurrent use.
type MemIndex struct {
	mu      sync.RWMutex
	keyCap  func(key string) int
	keys    map[string]*memKey
	persons map[string][]Member // person id -> members; slices are never mutated in place
	owner   map[string]string   // record id -> person id
	terms   map[string]int64
	records int64
}

type memKey struct {
	version int64
	persons []string // nil once generic
	count   int
	generic bool
}

// NewMemIndex returns an empty index that caps keys with KeyCap (see Generic).
func NewMemIndex() *MemIndex { return NewMemIndexWithCap(KeyCap) }

// NewMemIndexWithCap returns an empty index with a custom per-key person
// cap (tests use it to exercise generic keys cheaply).
func NewMemIndexWithCap(keyCap func(key string) int) *MemIndex {
	return &MemIndex{
		keyCap:  keyCap,
		keys:    make(map[string]*memKey),
		persons: make(map[string][]Member),
		owner:   make(map[string]string),
		terms:   make(map[string]int64),
	}
}

// Lookup implements Index.
func (x *MemIndex) Lookup(ctx context.Context, queries []Query) ([]Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memindex lookup: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Found, len(queries))
	for qi, q := range queries {
		f := Found{Keys: make([]KeyState, len(q.Keys)), TermCounts: make([]int64, len(q.Terms)), TotalRecords: x.records}
		position := make(map[string]int)
		addPerson := func(id string, keyIndex int) {
			if i, ok := position[id]; ok {
				if keyIndex >= 0 && !slices.Contains(f.Persons[i].HitKeys, keyIndex) {
					f.Persons[i].HitKeys = append(f.Persons[i].HitKeys, keyIndex)
				}
				return
			}
			members, ok := x.persons[id]
			if !ok {
				return // a person emptied by a record moving away
			}
			p := Person{ID: id, Members: members}
			if keyIndex >= 0 {
				p.HitKeys = []int{keyIndex}
			}
			position[id] = len(f.Persons)
			f.Persons = append(f.Persons, p)
		}
		if q.RecordID != "" {
			f.KnownPerson = x.owner[q.RecordID]
		}
		for ki, key := range q.Keys {
			k, ok := x.keys[key]
			if !ok {
				continue
			}
			f.Keys[ki] = KeyState{Version: k.version, Persons: k.count, Generic: k.generic}
			if k.generic {
				continue
			}
			for _, id := range k.persons {
				addPerson(id, ki)
			}
		}
		if f.KnownPerson != "" {
			addPerson(f.KnownPerson, -1)
		}
		if q.Reference != "" {
			f.ReferencePerson = x.owner[q.Reference]
			if f.ReferencePerson != "" {
				addPerson(f.ReferencePerson, -1)
			}
		}
		for ti, t := range q.Terms {
			f.TermCounts[ti] = x.terms[t]
		}
		out[qi] = f
	}
	return out, nil
}

// Commit implements Index.
func (x *MemIndex) Commit(ctx context.Context, writes []Write) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memindex commit: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	errs := make([]error, len(writes))
	for i := range writes {
		errs[i] = x.apply(&writes[i])
	}
	return errs, nil
}

func (x *MemIndex) apply(w *Write) error {
	if w.PersonID == "" || w.Member.RecordID == "" {
		return fmt.Errorf("memindex: write without person or record id")
	}
	if len(w.KeyVersions) != len(w.Keys) {
		return fmt.Errorf("memindex: %d key versions for %d keys", len(w.KeyVersions), len(w.Keys))
	}
	// Check everything before changing anything: a write is all or nothing.
	if owner := x.owner[w.Member.RecordID]; owner != w.ExpectPerson {
		return fmt.Errorf("record owner changed: %w", ErrConflict)
	}
	if _, exists := x.persons[w.PersonID]; exists == w.NewPerson {
		return fmt.Errorf("person existence changed: %w", ErrConflict)
	}
	for i, key := range w.Keys {
		if w.KeyVersions[i] == AnyVersion {
			continue
		}
		var current int64
		if k, ok := x.keys[key]; ok {
			current = k.version
		}
		if current != w.KeyVersions[i] {
			return fmt.Errorf("key version changed: %w", ErrConflict)
		}
	}

	if w.ExpectPerson != "" {
		// Known record: drop its previous version from its old person.
		old := x.persons[w.ExpectPerson]
		kept := slices.DeleteFunc(slices.Clone(old), func(m Member) bool { return m.RecordID == w.Member.RecordID })
		if len(kept) == 0 && w.ExpectPerson != w.PersonID {
			delete(x.persons, w.ExpectPerson)
		} else {
			x.persons[w.ExpectPerson] = kept
		}
	}
	members := slices.Clone(x.persons[w.PersonID])
	x.persons[w.PersonID] = append(members, w.Member)
	x.owner[w.Member.RecordID] = w.PersonID

	for _, key := range w.Keys {
		k := x.keys[key]
		if k == nil {
			k = &memKey{}
			x.keys[key] = k
		}
		if k.generic {
			continue
		}
		if !slices.Contains(k.persons, w.PersonID) {
			k.count++
			if k.count > x.keyCap(key) {
				k.generic, k.persons = true, nil
				continue
			}
			k.persons = append(k.persons, w.PersonID)
		}
		k.version++
	}
	if w.ExpectPerson == "" {
		for _, t := range w.Terms {
			x.terms[t]++
		}
		x.records++
	}
	return nil
}

// PersonOf returns the person holding a record id.
func (x *MemIndex) PersonOf(recordID string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.owner[recordID]
	return p, ok
}

// Stats returns the number of persons and records in the index.
func (x *MemIndex) Stats() (persons, records int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.persons), len(x.owner)
}
