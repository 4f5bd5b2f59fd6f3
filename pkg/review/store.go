package review

import (
	"context"
	"time"
)

// Store keeps kick-outs, review items and the audit log. Every status
// change is one Transition, applied only when the item still has its From
// status and audited in the same atomic step; a refused change returns a
// *StatusError (errors.Is ErrWrongStatus), a missing item ErrNotFound.
type Store interface {
	// Retention is how long items are kept after they happened.
	Retention() time.Duration
	// Trim drops index entries past the retention (the items themselves
	// expire on their own) and returns how many it removed.
	Trim(ctx context.Context) (int64, error)

	// KickOut returns one kick-out, or ErrNotFound.
	KickOut(ctx context.Context, id string) (StoredKickOut, error)
	// ListKickOuts returns one page of the kick-outs that match f.
	ListKickOuts(ctx context.Context, f Filter) (Page, error)
	// MatchingKickOutIDs returns the ids of up to limit kick-outs that match
	// f (its Offset and Limit ignored), newest first, and how many match.
	MatchingKickOutIDs(ctx context.Context, f Filter, limit int) ([]string, int, error)
	// GroupCounts counts the kick-outs per stage and reason that happened
	// in [from, to) (zero: open-ended), most open first.
	GroupCounts(ctx context.Context, from, to time.Time) ([]GroupCount, error)
	// DailyCounts counts kick-outs per UTC day from the day of from to the
	// day of to, both included, by reason.
	DailyCounts(ctx context.Context, from, to time.Time) ([]DayCount, error)
	// Systems returns the systems kick-outs were seen from.
	Systems(ctx context.Context) ([]string, error)
	// CountKickOutsByStatus returns the number of kick-outs with a status.
	CountKickOutsByStatus(ctx context.Context, status string) (int64, error)

	// Claim marks a kick-out ("ko") or review item ("rv") as being worked
	// on for up to ttl, so two people pressing "replay" at once send one
	// record; ErrBusy when another holds it. release ends the claim early.
	Claim(ctx context.Context, kind, id string, ttl time.Duration) (release func(), err error)
	// MarkReplayed applies ReplayTransition(r) to an open kick-out and keeps
	// the replay's lineage. Call it only after the produce succeeded.
	MarkReplayed(ctx context.Context, id string, r ReplayInfo) error
	// Resolve applies ResolveKickOut, keeping who decided and why.
	Resolve(ctx context.Context, id string, d Decision) error

	// Review returns one review item, or ErrNotFound.
	Review(ctx context.Context, id string) (StoredReview, error)
	// ListReviews returns up to limit review items with status ("" for
	// all), newest first.
	ListReviews(ctx context.Context, status string, limit int) ([]StoredReview, error)
	// CountReviews returns the number of review items with a status.
	CountReviews(ctx context.Context, status string) (int64, error)
	// DecideReview applies DecisionTransition(status) to a pending item,
	// keeping the decision and, for an approval, the event id of the change
	// sent on.
	DecideReview(ctx context.Context, id, status string, d Decision, emittedEventID string) error

	// AuditLog returns up to limit audit entries, newest first.
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}
