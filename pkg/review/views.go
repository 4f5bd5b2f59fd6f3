package review

import (
	"time"
)

// KickOutSummary is one line of the queue.
type KickOutSummary struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	Reason          string    `json:"reason"`
	Stage           string    `json:"stage"`
	System          string    `json:"system,omitempty"`
	RecordID        string    `json:"record_id,omitempty"`
	Error           string    `json:"error"`
	FirstSeen       time.Time `json:"first_seen"`
	ReplayCount     int       `json:"replay_count"`
	EventID         string    `json:"event_id,omitempty"`
	PersonID        string    `json:"person_id,omitempty"`
	OriginalEventID string    `json:"original_event_id,omitempty"`
	ReplayOf        string    `json:"replay_of,omitempty"`
	ReplayedAs      string    `json:"replayed_as,omitempty"`
	// Name and Town name the person of the record, when it can be read.
	Name string `json:"name,omitempty"`
	Town string `json:"town,omitempty"`
}

func summaryOf(k StoredKickOut) KickOutSummary {
	return KickOutSummary{ID: k.ID, Status: k.Status, Reason: k.Reason, Stage: k.Stage, System: k.System,
		RecordID: k.RecordID, Error: k.Error, FirstSeen: k.FirstSeen.UTC(), ReplayCount: k.ReplayCount,
		EventID: k.EventID, PersonID: k.PersonID, OriginalEventID: k.OriginalEventID,
		ReplayOf: k.ReplayOf, ReplayedAs: k.ReplayedAs}
}

// HeaderView is a record header as shown to a person.
type HeaderView struct {
	Key   string  `json:"key"`
	Value Payload `json:"value"`
}

// ReplayView is the replay of a kick-out, with the payload sent when a
// person edited it.
type ReplayView struct {
	ReplayInfo
	Sent *Payload `json:"sent,omitempty"`
}

// KickOutDetail is the record view of one kick-out.
type KickOutDetail struct {
	KickOutSummary
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	LastSeen    time.Time    `json:"last_seen"`
	Help        string       `json:"help"`
	Explanation string       `json:"explanation,omitempty"`
	Key         Payload      `json:"key"`
	Value       Payload      `json:"value"`
	Headers     []HeaderView `json:"headers"`
	Decoded     Decoded      `json:"decoded"`
	Replay      *ReplayView  `json:"replay,omitempty"`
	Resolution  *Decision    `json:"resolution,omitempty"`
	CanReplay   bool         `json:"can_replay"`
	// CannotReplay says why CanReplay is false.
	CannotReplay string `json:"cannot_replay,omitempty"`
	// EditKind and EditText are what the edit box offers (EditRawJSON or
	// EditChangeJSON).
	EditKind string `json:"edit_kind,omitempty"`
	EditText string `json:"edit_text,omitempty"`
}

// ListResult is one page of the queue.
type ListResult struct {
	Items  []KickOutSummary `json:"items"`
	Total  int              `json:"total"`
	Offset int              `json:"offset"`
	Limit  int              `json:"limit"`
}

// GroupView is the count of one reason in one stage, with its help text.
type GroupView struct {
	GroupCount
	Help string `json:"help"`
}

// Summary is the queue overview: groups, the daily chart and totals.
type Summary struct {
	Groups         []GroupView `json:"groups"`
	Days           []DayCount  `json:"days"`
	Systems        []string    `json:"systems"`
	Open           int64       `json:"open"`
	Replayed       int64       `json:"replayed"`
	Resolved       int64       `json:"resolved"`
	PendingReviews int64       `json:"pending_reviews"`
	From           time.Time   `json:"from"`
	To             time.Time   `json:"to"`
	RetentionDays  int         `json:"retention_days"`
}
