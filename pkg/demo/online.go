package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/platformclient"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// webhookSource is the gateway's name of the platform (/webhooks/<name>).
const webhookSource = "platform"

// onlineEdge is the online side of the loop, in this process: platform-sim
// (the donation platform), the webhook gateway in front of the online
// events topic, and the applier writing the online sink back into the
// platform through its API.
type onlineEdge struct {
	platform   *platformsim.Platform
	apiURL     string // the platform's API
	webhookURL string // the gateway's endpoint of the platform
	secret     []byte
	system     string
	applyGroup string
	answers    *answerLog // what the gateway answered
	ids        map[string]string
	stop       func() error
}

// onlineEdgeConfig is what startOnlineEdge wires together.
type onlineEdgeConfig struct {
	System       string // the online system
	EventsTopic  string // where the gateway puts the platform's webhooks
	SinkTopic    string // what the applier writes to the platform
	KickOutTopic string
	Group        string // the applier's consumer group
	Brokers      []string
	Redis        redis.UniversalClient // the gateway's dedupe cache
	Codec        apply.Codec
	Log          *zap.Logger
	Registry     prometheus.Registerer
}

// startOnlineEdge starts the platform, the gateway and the applier on
// loopback ports of their own; stop ends them.
func startOnlineEdge(ctx context.Context, c onlineEdgeConfig) (*onlineEdge, error) {
	o := &onlineEdge{system: c.System, applyGroup: c.Group, answers: &answerLog{}, ids: map[string]string{},
		secret: []byte("whsec_demo_" + fmt.Sprint(time.Now().UnixNano()))}

	// The gateway: the platform may claim its users' origins and "sync",
	// the origin of the applier's own writes (which the router recognises
	// as echoes).
	pub, err := gateway.NewKafkaPublisher(c.Brokers, 10*time.Second)
	if err != nil {
		return nil, err
	}
	origins := append(append([]string{}, gateway.DefaultOrigins...), string(contact.OriginSync))
	src, err := gateway.NewSource(webhookSource, c.System, c.EventsTopic, origins, 1000, 2000, o.secret)
	if err != nil {
		pub.Close()
		return nil, err
	}
	h, err := gateway.NewHandler(gateway.HandlerOptions{
		Sources: []gateway.Source{src}, Publisher: pub, Log: c.Log.Named("gateway"), Metrics: gateway.NewMetrics(c.Registry),
		Deduper: gateway.NewRedisDeduper(c.Redis, "demo-gateway", time.Hour),
	})
	if err != nil {
		pub.Close()
		return nil, err
	}
	gw, err := gateway.NewServer(o.answers.wrap(h), gateway.ServerOptions{Addr: "127.0.0.1:0", Drain: 5 * time.Second, WriteTimeout: 30 * time.Second})
	if err != nil {
		pub.Close()
		return nil, err
	}
	o.webhookURL = "http://" + gw.Addr() + "/webhooks/" + webhookSource

	// The platform, sending its webhooks to the gateway.
	o.platform, err = platformsim.New(platformsim.Options{System: c.System, GatewayURL: o.webhookURL,
		Secrets: [][]byte{o.secret}, RetryBase: 50 * time.Millisecond})
	if err != nil {
		pub.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("platform listen: %w", err)
	}
	o.apiURL = "http://" + ln.Addr().String()
	api := &http.Server{Handler: o.platform.Handler(), ReadHeaderTimeout: 5 * time.Second}

	// The applier, writing the online sink to the platform's API; retries
	// are quick so that injected faults do not slow the demo down.
	client, err := platformclient.New(o.apiURL, nil)
	if err != nil {
		pub.Close()
		return nil, err
	}
	applier, err := apply.New(apply.Config{System: c.System, Brokers: c.Brokers, Group: c.Group, Topic: c.SinkTopic,
		KickOutTopic: c.KickOutTopic, RetryMin: 50 * time.Millisecond, RetryMax: time.Second, SessionTimeout: 6 * time.Second},
		client, c.Codec, c.Log.Named("apply"), c.Registry, apply.Clock{})
	if err != nil {
		pub.Close()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return gw.Run(gctx) })
	g.Go(func() error { o.platform.Run(gctx); return nil })
	g.Go(func() error {
		if err := api.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("platform: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shut, done := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer done()
		return api.Shutdown(shut)
	})
	g.Go(func() error { return applier.Run(gctx) })
	var once sync.Once
	var stopErr error
	o.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = g.Wait()
			pub.Close()
			if errors.Is(stopErr, context.Canceled) {
				stopErr = nil
			}
		})
		return stopErr
	}
	return o, nil
}

