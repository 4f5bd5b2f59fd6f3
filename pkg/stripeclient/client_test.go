package stripeclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
)

type seen struct {
	method, path, key, auth, contentType string
	form                                 url.Values
}

// fakeStripe answers every request with status, headers and body, and
// records what it was sent.
type fakeStripe struct {
	mu     sync.Mutex
	reqs   []seen
	answer func(r *http.Request) (int, http.Header, string)
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(raw))
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), form})
	f.mu.Unlock()
	st, h, body := f.answer(r)
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_, _ = io.WriteString(w, body)
}

func newFake(t *testing.T, answer func(r *http.Request) (int, http.Header, string)) (*fakeStripe, *Client) {
	t.Helper()
	f := &fakeStripe{answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "sk_test_123", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }
	return f, c
}

func ok(*http.Request) (int, http.Header, string) {
	return 200, nil, `{"id":"cus_1","object":"customer"}`
}

func createRec() contact.SinkRecord {
	return contact.SinkRecord{
		EventID: "e-create", TargetSystem: "stripe", Entity: contact.EntityContact, Op: contact.SinkCreate,
		ReferenceSource: "offline",
		Set: contact.Values{contact.GivenName: "Anna Maria", contact.FamilyName: "van der Berg", contact.Email: "anna@example.org",
			contact.Phone: "+12175550101", contact.AddressLine1: "1 High Street", contact.Locality: "Springfield",
			contact.Region: "IL", contact.Postcode: "62701", contact.Country: "US", contact.DateOfBirth: "1980-01-02",
			contact.DoNotEmail: "true"},
		Links: map[string]string{"offline": "off-1001", "stripe": "cus_ignored"},
	}
}

func TestCreate(t *testing.T) {
	f, c := newFake(t, ok)
	if err := c.Write(context.Background(), createRec()); err != nil {
		t.Fatal(err)
	}
	r := f.reqs[0]
	if r.method != "POST" || r.path != "/v1/customers" || r.key != "contactsync-e-create" || r.auth != "Bearer sk_test_123" ||
		r.contentType != "application/x-www-form-urlencoded" {
		t.Fatalf("request %+v", r)
	}
	want := url.Values{
		"name": {"Anna Maria van der Berg"}, "metadata[given_name]": {"Anna Maria"}, "metadata[family_name]": {"van der Berg"},
		"email": {"anna@example.org"}, "phone": {"+12175550101"},
		"address[line1]": {"1 High Street"}, "address[city]": {"Springfield"}, "address[state]": {"IL"},
		"address[postal_code]": {"62701"}, "address[country]": {"US"},
		"metadata[offline_id]": {"off-1001"}, "metadata[reference_source]": {"offline"},
	}
	if r.form.Encode() != want.Encode() {
		t.Fatalf("form\n%s\nwant\n%s", r.form.Encode(), want.Encode())
	}
}

func TestUpdate(t *testing.T) {
	f, c := newFake(t, ok)
	rec := contact.SinkRecord{EventID: "e-up", TargetSystem: "stripe", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "cus_1", Set: contact.Values{contact.Email: "new@example.org"},
		Clear: []contact.Field{contact.Phone, contact.AddressLine2}, Links: map[string]string{"offline": "off-7"}}
	if err := c.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	r := f.reqs[0]
	want := url.Values{"email": {"new@example.org"}, "phone": {""}, "address[line2]": {""}, "metadata[offline_id]": {"off-7"}}
	if r.path != "/v1/customers/cus_1" || r.key != "contactsync-e-up" || r.form.Encode() != want.Encode() {
		t.Fatalf("request %+v, want form %s", r, want.Encode())
	}
}

// TestUpdateOneNamePart: Stripe keeps one name, so a new family name needs
// the given name as Stripe has it.
func TestUpdateOneNamePart(t *testing.T) {
	f, c := newFake(t, func(r *http.Request) (int, http.Header, string) {
		if r.Method == http.MethodGet {
			return 200, nil, `{"id":"cus_1","object":"customer","name":"Anna Adams","metadata":{}}`
		}
		return ok(r)
	})
	rec := contact.SinkRecord{EventID: "e-n", TargetSystem: "stripe", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "cus_1", Set: contact.Values{contact.FamilyName: "Baker"}}
	if err := c.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if len(f.reqs) != 2 || f.reqs[0].method != "GET" || f.reqs[0].key != "" {
		t.Fatalf("requests %+v", f.reqs)
	}
	if got := f.reqs[1].form; got.Get("name") != "Anna Baker" || got.Get("metadata[given_name]") != "Anna" || got.Get("metadata[family_name]") != "Baker" {
		t.Fatalf("form %v", got)
	}
}

