package dashboard_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
)

func TestCLI(t *testing.T) {
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	ctx := testenv.Context(t, time.Minute)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errw bytes.Buffer
		if len(args) > 0 && args[0] == "kickouts" {
			args = args[1:]
		}
		open := func(context.Context) (review.Deps, func(), error) { return e.Deps, func() {}, nil }
		code := cli.Execute(ctx, dashboard.Command(open), args, nil, &out, &errw)
		return code, out.String(), errw.String()
	}

	code, out, _ := run("kickouts", "list", "--reason", pipeline.ReasonInvalidField)
	if code != 0 || !strings.Contains(out, seed.Target.ID) || !strings.Contains(out, "5 of 5 kick-out(s)") ||
		!strings.Contains(out, "web-2041") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = run("list", "--q", seed.BadEmail, "--status", "all")
	if code != 0 || !strings.Contains(out, "1 of 1") {
		t.Fatalf("list by email: %d\n%s", code, out)
	}
	code, out, _ = run("show", seed.Ambiguous.ID)
	if code != 0 || !strings.Contains(out, "match.ambiguous") || !strings.Contains(out, "exact keys point to 2 different persons") ||
		!strings.Contains(out, `"source_record_id": "web-2002"`) {
		t.Fatalf("show: %d\n%s", code, out)
	}

	// Replay one as is, and one fixed from a file.
	code, out, errOut := run("replay", seed.InvalidField[1].ID, "--who", "ops-script")
	if code != 0 || !strings.Contains(out, "replayed  "+seed.InvalidField[1].ID) {
		t.Fatalf("replay: %d\n%s%s", code, out, errOut)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	payload := strings.Replace(string(seed.Target.Value), seed.BadEmail, seed.GoodEmail, 1)
	if err := os.WriteFile(fixed, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("replay", seed.Target.ID, "--payload-file", fixed, "--who", "ops-script")
	if code != 0 || !strings.Contains(out, "fixed and resubmitted") {
		t.Fatalf("replay with payload: %d\n%s%s", code, out, errOut)
	}
	// Replaying the same one again fails and says why.
	code, out, _ = run("replay", seed.Target.ID, "--who", "ops-script")
	if code != 1 || !strings.Contains(out, "already replayed by ops-script") {
		t.Fatalf("second replay: %d\n%s", code, out)
	}
	recs := e.ReadTopic(t, e.Sources.Topics.Replay)
	if len(recs) != 2 || string(recs[1].Value) != payload {
		t.Fatalf("replay topic holds %d records", len(recs))
	}

	// Bulk by reason: a dry run counts, the run replays oldest first.
	code, out, _ = run("replay", "--reason", "decode.json", "--dry-run", "--who", "ops-script")
	if want := strconv.Itoa(2+len(seed.Burst)) + " open kick-out(s) would be replayed"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	code, out, _ = run("replay", "--reason", "decode.json", "--who", "ops-script")
	if want := strconv.Itoa(2+len(seed.Burst)) + " replayed, 0 skipped, 0 failed"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("bulk replay: %d\n%s", code, out)
	}

	code, out, _ = run("reviews")
	if code != 0 || !strings.Contains(out, seed.Reviews[0].ID) || !strings.Contains(out, `"Natarajan" -> "Natarajan-Smythe"`) {
		t.Fatalf("reviews: %d\n%s", code, out)
	}
	if code, out, _ = run("approve", seed.Reviews[0].ID, "--who", "ann"); code != 0 || !strings.Contains(out, "~approved") {
		t.Fatalf("approve: %d\n%s", code, out)
	}
	if code, _, errOut = run("reject", seed.Reviews[1].ID, "--who", "ann"); code != 1 || !strings.Contains(errOut, "say why") {
		t.Fatalf("reject without why: %d %s", code, errOut)
	}
	if code, _, _ = run("reject", seed.Reviews[1].ID, "--who", "ann", "--why", "returned mail"); code != 0 {
		t.Fatalf("reject: %d", code)
	}
	code, out, _ = run("audit")
	if code != 0 || !strings.Contains(out, "ops-script") || !strings.Contains(out, review.AuditFixResubmit) ||
		!strings.Contains(out, review.AuditReject) {
		t.Fatalf("audit: %d\n%s", code, out)
	}

	for _, args := range [][]string{{}, {"frobnicate"}, {"replay", "--who", "x"}, {"show"}, {"list", "--limit", "many"},
		{"replay", "ko-1", "--reason", "x", "--who", "x"}} {
		if code, _, _ := run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// Help and usage errors are answered before the store is opened.
func TestCLIHelpAndUsageOpenNothing(t *testing.T) {
	open := func(context.Context) (review.Deps, func(), error) {
		t.Error("the store was opened")
		return review.Deps{}, func() {}, nil
	}
	var paths [][]string
	cli.Walk(dashboard.Command(open), func(c *cobra.Command) {
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
	})
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := cli.Execute(t.Context(), dashboard.Command(open), args, strings.NewReader(""), &out, &errw)
		return code, out.String(), errw.String()
	}
	for _, p := range paths {
		for _, help := range []string{"--help", "-h"} {
			args := append(append([]string{}, p...), help)
			if code, out, errOut := run(args...); code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
	if code, out, _ := run("help"); code != 0 || !strings.Contains(out, "hash-password") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"list", "--from", "yesterday"}, {"replay", "--who", "x"}, {"replay", "--reason", "x", "--to", "soon", "--who", "x"},
		{"replay", "ko-1", "ko-2", "--payload-file", "f", "--who", "x"}, {"resolve", "--who", "x"}, {"list", "extra"}} {
		if code, _, errOut := run(args...); code != 2 || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, want 2 and the usage\n%s", args, code, errOut)
		}
	}
}
