package platformsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
)

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, base, method, path string, headers map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %s", method, path, raw)
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: m}
}

func newSim(t *testing.T, opts Options) (*Platform, string) {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// TestAPI walks the API through one scenario; each step is a request and
// what it must answer. Steps refer to ids created before through vars.
func TestAPI(t *testing.T) {
	p, base := newSim(t, Options{})
	vars := map[string]string{}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	for _, st := range []struct {
		name         string
		method, path string
		headers      map[string]string
		body         string
		status       int
		errCode      string
		field        string
		check        func(t *testing.T, r response)
	}{
		{name: "create", method: "POST", path: "/api/contacts", body: `{"first_name":"Anna","last_name":"Adams","email":"anna@example.org","phone":"+12175550101","address":{"line1":"1 High St","line2":"Flat 2","city":"Springfield"},"consent":{"email":true},"external_ids":{"offline":"1001"}}`,
			status: 201, check: func(t *testing.T, r response) {
				vars["anna"] = r.body["id"].(string)
				if r.header.Get("ETag") != `"1"` || r.body["version"].(float64) != 1 || r.body["reference_source"] != "online" {
					t.Fatalf("ETag %q body %v", r.header.Get("ETag"), r.body)
				}
				if r.header.Get("Location") != "/api/contacts/"+vars["anna"] {
					t.Fatalf("Location %q", r.header.Get("Location"))
				}
			}},
		{name: "read", method: "GET", path: "/api/contacts/{anna}", status: 200, check: func(t *testing.T, r response) {
			if r.body["email"] != "anna@example.org" || r.header.Get("ETag") != `"1"` {
				t.Fatalf("%v", r.body)
			}
		}},
		{name: "read unknown", method: "GET", path: "/api/contacts/nope", status: 404, errCode: "not_found"},
		{name: "find by offline id", method: "GET", path: "/api/contacts?external_id=offline:1001", status: 200, check: func(t *testing.T, r response) {
			if cs := r.body["contacts"].([]any); len(cs) != 1 || cs[0].(map[string]any)["id"] != vars["anna"] {
				t.Fatalf("%v", r.body)
			}
		}},
		{name: "find with a bad filter", method: "GET", path: "/api/contacts?external_id=offline", status: 400, errCode: "invalid_filter"},
		{name: "invalid email", method: "POST", path: "/api/contacts", body: `{"email":"not an address"}`, status: 422, errCode: "validation_failed", field: "email"},
		{name: "unknown field", method: "POST", path: "/api/contacts", body: `{"nickname":"Annie"}`, status: 422, field: "nickname"},
		{name: "bad date", method: "POST", path: "/api/contacts", body: `{"date_of_birth":"03/12/1980"}`, status: 422, field: "date_of_birth"},
		{name: "not an object", method: "POST", path: "/api/contacts", body: `[1]`, status: 422, field: "body"},
		{name: "offline id taken", method: "POST", path: "/api/contacts", body: `{"last_name":"Other","external_ids":{"offline":"1001"}}`, status: 409, errCode: "external_id_taken"},
		{name: "update with the current version", method: "PATCH", path: "/api/contacts/{anna}", headers: map[string]string{"If-Match": `"1"`},
			body: `{"phone":null,"address":{"line1":"2 Low St","line2":null}}`, status: 200, check: func(t *testing.T, r response) {
				if r.header.Get("ETag") != `"2"` || r.body["phone"] != nil || r.body["address"].(map[string]any)["line1"] != "2 Low St" {
					t.Fatalf("ETag %q body %v", r.header.Get("ETag"), r.body)
				}
			}},
		{name: "update with a stale version", method: "PATCH", path: "/api/contacts/{anna}", headers: map[string]string{"If-Match": `"1"`},
			body: `{"first_name":"Ann"}`, status: 412, errCode: "version_mismatch", check: func(t *testing.T, r response) {
				if r.body["current_version"].(float64) != 2 || r.header.Get("ETag") != `"2"` {
					t.Fatalf("%v", r.body)
				}
			}},
		{name: "update that changes nothing keeps the version", method: "PATCH", path: "/api/contacts/{anna}", body: `{"first_name":"Anna"}`,
			status: 200, check: func(t *testing.T, r response) {
				if r.header.Get("ETag") != `"2"` {
					t.Fatalf("ETag %q", r.header.Get("ETag"))
				}
			}},
		{name: "write the offline id back", method: "PATCH", path: "/api/contacts/{anna}", headers: map[string]string{HeaderOrigin: "sync"},
			body: `{"external_ids":{"offline":"1002"}}`, status: 200},
		{name: "gift", method: "POST", path: "/api/gifts", body: `{"contact_id":"{anna}","amount":"25.00","currency":"usd","campaign":"winter"}`,
			status: 201, check: func(t *testing.T, r response) {
				vars["gift"] = r.body["id"].(string)
				if r.body["currency"] != "USD" {
					t.Fatalf("%v", r.body)
				}
			}},
		{name: "read gift", method: "GET", path: "/api/gifts/{gift}", status: 200},
		{name: "gift without amount", method: "POST", path: "/api/gifts", body: `{"contact_id":"{anna}","currency":"USD"}`, status: 422, field: "amount"},
		{name: "gift of zero", method: "POST", path: "/api/gifts", body: `{"contact_id":"{anna}","amount":"0.00","currency":"USD"}`, status: 422, field: "amount"},
		{name: "gift of an unknown contact", method: "POST", path: "/api/gifts", body: `{"contact_id":"nope","amount":"5","currency":"USD"}`, status: 422, field: "contact_id"},
		{name: "idempotent create", method: "POST", path: "/api/contacts", headers: map[string]string{HeaderIdempotencyKey: "k1"}, body: `{"last_name":"Baker"}`,
			status: 201, check: func(t *testing.T, r response) { vars["baker"] = r.body["id"].(string) }},
		{name: "idempotent create again", method: "POST", path: "/api/contacts", headers: map[string]string{HeaderIdempotencyKey: "k1"}, body: `{"last_name":"Baker"}`,
			status: 201, check: func(t *testing.T, r response) {
				if r.body["id"] != vars["baker"] || r.header.Get(HeaderReplayed) != "true" {
					t.Fatalf("replay created %v (replayed %q)", r.body["id"], r.header.Get(HeaderReplayed))
				}
			}},
		{name: "idempotency key reused for another request", method: "POST", path: "/api/contacts", headers: map[string]string{HeaderIdempotencyKey: "k1"}, body: `{"last_name":"Cole"}`,
			status: 409, errCode: "idempotency_key_reused"},
		{name: "portal may not set external ids", method: "PATCH", path: "/portal/contacts/{anna}", body: `{"external_ids":{"offline":"9"}}`, status: 422, field: "external_ids"},
		{name: "portal edit", method: "PATCH", path: "/portal/contacts/{anna}", body: `{"address":{"line1":"3 New Rd","city":"Shelbyville","postcode":"62565"}}`, status: 200},
		{name: "portal donation", method: "POST", path: "/portal/contacts/{anna}/donations", body: `{"amount":"10","currency":"EUR"}`, status: 201},
		{name: "portal signup", method: "POST", path: "/portal/signup", body: `{"first_name":"Dora","email":"dora@example.org"}`, status: 201},
		{name: "unknown path", method: "GET", path: "/nope", status: 404},
	} {
		t.Run(st.name, func(t *testing.T) {
			r := call(t, base, st.method, expand(st.path), st.headers, expand(st.body))
			if r.status != st.status {
				t.Fatalf("status %d (%v), want %d", r.status, r.body, st.status)
			}
			if st.errCode != "" && r.body["error"] != st.errCode {
				t.Fatalf("error %v, want %s", r.body["error"], st.errCode)
			}
			if st.field != "" && r.body["field"] != st.field {
				t.Fatalf("field %v, want %s", r.body["field"], st.field)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
	}

	// One webhook per change, in order, each in the online event format
	// that ingest decodes.
	want := []struct{ kind, origin string }{
		{"contact.created", "api"}, {"contact.updated", "api"}, {"contact.updated", "sync"}, {"gift.created", "api"},
		{"contact.created", "api"}, {"contact.updated", "self_service"}, {"gift.created", "self_service"}, {"contact.created", "self_service"},
	}
	ds := p.Deliveries()
	if len(ds) != len(want) {
		t.Fatalf("%d webhooks, want %d: %+v", len(ds), len(want), ds)
	}
	dec, err := decode.NewOnline(decode.OnlineConfig{System: "online", TrustedOrigins: decode.PrivilegedOrigins})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if d.Type != want[i].kind || d.Origin != want[i].origin || d.Status != StatusDisabled {
			t.Fatalf("webhook %d: %s %s %s, want %s %s disabled", i, d.Type, d.Origin, d.Status, want[i].kind, want[i].origin)
		}
		changes, err := dec.Decode(nil, d.Body)
		if err != nil {
			t.Fatalf("webhook %d (%s) does not decode: %v", i, d.Type, err)
		}
		if c := changes[0]; c.EventID != d.EventID || c.SourceSystem != "online" || string(c.Origin) != d.Origin {
			t.Fatalf("webhook %d decoded as %+v", i, c)
		}
	}
	// The update that cleared the phone and line2 says so (null), so the
	// clears reach the other systems.
	c, _ := dec.Decode(nil, ds[1].Body)
	if !hasField(c[0].Cleared, contact.Phone) || !hasField(c[0].Cleared, contact.AddressLine2) || c[0].Values[contact.AddressLine1] != "2 Low St" {
		t.Fatalf("update webhook: cleared %v values %v", c[0].Cleared, c[0].Values)
	}
	var ev struct {
		Contact struct {
			ExternalIDs map[string]string `json:"external_ids"`
		} `json:"contact"`
	}
	if err := json.Unmarshal(ds[2].Body, &ev); err != nil || ev.Contact.ExternalIDs["offline"] != "1002" {
		t.Fatalf("the written-back offline id is not in the webhook: %v %v", ev, err)
	}
	if g, _ := dec.Decode(nil, ds[3].Body); g[0].Gift == nil || g[0].Gift.AmountMinor != 2500 || g[0].Gift.Currency != "USD" {
		t.Fatalf("gift webhook decoded as %+v", g[0].Gift)
	}
}

func hasField(fs []contact.Field, f contact.Field) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func TestFaults(t *testing.T) {
	p, base := newSim(t, Options{Faults: Faults{RateLimit: 2, RetryAfter: Duration(3 * time.Second), ServerErrors: 1, ValidationErrors: 1}})
	body := `{"last_name":"Evans"}`
	for i, want := range []int{429, 429, 500, 422, 201} {
		r := call(t, base, "POST", "/api/contacts", nil, body)
		if r.status != want {
			t.Fatalf("request %d: status %d, want %d", i+1, r.status, want)
		}
		if want == 429 && r.header.Get("Retry-After") != "3" {
			t.Fatalf("Retry-After %q, want 3", r.header.Get("Retry-After"))
		}
	}
	if n := len(p.Deliveries()); n != 1 {
		t.Fatalf("%d webhooks; failed requests must change nothing", n)
	}
	// Through the control endpoint; the portal is never affected.
	if r := call(t, base, "PUT", "/control/faults", nil, `{"server_errors":1,"delay":"50ms"}`); r.status != 200 {
		t.Fatalf("PUT /control/faults: %d %v", r.status, r.body)
	}
	if r := call(t, base, "POST", "/portal/signup", nil, `{"last_name":"Ford"}`); r.status != 201 {
		t.Fatalf("portal during faults: %d", r.status)
	}
	start := time.Now()
	if r := call(t, base, "GET", "/api/contacts", nil, ""); r.status != 500 {
		t.Fatalf("status %d, want 500", r.status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered in %v despite a 50ms delay", d)
	}
	if r := call(t, base, "PUT", "/control/faults", nil, `{"rate_limit":-1}`); r.status != 422 {
		t.Fatalf("negative fault count accepted: %d", r.status)
	}
	if r := call(t, base, "DELETE", "/control/faults", nil, ""); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := call(t, base, "GET", "/control/calls", nil, ""); len(r.body["calls"].([]any)) != 6 {
		t.Fatalf("call log: %v", r.body)
	}
}

// TestWebhookRetries: 503s and 429s are retried until accepted; a 400 is
// not retried; a sender that never succeeds gives up after MaxAttempts.
func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	answers := []int{503, 429, 200, 400, 500, 500, 500}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		if r.Header.Get("X-Contactsync-Signature") == "" || r.Header.Get("X-Contactsync-Timestamp") == "" {
			t.Errorf("unsigned webhook")
		}
		if answers[min(n, len(answers)-1)] == 429 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(answers[min(n, len(answers)-1)])
	}))
	defer gw.Close()
	p, base := newSim(t, Options{GatewayURL: gw.URL, Secrets: [][]byte{[]byte("0123456789abcdef0123")}, MaxAttempts: 3, RetryBase: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, name := range []string{"Gray", "Hill", "Irwin"} {
		if r := call(t, base, "POST", "/api/contacts", nil, `{"last_name":"`+name+`"}`); r.status != 201 {
			t.Fatal(r.status)
		}
	}
	ds := waitDeliveries(t, p, 3)
	for i, want := range []struct {
		status   string
		attempts int
	}{{StatusDelivered, 3}, {StatusRejected, 1}, {StatusFailed, 3}} {
		if ds[i].Status != want.status || ds[i].Attempts != want.attempts {
			t.Fatalf("webhook %d: %s after %d attempts, want %s after %d", i, ds[i].Status, ds[i].Attempts, want.status, want.attempts)
		}
	}
}

// waitDeliveries polls until n webhooks are no longer pending.
func waitDeliveries(t *testing.T, p *Platform, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := p.Deliveries()
		done := 0
		for _, d := range ds {
			if d.Status != StatusPending {
				done++
			}
		}
		if done >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks not delivered in time: %+v", ds)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}
