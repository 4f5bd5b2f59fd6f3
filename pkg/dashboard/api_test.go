package dashboard_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
)

const token = "s3cret-token-for-scripts"

type apiEnv struct {
	*dashboardtest.Env
	seed dashboardtest.Seeded
	srv  *httptest.Server
	reg  *prometheus.Registry
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	reg := prometheus.NewRegistry()
	e.Deps.Registry = reg
	srv, err := dashboard.New(dashboard.Config{
		Users:       dashboardtest.UsersConfig(t),
		TokenSHA256: dashboard.TokenSHA256(token), TokenName: "nightly-script",
	}, e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &apiEnv{Env: e, seed: seed, srv: hs, reg: reg}
}

// call sends an authenticated request; body nil means GET.
func (a *apiEnv) call(t *testing.T, path string, body any, out any) int {
	t.Helper()
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method = http.MethodPost
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(dashboardtest.User, dashboardtest.Password)
	req.Header.Set("X-Requested-With", "test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, b)
		}
	}
	if res.StatusCode != http.StatusOK {
		t.Logf("%s %s -> %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode
}

func (a *apiEnv) replayRecords(t *testing.T) []*kgo.Record {
	t.Helper()
	return a.ReadTopic(t, a.Sources.Topics.Replay)
}

func TestAuthRequired(t *testing.T) {
	a := newAPIEnv(t)
	do := func(method, path string, set func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader("{}"))
		if set != nil {
			set(req)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		set    func(*http.Request)
		want   int
	}{
		{"health needs nothing", "GET", "/healthz", nil, 200},
		{"page without auth", "GET", "/", nil, 401},
		{"api without auth", "GET", "/api/kickouts", nil, 401},
		{"wrong password", "GET", "/api/kickouts", basic(dashboardtest.User, "wrong"), 401},
		{"unknown user", "GET", "/api/kickouts", basic("mallory", dashboardtest.Password), 401},
		{"basic auth", "GET", "/api/kickouts", basic(dashboardtest.User, dashboardtest.Password), 200},
		{"page with auth", "GET", "/", basic(dashboardtest.User, dashboardtest.Password), 200},
		{"asset with auth", "GET", "/app.js", basic(dashboardtest.User, dashboardtest.Password), 200},
		{"bearer token", "GET", "/api/me", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 200},
		{"wrong token", "GET", "/api/me", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"post without csrf header", "POST", "/api/kickouts/" + a.seed.Target.ID + "/replay", basic(dashboardtest.User, dashboardtest.Password), 403},
		{"post from another origin", "POST", "/api/kickouts/" + a.seed.Target.ID + "/replay", func(r *http.Request) {
			r.SetBasicAuth(dashboardtest.User, dashboardtest.Password)
			r.Header.Set("X-Requested-With", "x")
			r.Header.Set("Origin", "https://evil.example")
		}, 403},
	} {
		res := do(tc.method, tc.path, tc.set)
		if res.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, res.StatusCode, tc.want)
		}
		if tc.want == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate challenge", tc.name)
		}
		if tc.path == "/" && tc.want == 200 && !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("no CSP on the page")
		}
	}
	// The token's name is who the audit sees.
	req, _ := http.NewRequest("GET", a.srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]string
	_ = json.NewDecoder(res.Body).Decode(&me)
	res.Body.Close()
	if me["who"] != "nightly-script" {
		t.Fatalf("who = %q", me["who"])
	}
	if _, err := dashboard.New(dashboard.Config{}, a.Deps); err == nil {
		t.Fatal("a server without users or token was built")
	}
}

