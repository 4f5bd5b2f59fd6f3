package gateway

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
)

// TestGatewayOnRealBroker: an accepted webhook is in Kafka when the 200
// arrives, a redelivery is acknowledged without a second record, and a
// broker that does not answer gives 503 with Retry-After.
func TestGatewayOnRealBroker(t *testing.T) {
	brokers := testenv.RealKafka(t)
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, 2*time.Minute)
	topic := testenv.Unique("gwtest.online.events.")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{topic}, 3, -1); err != nil {
		t.Fatal(err)
	}
	adminClient, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(adminClient)
	t.Cleanup(func() {
		_, _ = adm.DeleteTopics(ctx, topic)
		adminClient.Close()
	})
	records := func() int64 {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || ends.Error() != nil {
			t.Fatalf("end offsets: %v %v", err, ends.Error())
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}

	pub, err := NewKafkaPublisher(brokers, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	prefix := testenv.Unique("gwtest") + ":"
	h, err := NewHandler(HandlerOptions{
		Sources:   []Source{mustSource(t, "platform", "online", topic, nil, 100, 100, secretA)},
		Publisher: pub, Deduper: NewRedisDeduper(rdb, prefix, time.Minute),
		Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	body := testBody(testenv.Unique("evt-"), "online", "self_service")
	st, resp, _ := post(t, srv.URL, "platform", body, time.Now(), "application/json", secretA)
	if st != 200 || resp["status"] != "accepted" {
		t.Fatalf("%d %v, want 200 accepted", st, resp)
	}
	// Read right after the 200, without waiting: the record must be there.
	if n := records(); n != 1 {
		t.Fatalf("%d records in Kafka when the 200 arrived, want 1", n)
	}
	got, err := kafkaops.ReadTopic(ctx, brokers, topic)
	if err != nil || len(got) != 1 || string(got[0].Value) != string(body) || string(got[0].Key) != "web-1" {
		t.Fatalf("ReadTopic: %v, %d records", err, len(got))
	}
	st, resp, _ = post(t, srv.URL, "platform", body, time.Now(), "application/json", secretA)
	if st != 200 || resp["status"] != "duplicate" {
		t.Fatalf("redelivery: %d %v, want 200 duplicate", st, resp)
	}
	if n := records(); n != 1 {
		t.Fatalf("%d records after a redelivery, want 1", n)
	}

	// A broker that does not answer: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	deadPub, err := NewKafkaPublisher([]string{deadAddr}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPub.Close)
	deadH, err := NewHandler(HandlerOptions{
		Sources:   []Source{mustSource(t, "platform", "online", topic, nil, 100, 100, secretA)},
		Publisher: deadPub, Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry()),
		ProduceTimeout: 2 * time.Second, RetryAfter: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	deadSrv := httptest.NewServer(deadH)
	t.Cleanup(deadSrv.Close)
	start := time.Now()
	st, resp, hdr := post(t, deadSrv.URL, "platform", testBody(testenv.Unique("evt-"), "online", "api"), time.Now(), "application/json", secretA)
	if st != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "15" {
		t.Fatalf("unreachable broker: %d %v Retry-After %q, want 503 and 15", st, resp, hdr.Get("Retry-After"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("503 took %v; the produce timeout is 2s", d)
	}
}

func TestMissingTopics(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, time.Minute)
	topic := testenv.Unique("gwtest.present.")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{topic}, 1, -1); err != nil {
		t.Fatal(err)
	}
	pub, err := NewKafkaPublisher(brokers, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	t.Cleanup(func() { _, _ = kadm.NewClient(pub.client).DeleteTopics(ctx, topic) }) // runs before Close
	absent := testenv.Unique("gwtest.absent.")
	// A broker's metadata may not show a topic for a moment after it was
	// created: poll, with a deadline, until it does.
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing, err := pub.MissingTopics(ctx, []string{topic, absent})
		if err == nil && len(missing) == 1 && missing[0] == absent {
			break
		}
		if time.Now().After(deadline) || (err == nil && !slices.Contains(missing, absent)) {
			t.Fatalf("MissingTopics = %v, %v; want [%s]", missing, err, absent)
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's metadata, with a deadline
	}
}
