package deliver_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/pgstore"
	"github.com/contactsync/contactsync/pkg/window"
)

// fakeClock stands still until the test moves it; After hands the loader's
// wait to the test, which ends it when it moves the clock.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiting chan chan time.Time // the loader's pending waits, as the test sees them
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waiting <- ch
	return ch
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sink records for an offline system that takes deliveries at night: held
// while the window is closed, applied once each (a redelivered record too),
// in order, when it opens; an undecodable one is kicked out with its bytes.
func TestWindowedDeliveryIntoPostgres(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	dsn := testenv.Postgres(t)
	ctx := testenv.Context(t, 2*time.Minute)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	sinkTopic, kickOutTopic := testenv.Unique("deliver-sink"), testenv.Unique("deliver-ko")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{sinkTopic, kickOutTopic}, 2, 1); err != nil {
		t.Fatal(err)
	}
	table := testenv.Unique("inbox_")
	inbox, err := pgstore.Open(ctx, dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	defer inbox.Close()

	received := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)
	create := contact.SinkRecord{EventID: "ev-create", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkCreate, ReferenceSource: "online", Set: contact.Values{contact.GivenName: "Ada", contact.FamilyName: "Lovelace"},
		Links: map[string]string{"online": "web-17"}, SourceTime: received}
	gift := contact.SinkRecord{EventID: "ev-gift", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityGift,
		Op: contact.SinkCreate, Gift: &contact.Gift{GiftID: "g-1", AmountMinor: 2500, Currency: "EUR", ReceivedAt: received}}
	update := contact.SinkRecord{EventID: "ev-update", PersonID: "p-bob", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: "OFF-9", Set: contact.Values{contact.Locality: "Leeds"}}
	var recs []*kgo.Record
	for _, s := range []contact.SinkRecord{create, gift, update, gift} { // the gift twice: a redelivery
		val, err := codec.EncodeSink(s)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: sinkTopic, Key: []byte(s.PersonID), Value: val})
	}
	garbage := []byte("\x00\x00\x00\x00\x07not avro")
	recs = append(recs, &kgo.Record{Topic: sinkTopic, Key: []byte("p-ada"), Value: garbage})
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	schedule, err := window.Parse("Mon-Fri 20:00-06:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), waiting: make(chan chan time.Time, 1)} // Monday noon: closed
	group := testenv.Unique("deliver-group")
	newLoader := func(group string) *deliver.Loader {
		l, err := deliver.New(deliver.Config{System: "offline", Brokers: brokers, Group: group, Topic: sinkTopic,
			KickOutTopic: kickOutTopic, Schedule: schedule, SessionTimeout: 6 * time.Second},
			inbox, codec, zaptest.NewLogger(t), nil, clock)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- newLoader(group).Run(runCtx) }()

	var wake chan time.Time
	select {
	case wake = <-clock.waiting: // the loader found the window closed and waits for it
	case <-time.After(30 * time.Second): // deadline
		t.Fatal("the loader never waited for its window (did it ignore the schedule?)")
	}
	if pending, err := inbox.Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("while the window is closed the inbox holds %v (err %v), want nothing", pending, err)
	}
	adm := kadm.NewClient(prod)
	for { // a fresh broker has no group coordinator yet: ask until it answers
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil && len(committed) == 0 {
			break
		}
		if err == nil || ctx.Err() != nil {
			t.Fatalf("while the window is closed the group committed %v (err %v), want nothing", committed, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}

	clock.set(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC))
	wake <- clock.Now()
	inputs := []kafkaops.GroupInputs{{Group: group, Topics: []string{sinkTopic}}}
	if err := kafkaops.WaitIdle(ctx, brokers, inputs); err != nil {
		t.Fatalf("delivery did not finish: %v", err)
	}
	pending, err := inbox.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Index(pending, "ev-create") > slices.Index(pending, "ev-gift") {
		t.Errorf("inbox order %v: the donor's gift comes before her create", pending)
	}
	slices.Sort(pending)
	if want := []string{"ev-create", "ev-gift", "ev-update"}; !slices.Equal(pending, want) {
		t.Errorf("inbox = %v, want %v (each once)", pending, want)
	}
	kos, err := kafkaops.ReadTopic(ctx, brokers, kickOutTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(kos) != 1 {
		t.Fatalf("%d kick-outs, want 1 for the undecodable record", len(kos))
	}
	ko, err := codec.DecodeKickOut(kos[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ko.Reason != "deliver.decode" || !bytes.Equal(ko.Value, garbage) || ko.Topic != sinkTopic {
		t.Errorf("kick-out = %s %q from %s, want deliver.decode with the raw bytes from %s", ko.Reason, ko.Value, ko.Topic, sinkTopic)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// A second group reads the topic again from the start, as a loader would
	// after losing its offsets: the inbox does not change.
	again := testenv.Unique("deliver-again")
	runCtx, stop = context.WithCancel(ctx)
	go func() { done <- newLoader(again).Run(runCtx) }()
	if err := kafkaops.WaitIdle(ctx, brokers, []kafkaops.GroupInputs{{Group: again, Topics: []string{sinkTopic}}}); err != nil {
		t.Fatalf("redelivery did not finish: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if after, err := inbox.Pending(ctx); err != nil || len(after) != 3 {
		t.Errorf("after a full redelivery the inbox holds %v (err %v), want the same 3 rows", after, err)
	}
}

// flakyStore refuses its first batch, then takes every batch.
type flakyStore struct {
	mu       sync.Mutex
	refused  bool
	received []string
}

func (s *flakyStore) Apply(_ context.Context, batch []deliver.Delivery) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.refused {
		s.refused = true
		return 0, errors.New("target is down")
	}
	for _, d := range batch {
		s.received = append(s.received, d.Record.EventID)
	}
	return len(batch), nil
}

func (s *flakyStore) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// A batch the target refuses is retried after a pause waited on the
// loader's own clock (so a test, or a simulated night, decides when it ends),
// not on the wall clock.
func TestRefusedBatchRetriesOnTheLoadersClock(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	sinkTopic, kickOutTopic := testenv.Unique("deliver-retry-sink"), testenv.Unique("deliver-retry-ko")
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{sinkTopic, kickOutTopic}, 1, 1); err != nil {
		t.Fatal(err)
	}
	val, err := codec.EncodeSink(contact.SinkRecord{EventID: "ev-1", PersonID: "p-1", TargetSystem: "offline",
		Entity: contact.EntityContact, Op: contact.SinkUpdate, TargetRecordID: "OFF-1", Set: contact.Values{contact.Locality: "York"}})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: sinkTopic, Key: []byte("p-1"), Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	always, err := window.Parse("always", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), waiting: make(chan chan time.Time, 1)}
	store := &flakyStore{}
	group := testenv.Unique("deliver-retry")
	l, err := deliver.New(deliver.Config{System: "offline", Brokers: brokers, Group: group, Topic: sinkTopic,
		KickOutTopic: kickOutTopic, Schedule: always, SessionTimeout: 6 * time.Second},
		store, codec, zaptest.NewLogger(t), nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	var wake chan time.Time
	select {
	case wake = <-clock.waiting: // the refused batch waits on the loader's clock
	case <-time.After(20 * time.Second): // deadline
		t.Fatal("after a refused batch the loader never waited on its clock (did it pause on the wall clock?)")
	}
	if got := store.got(); len(got) != 0 {
		t.Fatalf("before the pause ended the store holds %v", got)
	}
	wake <- clock.Now()
	if err := kafkaops.WaitIdle(ctx, brokers, []kafkaops.GroupInputs{{Group: group, Topics: []string{sinkTopic}}}); err != nil {
		t.Fatalf("the retried batch was not delivered: %v", err)
	}
	if got := store.got(); !slices.Equal(got, []string{"ev-1"}) {
		t.Errorf("store holds %v, want [ev-1] once", got)
	}
}
