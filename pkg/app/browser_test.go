package app

import (
	"os"
	"slices"
	"testing"

	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
)

// TestDashboardFixReplayApprove drives the kick-out dashboard in Debian's
// Chromium against the running pipeline (real Kafka and Redis under `make
// test`): a data manager finds a donor's gift kicked out for a mistyped
// email, fixes it, replays it, and approves a held self-service change;
// both then reach the offline sink.
func TestDashboardFixReplayApprove(t *testing.T) {
	dashboardtest.RequireBrowser(t)
	p := startPipeline(t, map[string]string{
		dashboard.EnvUsers: dashboardtest.UsersConfig(t),
		dashboard.EnvAddr:  "127.0.0.1:0",
	})
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow))
	p.feed(topics.OnlineEvents,
		webhook("web-1", `{"event_id":"evt-1","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:00:00Z","origin":"api",
			"contact":{"id":"web-1","reference_source":"online","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org"},
			"gift":{"id":"g-1","amount":"25.00","currency":"USD"}}`),
		webhook("web-1", `{"event_id":"evt-2","type":"contact.updated","system":"online","occurred_at":"2026-11-03T11:00:00Z","origin":"self_service",
			"contact":{"id":"web-1","last_name":"Adams-Smythe"}}`),
		webhook("web-77", `{"event_id":"evt-77","type":"gift.created","system":"online","occurred_at":"2026-11-03T12:00:00Z","origin":"api",
			"contact":{"id":"web-77","reference_source":"online","first_name":"Zoe","last_name":"Zimmer","email":"zoe@mailbox,org"},
			"gift":{"id":"g-77","amount":"40.00","currency":"USD"}}`),
	)
	if got := describeAll(p.sinks("offline")); !slices.Equal(got, []string{"gift create OFF-1 ref=online gift=g-1"}) {
		t.Fatalf("before the fix, the offline sink has %q", got)
	}
	if len(p.kickOuts()) != 1 || len(p.reviews()) != 1 {
		t.Fatalf("want one kick-out and one review item, got %d and %d", len(p.kickOuts()), len(p.reviews()))
	}

	dashboardtest.RunBrowser(t, p.app.DashboardURL(), dashboardtest.Scenario{
		Search: "web-77", FixFind: "mailbox,org", FixReplace: "mailbox.org",
		ShotsDir: os.Getenv("CS_SCREENSHOT_DIR"),
	})
	p.waitIdle()

	want := []string{
		"contact create ref=online given_name=Zoe family_name=Zimmer email=zoe@mailbox.org",
		"contact update OFF-1 family_name=Adams-Smythe",
		"gift create OFF-1 ref=online gift=g-1",
		"gift create ref=online gift=g-77",
	}
	if got := describeAll(p.sinks("offline")); !slices.Equal(got, want) {
		t.Fatalf("after fix, replay and approval the offline sink has\n %q\nwant\n %q", got, want)
	}
	if n := len(p.kickOuts()); n != 1 {
		t.Errorf("the fixed record failed again: %d kick-outs", n)
	}
}
