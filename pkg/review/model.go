package review

import (
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Facts are what a kick-out is indexed and searched by, besides reason,
// stage and time. They are read from the raw record by whoever knows its
// format (see FactsReader); a store keeps the email only as a hash.
type Facts struct {
	System   string
	RecordID string
	PersonID string
	EventID  string
	Email    string
}

// ReplayInfo is the lineage of one replay of a kick-out.
type ReplayInfo struct {
	At  time.Time `json:"at"`
	Who string    `json:"who"`
	// Count is the replay count the replayed record carries (previous + 1).
	Count           int    `json:"count"`
	OriginalEventID string `json:"original_event_id,omitempty"`
	Format          string `json:"format"`
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	Offset          int64  `json:"offset"`
	// Edited is set when a person changed the payload (fix and resubmit);
	// Value then holds what was sent.
	Edited bool   `json:"edited"`
	Value  []byte `json:"-"`
}

// Decision is a person's decision on an item.
type Decision struct {
	Who string    `json:"who"`
	At  time.Time `json:"at"`
	Why string    `json:"why,omitempty"`
}

// StoredKickOut is a kick-out with what the store knows about it.
type StoredKickOut struct {
	contact.KickOut
	Status   string
	System   string
	RecordID string
	SavedAt  time.Time
	// Replay is set once the kick-out was replayed.
	Replay *ReplayInfo
	// ReplayOf is the kick-out this one is a replay of (it failed again);
	// ReplayedAs the kick-out the replay of this one became.
	ReplayOf   string
	ReplayedAs string
	// Resolution is set when a person closed the kick-out without replay.
	Resolution *Decision
}

// StoredReview is a review item with its status and decision.
type StoredReview struct {
	contact.ReviewItem
	Status   string
	Decision *Decision
	// EmittedEventID is the event id of the change an approval sent on.
	EmittedEventID string
}

// Filter selects kick-outs. Empty fields do not filter.
type Filter struct {
	Status string
	Reason string
	Stage  string
	System string
	// From and To bound the time the kick-out happened (To exclusive).
	From, To time.Time
	// Query is a record id, person id, event id, kick-out id or email.
	Query  string
	Offset int
	Limit  int // default DefaultLimit
}

// Page sizes of kick-out lists.
const (
	// DefaultLimit is the page size when a list names none.
	DefaultLimit = 50
	// MaxLimit is the largest page a list of kick-outs or review items
	// returns: a larger limit is capped to it (by the service and by the
	// Redis store), so one request cannot read the whole store.
	MaxLimit = 500
)

// Matches says whether a kick-out with these index fields passes the
// filter's status, reason, stage, system and time (not its Query, which a
// store answers from its lookup indexes).
func (f Filter) Matches(status, reason, stage, system string, seen time.Time) bool {
	return (f.Status == "" || f.Status == status) &&
		(f.Reason == "" || f.Reason == reason) &&
		(f.Stage == "" || f.Stage == stage) &&
		(f.System == "" || f.System == system) &&
		(f.From.IsZero() || seen.UnixMilli() >= f.From.UnixMilli()) &&
		(f.To.IsZero() || seen.UnixMilli() < f.To.UnixMilli())
}

// Page is one page of a filtered list, newest first.
type Page struct {
	Items []StoredKickOut
	Total int
}

// GroupCount is the number of kick-outs of one reason in one stage.
type GroupCount struct {
	Stage    string `json:"stage"`
	Reason   string `json:"reason"`
	Open     int64  `json:"open"`
	Replayed int64  `json:"replayed"`
	Resolved int64  `json:"resolved"`
	Total    int64  `json:"total"`
}

// DayCount is the number of kick-outs of one day (UTC), by reason.
type DayCount struct {
	Day      string           `json:"day"` // YYYY-MM-DD
	Total    int64            `json:"total"`
	ByReason map[string]int64 `json:"by_reason"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}