func TestListFilterSearchAndSummary(t *testing.T) {
	a := newAPIEnv(t)
	ids := func(q string) []string {
		t.Helper()
		var res review.ListResult
		if code := a.call(t, "/api/kickouts?"+q, nil, &res); code != 200 {
			t.Fatalf("list %s: %d", q, code)
		}
		var out []string
		for _, k := range res.Items {
			out = append(out, k.ID)
		}
		return out
	}
	s := a.seed
	byTime := func(kos ...contact.KickOut) []string {
		kos = slices.Clone(kos)
		slices.SortFunc(kos, func(x, y contact.KickOut) int { return y.FirstSeen.Compare(x.FirstSeen) })
		var out []string
		for _, k := range kos {
			out = append(out, k.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"status=open&reason=validate.field", byTime(s.InvalidField...)},
		{"reason=validate.field", byTime(append(slices.Clone(s.InvalidField), s.Resolved)...)},
		{"status=resolved", []string{s.Resolved.ID}},
		{"stage=matcher", []string{s.Ambiguous.ID}},
		{"system=offline&status=open", byTime(s.InvalidField[3], s.Routed)},
		{"q=" + url.QueryEscape(s.BadEmail), []string{s.Target.ID}},
		{"q=" + url.QueryEscape(strings.ToUpper(s.BadEmail)), []string{s.Target.ID}},
		{"q=web-2041", []string{s.Target.ID}},
		{"q=OFF-01007", []string{s.InvalidField[3].ID}},
		{"q=p-5a21", []string{s.Routed.ID}},
		{"q=evt-web-2002-1", []string{s.Ambiguous.ID}},
		{"q=sam.taylor@example.com", []string{s.Ambiguous.ID}},
		{"q=nobody@example.org", nil},
		{"from=" + s.Now.AddDate(0, 0, -1).Add(-7*time.Hour).Format(time.RFC3339) + "&status=open", byTime(s.Target, s.Truncated)},
	} {
		if got := ids(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, got, tc.want)
		}
	}
	var bad map[string]string
	if code := a.call(t, "/api/kickouts?status=lost", nil, &bad); code != 400 {
		t.Errorf("bad status filter: %d", code)
	}

	var sum review.Summary
	if code := a.call(t, "/api/summary", nil, &sum); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	open := int64(9 + len(s.Burst))
	if sum.Open != open || sum.Resolved != 1 || sum.PendingReviews != 2 || len(sum.Days) != 30 {
		t.Fatalf("summary totals: open %d resolved %d pending %d days %d", sum.Open, sum.Resolved, sum.PendingReviews, len(sum.Days))
	}
	groups := map[string]review.GroupView{}
	for _, g := range sum.Groups {
		groups[g.Stage+"/"+g.Reason] = g
	}
	if g := groups["ingest/"+pipeline.ReasonInvalidField]; g.Open != 5 || g.Total != 6 || g.Help == "" {
		t.Fatalf("validate.field group = %+v", g)
	}
	if g := sum.Groups[0]; g.Reason != "decode.json" || g.Open != int64(2+len(s.Burst)) {
		t.Fatalf("the group with most open kick-outs comes first: %+v", g)
	}
	var total int64
	for _, d := range sum.Days {
		total += d.Total
	}
	if total != open+1 {
		t.Fatalf("daily counts add up to %d, want %d", total, open+1)
	}
	if !slices.Equal(sum.Systems, []string{"offline", "online"}) {
		t.Fatalf("systems = %v", sum.Systems)
	}
}

func TestShowKickOut(t *testing.T) {
	a := newAPIEnv(t)
	var d review.KickOutDetail
	if code := a.call(t, "/api/kickouts/"+a.seed.Target.ID, nil, &d); code != 200 {
		t.Fatalf("show: %d", code)
	}
	if d.Value.Text == nil || !strings.Contains(*d.Value.Text, a.seed.BadEmail) || d.Error == "" ||
		d.System != "online" || d.RecordID != "web-2041" || !d.CanReplay || d.EditKind != review.EditRawJSON ||
		!strings.Contains(d.EditText, a.seed.BadEmail) || len(d.Decoded.JSON) == 0 || d.Help == "" {
		t.Fatalf("target detail = %+v", d)
	}
	// A matcher kick-out: Avro value shown as base64 and decoded, with the
	// match explanation.
	var amb review.KickOutDetail
	if code := a.call(t, "/api/kickouts/"+a.seed.Ambiguous.ID, nil, &amb); code != 200 {
		t.Fatalf("show ambiguous: %d", code)
	}
	if amb.Value.Base64 == "" || len(amb.Decoded.Changes) != 1 || amb.Decoded.Changes[0].SourceRecordID != "web-2002" ||
		amb.Explanation == "" || amb.EditKind != review.EditChangeJSON {
		t.Fatalf("ambiguous detail = %+v", amb)
	}
	// A truncated record: raw text, and why it is not JSON.
	var tr review.KickOutDetail
	if code := a.call(t, "/api/kickouts/"+a.seed.Truncated.ID, nil, &tr); code != 200 {
		t.Fatalf("show truncated: %d", code)
	}
	if tr.Decoded.JSONError == "" || tr.EditText != string(a.seed.Truncated.Value) {
		t.Fatalf("truncated detail = %+v", tr.Decoded)
	}
	var miss map[string]string
	if code := a.call(t, "/api/kickouts/ko-none", nil, &miss); code != 404 {
		t.Fatalf("missing kick-out: %d", code)
	}
}

