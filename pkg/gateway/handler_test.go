package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/sampledata"
)

const testTopic = "gw.online.events"

// piiMarker is in every test body; no response may contain it.
const piiMarker = "anna.pii@example.org"

func testBody(eventID, system, origin string) []byte {
	return sampledata.OnlineEvent(eventID, "contact.updated", system, origin, t0,
		sampledata.Contact{ID: "web-1", Given: "Anna", Family: "Adams", Email: piiMarker}, nil)
}

type testGateway struct {
	url     string
	handler *Handler
	metrics *Metrics
	cluster *kfake.Cluster
	brokers []string
}

func newTestGateway(t *testing.T, mutate func(*HandlerOptions), sources ...Source) *testGateway {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	pub, err := NewKafkaPublisher(c.ListenAddrs(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if len(sources) == 0 {
		sources = []Source{mustSource(t, "platform", "online", testTopic, nil, 1000, 1000, secretA)}
	}
	m := NewMetrics(prometheus.NewRegistry())
	opts := HandlerOptions{
		Sources: sources, Publisher: pub, Log: zap.NewNop(), Metrics: m,
		MaxBody: 4096, Now: func() time.Time { return t0 },
	}
	if mutate != nil {
		mutate(&opts)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testGateway{url: srv.URL, handler: h, metrics: m, cluster: c, brokers: c.ListenAddrs()}
}

func mustSource(t *testing.T, name, system, topic string, origins []string, rate float64, burst int, secrets ...[]byte) Source {
	t.Helper()
	s, err := NewSource(name, system, topic, origins, rate, burst, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// post sends body to /webhooks/<source>, signed at ts with secrets (none:
// unsigned), and returns the status, the response and its headers.
func post(t *testing.T, url, source string, body []byte, ts time.Time, contentType string, secrets ...[]byte) (int, map[string]string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/"+source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if len(secrets) > 0 {
		tsh, sig := SignatureHeader(ts, body, secrets...)
		req.Header.Set(HeaderTimestamp, tsh)
		req.Header.Set(HeaderSignature, sig)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte(piiMarker)) {
		t.Fatalf("response echoes the body: %s", raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("response Content-Type %q, want application/json", ct)
	}
	var out map[string]string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not a JSON object of strings: %s", raw)
	}
	return resp.StatusCode, out, resp.Header
}

// topicRecords reads every record of topic now in the cluster.
func topicRecords(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	// Poll until the wanted count is there, then a little longer to see
	// that no more come.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		recs = append(recs, fs.Records()...)
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	recs = append(recs, cl.PollFetches(extra).Records()...)
	return recs
}

func TestWebhookRejections(t *testing.T) {
	rotating := mustSource(t, "rotating", "online", testTopic, nil, 1000, 1000, secretA, secretB)
	limited := mustSource(t, "limited", "online", testTopic, nil, 1, 1, secretA)
	trusted := mustSource(t, "importer", "online", testTopic, []string{"import", "admin"}, 1000, 1000, secretA)
	gw := newTestGateway(t, nil, mustSource(t, "platform", "online", testTopic, nil, 1000, 1000, secretA), rotating, limited, trusted)
	good := testBody("evt-1", "online", "self_service")
	big := testBody("evt-big", "online", "api")
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", 5000)+`"}`)...)
	const js = "application/json"

	// The limited source's one token is used by this first request.
	if st, _, _ := post(t, gw.url, "limited", testBody("evt-l1", "online", "api"), t0, js, secretA); st != http.StatusOK {
		t.Fatalf("first request of the limited source: %d", st)
	}
	for _, tc := range []struct {
		name        string
		source      string
		body        []byte
		ts          time.Time
		contentType string
		secrets     [][]byte
		edit        func(*http.Request)
		status      int
		code        string
	}{
		{name: "accepted", body: good, status: 200},
		{name: "content type with charset", body: testBody("evt-cs", "online", "api"), contentType: "application/json; charset=utf-8", status: 200},
		{name: "no system in body (ingest takes it from the topic)", body: []byte(`{"event_id":"evt-nosys","contact":{"id":"web-1"}}`), status: 200},
		{name: "rotated secret: new one", source: "rotating", body: testBody("evt-r1", "online", "api"), secrets: [][]byte{secretB}, status: 200},
		{name: "rotated secret: old one", source: "rotating", body: testBody("evt-r2", "online", "api"), secrets: [][]byte{secretA}, status: 200},
		{name: "trusted origin of a trusted source", source: "importer", body: testBody("evt-t1", "online", "admin"), status: 200},
		{name: "bad signature", body: good, secrets: [][]byte{secretB}, status: 401, code: "signature_mismatch"},
		{name: "unsigned", body: good, secrets: [][]byte{}, status: 401, code: "timestamp_missing"},
		{name: "no timestamp", body: good, edit: func(r *http.Request) { r.Header.Del(HeaderTimestamp) }, status: 401, code: "timestamp_missing"},
		{name: "no signature", body: good, edit: func(r *http.Request) { r.Header.Del(HeaderSignature) }, status: 401, code: "signature_missing"},
		{name: "malformed signature", body: good, edit: func(r *http.Request) { r.Header.Set(HeaderSignature, "v1=nothex") }, status: 401, code: "signature_malformed"},
		{name: "old timestamp (replay)", body: good, ts: t0.Add(-6 * time.Minute), status: 401, code: "timestamp_too_old"},
		{name: "future timestamp", body: good, ts: t0.Add(6 * time.Minute), status: 401, code: "timestamp_in_future"},
		{name: "wrong content type", body: good, contentType: "text/plain", status: 415, code: "unsupported_media_type"},
		{name: "no content type", body: good, contentType: "-", status: 415, code: "unsupported_media_type"},
		{name: "oversized body", body: big, status: 413, code: "body_too_large"},
		{name: "oversized body without length", body: big, edit: func(r *http.Request) { r.ContentLength = -1 }, status: 413, code: "body_too_large"},
		{name: "unknown source", source: "nosuch", body: good, status: 404, code: "unknown_source"},
		{name: "other system in body", body: testBody("evt-2", "offline", "api"), status: 400, code: "system_mismatch"},
		{name: "system of another type", body: []byte(`{"event_id":"e","system":["offline"]}`), status: 400, code: "system_mismatch"},
		{name: "origin the source may not claim", body: testBody("evt-3", "online", "sync"), status: 400, code: "origin_not_allowed"},
		{name: "admin from an untrusted source", body: testBody("evt-4", "online", "admin"), status: 400, code: "origin_not_allowed"},
		{name: "not JSON", body: []byte("not json " + piiMarker), status: 400, code: "invalid_json"},
		{name: "JSON array", body: []byte(`[1]`), status: 400, code: "invalid_json"},
		{name: "trailing data", body: []byte(`{"event_id":"e"} {}`), status: 400, code: "invalid_json"},
		{name: "no event id", body: []byte(`{"type":"contact.updated","contact":{"email":"` + piiMarker + `"}}`), status: 400, code: "invalid_event_id"},
		{name: "rate limited", source: "limited", body: testBody("evt-l2", "online", "api"), status: 429, code: "rate_limited"},
		{name: "GET", body: nil, edit: func(r *http.Request) { r.Method = http.MethodGet }, status: 405, code: "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			source := tc.source
			if source == "" {
				source = "platform"
			}
			ts := tc.ts
			if ts.IsZero() {
				ts = t0
			}
			secrets := tc.secrets
			if secrets == nil {
				secrets = [][]byte{secretA}
			}
			req, err := http.NewRequest(http.MethodPost, gw.url+"/webhooks/"+source, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			switch tc.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tc.contentType)
			}
			if len(secrets) > 0 {
				tsh, sig := SignatureHeader(ts, tc.body, secrets...)
				req.Header.Set(HeaderTimestamp, tsh)
				req.Header.Set(HeaderSignature, sig)
			}
			if tc.edit != nil {
				tc.edit(req)
			}
			status, resp, hdr := do(t, req)
			if status != tc.status {
				t.Fatalf("status %d (%v), want %d", status, resp, tc.status)
			}
			if tc.code != "" && resp["error"] != tc.code {
				t.Fatalf("error %q, want %q", resp["error"], tc.code)
			}
			if tc.status == 429 {
				if s, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || s < 1 {
					t.Fatalf("429 Retry-After %q", hdr.Get("Retry-After"))
				}
			}
		})
	}

	// Exactly the accepted events are in the topic, unchanged, keyed by
	// contact (by event id when there is none).
	accepted := map[string]string{"evt-l1": "web-1", "evt-1": "web-1", "evt-cs": "web-1", "evt-nosys": "web-1", "evt-r1": "web-1", "evt-r2": "web-1", "evt-t1": "web-1"}
	recs := topicRecords(t, gw.brokers, testTopic, len(accepted))
	if len(recs) != len(accepted) {
		t.Fatalf("%d records in the topic, want %d", len(recs), len(accepted))
	}
	for _, r := range recs {
		var ev map[string]any
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("record value is not the JSON body: %v", err)
		}
		id, _ := ev["event_id"].(string)
		key, ok := accepted[id]
		if !ok || string(r.Key) != key {
			t.Fatalf("unexpected record %s key %q", id, r.Key)
		}
		if id == "evt-1" && !bytes.Equal(r.Value, good) {
			t.Fatal("the record is not the signed body byte for byte")
		}
		delete(accepted, id)
	}
	if got := testutil.ToFloat64(gw.metrics.SignatureFailures.WithLabelValues("platform", "signature_mismatch")); got != 1 {
		t.Fatalf("signature_mismatch failures metric %v, want 1", got)
	}
	if got := testutil.ToFloat64(gw.metrics.Requests.WithLabelValues(unknownSource, "404")); got != 1 {
		t.Fatalf("unknown source requests metric %v, want 1", got)
	}
}

// memDeduper is a Deduper in memory; fail makes every call fail.
type memDeduper struct {
	mu   sync.Mutex
	seen map[string]bool
	fail error
}

func (d *memDeduper) Seen(_ context.Context, system, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[system+"\x00"+id], d.fail
}

func (d *memDeduper) Remember(_ context.Context, system, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	d.seen[system+"\x00"+id] = true
	return nil
}

func TestRedeliveryIsAcknowledgedOnce(t *testing.T) {
	dd := &memDeduper{seen: map[string]bool{}}
	gw := newTestGateway(t, func(o *HandlerOptions) { o.Deduper = dd })
	body := testBody("evt-dup", "online", "api")
	for i, want := range []string{"accepted", "duplicate", "duplicate"} {
		// A redelivery is signed anew, as a platform does.
		st, resp, _ := post(t, gw.url, "platform", body, t0.Add(time.Duration(i)*time.Second), "application/json", secretA)
		if st != 200 || resp["status"] != want {
			t.Fatalf("delivery %d: %d %v, want 200 %s", i+1, st, resp, want)
		}
	}
	if n := len(topicRecords(t, gw.brokers, testTopic, 1)); n != 1 {
		t.Fatalf("%d records after three deliveries, want 1", n)
	}
}

func TestDedupeCacheDownStillProduces(t *testing.T) {
	dd := &memDeduper{seen: map[string]bool{}, fail: io.ErrUnexpectedEOF}
	gw := newTestGateway(t, func(o *HandlerOptions) { o.Deduper = dd })
	st, resp, _ := post(t, gw.url, "platform", testBody("evt-x", "online", "api"), t0, "application/json", secretA)
	if st != 200 || resp["status"] != "accepted" {
		t.Fatalf("%d %v, want 200 accepted", st, resp)
	}
	if n := len(topicRecords(t, gw.brokers, testTopic, 1)); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

func TestKafkaDownIs503WithRetryAfter(t *testing.T) {
	gw := newTestGateway(t, func(o *HandlerOptions) {
		o.ProduceTimeout = 2 * time.Second
		o.RetryAfter = 7 * time.Second
	})
	// No broker answers any more: the event cannot be stored.
	gw.cluster.Close()
	st, resp, hdr := post(t, gw.url, "platform", testBody("evt-down", "online", "api"), t0, "application/json", secretA)
	if st != http.StatusServiceUnavailable || resp["error"] != "kafka_unavailable" {
		t.Fatalf("%d %v, want 503 kafka_unavailable", st, resp)
	}
	if hdr.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q, want 7", hdr.Get("Retry-After"))
	}
	if got := testutil.ToFloat64(gw.metrics.Requests.WithLabelValues("platform", "503")); got != 1 {
		t.Fatalf("503 requests metric %v, want 1", got)
	}
}
