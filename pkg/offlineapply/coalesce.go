// Package offlineapply holds the pure rules of applying sink records to an
// offline system of record: coalescing a window's backlog into one net change
// per record and field, ordered with the person's gifts, and re-deciding a
// change against a row that was edited offline since the sync last saw it.
//
// The adapters that write (pgstore's Offline table store, the CSV file drop)
// call these; they hold no I/O of their own.
package offlineapply

import (
	"slices"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Step is one write for the offline system: the net change of one contact,
// or one gift.
type Step struct {
	Entity   contact.Entity
	PersonID string
	// Op is create when any merged record created the contact.
	Op              contact.SinkOp
	TargetRecordID  string // first non-empty among the merged records
	ReferenceSource string // from the create
	Set             contact.Values
	Clear           []contact.Field // sorted
	Gift            *contact.Gift
	// Links are the person's ids in other systems (later records win).
	Links map[string]string
	// HouseholdID is the person's household id: the latest non-empty one
	// among the merged records.
	HouseholdID string
	// EventIDs are the sink records this step stands for, in delivery order.
	EventIDs []string
	// Indexes are the positions of those records in the input.
	Indexes []int
	// SourceTime is the latest source time of the merged records.
	SourceTime time.Time
}

// Coalesce merges the contact records of each person into one net change per
// field (a later set or clear of a field replaces an earlier one) and keeps
// every gift. The result keeps delivery order, with each person's contact
// step at the position of her first contact record, so a create always comes
// before the gifts that followed it. Records are grouped by person id (by
// target record id when the person id is missing).
func Coalesce(recs []contact.SinkRecord) []Step {
	var steps []Step
	contactStep := map[string]int{} // person key -> index in steps
	for i, r := range recs {
		key := r.PersonID
		if key == "" {
			key = "record:" + r.TargetRecordID
		}
		if r.Entity == contact.EntityGift {
			steps = append(steps, Step{Entity: contact.EntityGift, PersonID: r.PersonID, Op: r.Op,
				TargetRecordID: r.TargetRecordID, Gift: r.Gift, EventIDs: []string{r.EventID}, Indexes: []int{i},
				SourceTime: r.SourceTime})
			continue
		}
		at, ok := contactStep[key]
		if !ok {
			contactStep[key] = len(steps)
			steps = append(steps, Step{Entity: contact.EntityContact, PersonID: r.PersonID, Op: contact.SinkUpdate,
				Set: contact.Values{}})
			at = len(steps) - 1
		}
		merge(&steps[at], r, i)
	}
	return steps
}

func merge(s *Step, r contact.SinkRecord, index int) {
	if r.Op == contact.SinkCreate {
		s.Op = contact.SinkCreate
		if s.ReferenceSource == "" {
			s.ReferenceSource = r.ReferenceSource
		}
	}
	if s.TargetRecordID == "" {
		s.TargetRecordID = r.TargetRecordID
	}
	for f, v := range r.Set {
		s.Set[f] = v
		s.Clear = slices.DeleteFunc(s.Clear, func(c contact.Field) bool { return c == f })
	}
	for _, f := range r.Clear {
		delete(s.Set, f)
		if !slices.Contains(s.Clear, f) {
			s.Clear = append(s.Clear, f)
		}
	}
	slices.Sort(s.Clear)
	for sys, id := range r.Links {
		if s.Links == nil {
			s.Links = map[string]string{}
		}
		s.Links[sys] = id
	}
	if r.HouseholdID != "" {
		s.HouseholdID = r.HouseholdID
	}
	s.EventIDs = append(s.EventIDs, r.EventID)
	s.Indexes = append(s.Indexes, index)
	if r.SourceTime.After(s.SourceTime) {
		s.SourceTime = r.SourceTime
	}
}

// Target is the net value a step wants for each field it touches; a clear is
// the empty string.
func (s Step) Target() contact.Values {
	out := make(contact.Values, len(s.Set)+len(s.Clear))
	for f, v := range s.Set {
		out[f] = v
	}
	for _, f := range s.Clear {
		out[f] = ""
	}
	return out
}
