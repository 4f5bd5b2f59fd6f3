package dashboard

import (
	"context"
	"time"

	"github.com/contactsync/contactsync/pkg/digest"
	"github.com/contactsync/contactsync/pkg/review"
)

// UsualDays is how many days before the digest's day set a reason's usual
// daily level.
const UsualDays = 7

// DigestFigures gathers what the daily digest reports on day (a UTC
// midnight) from the kick-out store: the day's kick-outs by stage and
// reason with their average over the UsualDays before, the open queue and
// its oldest item, the review backlog and its oldest item.
func DigestFigures(ctx context.Context, svc *review.Service, day, now time.Time) (digest.Figures, error) {
	f := digest.Figures{Day: day, Now: now}
	that, err := svc.Summary(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		return f, err
	}
	before, err := svc.Summary(ctx, day.AddDate(0, 0, -UsualDays), day)
	if err != nil {
		return f, err
	}
	type key struct{ stage, reason string }
	usual := map[key]int64{}
	for _, g := range before.Groups {
		usual[key{g.Stage, g.Reason}] += g.Total
	}
	for _, g := range that.Groups {
		if g.Total == 0 {
			continue
		}
		f.Reasons = append(f.Reasons, digest.ReasonCount{Stage: g.Stage, Reason: g.Reason, Count: g.Total,
			Usual: float64(usual[key{g.Stage, g.Reason}]) / UsualDays, UsualDays: UsualDays})
	}

	open, err := svc.List(ctx, review.Filter{Status: review.KickOutOpen, Limit: 1})
	if err != nil {
		return f, err
	}
	f.OpenKickOuts = int64(open.Total)
	if open.Total > 0 {
		// Newest first: the last one is the oldest.
		oldest, err := svc.List(ctx, review.Filter{Status: review.KickOutOpen, Offset: open.Total - 1, Limit: 1})
		if err != nil {
			return f, err
		}
		if len(oldest.Items) > 0 {
			f.OldestOpen = oldest.Items[0].FirstSeen
		}
	}

	f.PendingReviews = that.PendingReviews
	if f.PendingReviews > 0 {
		items, err := svc.Reviews(ctx, review.ReviewPending, review.MaxLimit)
		if err != nil {
			return f, err
		}
		if len(items) > 0 {
			f.OldestPending = items[len(items)-1].Created
			f.OldestPendingAtLeast = int64(len(items)) < f.PendingReviews
		}
	}
	return f, nil
}
