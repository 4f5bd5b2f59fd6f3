package platformclient

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// The applier's write comes back from the platform, through the gateway,
// as a change of origin sync (the echo the pipeline does not send back),
// when the platform's source may claim sync; a source that may not gets
// the echo refused (400) rather than passed on as the platform's own edit.
func TestTheSyncsWriteComesBackAsAnEcho(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, time.Minute)
	topic := testenv.Unique("echotest.online.")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{topic}, 1, -1); err != nil {
		t.Fatal(err)
	}
	pub, err := gateway.NewKafkaPublisher(brokers, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	secret := []byte("whsec_echo_test_secret_0123456789")
	trusted, err := gateway.NewSource("platform", "online", topic, []string{"api", "self_service", "sync"}, 100, 100, secret)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := gateway.NewSource("other", "online", topic, nil, 100, 100, secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := gateway.NewHandler(gateway.HandlerOptions{Sources: []gateway.Source{trusted, untrusted}, Publisher: pub, Log: zap.NewNop(),
		Metrics: gateway.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)

	write := func(source string) platformsim.Delivery {
		p, err := platformsim.New(platformsim.Options{GatewayURL: gw.URL + "/webhooks/" + source, Secrets: [][]byte{secret}, RetryBase: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); p.Run(runCtx) }()
		t.Cleanup(func() { cancel(); <-done })
		srv := httptest.NewServer(p.Handler())
		t.Cleanup(srv.Close)
		c, err := New(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, contact.SinkRecord{EventID: "sink-" + source, PersonID: "p", TargetSystem: "online", Entity: contact.EntityContact,
			Op: contact.SinkCreate, Links: map[string]string{"offline": "1001"}, Set: contact.Values{contact.GivenName: "Anna"}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if ds := p.Deliveries(); len(ds) == 1 && ds[0].Status != platformsim.StatusPending {
				return ds[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("webhook still pending: %+v", p.Deliveries())
			}
			time.Sleep(10 * time.Millisecond) // polling the platform's webhook log, with a deadline
		}
	}
	if d := write("other"); d.Status != platformsim.StatusRejected || d.LastStatus != 400 {
		t.Fatalf("echo through a source that may not claim sync: %s HTTP %d, want rejected 400", d.Status, d.LastStatus)
	}
	d := write("platform")
	if d.Status != platformsim.StatusDelivered {
		t.Fatalf("echo through the platform's source: %s HTTP %d", d.Status, d.LastStatus)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var recs []*kgo.Record
	for len(recs) < 1 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records on the topic, want 1 (the refused echo is not there)", len(recs))
	}
	// ingest trusts the platform's topic for sync, as the gateway trusts its source
	dec, err := decode.NewOnline(decode.OnlineConfig{System: "online", TrustedOrigins: []contact.Origin{contact.OriginSync}})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := dec.Decode(recs[0].Key, recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if c := changes[0]; c.Origin != contact.OriginSync || c.Values[contact.GivenName] != "Anna" {
		t.Fatalf("the echo decodes as %+v, want origin sync", c)
	}
}
