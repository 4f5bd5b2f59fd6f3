package platformsim

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/gateway"
)

// TestPortalEditReachesKafkaThroughTheGateway: platform-sim -> gateway ->
// Kafka (kfake). A donor's portal edit is signed by the platform, accepted
// by the gateway and on the source's topic as the online event ingest
// decodes; a platform with the wrong secret is refused and not retried.
func TestPortalEditReachesKafkaThroughTheGateway(t *testing.T) {
	const topic = "sim.online.events"
	secret := []byte("whsec_platformsim_test_secret")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	pub, err := gateway.NewKafkaPublisher(cluster.ListenAddrs(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	src, err := gateway.NewSource("platform", "online", topic, nil, 100, 100, secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := gateway.NewHandler(gateway.HandlerOptions{
		Sources: []gateway.Source{src}, Publisher: pub, Log: zap.NewNop(), Metrics: gateway.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	start := func(secret []byte) (*Platform, string) {
		p, base := newSim(t, Options{GatewayURL: gw.URL + "/webhooks/platform", Secrets: [][]byte{secret}, RetryBase: time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return p, base
	}
	p, base := start(secret)
	r := call(t, base, "POST", "/api/contacts", nil, `{"first_name":"Anna","last_name":"Adams","address":{"line1":"1 High St","city":"Springfield"}}`)
	if r.status != 201 {
		t.Fatalf("create: %d", r.status)
	}
	id := r.body["id"].(string)
	if r := call(t, base, "PATCH", "/portal/contacts/"+id, nil, `{"address":{"line1":"9 Elm Rd","postcode":"62704"}}`); r.status != 200 {
		t.Fatalf("portal edit: %d %v", r.status, r.body)
	}
	ds := waitDeliveries(t, p, 2)
	for _, d := range ds {
		if d.Status != StatusDelivered || d.LastStatus != 200 {
			t.Fatalf("webhook %s: %s (HTTP %d)", d.Type, d.Status, d.LastStatus)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < 2 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records in Kafka, want 2", len(recs))
	}
	dec, err := decode.NewOnline(decode.OnlineConfig{System: "online"})
	if err != nil {
		t.Fatal(err)
	}
	edit := recs[1]
	if string(edit.Key) != id || string(edit.Value) != string(ds[1].Body) {
		t.Fatalf("record key %q is not the contact, or the value is not the signed body", edit.Key)
	}
	changes, err := dec.Decode(edit.Key, edit.Value)
	if err != nil {
		t.Fatal(err)
	}
	c := changes[0]
	if c.Origin != contact.OriginSelfService || c.SourceRecordID != id || c.Values[contact.AddressLine1] != "9 Elm Rd" || c.Values[contact.Postcode] != "62704" {
		t.Fatalf("decoded portal edit: %+v", c)
	}

	// A platform that signs with another secret: 401, not retried, and
	// nothing more in Kafka.
	bad, badBase := start([]byte("whsec_not_the_configured_one"))
	if r := call(t, badBase, "POST", "/portal/signup", nil, `{"last_name":"Mallory"}`); r.status != 201 {
		t.Fatal(r.status)
	}
	d := waitDeliveries(t, bad, 1)[0]
	if d.Status != StatusRejected || d.LastStatus != 401 || d.Attempts != 1 {
		t.Fatalf("badly signed webhook: %s HTTP %d after %d attempts", d.Status, d.LastStatus, d.Attempts)
	}
	more, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if n := len(cl.PollFetches(more).Records()); n != 0 {
		t.Fatalf("%d records from a badly signed platform", n)
	}
}
