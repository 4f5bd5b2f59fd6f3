package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/platformclient"
	"github.com/contactsync/contactsync/pkg/platformsim"
	"github.com/contactsync/contactsync/pkg/review"
)

// onlineLoop is the online side around a running pipeline, in this
// process: platform-sim sends signed webhooks to the gateway, which puts
// them on the platform's events topic; the applier writes the online sink
// back through the platform's API.
type onlineLoop struct {
	p          *running
	platform   *platformsim.Platform
	api        string
	webhookURL string
	secret     []byte
	events     string // the platform's events topic
	applyGroup string
	inputs     []kafkaops.GroupInputs // the stages' and the applier's
}

func startOnlineLoop(t *testing.T, p *running, events string) *onlineLoop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &onlineLoop{p: p, events: events, secret: []byte("whsec_" + testenv.Unique("e2e")),
		applyGroup: p.cfg.GroupPrefix + "-apply-online"}
	l.inputs = append(slices.Clone(p.inputs), kafkaops.GroupInputs{Group: l.applyGroup, Topics: []string{p.cfg.Topics.Sink("online")}})

	pub, err := gateway.NewKafkaPublisher(p.brokers, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	origins := append(append([]string{}, gateway.DefaultOrigins...), string(contact.OriginSync))
	src, err := gateway.NewSource("platform", "online", events, origins, 1000, 2000, l.secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := gateway.NewHandler(gateway.HandlerOptions{Sources: []gateway.Source{src}, Publisher: pub,
		Deduper: gateway.NewRedisDeduper(p.app.Redis(), p.cfg.RedisPrefix+"-gateway", time.Hour),
		Log:     zaptest.NewLogger(t).Named("gateway"), Metrics: gateway.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	l.webhookURL = gw.URL + "/webhooks/platform"

	l.platform, err = platformsim.New(platformsim.Options{GatewayURL: l.webhookURL, Secrets: [][]byte{l.secret}, RetryBase: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(l.platform.Handler())
	l.api = api.URL

	client, err := platformclient.New(l.api, nil)
	if err != nil {
		t.Fatal(err)
	}
	applier, err := apply.New(apply.Config{System: "online", Brokers: p.brokers, Group: l.applyGroup,
		Topic: p.cfg.Topics.Sink("online"), KickOutTopic: p.cfg.Topics.KickOuts, SessionTimeout: 6 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond},
		client, p.app.Codec(), zaptest.NewLogger(t).Named("apply"), prometheus.NewRegistry(), apply.Clock{})
	if err != nil {
		t.Fatal(err)
	}
	platformDone, applierDone := make(chan struct{}), make(chan error, 1)
	go func() { defer close(platformDone); l.platform.Run(ctx) }()
	go func() { applierDone <- applier.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-platformDone
		if err := <-applierDone; err != nil {
			t.Errorf("applier: %v", err)
		}
		api.Close()
		gw.Close()
		pub.Close()
	})
	return l
}

// settle waits until the loop is still: every webhook delivered, the
// stages and the applier idle, and no webhook of the applier's writes
// still on its way.
func (l *onlineLoop) settle() {
	l.p.t.Helper()
	ctx := testenv.Context(l.p.t, 2*time.Minute)
	for {
		before := len(l.platform.Deliveries())
		l.waitWebhooks(ctx)
		if err := kafkaops.WaitIdle(ctx, l.p.brokers, l.inputs); err != nil {
			l.p.t.Fatal(err)
		}
		if len(l.platform.Deliveries()) == before {
			l.waitWebhooks(ctx)
			return
		}
	}
}

func (l *onlineLoop) waitWebhooks(ctx context.Context) {
	l.p.t.Helper()
	for {
		pending := 0
		for _, d := range l.platform.Deliveries() {
			switch d.Status {
			case platformsim.StatusPending:
				pending++
			case platformsim.StatusDelivered:
			default:
				l.p.t.Fatalf("webhook %s %s: %s (HTTP %d %s)", d.Type, d.EventID, d.Status, d.LastStatus, d.LastError)
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			l.p.t.Fatalf("%d webhooks not delivered", pending)
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

// call makes a request of a donor or the platform's staff (no
// idempotency key: the applier's calls are the ones with a key).
func (l *onlineLoop) call(method, path string, body any) map[string]any {
	t := l.p.t
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, l.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func (l *onlineLoop) contact(id string) platformsim.Contact {
	l.p.t.Helper()
	c, ok := l.platform.Contact(id)
	if !ok {
		l.p.t.Fatalf("no platform contact %s", id)
	}
	return c
}

// post sends body to the gateway as the platform would, signed with a
// timestamp of at, or unsigned.
func (l *onlineLoop) post(body []byte, at time.Time, signed bool) int {
	l.p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, l.webhookURL, bytes.NewReader(body))
	if err != nil {
		l.p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		ts, sig := gateway.SignatureHeader(at, body, l.secret)
		req.Header.Set(gateway.HeaderTimestamp, ts)
		req.Header.Set(gateway.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.p.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// appliedWrites counts the applier's calls that took effect (2xx, not an
// idempotent replay), and its 429 and 500 answers.
func (l *onlineLoop) appliedWrites() (applied, throttled, failed int) {
	for _, c := range l.platform.Calls() {
		switch {
		case c.IdempotencyKey == "":
		case c.Status == http.StatusTooManyRequests:
			throttled++
		case c.Status >= 500:
			failed++
		case c.Status/100 == 2 && !c.Replayed:
			applied++
		}
	}
	return applied, throttled, failed
}

// TestOnlineLoopEndToEnd closes the loop on the real broker and Redis
// (when `make test` runs it): platform-sim -> gateway -> ingest, matcher,
// router -> applier -> platform-sim, with the offline side as Debezium CDC.
// A donor's portal edit of her address reaches the offline sink (after its
// review), an offline change of an online-sourced donor reaches the
// platform through injected 429s and 500s, a new online donor is created
// offline and then given her offline id on the platform, forged and
// replayed webhooks change nothing, and each side gets
// exactly the writes the changes demand: the webhooks of the applier's own
// writes come back as echoes and go no further.
func TestOnlineLoopEndToEnd(t *testing.T) {
	events := testenv.Unique("e2e-online") + ".platform.events"
	p := startPipeline(t, map[string]string{EnvOnlineSources: events + "=online:" + string(contact.OriginSync)})
	l := startOnlineLoop(t, p, events)
	topics := p.cfg.Topics

	// Offline point zero: Anna (reference source online), Ben (direct mail).
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow), cdc("r", 101, "", benRow))

	// Anna opens an account on the platform: linked to OFF-1, and on her
	// first link the platform record gets the offline data and id.
	anna := l.call(http.MethodPost, "/api/contacts", map[string]any{
		"first_name": "Anna", "last_name": "Adams", "email": "anna@mailbox.org", "phone": "+1 217 384 0101",
		"address": map[string]any{"line1": "1 High Street", "city": "Springfield", "region": "IL", "postcode": "62701", "country": "US"},
	})["id"].(string)
	l.settle()
	if got := l.contact(anna).ExternalIDs["offline"]; got != "OFF-1" {
		t.Fatalf("after the first link Anna's platform record has offline id %q, want OFF-1", got)
	}

	// She moves abroad, and edits her address in the donor portal: a
	// self-service address change is held for review; approved, it
	// reaches offline.
	l.call(http.MethodPatch, "/portal/contacts/"+anna, map[string]any{
		"address": map[string]any{"line1": "9 Harbour View", "city": "Vancouver", "region": "BC", "postcode": "V6B 1A1", "country": "CA"}})
	l.settle()
	approveAll(t, p)
	l.settle()
	// Then she moves within the city: the country stays. The address is
	// one unit, so the approved change carries all of it, and offline
	// keeps her country (it is not cleared, nor sent again).
	l.call(http.MethodPatch, "/portal/contacts/"+anna, map[string]any{
		"address": map[string]any{"line1": "12 Robson Street", "city": "Vancouver", "region": "BC", "postcode": "V6E 1B4", "country": "CA"}})
	l.settle()
	approveAll(t, p)
	l.settle()

	// The offline system changes her phone (she is online-sourced, so it
	// goes online) while the platform rate limits and fails: the applier
	// retries, the outcome is the same.
	if err := l.platform.SetFaults(platformsim.Faults{RateLimit: 2, RetryAfter: platformsim.Duration(time.Second), ServerErrors: 2}); err != nil {
		t.Fatal(err)
	}
	annaNewPhone := strings.Replace(annaRow, `"+1 217 384 0101"`, `"+1 217 384 0199"`, 1)
	p.feed(topics.OfflineCDC, cdc("u", 300, annaRow, annaNewPhone))
	l.settle()
	if _, throttled, failed := l.appliedWrites(); throttled != 2 || failed != 2 {
		t.Errorf("the applier met %d 429s and %d 500s, want the 2 and 2 injected", throttled, failed)
	}
	if c := l.contact(anna); !strings.HasSuffix(strings.NewReplacer(" ", "", "-", "").Replace(c.Phone), "2173840199") {
		t.Errorf("Anna's phone on the platform is %q, want the offline change (…217 384 0199)", c.Phone)
	}

	// Cara, new, gives through the donation form: created offline with her
	// gift. The offline system then creates her contact (its CDC, written
	// by the sync), and her platform record gets her offline id.
	cara := l.call(http.MethodPost, "/api/contacts", map[string]any{
		"first_name": "Cara", "last_name": "Cole", "email": "cara@mailbox.org",
		"address": map[string]any{"line1": "3 Park Avenue", "city": "Austin", "region": "TX", "postcode": "78701", "country": "US"},
	})["id"].(string)
	l.call(http.MethodPost, "/api/gifts", map[string]any{"contact_id": cara, "amount": "10.00", "currency": "USD"})
	l.settle()
	p.feed(topics.OfflineCDC, cdc("c", 400, "", `{"id":"OFF-3","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org","address1":"3 Park Avenue","city":"Austin","state":"TX","postcode":"78701","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,"reference_source":"online","updated_by":"contactsync","updated_at":"2026-11-03T10:05:00Z"}`))
	l.settle()
	if got := l.contact(cara).ExternalIDs["offline"]; got != "OFF-3" {
		t.Errorf("Cara's platform record has offline id %q, want OFF-3 (written back once the offline system created her)", got)
	}

	// A webhook sent again unsigned, or signed ten minutes ago (a captured
	// request replayed), is refused and not produced.
	before := len(p.read(events))
	body := l.platform.Deliveries()[0].Body
	if st := l.post(body, time.Now(), false); st != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: HTTP %d, want 401", st)
	}
	if st := l.post(body, time.Now().Add(-10*time.Minute), true); st != http.StatusUnauthorized {
		t.Errorf("replayed webhook: HTTP %d, want 401", st)
	}
	l.settle()
	if after := len(p.read(events)); after != before {
		t.Errorf("%d records on the platform's topic after the refused webhooks, want %d", after, before)
	}

	// Exactly the writes the changes demand, on each side.
	wantOffline := []string{
		"contact create ref=online given_name=Cara family_name=Cole email=cara@mailbox.org address_line1=3 Park Avenue locality=Austin region=TX postcode=78701 country=US",
		"contact update OFF-1 address_line1=9 Harbour View locality=Vancouver region=BC postcode=V6B 1A1 country=CA",
		"contact update OFF-1 address_line1=12 Robson Street postcode=V6E 1B4",
		"gift create ref=online gift=" + firstGift(l, cara),
	}
	wantOnline := []string{
		"contact update " + anna + " phone=+12173840199",
		"contact update " + anna + " do_not_email=false do_not_mail=false do_not_phone=false giving_total=125.00",
		"contact update " + cara + " links=offline:OFF-3", // link-only: the offline id written back
	}
	for system, want := range map[string][]string{"offline": wantOffline, "online": wantOnline} {
		sort.Strings(want)
		if got := describeAll(p.sinks(system)); !reflect.DeepEqual(got, want) {
			t.Errorf("sink %s:\n got  %q\n want %q", system, got, want)
		}
	}
	online := p.sinks("online")
	applied, _, _ := l.appliedWrites()
	if applied != len(online) {
		t.Errorf("the applier made %d writes that took effect for %d online sink records", applied, len(online))
	}
	// Every write of the applier that changed the platform came back as a
	// webhook of origin sync, and went no further (the sinks above).
	echoes := 0
	for _, d := range l.platform.Deliveries() {
		if d.Origin == string(contact.OriginSync) {
			echoes++
		}
	}
	if echoes != len(online) {
		t.Errorf("%d webhooks of origin sync, want one per applied write (%d)", echoes, len(online))
	}
	// Anna's record: created, stamped on her first link, edited by her in
	// the portal twice, given the offline phone: five versions, no more.
	if v := l.contact(anna).Version; v != 5 {
		t.Errorf("Anna's platform record is at version %d, want 5", v)
	}
	if kos := p.kickOuts(); len(kos) != 0 {
		for _, k := range kos {
			t.Errorf("kick-out %s %s: %s", k.Stage, k.Reason, k.Error)
		}
	}
}

// approveAll approves the pending review item (one is expected), as a
// person on the dashboard would.
func approveAll(t *testing.T, p *running) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	deps, err := p.app.DashboardDeps(p.prod)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := review.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	items, err := svc.Reviews(ctx, review.ReviewPending, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("%d pending review items, want the one of the portal address change", len(items))
	}
	for _, it := range items {
		if _, err := svc.Approve(ctx, it.ID, "e2e", "the donor moved"); err != nil {
			t.Fatalf("approve %s: %v", it.ID, err)
		}
	}
}

// firstGift is the id of a contact's first gift on the platform.
func firstGift(l *onlineLoop, contactID string) string {
	for _, d := range l.platform.Deliveries() {
		if d.Type == "gift.created" && d.ContactID == contactID {
			var ev struct {
				Gift struct {
					ID string `json:"id"`
				} `json:"gift"`
			}
			_ = json.Unmarshal(d.Body, &ev)
			return ev.Gift.ID
		}
	}
	return fmt.Sprintf("(no gift of %s)", contactID)
}
