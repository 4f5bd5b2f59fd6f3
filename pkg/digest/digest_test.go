package digest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/digest"
)

func TestBuild(t *testing.T) {
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	day := digest.Yesterday(now)
	if day != time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("Yesterday(%v) = %v", now, day)
	}
	for _, tc := range []struct {
		name        string
		f           digest.Figures
		subject     string
		want, never []string
	}{
		{
			name:    "quiet day",
			f:       digest.Figures{Day: day, Now: now},
			subject: "contactsync: 0 kick-outs on 2026-12-02, 0 reviews pending",
			want:    []string{"No kick-outs on 2026-12-02.", "Open kick-outs now: 0\n", "Review backlog: 0 changes waiting for a decision\n"},
			never:   []string{"SPIKE", "#/queue", "oldest"},
		},
		{
			name: "by reason, most first, a spike marked, backlog ages, links",
			f: digest.Figures{Day: day, Now: now, DashboardURL: "https://cs.example.org/",
				Reasons: []digest.ReasonCount{
					{Stage: "ingest", Reason: "validate.field", Count: 3, Usual: 2.5, UsualDays: 7},
					{Stage: "ingest", Reason: "decode.json", Count: 42, Usual: 1, UsualDays: 7},
					{Stage: "matcher", Reason: "match.ambiguous", Count: 1, Usual: 0, UsualDays: 7},
				},
				OpenKickOuts: 57, OldestOpen: now.AddDate(0, 0, -12).Add(-time.Hour),
				PendingReviews: 4, OldestPending: now.Add(-80 * time.Hour)},
			subject: "contactsync: 46 kick-outs on 2026-12-02, 4 reviews pending (spike: decode.json)",
			want: []string{
				"46 kick-outs on 2026-12-02, by reason:\n  42  decode.json (ingest)  usual 1/day  <- SPIKE\n" +
					"  3  validate.field (ingest)  usual 2.5/day\n  1  match.ambiguous (matcher)  usual 0/day\n",
				"Open kick-outs now: 57 (oldest from 2026-11-21, 12 days ago)",
				"Review backlog: 4 changes waiting for a decision (oldest waiting 3 days, since 2026-11-29)",
				"Kick-outs: https://cs.example.org/#/queue\nReview:    https://cs.example.org/#/review\n",
			},
		},
		{
			name: "few is no spike; a backlog read in part is 'at least'",
			f: digest.Figures{Day: day, Now: now,
				Reasons:        []digest.ReasonCount{{Stage: "router", Reason: "rules.invalid_value", Count: 5, Usual: 0.2, UsualDays: 7}},
				PendingReviews: 900, OldestPending: now.Add(-5 * time.Hour), OldestPendingAtLeast: true},
			subject: "contactsync: 5 kick-outs on 2026-12-02, 900 reviews pending",
			want:    []string{"  5  rules.invalid_value (router)  usual 0.2/day\n", "(oldest waiting at least 5 hours, since 2026-12-03)"},
			never:   []string{"SPIKE", "spike"},
		},
		{
			name:    "one of each, no usual level known",
			f:       digest.Figures{Day: day, Now: now, Reasons: []digest.ReasonCount{{Stage: "ingest", Reason: "decode.json", Count: 1}}, PendingReviews: 1},
			subject: "contactsync: 1 kick-out on 2026-12-02, 1 review pending",
			want:    []string{"1 kick-out on 2026-12-02, by reason:\n  1  decode.json (ingest)\n", "Review backlog: 1 change waiting"},
			never:   []string{"usual"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := digest.Build(tc.f)
			if m.Subject != tc.subject {
				t.Errorf("subject %q, want %q", m.Subject, tc.subject)
			}
			for _, w := range tc.want {
				if !strings.Contains(m.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, m.Text)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(m.Text, n) || strings.Contains(m.Subject, n) {
					t.Errorf("text has %q:\n%s", n, m.Text)
				}
			}
		})
	}
}
