package offlineapply

import (
	"slices"
	"strings"
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

// Authority is what a field's rule says about an offline edit that meets a
// change the sync decided before it saw that edit.
type Authority int

const (
	// AskPerson: the rule does not let the offline edit win over the sync's
	// change on its own. The offline value is kept (never overwritten
	// blindly) and the field goes to a person as apply.conflict.
	AskPerson Authority = iota
	// OfflineWins: the rule gives the offline system authority over the
	// field; its edit is newer than the sync's change and stands.
	OfflineWins
	// MostRestrictive: an opt-out flag; "true" (do not contact) wins,
	// whichever side set it.
	MostRestrictive
)

// FieldRules is the authority of each field; a field not listed is
// AskPerson.
type FieldRules map[contact.Field]Authority

// Conflict is a field the offline system changed since the sync's base,
// where the sync wanted something else: the offline value is kept.
type Conflict struct {
	Field   contact.Field `json:"field"`
	Offline string        `json:"offline"`
	Sync    string        `json:"sync"`
}

// Decision is what to write for one contact step.
type Decision struct {
	Set   contact.Values
	Clear []contact.Field // sorted
	// Conflicts are fields kept at their offline value for a person to
	// decide (apply.conflict), sorted by field.
	Conflicts []Conflict
	// Kept are fields whose offline edit won by its rule, sorted by field.
	Kept []Conflict
}

// Empty reports whether nothing is to be written.
func (d Decision) Empty() bool { return len(d.Set) == 0 && len(d.Clear) == 0 }

// Decide re-decides a contact step against the row as it is now. Per field f
// the step wants value v (empty for a clear); the row holds c:
//
//  1. c == v: nothing to write.
//  2. Was f edited offline since the sync decided? If the base b of f is
//     known: when c != b (a clear of a known value included). If it is
//     unknown (the sync never wrote or saw f of this row): when c is not
//     empty and the row was edited offline after the step's source time.
//  3. Not edited: write v.
//  4. Edited: the field's rule decides. OfflineWins keeps c; MostRestrictive
//     keeps c when it is "true" and writes v otherwise; AskPerson keeps c and
//     reports a conflict with both values.
//
// So a row edited offline since the change was decided is never overwritten
// blindly: fields the offline edit did not touch are written, fields it did
// are re-decided by their rule or go to a person as apply.conflict.
func Decide(step Step, row Row, rules FieldRules) Decision {
	d := Decision{Set: contact.Values{}}
	for f, v := range step.Target() {
		c := row.Current[f]
		if c == v {
			continue
		}
		b, known := row.Base[f]
		var editedOffline bool
		switch {
		case known:
			editedOffline = c != b
		case c == "":
			editedOffline = false
		default:
			editedOffline = !row.EditedOfflineAt.IsZero() && row.EditedOfflineAt.After(step.SourceTime)
		}
		if editedOffline {
			switch rules[f] {
			case OfflineWins:
				d.Kept = append(d.Kept, Conflict{Field: f, Offline: c, Sync: v})
				continue
			case MostRestrictive:
				if c == "true" {
					d.Kept = append(d.Kept, Conflict{Field: f, Offline: c, Sync: v})
					continue
				}
			default:
				d.Conflicts = append(d.Conflicts, Conflict{Field: f, Offline: c, Sync: v})
				continue
			}
		}
		if v == "" {
			d.Clear = append(d.Clear, f)
		} else {
			d.Set[f] = v
		}
	}
	slices.Sort(d.Clear)
	byField := func(a, b Conflict) int { return strings.Compare(string(a.Field), string(b.Field)) }
	slices.SortFunc(d.Conflicts, byField)
	slices.SortFunc(d.Kept, byField)
	return d
}