// feedOnline turns a generated online event into what a donor or the
// platform's staff would do: a new donor and her gift through the API (an
// import from the donation form), an edit through the donor portal. The
// platform sends the webhooks. Events the platform would never send (the
// generated malformed ones) are signed and posted to the gateway as a
// faulty sender would.
func (o *onlineEdge) feedOnline(ctx context.Context, in Input) error {
	var ev struct {
		Type    string         `json:"type"`
		Origin  string         `json:"origin"`
		Contact map[string]any `json:"contact"`
		Gift    map[string]any `json:"gift"`
	}
	if strings.HasPrefix(string(in.Key), "web-bad-") || json.Unmarshal(in.Value, &ev) != nil || ev.Contact == nil {
		_, _, err := o.postWebhook(ctx, in.Value, time.Now(), true)
		return err
	}
	webID, _ := ev.Contact["id"].(string)
	fields := map[string]any{}
	for k, v := range ev.Contact {
		if k != "id" {
			fields[k] = v
		}
	}
	id, known := o.ids[webID]
	switch {
	case !known:
		var created struct {
			ID string `json:"id"`
		}
		if err := o.call(ctx, http.MethodPost, "/api/contacts", fields, &created); err != nil {
			return err
		}
		id = created.ID
		o.ids[webID] = id
	case ev.Origin == string(contact.OriginSelfService):
		delete(fields, "reference_source") // not the donor's to change
		if err := o.call(ctx, http.MethodPatch, "/portal/contacts/"+id, fields, nil); err != nil {
			return err
		}
	default:
		if err := o.call(ctx, http.MethodPatch, "/api/contacts/"+id, fields, nil); err != nil {
			return err
		}
	}
	if ev.Gift != nil {
		gift := map[string]any{"contact_id": id}
		for k, v := range ev.Gift {
			if k != "id" {
				gift[k] = v
			}
		}
		return o.call(ctx, http.MethodPost, "/api/gifts", gift, nil)
	}
	return nil
}

// call makes one request of the demo's own to the platform.
func (o *onlineEdge) call(ctx context.Context, method, path string, body, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.apiURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("platform %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("platform %s %s: HTTP %d %s", method, path, resp.StatusCode, bytes.TrimSpace(out))
	}
	if into != nil {
		return json.Unmarshal(out, into)
	}
	return nil
}

// postWebhook posts body to the gateway as the platform would, signed with
// a timestamp of at (or unsigned), and returns the gateway's answer.
func (o *onlineEdge) postWebhook(ctx context.Context, body []byte, at time.Time, signed bool) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		ts, sig := gateway.SignatureHeader(at, body, o.secret)
		req.Header.Set(gateway.HeaderTimestamp, ts)
		req.Header.Set(gateway.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("gateway: %w", err)
	}
	defer resp.Body.Close()
	var answer struct{ Status, Error string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&answer)
	return resp.StatusCode, answer.Status + answer.Error, nil
}

// showRejections sends the gateway what it must not take: a delivered
// webhook again without its signature, again with a timestamp older than
// the tolerance (a captured request replayed), and once more properly
// signed (a redelivery, acknowledged and not produced again).
func (o *onlineEdge) showRejections(ctx context.Context) error {
	var body []byte
	for _, d := range o.platform.Deliveries() {
		if d.Status == platformsim.StatusDelivered {
			body = d.Body
			break
		}
	}
	if body == nil {
		return errors.New("no webhook was delivered")
	}
	for _, try := range []struct {
		at     time.Time
		signed bool
		want   int
	}{{time.Now(), false, http.StatusUnauthorized}, {time.Now().Add(-10 * time.Minute), true, http.StatusUnauthorized}, {time.Now(), true, http.StatusOK}} {
		status, answer, err := o.postWebhook(ctx, body, try.at, try.signed)
		if err != nil {
			return err
		}
		if status != try.want {
			return fmt.Errorf("gateway answered %d (%s), want %d", status, answer, try.want)
		}
	}
	return nil
}

// injectFaults makes the platform's API answer the next calls with 429s
// and 500s; the applier must retry them with no effect on the outcome.
func (o *onlineEdge) injectFaults() error {
	return o.platform.SetFaults(platformsim.Faults{RateLimit: 2, RetryAfter: platformsim.Duration(time.Second), ServerErrors: 2})
}