func TestReplayAndRefuseSecond(t *testing.T) {
	a := newAPIEnv(t)
	id := a.seed.InvalidField[1].ID // the short phone number, replayed after a rule fix
	var res review.ReplayResult
	if code := a.call(t, "/api/kickouts/"+id+"/replay", map[string]any{}, &res); code != 200 {
		t.Fatalf("replay: %d", code)
	}
	recs := a.replayRecords(t)
	if len(recs) != 1 {
		t.Fatalf("%d records on the replay topic, want 1", len(recs))
	}
	r := recs[0]
	wantHeaders := map[string]string{
		pipeline.HeaderFormat:          pipeline.FormatOnline,
		pipeline.HeaderReplayCount:     "1",
		pipeline.HeaderOriginalEventID: "evt-web-1987-" + strconv.FormatInt(a.seed.InvalidField[1].FirstSeen.Unix(), 10),
		pipeline.HeaderKickOutID:       id,
		pipeline.HeaderSourceTopic:     a.Sources.Topics.OnlineEvents,
	}
	for k, v := range wantHeaders {
		if got := dashboardtest.Header(r, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if !bytes.Equal(r.Value, a.seed.InvalidField[1].Value) || string(r.Key) != "web-1987" {
		t.Errorf("replayed record = %s / %s", r.Key, r.Value)
	}
	var d review.KickOutDetail
	a.call(t, "/api/kickouts/"+id, nil, &d)
	if d.Status != review.KickOutReplayed || d.Replay == nil || d.Replay.Who != dashboardtest.User ||
		d.Replay.Offset != r.Offset || d.Replay.Count != 1 || d.CanReplay {
		t.Fatalf("after replay: %+v", d)
	}
	// A second replay of the same kick-out is refused and sends nothing.
	if code := a.call(t, "/api/kickouts/"+id+"/replay", map[string]any{}, nil); code != 409 {
		t.Fatalf("second replay: %d, want 409", code)
	}
	if n := len(a.replayRecords(t)); n != 1 {
		t.Fatalf("%d records on the replay topic after a refused replay", n)
	}
	ok := counter(t, a.reg, "contactsync_kickout_replays_total", "kind", "replay", "result", "ok")
	refused := counter(t, a.reg, "contactsync_kickout_replays_total", "kind", "replay", "result", "refused")
	if ok != 1 || refused != 1 {
		t.Fatalf("replay metrics ok=%v refused=%v", ok, refused)
	}

	// The replay fails again: ingest kicks out the replayed record, which
	// carries the lineage headers. It returns to the queue, linked, and the
	// original is not counted open again.
	again := pipeline.KickOutFrom("ingest", pipeline.ReasonInvalidField, errString("phone: still too short"), r)
	if err := a.Queue.SaveKickOuts(testenv.Context(t, 10*time.Second), []contact.KickOut{again}); err != nil {
		t.Fatal(err)
	}
	var orig, child review.KickOutDetail
	a.call(t, "/api/kickouts/"+id, nil, &orig)
	a.call(t, "/api/kickouts/"+again.ID, nil, &child)
	if orig.ReplayedAs != again.ID || orig.Status != review.KickOutReplayed {
		t.Fatalf("original after the replay failed: %+v", orig.KickOutSummary)
	}
	if child.ReplayOf != id || child.Status != review.KickOutOpen || child.ReplayCount != 1 ||
		child.OriginalEventID != wantHeaders[pipeline.HeaderOriginalEventID] || !child.CanReplay {
		t.Fatalf("the failed replay: %+v", child.KickOutSummary)
	}
	var sum review.Summary
	a.call(t, "/api/summary", nil, &sum)
	if sum.Open != int64(9+len(a.seed.Burst)) || sum.Replayed != 1 {
		t.Fatalf("open %d replayed %d, want %d and 1", sum.Open, sum.Replayed, 9+len(a.seed.Burst))
	}
	// Replaying the new kick-out counts on.
	var res2 review.ReplayResult
	if code := a.call(t, "/api/kickouts/"+again.ID+"/replay", map[string]any{}, &res2); code != 200 || res2.Count != 2 {
		t.Fatalf("replay of the failed replay: %d %+v", code, res2)
	}
	last := a.replayRecords(t)[1]
	if dashboardtest.Header(last, pipeline.HeaderReplayCount) != "2" ||
		dashboardtest.Header(last, pipeline.HeaderOriginalEventID) != wantHeaders[pipeline.HeaderOriginalEventID] ||
		dashboardtest.Header(last, pipeline.HeaderSourceTopic) != a.Sources.Topics.OnlineEvents {
		t.Fatalf("second-generation replay headers: %v", last.Headers)
	}
}

func TestFixAndResubmit(t *testing.T) {
	a := newAPIEnv(t)
	var d review.KickOutDetail
	a.call(t, "/api/kickouts/"+a.seed.Target.ID, nil, &d)
	// A broken edit is refused and changes nothing.
	if code := a.call(t, "/api/kickouts/"+a.seed.Target.ID+"/replay", map[string]any{"payload": `{"contact": `}, nil); code != 400 {
		t.Fatalf("invalid JSON edit: %d, want 400", code)
	}
	fixed := strings.Replace(d.EditText, a.seed.BadEmail, a.seed.GoodEmail, 1)
	var res review.ReplayResult
	if code := a.call(t, "/api/kickouts/"+a.seed.Target.ID+"/replay", map[string]any{"payload": fixed}, &res); code != 200 {
		t.Fatalf("fix and resubmit: %d", code)
	}
	recs := a.replayRecords(t)
	if len(recs) != 1 || string(recs[0].Value) != fixed || !res.Edited {
		t.Fatalf("replay topic holds %d records; value %q", len(recs), recs[0].Value)
	}
	var after review.KickOutDetail
	a.call(t, "/api/kickouts/"+a.seed.Target.ID, nil, &after)
	if after.Replay == nil || !after.Replay.Edited || after.Replay.Sent == nil || *after.Replay.Sent.Text != fixed {
		t.Fatalf("replay lineage: %+v", after.Replay)
	}
	var audit struct{ Items []review.AuditEntry }
	a.call(t, "/api/audit", nil, &audit)
	if len(audit.Items) < 1 || audit.Items[0].Action != review.AuditFixResubmit || audit.Items[0].Who != dashboardtest.User ||
		audit.Items[0].Target != a.seed.Target.ID || strings.Contains(audit.Items[0].Detail, a.seed.GoodEmail) {
		t.Fatalf("audit = %+v", audit.Items)
	}
}

func TestFixAndResubmitAvroChange(t *testing.T) {
	a := newAPIEnv(t)
	var d review.KickOutDetail
	a.call(t, "/api/kickouts/"+a.seed.Ambiguous.ID, nil, &d)
	// The edit box holds the canonical change; a typo in a field name is
	// refused before anything is sent.
	typo := strings.Replace(d.EditText, `"family_name"`, `"family_nam"`, 1)
	if code := a.call(t, "/api/kickouts/"+a.seed.Ambiguous.ID+"/replay", map[string]any{"payload": typo}, nil); code != 400 {
		t.Fatalf("edit with an unknown field: %d", code)
	}
	fixed := strings.Replace(d.EditText, `"sam.taylor@example.com"`, `"sam.taylor@work.example.com"`, 1)
	if code := a.call(t, "/api/kickouts/"+a.seed.Ambiguous.ID+"/replay", map[string]any{"payload": fixed}, nil); code != 200 {
		t.Fatalf("resubmit: %d", code)
	}
	r := a.replayRecords(t)[0]
	c, err := a.Codec.DecodeChange(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	if c.Values[contact.Email] != "sam.taylor@work.example.com" || c.EventID != "evt-web-2002-1" ||
		dashboardtest.Header(r, pipeline.HeaderFormat) != pipeline.FormatChange || string(r.Key) != "online/web-2002" ||
		dashboardtest.Header(r, pipeline.HeaderSourceTopic) != a.Sources.Topics.Changes {
		t.Fatalf("replayed change %+v headers %v", c, r.Headers)
	}
	// A router kick-out (MatchedChange) is replayed as its ContactChange.
	if code := a.call(t, "/api/kickouts/"+a.seed.Routed.ID+"/replay", map[string]any{}, nil); code != 200 {
		t.Fatalf("replay routed: %d", code)
	}
	r2 := a.replayRecords(t)[1]
	c2, err := a.Codec.DecodeChange(r2.Value)
	if err != nil {
		t.Fatal(err)
	}
	if c2.SourceRecordID != "OFF-01012" || dashboardtest.Header(r2, pipeline.HeaderFormat) != pipeline.FormatChange ||
		dashboardtest.Header(r2, pipeline.HeaderOriginalEventID) != "evt-OFF-01012-9" {
		t.Fatalf("replayed routed change %+v headers %v", c2, r2.Headers)
	}
}

func TestBulkReplayByReason(t *testing.T) {
	a := newAPIEnv(t)
	var dry review.BulkResult
	if code := a.call(t, "/api/replay", map[string]any{"reason": pipeline.ReasonInvalidField, "dry_run": true}, &dry); code != 200 {
		t.Fatalf("dry run: %d", code)
	}
	if dry.Matched != len(a.seed.InvalidField) || len(a.replayRecords(t)) != 0 {
		t.Fatalf("dry run matched %d, want %d (and sends nothing)", dry.Matched, len(a.seed.InvalidField))
	}
	// Without any filter, a bulk replay is refused: it would replay everything.
	if code := a.call(t, "/api/replay", map[string]any{}, nil); code != 400 {
		t.Fatalf("unfiltered bulk replay: %d", code)
	}
	var res review.BulkResult
	if code := a.call(t, "/api/replay", map[string]any{"reason": pipeline.ReasonInvalidField}, &res); code != 200 {
		t.Fatalf("bulk replay: %d", code)
	}
	if len(res.Replayed) != len(a.seed.InvalidField) || len(res.Failed) != 0 {
		t.Fatalf("bulk result %+v", res)
	}
	// Oldest first, so replays of one record keep their order.
	var want []string
	sorted := slices.Clone(a.seed.InvalidField)
	slices.SortFunc(sorted, func(x, y contact.KickOut) int { return x.FirstSeen.Compare(y.FirstSeen) })
	for _, k := range sorted {
		want = append(want, k.ID)
	}
	var got []string
	for _, r := range a.replayRecords(t) {
		got = append(got, dashboardtest.Header(r, pipeline.HeaderKickOutID))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replay order %v, want %v", got, want)
	}
	// The resolved one and other reasons were left alone; a selection with
	// a replayed id skips it.
	var sel review.BulkResult
	a.call(t, "/api/replay", map[string]any{"ids": []string{a.seed.Target.ID, a.seed.Truncated.ID}}, &sel)
	if len(sel.Replayed) != 1 || sel.Replayed[0].ID != a.seed.Truncated.ID || len(sel.Skipped) != 1 || sel.Skipped[0].ID != a.seed.Target.ID {
		t.Fatalf("selection result %+v", sel)
	}
	var sum review.Summary
	a.call(t, "/api/summary", nil, &sum)
	if sum.Replayed != int64(len(a.seed.InvalidField))+1 || sum.Resolved != 1 {
		t.Fatalf("summary after bulk: %+v", sum)
	}
}

func TestApproveAndReject(t *testing.T) {
	a := newAPIEnv(t)
	name, address := a.seed.Reviews[0], a.seed.Reviews[1]
	var pending struct{ Items []review.ReviewView }
	a.call(t, "/api/reviews?status=pending", nil, &pending)
	if len(pending.Items) != 2 || pending.Items[0].ID != name.ID || len(pending.Items[0].Fields) != 1 ||
		pending.Items[0].Fields[0] != (review.FieldDiff{Field: "family_name", Current: "Natarajan", Proposed: "Natarajan-Smythe"}) {
		t.Fatalf("pending = %+v", pending.Items)
	}
	var v review.ReviewView
	if code := a.call(t, "/api/reviews/"+name.ID+"/approve", map[string]any{"why": "confirmed by phone"}, &v); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	if v.Status != review.ReviewApproved || v.Decision == nil || v.Decision.Who != dashboardtest.User || v.EmittedEventID != name.Change.EventID+"~approved" {
		t.Fatalf("approved view %+v", v)
	}
	recs := a.replayRecords(t)
	if len(recs) != 1 {
		t.Fatalf("%d records on the replay topic, want the approved change", len(recs))
	}
	c, err := a.Codec.DecodeChange(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	want := contact.Values{contact.FamilyName: "Natarajan-Smythe"}
	if c.Origin != contact.OriginAdmin || c.EventID != name.Change.EventID+"~approved" || len(c.Values) != 1 ||
		c.Values[contact.FamilyName] != want[contact.FamilyName] || c.SourceRecordID != "web-0003" ||
		dashboardtest.Header(recs[0], pipeline.HeaderFormat) != pipeline.FormatChange ||
		dashboardtest.Header(recs[0], review.HeaderReviewID) != name.ID {
		t.Fatalf("approved change %+v headers %v", c, recs[0].Headers)
	}
	if code := a.call(t, "/api/reviews/"+name.ID+"/approve", map[string]any{}, nil); code != 409 {
		t.Fatalf("second approval: %d", code)
	}
	if code := a.call(t, "/api/reviews/"+address.ID+"/reject", map[string]any{"why": " "}, nil); code != 400 {
		t.Fatalf("reject without a reason: %d", code)
	}
	if code := a.call(t, "/api/reviews/"+address.ID+"/reject", map[string]any{"why": "the donor moved back; letter returned"}, &v); code != 200 {
		t.Fatalf("reject: %d", code)
	}
	if v.Status != review.ReviewRejected || v.Decision.Why != "the donor moved back; letter returned" {
		t.Fatalf("rejected view %+v", v)
	}
	if n := len(a.replayRecords(t)); n != 1 {
		t.Fatalf("a rejection sent something: %d records", n)
	}
	// Decisions are kept, also when the collector sees the items again.
	if err := a.Queue.SaveReviews(testenv.Context(t, 10*time.Second), a.seed.Reviews); err != nil {
		t.Fatal(err)
	}
	var all struct{ Items []review.ReviewView }
	a.call(t, "/api/reviews", nil, &all)
	if len(all.Items) != 2 || all.Items[0].Status != review.ReviewApproved || all.Items[1].Status != review.ReviewRejected {
		t.Fatalf("all reviews %+v", all.Items)
	}
	var audit struct{ Items []review.AuditEntry }
	a.call(t, "/api/audit", nil, &audit)
	if len(audit.Items) != 3 || audit.Items[0].Action != review.AuditReject || audit.Items[1].Action != review.AuditApprove ||
		audit.Items[1].Who != dashboardtest.User || audit.Items[2].Action != review.AuditResolve {
		t.Fatalf("audit %+v", audit.Items)
	}
	if counter(t, a.reg, "contactsync_review_decisions_total", "decision", "approved") != 1 {
		t.Fatal("approval not counted")
	}
}

func TestResolve(t *testing.T) {
	a := newAPIEnv(t)
	id := a.seed.Truncated.ID
	if code := a.call(t, "/api/kickouts/"+id+"/resolve", map[string]any{}, nil); code != 400 {
		t.Fatalf("resolve without why: %d", code)
	}
	if code := a.call(t, "/api/kickouts/"+id+"/resolve", map[string]any{"why": "duplicate of web-2041"}, nil); code != 200 {
		t.Fatalf("resolve: %d", code)
	}
	if code := a.call(t, "/api/kickouts/"+id+"/replay", map[string]any{}, nil); code != 409 {
		t.Fatalf("replay after resolve: %d", code)
	}
}

// counter reads one labelled series of a registered counter (0 if absent).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if maps.Equal(got, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

type errString string

func (e errString) Error() string { return string(e) }
