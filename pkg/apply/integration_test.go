package apply_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/applytest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/platformclient"
	"github.com/contactsync/contactsync/pkg/platformsim"
)

// Sink records reach the platform exactly once although the applier is
// stopped in the middle and the platform answers 429s and 500s; the one
// the platform refuses is a kick-out; every write is marked as the sync's.
func TestAppliesExactlyOnceAcrossARestart(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	sinkTopic, koTopic, group := applytest.Topics(ctx, t, brokers, "applytest", 3)
	p, client := newPlatform(t)
	codec := applytest.Codec(t)

	// Three contacts the platform has already; their updates are in the sink.
	existing := map[string]string{} // person -> platform id
	for i := range 3 {
		person := fmt.Sprintf("known-%d", i)
		if err := client.Write(ctx, contact.SinkRecord{EventID: "seed-" + person, PersonID: person, TargetSystem: "online",
			Entity: contact.EntityContact, Op: contact.SinkCreate, Links: map[string]string{"offline": "9" + person},
			Set: contact.Values{contact.GivenName: "Known"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range p.Deliveries() {
		var c platformsim.Contact
		c, _ = p.Contact(d.ContactID)
		existing[c.ExternalIDs["offline"][1:]] = c.ID
	}
	const newDonors = 12
	var recs []*kgo.Record
	add := func(r contact.SinkRecord) {
		v, err := codec.EncodeSink(r)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: sinkTopic, Key: []byte(r.PersonID), Value: v})
	}
	for i := range newDonors {
		person := fmt.Sprintf("new-%d", i)
		add(contact.SinkRecord{EventID: "create-" + person, PersonID: person, TargetSystem: "online", Entity: contact.EntityContact,
			Op: contact.SinkCreate, ReferenceSource: "offline", Links: map[string]string{"offline": fmt.Sprint(1000 + i)},
			Set: contact.Values{contact.GivenName: "New", contact.FamilyName: person}})
	}
	for person, id := range existing {
		for j, city := range []string{"Springfield", "Shelbyville"} { // in order: the last one wins
			add(contact.SinkRecord{EventID: fmt.Sprintf("update-%s-%d", person, j), PersonID: person, TargetSystem: "online",
				Entity: contact.EntityContact, Op: contact.SinkUpdate, TargetRecordID: id, Set: contact.Values{contact.Locality: city}})
		}
	}
	add(contact.SinkRecord{EventID: "create-bad", PersonID: "bad", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkCreate, Set: contact.Values{contact.Email: "not an address"}})

	applytest.Produce(ctx, t, brokers, recs...)
	if err := p.SetFaults(platformsim.Faults{RateLimit: 2, RetryAfter: platformsim.Duration(time.Second), ServerErrors: 3,
		Delay: platformsim.Duration(20 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}

	run := func(stopWhen func() bool) {
		a, err := apply.New(apply.Config{System: "online", Brokers: brokers, Group: group, Topic: sinkTopic, KickOutTopic: koTopic,
			Concurrency: 4, MaxPollRecords: 8, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
			BreakerThreshold: 10, BreakerCooldown: 200 * time.Millisecond, SessionTimeout: 6 * time.Second},
			client, codec, zaptest.NewLogger(t), nil, apply.Clock{})
		if err != nil {
			t.Fatal(err)
		}
		stop := applytest.Start(ctx, t, a)
		deadline := time.Now().Add(90 * time.Second)
		for !stopWhen() {
			if time.Now().After(deadline) {
				stop()
				t.Fatal("the applier did not get there in time")
			}
			time.Sleep(20 * time.Millisecond) // polling the platform's state, with a deadline
		}
		stop()
	}
	created := func() int {
		n := 0
		for _, d := range p.Deliveries() {
			if d.Type == "contact.created" {
				n++
			}
		}
		return n - len(existing)
	}
	// First run: stopped after a few creates, in the middle of the stream.
	run(func() bool { return created() >= 4 })
	if created() >= newDonors {
		t.Logf("the first run wrote everything before it was stopped (%d creates)", created())
	}
	// Second run: to the end.
	updated := func() int {
		n := 0
		for _, id := range existing {
			if c, _ := p.Contact(id); c.Address != nil && c.Address.City == "Shelbyville" {
				n++
			}
		}
		return n
	}
	kickOuts := make(chan contact.KickOut, 10)
	go applytest.ConsumeKickOuts(ctx, t, brokers, koTopic, codec, kickOuts)
	var ko contact.KickOut
	run(func() bool {
		select {
		case ko = <-kickOuts:
		default:
		}
		return created() == newDonors && updated() == len(existing) && ko.ID != ""
	})

	// Exactly once: one contact per offline id, one webhook per change.
	perOffline := map[string]int{}
	updates := 0
	for _, d := range p.Deliveries() {
		if d.Origin != platformclient.OriginSync {
			t.Errorf("webhook %s %s has origin %q, want sync", d.Type, d.EventID, d.Origin)
		}
		switch d.Type {
		case "contact.created":
			c, _ := p.Contact(d.ContactID)
			perOffline[c.ExternalIDs["offline"]]++
		case "contact.updated":
			updates++
		}
	}
	for i := range newDonors {
		if n := perOffline[fmt.Sprint(1000+i)]; n != 1 {
			t.Errorf("offline id %d: %d contacts, want 1", 1000+i, n)
		}
	}
	if updates != 2*len(existing) {
		t.Errorf("%d updates, want %d", updates, 2*len(existing))
	}
	if ko.Reason != apply.ReasonRejected || ko.EventID != "create-bad" || ko.Topic != sinkTopic {
		t.Errorf("kick-out %+v, want %s of create-bad", ko, apply.ReasonRejected)
	}
	select {
	case more := <-kickOuts:
		t.Errorf("a second kick-out: %+v", more)
	case <-time.After(time.Second): // nothing more should come: a short look, not synchronisation
	}
	replayed := 0
	for _, c := range p.Calls() {
		if c.Replayed {
			replayed++
		}
	}
	t.Logf("%d API calls, %d answered from the idempotency memory", len(p.Calls()), replayed)
}

// newPlatform returns the platform simulator behind a test server and the
// adapter that writes to it.
func newPlatform(t *testing.T) (*platformsim.Platform, *platformclient.Client) {
	t.Helper()
	p, err := platformsim.New(platformsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	client, err := platformclient.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, client
}

// The router writes sink topics in transactions, so a commit marker follows
// the last record of each partition: the applier must commit past it, or
// its group stays one record behind the end offsets forever (the lag gauge
// never reaches 0 and waiting for the pipeline to be idle never ends).
func TestCommitsPastTransactionMarkers(t *testing.T) {
	brokers, _ := testenv.Kafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	sinkTopic, koTopic, group := applytest.Topics(ctx, t, brokers, "applytest", 2)
	p, client := newPlatform(t)
	codec := applytest.Codec(t)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(testenv.Unique("applytest-tx-")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	for batch := range 2 { // two transactions, two markers per partition they touch
		if err := producer.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			person := fmt.Sprintf("p-%d-%d", batch, i)
			v, err := codec.EncodeSink(contact.SinkRecord{EventID: "create-" + person, PersonID: person, TargetSystem: "online",
				Entity: contact.EntityContact, Op: contact.SinkCreate, Set: contact.Values{contact.GivenName: "New", contact.FamilyName: person}})
			if err != nil {
				t.Fatal(err)
			}
			if err := producer.ProduceSync(ctx, &kgo.Record{Topic: sinkTopic, Key: []byte(person), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	a, err := apply.New(apply.Config{System: "online", Brokers: brokers, Group: group, Topic: sinkTopic, KickOutTopic: koTopic,
		SessionTimeout: 6 * time.Second}, client, codec, zaptest.NewLogger(t), nil, apply.Clock{})
	if err != nil {
		t.Fatal(err)
	}
	defer applytest.Start(ctx, t, a)()
	waitCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := kafkaops.WaitIdle(waitCtx, brokers, []kafkaops.GroupInputs{{Group: group, Topics: []string{sinkTopic}}}); err != nil {
		t.Fatalf("the applier's group is not past the end of the sink: %v", err)
	}
	if n := len(p.Calls()); n != 6 {
		t.Errorf("%d calls to the platform, want the 6 creates", n)
	}
}
