package offlineapply

import (
	"slices"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Row is what the offline system holds for one contact when a step is
// applied, and what the sync knew of it before.
type Row struct {
	// Current is the row's value of each field now; empty means NULL.
	Current contact.Values
	// Base is the value of each field as the sync last left or saw it
	// (kept by the applier beside the row). A field absent from Base has no
	// known base.
	Base contact.Values
	// EditedOfflineAt is when someone other than the sync last wrote the row;
	// zero if never (or unknown).
	EditedOfflineAt time.Time
}

// Conflict is a field the offline system changed since the sync's base,
// where the sync wanted something else: the offline value is kept.
type Conflict struct {
	Field   contact.Field `json:"field"`
	Offline string        `json:"offline"`
	Sync    string        `json:"sync"`
}

// Decision is what to write for one contact step.
type Decision struct {
	Set       contact.Values
	Clear     []contact.Field // sorted
	Conflicts []Conflict      // sorted by field
}

// Empty reports whether nothing is to be written.
func (d Decision) Empty() bool { return len(d.Set) == 0 && len(d.Clear) == 0 }

// Decide re-decides a contact step against the row as it is now. Per field f
// the step wants value v (empty for a clear); the row holds c:
//
//  1. c == v: nothing to write.
//  2. c is empty: write v (filling an empty field loses nothing), unless the
//     base is known and non-empty: then the offline side cleared it on
//     purpose, see 3.
//  3. the base b of f is known: if c == b the offline side has not touched f
//     since the sync's base, write v; else keep c and report a conflict.
//  4. the base is unknown (the sync never wrote or saw f of this row): if the
//     row was edited offline after the step's source time, keep c and report
//     a conflict; else write v.
//
// So a row edited offline since the change was decided is never overwritten
// blindly: fields the offline edit did not touch are written, fields it did
// keep the offline value and go to a person as apply.conflict.
func Decide(step Step, row Row) Decision {
	d := Decision{Set: contact.Values{}}
	for f, v := range step.Target() {
		c := row.Current[f]
		if c == v {
			continue
		}
		b, known := row.Base[f]
		keepOffline := false
		switch {
		case known:
			keepOffline = c != b
		case c == "":
			keepOffline = false
		default:
			keepOffline = !row.EditedOfflineAt.IsZero() && row.EditedOfflineAt.After(step.SourceTime)
		}
		if keepOffline {
			d.Conflicts = append(d.Conflicts, Conflict{Field: f, Offline: c, Sync: v})
			continue
		}
		if v == "" {
			d.Clear = append(d.Clear, f)
		} else {
			d.Set[f] = v
		}
	}
	slices.Sort(d.Clear)
	slices.SortFunc(d.Conflicts, func(a, b Conflict) int {
		if a.Field < b.Field {
			return -1
		}
		if a.Field > b.Field {
			return 1
		}
		return 0
	})
	return d
}
