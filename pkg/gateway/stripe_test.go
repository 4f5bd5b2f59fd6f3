package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/stripe"
)

func stripeEvent(id, typ, object, idempotencyKey string) []byte {
	key := "null"
	if idempotencyKey != "" {
		key = `"` + idempotencyKey + `"`
	}
	return []byte(`{"id":"` + id + `","object":"event","api_version":"2024-06-20","created":` +
		strings.TrimSpace(jsonInt(t0.Unix())) + `,"livemode":false,"type":"` + typ +
		`","request":{"id":"req_1","idempotency_key":` + key + `},"data":{"object":` + object + `}}`)
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func stripeCustomer(id string) string {
	return `{"id":"` + id + `","object":"customer","name":"Anna Adams","email":"` + piiMarker + `","phone":null,"address":null,"metadata":{}}`
}

// postStripe sends body to /webhooks/<source> with a Stripe-Signature made
// at ts with secrets (none: unsigned).
func postStripe(t *testing.T, url, source string, body []byte, ts time.Time, edit func(*http.Request), secrets ...[]byte) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/"+source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if len(secrets) > 0 {
		req.Header.Set(stripe.HeaderSignature, stripe.SignHeader(ts, body, secrets...))
	}
	if edit != nil {
		edit(req)
	}
	st, out, _ := do(t, req)
	return st, out
}