func TestNothingStripeKeeps(t *testing.T) {
	f, c := newFake(t, ok)
	rec := contact.SinkRecord{EventID: "e", TargetSystem: "stripe", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "cus_1", Set: contact.Values{contact.DateOfBirth: "1980-01-02"}}
	if err := c.Write(context.Background(), rec); err != nil || len(f.reqs) != 0 {
		t.Fatalf("err %v, %d requests", err, len(f.reqs))
	}
}

// TestOutcomes: Stripe's answers sorted into the applier's outcomes.
func TestOutcomes(t *testing.T) {
	const pii = "anna@example.org"
	errBody := `{"error":{"type":"invalid_request_error","code":"email_invalid","param":"email","message":"Invalid email address: ` + pii + `"}}`
	update := contact.SinkRecord{EventID: "e", TargetSystem: "stripe", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "cus_1", Set: contact.Values{contact.Email: pii}}
	for _, tc := range []struct {
		name    string
		rec     *contact.SinkRecord
		status  int
		headers http.Header
		body    string
		want    string // applied, rejected, throttled, transient
		wait    time.Duration
		code    string
		calls   int
	}{
		{name: "ok", status: 200, body: `{"id":"cus_1"}`, want: "applied", calls: 1},
		{name: "400 validation", status: 400, body: errBody, want: "rejected", code: "email_invalid", calls: 1},
		{name: "404 deleted customer", status: 404, body: `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id"}}`, want: "rejected", code: "resource_missing", calls: 1},
		{name: "402", status: 402, body: `{"error":{"type":"card_error"}}`, want: "rejected", code: "card_error", calls: 1},
		{name: "429 with Retry-After", status: 429, headers: http.Header{"Retry-After": {"7"}}, body: `{"error":{"type":"invalid_request_error","code":"rate_limit"}}`, want: "throttled", wait: 7 * time.Second, calls: 1},
		{name: "429 without Retry-After", status: 429, body: `{}`, want: "throttled", wait: time.Second, calls: 1},
		{name: "429 lock timeout, should retry", status: 429, headers: http.Header{"Stripe-Should-Retry": {"true"}}, body: `{}`, want: "throttled", wait: time.Second, calls: 1},
		{name: "500", status: 500, body: `{"error":{"type":"api_error"}}`, want: "transient", calls: 1},
		{name: "503", status: 503, body: ``, want: "transient", calls: 1},
		{name: "409 idempotent request in flight", status: 409, body: `{"error":{"type":"idempotency_error"}}`, want: "transient", calls: 1},
		{name: "401 bad key waits for the configuration", status: 401, body: `{"error":{"type":"invalid_request_error"}}`, want: "transient", calls: 1},
		{name: "400 but Stripe says retry", status: 400, headers: http.Header{"Stripe-Should-Retry": {"true"}}, body: errBody, want: "transient", calls: 1},
		{name: "500 but Stripe says do not retry", status: 500, headers: http.Header{"Stripe-Should-Retry": {"false"}}, body: `{"error":{"type":"api_error"}}`, want: "rejected", code: "api_error", calls: 1},
		{name: "gift", rec: &contact.SinkRecord{EventID: "g", Entity: contact.EntityGift, Op: contact.SinkCreate, Gift: &contact.Gift{}}, want: "rejected", code: "unsupported"},
		{name: "guest donor", rec: &contact.SinkRecord{EventID: "g", Entity: contact.EntityContact, Op: contact.SinkUpdate, TargetRecordID: "guest:pi_1", Set: contact.Values{contact.Email: pii}}, want: "rejected", code: "not_a_customer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t, func(*http.Request) (int, http.Header, string) { return tc.status, tc.headers, tc.body })
			rec := update
			if tc.rec != nil {
				rec = *tc.rec
			}
			err := c.Write(context.Background(), rec)
			var rej *apply.Rejected
			var thr *apply.Throttled
			got := "transient"
			switch {
			case err == nil:
				got = "applied"
			case errors.As(err, &rej):
				got = "rejected"
				if rej.Code != tc.code || (tc.status != 0 && rej.Status != tc.status) {
					t.Errorf("rejection %+v, want code %s", rej, tc.code)
				}
			case errors.As(err, &thr):
				got = "throttled"
				if thr.Wait != tc.wait {
					t.Errorf("wait %v, want %v", thr.Wait, tc.wait)
				}
			}
			if got != tc.want {
				t.Fatalf("outcome %s (%v), want %s", got, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), pii) {
				t.Errorf("the error quotes a value: %v", err)
			}
			if len(f.reqs) != tc.calls {
				t.Errorf("%d calls, want %d", len(f.reqs), tc.calls)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ url, key string }{{"ftp://x", "sk"}, {"http://", "sk"}, {"https://api.stripe.com", " "}} {
		if _, err := New(tc.url, tc.key, nil); err == nil {
			t.Errorf("New(%q, %q) accepted", tc.url, tc.key)
		}
	}
}
