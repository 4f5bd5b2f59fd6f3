// Package digest is the daily note for a data manager who does not watch
// Prometheus: yesterday's kick-outs by reason (against their usual daily
// rate), the open queue and the review backlog with the age of its oldest
// item, and a link to the dashboard. Build turns the figures into the
// message (pkg/digest/notify delivers it: webhook, SMTP). Gathering
// the figures is the caller's (the kick-out store behind pkg/review);
// `contactsync digest` wires it, run daily by cron or a CronJob.
package digest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Figures are what a digest reports on. Counts only: no record contents,
// no personal data.
type Figures struct {
	// Day is the UTC day reported on (its kick-outs), at midnight.
	Day time.Time
	// Reasons are that day's kick-outs per stage and reason.
	Reasons []ReasonCount
	// OpenKickOuts is the queue's size now; OldestOpen when the oldest of
	// them happened (zero: none).
	OpenKickOuts int64
	OldestOpen   time.Time
	// PendingReviews is the review backlog now; OldestPending when its
	// oldest item was held (zero: none). OldestPendingAtLeast is set when
	// only the newest items were read, so the oldest may be older still.
	PendingReviews       int64
	OldestPending        time.Time
	OldestPendingAtLeast bool
	// DashboardURL is where the dashboard is ("" leaves the links out).
	DashboardURL string
	// Now is when the digest is built (ages are counted to it).
	Now time.Time
}

// ReasonCount is the kick-outs of one reason in one stage on the day, and
// their daily average over the days before (the usual level).
type ReasonCount struct {
	Stage  string
	Reason string
	Count  int64
	// Usual is the average per day over UsualDays days before Day
	// (UsualDays 0: unknown).
	Usual     float64
	UsualDays int
}

// Message is a built digest.
type Message struct {
	Subject string
	Text    string
}

// Spike is how many times its usual daily level a reason's count must be
// (and at least SpikeMin) to be marked as a spike, as the alerting rules do
// per hour.
const (
	Spike    = 3.0
	SpikeMin = 20
)

// Build writes the digest of f.
func Build(f Figures) Message {
	day := f.Day.UTC().Format("2006-01-02")
	var total int64
	for _, r := range f.Reasons {
		total += r.Count
	}
	reasons := slices.Clone(f.Reasons)
	slices.SortFunc(reasons, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Reason, b.Reason))
	})

	var b strings.Builder
	fmt.Fprintf(&b, "contactsync daily digest for %s (UTC)\n\n", day)
	switch total {
	case 0:
		fmt.Fprintf(&b, "No kick-outs on %s.\n", day)
	default:
		fmt.Fprintf(&b, "%s on %s, by reason:\n", plural(total, "kick-out"), day)
		for _, r := range reasons {
			fmt.Fprintf(&b, "  %d  %s (%s)", r.Count, r.Reason, r.Stage)
			if r.UsualDays > 0 {
				fmt.Fprintf(&b, "  usual %s/day", usual(r.Usual))
				if IsSpike(r) {
					b.WriteString("  <- SPIKE")
				}
			}
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "Open kick-outs now: %d", f.OpenKickOuts)
	if f.OpenKickOuts > 0 && !f.OldestOpen.IsZero() {
		fmt.Fprintf(&b, " (oldest from %s, %s ago)", f.OldestOpen.UTC().Format("2006-01-02"), age(f.Now.Sub(f.OldestOpen)))
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "Review backlog: %s", plural(f.PendingReviews, "change")+" waiting for a decision")
	if f.PendingReviews > 0 && !f.OldestPending.IsZero() {
		atLeast := ""
		if f.OldestPendingAtLeast {
			atLeast = "at least "
		}
		fmt.Fprintf(&b, " (oldest waiting %s%s, since %s)", atLeast, age(f.Now.Sub(f.OldestPending)),
			f.OldestPending.UTC().Format("2006-01-02"))
	}
	b.WriteByte('\n')
	if u := strings.TrimRight(f.DashboardURL, "/"); u != "" {
		fmt.Fprintf(&b, "\nKick-outs: %s/#/queue\nReview:    %s/#/review\n", u, u)
	}

	subject := fmt.Sprintf("contactsync: %s on %s, %s pending", plural(total, "kick-out"), day, plural(f.PendingReviews, "review"))
	for _, r := range reasons {
		if IsSpike(r) {
			subject += " (spike: " + r.Reason + ")"
			break
		}
	}
	return Message{Subject: subject, Text: b.String()}
}

// IsSpike says whether r is well above its usual daily level.
func IsSpike(r ReasonCount) bool {
	return r.UsualDays > 0 && r.Count >= SpikeMin && float64(r.Count) >= Spike*r.Usual
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func usual(x float64) string {
	if x == float64(int64(x)) {
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.1f", x)
}

// age says how long ago, in whole days past a day, else hours.
func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 24*time.Hour:
		return "1 day"
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	}
	return "less than 2 hours"
}

// Yesterday is the UTC day before now's, at midnight.
func Yesterday(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
}
