package dashboard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
)

// TestDashboardInBrowser drives the dashboard in Debian's Chromium with
// Playwright: find the kick-out of an online event with a broken email,
// fix it, resubmit it, approve a held change. The fixed record must reach
// the replay topic with its lineage. Screenshots go to docs/screenshots
// (CS_SCREENSHOT_DIR overrides). It skips without Chromium or
// playwright-core (deploy/harness/browser-deps.sh), except in CI.
func TestDashboardInBrowser(t *testing.T) {
	dashboardtest.RequireBrowser(t)
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	url := dashboardtest.StartServer(t, e.Deps)
	shots := os.Getenv("CS_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(dashboardtest.RepoRoot(), "docs", "screenshots")
	}
	dashboardtest.RunBrowser(t, url, dashboardtest.Scenario{
		Search: seed.TargetRecord, FixFind: seed.BadEmail, FixReplace: seed.GoodEmail, ShotsDir: shots,
	})

	var fixed, approved int
	for _, r := range e.ReadTopic(t, e.Sources.Topics.Replay) {
		switch {
		case dashboardtest.Header(r, pipeline.HeaderKickOutID) == seed.Target.ID:
			fixed++
			if !strings.Contains(string(r.Value), seed.GoodEmail) || strings.Contains(string(r.Value), seed.BadEmail) ||
				dashboardtest.Header(r, pipeline.HeaderFormat) != pipeline.FormatOnline ||
				dashboardtest.Header(r, pipeline.HeaderReplayCount) != "1" ||
				dashboardtest.Header(r, pipeline.HeaderSourceTopic) != e.Sources.Topics.OnlineEvents ||
				!strings.HasPrefix(dashboardtest.Header(r, pipeline.HeaderOriginalEventID), "evt-web-2041-") {
				t.Errorf("fixed record on the replay topic: %s headers %v", r.Value, r.Headers)
			}
		case dashboardtest.Header(r, "cs-review-id") == seed.Reviews[0].ID:
			approved++
		}
	}
	if fixed != 1 || approved != 1 {
		t.Fatalf("replay topic: %d fixed record(s), %d approved change(s); want 1 and 1", fixed, approved)
	}
	ctx := testenv.Context(t, 10*time.Second)
	ko, err := e.Queue.KickOut(ctx, seed.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ko.Status != review.KickOutReplayed || ko.Replay == nil || !ko.Replay.Edited || ko.Replay.Who != dashboardtest.User {
		t.Fatalf("target after the browser: %+v", ko)
	}
	rv, err := e.Queue.Review(ctx, seed.Reviews[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Status != review.ReviewApproved || rv.Decision == nil || rv.Decision.Who != dashboardtest.User ||
		rv.Decision.Why != "Confirmed with the donor by phone" {
		t.Fatalf("review after the browser: %+v", rv)
	}
}

// TestPersonPageInBrowser follows a router kick-out's person link to the
// person page (field timeline and links), a review item's person link to
// its person, and checks the queue's CSV export link follows the filters.
func TestPersonPageInBrowser(t *testing.T) {
	dashboardtest.RequireBrowser(t)
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	people := dashboardtest.SeedPeople(seed)
	url := dashboardtest.StartServer(t, e.Deps, dashboard.WithPeople(people))
	shots := os.Getenv("CS_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(dashboardtest.RepoRoot(), "docs", "screenshots")
	}
	person := seed.Routed.PersonID
	dashboardtest.RunPersonBrowser(t, url, seed.Routed.ID, person, len(people.Histories[person].Entries), shots)
}