// settle waits until the loop is still: every webhook delivered, the
// pipeline and the applier idle, and the applier's writes caused no
// webhook that is not yet through.
func (o *onlineEdge) settle(ctx context.Context, waitIdle func(context.Context) error) error {
	for {
		before := len(o.platform.Deliveries())
		if err := o.waitWebhooks(ctx); err != nil {
			return err
		}
		if err := waitIdle(ctx); err != nil {
			return err
		}
		if len(o.platform.Deliveries()) == before {
			return o.waitWebhooks(ctx)
		}
	}
}

func (o *onlineEdge) waitWebhooks(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		for _, d := range o.platform.Deliveries() {
			if d.Status == platformsim.StatusPending {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d webhooks not delivered: %w", pending, ctx.Err())
		case <-tick.C:
		}
	}
}

// summarise prints what crossed each edge of the online loop. links are
// the online sink's records that only link (write the offline id back).
func (o *onlineEdge) summarise(out io.Writer, online []contact.SinkRecord) error {
	fmt.Fprintf(out, "\nOnline edge: platform-sim %s -> gateway %s -> pipeline -> applier -> platform-sim\n", o.apiURL, o.webhookURL)

	byType, byOrigin := map[string]int{}, map[string]int{}
	undelivered := 0
	ds := o.platform.Deliveries()
	for _, d := range ds {
		byType[d.Type]++
		byOrigin[d.Origin]++
		if d.Status != platformsim.StatusDelivered {
			undelivered++
		}
	}
	fmt.Fprintf(out, "  webhooks sent      %4d  %s; by origin: %s; not delivered %d\n", len(ds), formatCounts(byType), formatCounts(byOrigin), undelivered)
	fmt.Fprintf(out, "  gateway answered   %4d  %s\n", o.answers.total(), o.answers.String())
	fmt.Fprintf(out, "                           (a delivered webhook sent again: unsigned -> 401, signed 10 minutes ago -> 401, redelivered -> 200 duplicate, not produced twice)\n")

	var creates, updates, gifts, other, throttled, failed, replayed int
	for _, c := range o.platform.Calls() {
		if c.IdempotencyKey == "" {
			continue // the demo's own calls; the applier keys every write
		}
		switch {
		case c.Status == http.StatusTooManyRequests:
			throttled++
		case c.Status >= 500:
			failed++
		case c.Status/100 != 2:
			other++
		case c.Method == http.MethodPost && c.Path == "/api/contacts":
			creates++
		case c.Method == http.MethodPatch:
			updates++
		case c.Path == "/api/gifts":
			gifts++
		}
		if c.Replayed {
			replayed++
		}
	}
	linkOnly := 0
	for _, s := range online {
		if s.Entity == contact.EntityContact && s.Op == contact.SinkUpdate && len(s.Set) == 0 && len(s.Clear) == 0 {
			linkOnly++
		}
	}
	fmt.Fprintf(out, "  applier API calls  %4d  creates %d, updates %d (link-only %d), gifts %d, refused %d; retried: 429 %d, 500 %d (injected); idempotent replays %d\n",
		creates+updates+gifts+other+throttled+failed, creates, updates, linkOnly, gifts, other, throttled, failed, replayed)

	var all struct {
		Contacts []platformsim.Contact `json:"contacts"`
	}
	if err := o.call(context.Background(), http.MethodGet, "/api/contacts", nil, &all); err != nil {
		return err
	}
	withOffline := 0
	for _, c := range all.Contacts {
		if c.ExternalIDs["offline"] != "" {
			withOffline++
		}
	}
	fmt.Fprintf(out, "  offline ids back   %4d  of %d platform contacts carry external_ids.offline\n", withOffline, len(all.Contacts))
	return nil
}

// answerLog counts the gateway's answers by status and code.
type answerLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *answerLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		var answer struct{ Status, Error string }
		_ = json.Unmarshal(rec.head.Bytes(), &answer)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.counts == nil {
			l.counts = map[string]int{}
		}
		l.counts[fmt.Sprintf("%d %s", rec.status, answer.Status+answer.Error)]++
	})
}

func (l *answerLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.counts {
		n += c
	}
	return n
}

func (l *answerLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.counts))
	for k := range l.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, l.counts[k])
	}
	return strings.Join(parts, ", ")
}

// answerRecorder keeps the status and the start of the body of an answer.
type answerRecorder struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

func (r *answerRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *answerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.head.Len() < 512 {
		r.head.Write(b[:min(len(b), 512-r.head.Len())])
	}
	return r.ResponseWriter.Write(b)
}
