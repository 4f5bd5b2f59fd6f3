package app

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/obs"
)

// running is the whole pipeline, every stage in this process, on the real
// Kafka and Redis that `make test` starts (kfake and miniredis otherwise),
// with topic, group and key names of its own.
type running struct {
	t       *testing.T
	app     *App
	cfg     Config
	brokers []string
	inputs  []kafkaops.GroupInputs
	prod    *kgo.Client
	stop    func() error
}

func startPipeline(t *testing.T, extraEnv map[string]string) *running {
	t.Helper()
	brokers, _ := testenv.Kafka(t)
	rdb, _ := testenv.Redis(t)
	name := testenv.Unique("e2e")
	env := map[string]string{
		"KAFKA_BROKERS":               strings.Join(brokers, ","),
		"CONTACTSYNC_TOPIC_PREFIX":    name + ".",
		"CONTACTSYNC_GROUP_PREFIX":    name,
		"CONTACTSYNC_REDIS_PREFIX":    name,
		"CONTACTSYNC_INSTANCE":        "test",
		"CONTACTSYNC_ADMIN_ADDR":      "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT": "6s",
		"CONTACTSYNC_PARTITIONS":      "3",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 5*time.Minute)
	a, err := New(ctx, cfg, zaptest.NewLogger(t).Named("pipeline"), obs.NewRegistry(), WithRedisClient(rdb))
	if err != nil {
		t.Fatal(err)
	}
	if err := kafkaops.EnsureTopics(ctx, brokers, a.Topics(), cfg.Partitions, 1); err != nil {
		t.Fatal(err)
	}
	inputs := a.Inputs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, AllStages, nil) }()
	var stopErr error
	stopped := false
	p := &running{t: t, app: a, cfg: cfg, brokers: brokers, inputs: inputs, prod: prod}
	p.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				stopErr = err
			}
			prod.Close()
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("pipeline stopped with: %v", err)
		}
	})
	return p
}

// feed produces records to a topic and waits until the whole pipeline has
// committed past them.
func (p *running) feed(topic string, kvs ...[2]string) {
	p.t.Helper()
	ctx := testenv.Context(p.t, 2*time.Minute)
	recs := make([]*kgo.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(kv[0]), Value: []byte(kv[1])}
	}
	if err := p.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		p.t.Fatalf("produce to %s: %v", topic, err)
	}
	p.waitIdle()
}

func (p *running) waitIdle() {
	p.t.Helper()
	ctx := testenv.Context(p.t, 2*time.Minute)
	if err := kafkaops.WaitIdle(ctx, p.brokers, p.inputs); err != nil {
		p.t.Fatal(err)
	}
}

func (p *running) read(topic string) []*kgo.Record {
	p.t.Helper()
	recs, err := kafkaops.ReadTopic(testenv.Context(p.t, time.Minute), p.brokers, topic)
	if err != nil {
		p.t.Fatal(err)
	}
	return recs
}

// sinks returns the records of system's sink topic, in offset order per
// person (the partition order that matters to a target).
func (p *running) sinks(system string) []contact.SinkRecord {
	p.t.Helper()
	var out []contact.SinkRecord
	for _, r := range p.read(p.cfg.Topics.Sink(system)) {
		s, err := p.app.Codec().DecodeSink(r.Value)
		if err != nil {
			p.t.Fatalf("sink record of %s: %v", system, err)
		}
		if string(r.Key) != s.PersonID {
			p.t.Errorf("sink record keyed %q, want its person id %q", r.Key, s.PersonID)
		}
		out = append(out, s)
	}
	return out
}

func (p *running) kickOuts() []contact.KickOut {
	p.t.Helper()
	var out []contact.KickOut
	for _, r := range p.read(p.cfg.Topics.KickOuts) {
		k, err := p.app.Codec().DecodeKickOut(r.Value)
		if err != nil {
			p.t.Fatalf("kick-out: %v", err)
		}
		out = append(out, k)
	}
	return out
}

func (p *running) reviews() []contact.ReviewItem {
	p.t.Helper()
	var out []contact.ReviewItem
	for _, r := range p.read(p.cfg.Topics.Review) {
		it, err := p.app.Codec().DecodeReview(r.Value)
		if err != nil {
			p.t.Fatalf("review item: %v", err)
		}
		out = append(out, it)
	}
	return out
}

// describe renders a sink record without its person id and event ids (which
// are derived), so tests can state expectations in plain words.
func describe(s contact.SinkRecord) string {
	var b strings.Builder
	b.WriteString(string(s.Entity) + " " + string(s.Op))
	if s.TargetRecordID != "" {
		b.WriteString(" " + s.TargetRecordID)
	}
	if s.ReferenceSource != "" {
		b.WriteString(" ref=" + s.ReferenceSource)
	}
	for _, f := range contact.Fields {
		if v, ok := s.Set[f.Name]; ok {
			b.WriteString(" " + string(f.Name) + "=" + v)
		}
	}
	for _, f := range s.Clear {
		b.WriteString(" " + string(f) + "=<clear>")
	}
	if s.Gift != nil {
		b.WriteString(" gift=" + s.Gift.GiftID)
	}
	if s.Op == contact.SinkUpdate && len(s.Set) == 0 && len(s.Clear) == 0 && s.Gift == nil {
		// a link-only update: the ids of the person's other records
		var ids []string
		for system, id := range s.Links {
			if system != s.TargetSystem {
				ids = append(ids, system+":"+id)
			}
		}
		sort.Strings(ids)
		b.WriteString(" links=" + strings.Join(ids, ","))
	}
	return b.String()
}

func describeAll(recs []contact.SinkRecord) []string {
	out := make([]string, len(recs))
	for i, s := range recs {
		out[i] = describe(s)
	}
	sort.Strings(out)
	return out
}
