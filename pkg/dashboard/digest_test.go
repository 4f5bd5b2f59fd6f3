package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/digest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/review"
)

// The digest's figures are those of the store: yesterday's kick-outs per
// reason (as the queue lists them), the oldest open kick-out, the review
// backlog and its oldest item.
func TestDigestFigures(t *testing.T) {
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	svc, err := review.NewService(e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 30*time.Second)
	// Two days back, so that the seed's kick-outs of "yesterday" (1 day and
	// 6 hours ago, ...) are on a day whatever the hour of the run.
	for _, back := range []int{1, 2, 9} {
		day := digest.Yesterday(seed.Now).AddDate(0, 0, 1-back)
		f, err := dashboard.DigestFigures(ctx, svc, day, seed.Now)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{}
		for _, reason := range []string{"validate.field", "decode.json", "match.ambiguous", "rules.invalid_value"} {
			l, err := svc.List(ctx, review.Filter{Reason: reason, From: day, To: day.AddDate(0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if l.Total > 0 {
				want[reason] = int64(l.Total)
			}
		}
		got := map[string]int64{}
		for _, r := range f.Reasons {
			got[r.Reason] += r.Count
			if r.UsualDays != dashboard.UsualDays {
				t.Errorf("%s: usual over %d days", r.Reason, r.UsualDays)
			}
		}
		if len(got) != len(want) {
			t.Errorf("day %s: reasons %v, want %v", day.Format(time.DateOnly), got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("day %s: %s %d, want %d", day.Format(time.DateOnly), k, got[k], v)
			}
		}
		oldestBurst := seed.Burst[len(seed.Burst)-1].FirstSeen
		if f.OpenKickOuts != int64(len(seed.InvalidField)+len(seed.Burst)+4) || !f.OldestOpen.Equal(oldestBurst) {
			t.Errorf("open %d, oldest %v; want %d, %v", f.OpenKickOuts, f.OldestOpen, len(seed.InvalidField)+len(seed.Burst)+4, oldestBurst)
		}
		if f.PendingReviews != 2 || !f.OldestPending.Equal(seed.Reviews[1].Created) || f.OldestPendingAtLeast {
			t.Errorf("reviews %d, oldest %v (at least %v); want 2, %v", f.PendingReviews, f.OldestPending, f.OldestPendingAtLeast, seed.Reviews[1].Created)
		}
		if back == 9 {
			// Most of the burst is on day 9.
			text := digest.Build(f).Text
			if got["decode.json"] == 0 || !strings.Contains(text, "decode.json (ingest)  usual") {
				t.Errorf("day 9: %v\n%s", got, text)
			}
		}
	}
}
