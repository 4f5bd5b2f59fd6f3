// Package review is the kick-out review: the statuses of kick-outs and
// review items, the filters a person selects them with, the transitions a
// person makes (replay, fix and resubmit, resolve, approve, reject) with
// their audit entries, and the knowledge of what a kick-out's record holds
// and how it goes back on the replay topic.
//
// It declares the Store it works with; redisstore implements it for
// production and an in-memory store serves the unit tests. The dashboard
// (HTTP API, web pages, CLI) is a face over the Service.
package review

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Kick-out statuses.
const (
	KickOutOpen     = "open"     // waiting for a person
	KickOutReplayed = "replayed" // sent to the replay topic (see StoredKickOut.Replay)
	KickOutResolved = "resolved" // closed by a person without a replay
)

// KickOutStatuses lists every kick-out status.
var KickOutStatuses = []string{KickOutOpen, KickOutReplayed, KickOutResolved}

// Review statuses.
const (
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// ReviewStatuses lists every review status.
var ReviewStatuses = []string{ReviewPending, ReviewApproved, ReviewRejected}

// Errors of the store's state changes.
var (
	// ErrNotFound: no such item (never stored, or past its retention).
	ErrNotFound = errors.New("not found")
	// ErrWrongStatus: the item is not in the status the change starts from
	// (e.g. replaying a kick-out that was already replayed).
	ErrWrongStatus = errors.New("item is not in the expected status")
	// ErrBusy: another request is working on the same item right now.
	ErrBusy = errors.New("another request is working on this item")
)

// StatusError says which status an item has when a change was refused.
type StatusError struct {
	ID, Status, Want string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s is %s, not %s", e.ID, e.Status, e.Want)
}

// Unwrap makes errors.Is(err, ErrWrongStatus) hold.
func (e *StatusError) Unwrap() error { return ErrWrongStatus }

// Audit actions.
const (
	AuditReplay      = "replay"
	AuditFixResubmit = "fix_resubmit"
	AuditResolve     = "resolve"
	AuditApprove     = "approve"
	AuditReject      = "reject"
)

// Transition is a status change a person makes: the store applies it only
// when the item still has status From (compare and set), together with
// its audit entry, in one atomic step.
type Transition struct {
	Action   string // the audit action
	From, To string
}

// The transitions people make; nothing else changes a status.
var (
	ReplayKickOut  = Transition{AuditReplay, KickOutOpen, KickOutReplayed}
	FixResubmit    = Transition{AuditFixResubmit, KickOutOpen, KickOutReplayed}
	ResolveKickOut = Transition{AuditResolve, KickOutOpen, KickOutResolved}
	ApproveReview  = Transition{AuditApprove, ReviewPending, ReviewApproved}
	RejectReview   = Transition{AuditReject, ReviewPending, ReviewRejected}
)

// ReplayTransition is the transition of a replay: fix and resubmit when a
// person edited the payload.
func ReplayTransition(r ReplayInfo) Transition {
	if r.Edited {
		return FixResubmit
	}
	return ReplayKickOut
}

// DecisionTransition is the transition to a review decision (approved or
// rejected).
func DecisionTransition(status string) (Transition, error) {
	switch status {
	case ReviewApproved:
		return ApproveReview, nil
	case ReviewRejected:
		return RejectReview, nil
	}
	return Transition{}, fmt.Errorf("status %q is not a decision", status)
}

// ReplayAudit is the audit entry of a replay of kick-out id.
func ReplayAudit(id string, r ReplayInfo) AuditEntry {
	detail := fmt.Sprintf("replay #%d to %s (partition %d, offset %d)", r.Count, r.Topic, r.Partition, r.Offset)
	if r.Edited {
		sum := sha256.Sum256(r.Value)
		detail += fmt.Sprintf(", edited payload (sha256 %x)", sum[:6])
	}
	return AuditEntry{At: r.At, Who: r.Who, Action: ReplayTransition(r).Action, Target: id, Detail: detail}
}

// DecisionAudit is the audit entry of a decision t on item id; for an
// approval, emittedEventID is the event id of the change sent on.
func DecisionAudit(t Transition, id string, d Decision, emittedEventID string) AuditEntry {
	detail := d.Why
	if emittedEventID != "" {
		detail = strings.TrimSpace(detail + " (sent on as " + emittedEventID + ")")
	}
	return AuditEntry{At: d.At, Who: d.Who, Action: t.Action, Target: id, Detail: detail}
}