func stripeSource(t *testing.T, name string, origins []string, secrets ...[]byte) Source {
	t.Helper()
	s, err := NewSourceOfKind(KindStripe, name, "stripe", testTopic, origins, 1000, 1000, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStripeWebhookRejections: every answer of a stripe source, and what
// reaches Kafka: only the mapped events, keyed by the Stripe customer.
func TestStripeWebhookRejections(t *testing.T) {
	withSync := stripeSource(t, "stripe", []string{"api", "sync"}, secretA, secretB)
	noSync := stripeSource(t, "stripe-nosync", nil, secretA)
	gw := newTestGateway(t, nil, withSync, noSync)
	good := stripeEvent("evt_1", stripe.TypeCustomerCreated, stripeCustomer("cus_1"), "")
	for _, tc := range []struct {
		name    string
		source  string
		body    []byte
		ts      time.Time
		secrets [][]byte
		edit    func(*http.Request)
		status  int
		code    string
	}{
		{name: "customer created", body: good, status: 200, code: "accepted"},
		{name: "old secret during rotation", body: stripeEvent("evt_2", stripe.TypeCustomerUpdated, stripeCustomer("cus_1"), ""), secrets: [][]byte{secretB}, status: 200, code: "accepted"},
		{name: "two v1 signatures", body: stripeEvent("evt_3", stripe.TypeCustomerUpdated, stripeCustomer("cus_1"), ""), secrets: [][]byte{[]byte("whsec_someoneElsesSecret000000"), secretA}, status: 200, code: "accepted"},
		{name: "the sync's own write (echo)", body: stripeEvent("evt_4", stripe.TypeCustomerUpdated, stripeCustomer("cus_1"), "contactsync-e9"), status: 200, code: "accepted"},
		{name: "gift", body: stripeEvent("evt_5", stripe.TypePaymentIntentSucceeded, `{"id":"pi_1","object":"payment_intent","amount":500,"amount_received":500,"currency":"jpy","customer":"cus_1"}`, ""), status: 200, code: "accepted"},
		{name: "type the sync does not read", body: stripeEvent("evt_6", "invoice.paid", `{"id":"in_1","object":"invoice"}`, ""), status: 200, code: "ignored"},
		{name: "unmappable event is kept for ingest's kick-out", body: stripeEvent("evt_7", stripe.TypeCustomerCreated, `{"id":"cus_1","object":"customer","name":["`+piiMarker+`"]}`, ""), status: 200, code: "accepted"},
		{name: "unsigned", body: good, secrets: [][]byte{}, status: 401, code: "stripe_signature_missing"},
		{name: "the contactsync scheme is not Stripe's", body: good, secrets: [][]byte{}, edit: func(r *http.Request) {
			ts, sig := SignatureHeader(t0, good, secretA)
			r.Header.Set(HeaderTimestamp, ts)
			r.Header.Set(HeaderSignature, sig)
		}, status: 401, code: "stripe_signature_missing"},
		{name: "wrong secret", body: good, secrets: [][]byte{[]byte("whsec_someoneElsesSecret000000")}, status: 401, code: "stripe_signature_mismatch"},
		{name: "body changed after signing", body: good, edit: func(r *http.Request) {
			r.Body = http.NoBody
			r.ContentLength = 0
		}, status: 401, code: "stripe_signature_mismatch"},
		{name: "malformed header", body: good, edit: func(r *http.Request) { r.Header.Set(stripe.HeaderSignature, "garbage") }, status: 401, code: "stripe_signature_malformed"},
		{name: "no timestamp", body: good, edit: func(r *http.Request) {
			r.Header.Set(stripe.HeaderSignature, "v1="+strings.Repeat("a", 64))
		}, status: 401, code: "stripe_timestamp_missing"},
		{name: "no v1", body: good, edit: func(r *http.Request) { r.Header.Set(stripe.HeaderSignature, "t=1,v0=abc") }, status: 401, code: "stripe_signature_no_v1"},
		{name: "replayed after the window", body: good, ts: t0.Add(-6 * time.Minute), status: 401, code: "stripe_timestamp_too_old"},
		{name: "from the future", body: good, ts: t0.Add(6 * time.Minute), status: 401, code: "stripe_timestamp_in_future"},
		{name: "echo from a source not trusted for sync", source: "stripe-nosync", body: stripeEvent("evt_8", stripe.TypeCustomerUpdated, stripeCustomer("cus_1"), "contactsync-e9"), status: 400, code: "origin_not_allowed"},
		{name: "wrong content type", body: good, edit: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, status: 415, code: "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			source := tc.source
			if source == "" {
				source = "stripe"
			}
			ts := tc.ts
			if ts.IsZero() {
				ts = t0
			}
			secrets := tc.secrets
			if secrets == nil {
				secrets = [][]byte{secretA}
			}
			st, resp := postStripe(t, gw.url, source, tc.body, ts, tc.edit, secrets...)
			got := resp["error"]
			if st == 200 {
				got = resp["status"]
			}
			if st != tc.status || got != tc.code {
				t.Fatalf("answer %d %v, want %d %s", st, resp, tc.status, tc.code)
			}
		})
	}
	recs := topicRecords(t, gw.brokers, testTopic, 6)
	if len(recs) != 6 {
		t.Fatalf("%d records on the topic, want 6 (the accepted ones)", len(recs))
	}
	for _, r := range recs {
		var ev map[string]any
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if id, _ := ev["id"].(string); id == "evt_7" { // kept as it came
			if string(r.Key) != "evt_7" || !hasHeader(r.Headers, HeaderRecordProblem) {
				t.Errorf("unmappable event: key %q, headers %v", r.Key, r.Headers)
			}
			continue
		}
		if string(r.Key) != "cus_1" || ev["system"] != "stripe" || ev["event_id"] == nil {
			t.Errorf("record key %q value %s", r.Key, r.Value)
		}
	}
	if n := testutil.ToFloat64(gw.metrics.Ignored.WithLabelValues("stripe", "invoice.paid")); n != 1 {
		t.Errorf("ignored counter %v", n)
	}
	if n := testutil.ToFloat64(gw.metrics.SignatureFailures.WithLabelValues("stripe", "stripe_timestamp_too_old")); n != 1 {
		t.Errorf("replay counter %v", n)
	}
}

func hasHeader(hs []kgo.RecordHeader, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}

// TestStripeRedeliveryIsOneEvent: Stripe redelivers with the same event id
// (and a new signature); with the dedupe cache it is stored once.
func TestStripeRedeliveryIsOneEvent(t *testing.T) {
	d := &memDeduper{seen: map[string]bool{}}
	gw := newTestGateway(t, func(o *HandlerOptions) { o.Deduper = d }, stripeSource(t, "stripe", nil, secretA))
	body := stripeEvent("evt_again", stripe.TypeCustomerUpdated, stripeCustomer("cus_9"), "")
	want := []string{"accepted", "duplicate", "duplicate"}
	for i, w := range want {
		st, resp := postStripe(t, gw.url, "stripe", body, t0.Add(time.Duration(i)*time.Second), nil, secretA)
		if st != 200 || resp["status"] != w {
			t.Fatalf("delivery %d: %d %v, want %s", i+1, st, resp, w)
		}
	}
	if recs := topicRecords(t, gw.brokers, testTopic, 1); len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
}
