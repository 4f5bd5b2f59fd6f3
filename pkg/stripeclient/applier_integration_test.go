package stripeclient_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/applytest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/stripeclient"
)

// faultyStripe forwards to stripe-mock, answering the first throttle
// requests 429 and the next errors 500 itself, and keeps every answer.
type faultyStripe struct {
	mu               sync.Mutex
	throttle, errors int
	proxy            *httputil.ReverseProxy
	answers          []answer
}

type answer struct {
	method, path, key string
	status            int
}

func (f *faultyStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status := 0
	switch {
	case r.Method == http.MethodPost && f.throttle > 0:
		f.throttle--
		status = http.StatusTooManyRequests
	case r.Method == http.MethodPost && f.errors > 0:
		f.errors--
		status = http.StatusInternalServerError
	}
	f.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		rec.WriteHeader(status)
		_, _ = rec.Write([]byte(`{"error":{"type":"api_error"}}`))
	} else {
		f.proxy.ServeHTTP(rec, r)
	}
	f.mu.Lock()
	f.answers = append(f.answers, answer{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), rec.status})
	f.mu.Unlock()
}

func (f *faultyStripe) snapshot() []answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]answer(nil), f.answers...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// TestApplierWritesStripe runs `contactsync apply`'s loop with the Stripe
// client on a sink topic, against stripe-mock behind 429s and 500s: each
// create and update is written once with its own idempotency key (retried
// with the same key), and what Stripe cannot take becomes a kick-out.
func TestApplierWritesStripe(t *testing.T) {
	mock := testenv.StripeMock(t)
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	sinkTopic, koTopic, group := applytest.Topics(ctx, t, brokers, "stripetest", 3)
	target, _ := url.Parse(mock)
	fake := &faultyStripe{throttle: 2, errors: 2, proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := stripeclient.New(srv.URL, "sk_test_contactsync", nil)
	if err != nil {
		t.Fatal(err)
	}
	codec := applytest.Codec(t)

	var recs []*kgo.Record
	var wantWritten []string
	add := func(r contact.SinkRecord) {
		r.TargetSystem = "stripe"
		v, err := codec.EncodeSink(r)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: sinkTopic, Key: []byte(r.PersonID), Value: v})
	}
	for i := range 5 {
		r := contact.SinkRecord{EventID: fmt.Sprintf("create-%d", i), PersonID: fmt.Sprintf("p%d", i), Entity: contact.EntityContact,
			Op: contact.SinkCreate, ReferenceSource: "offline", Links: map[string]string{"offline": fmt.Sprint(1000 + i)},
			Set: contact.Values{contact.GivenName: "New", contact.FamilyName: fmt.Sprintf("Donor%d", i), contact.Email: fmt.Sprintf("d%d@example.org", i)}}
		add(r)
		wantWritten = append(wantWritten, "contactsync-"+r.EventID)
	}
	for i := range 3 {
		r := contact.SinkRecord{EventID: fmt.Sprintf("update-%d", i), PersonID: fmt.Sprintf("k%d", i), Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: fmt.Sprintf("cus_known%d", i), Set: contact.Values{contact.Locality: "Shelbyville"},
			Links: map[string]string{"offline": fmt.Sprint(2000 + i)}}
		add(r)
		wantWritten = append(wantWritten, "contactsync-"+r.EventID)
	}
	add(contact.SinkRecord{EventID: "gift-1", PersonID: "p0", Entity: contact.EntityGift, Op: contact.SinkCreate,
		TargetRecordID: "cus_known0", Gift: &contact.Gift{GiftID: "g1", AmountMinor: 500, Currency: "USD"}})
	add(contact.SinkRecord{EventID: "update-guest", PersonID: "g", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "guest:pi_1", Set: contact.Values{contact.Email: "guest@example.org"}})

	applytest.Produce(ctx, t, brokers, recs...)

	kickOuts := make(chan contact.KickOut, 10)
	go applytest.ConsumeKickOuts(ctx, t, brokers, koTopic, codec, kickOuts)
	a, err := apply.New(apply.Config{System: "stripe", Brokers: brokers, Group: group, Topic: sinkTopic, KickOutTopic: koTopic,
		Concurrency: 4, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		BreakerThreshold: 10, BreakerCooldown: 200 * time.Millisecond, SessionTimeout: 6 * time.Second},
		client, codec, zaptest.NewLogger(t), nil, apply.Clock{})
	if err != nil {
		t.Fatal(err)
	}
	stop := applytest.Start(ctx, t, a)
	written := func() map[string]int {
		n := map[string]int{}
		for _, a := range fake.snapshot() {
			if a.method == http.MethodPost && a.status == http.StatusOK {
				n[a.key]++
			}
		}
		return n
	}
	var kos []contact.KickOut
	deadline := time.Now().Add(90 * time.Second)
	for len(written()) < len(wantWritten) || len(kos) < 2 {
		select {
		case ko := <-kickOuts:
			kos = append(kos, ko)
		case <-time.After(20 * time.Millisecond): // polling the calls made, with a deadline
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("not there in time: written %v, kick-outs %d", written(), len(kos))
		}
	}
	stop()

	got := written()
	for _, key := range wantWritten {
		if got[key] != 1 {
			t.Errorf("%s written %d times, want once", key, got[key])
		}
	}
	if len(got) != len(wantWritten) {
		t.Errorf("written %v, want exactly %v", got, wantWritten)
	}
	faulted := 0
	for _, a := range fake.snapshot() {
		if a.method == http.MethodPost && !strings.HasPrefix(a.key, "contactsync-") {
			t.Errorf("a write without the sync's idempotency key: %+v", a)
		}
		if a.status == http.StatusTooManyRequests || a.status == http.StatusInternalServerError {
			faulted++
		}
	}
	if faulted != 4 {
		t.Errorf("%d faulted calls, want 4 (each retried)", faulted)
	}
	var koIDs []string
	for _, ko := range kos {
		if ko.Reason != apply.ReasonRejected {
			t.Errorf("kick-out %s: reason %s", ko.EventID, ko.Reason)
		}
		koIDs = append(koIDs, ko.EventID)
	}
	sort.Strings(koIDs)
	if strings.Join(koIDs, ",") != "gift-1,update-guest" {
		t.Errorf("kick-outs %v, want the gift and the guest update", koIDs)
	}
}
