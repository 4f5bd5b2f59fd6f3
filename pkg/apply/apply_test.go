package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// fakePlatform answers each write from a script of outcomes per event id
// (nil once the script is used up) and records the calls.
type fakePlatform struct {
	mu       sync.Mutex
	script   map[string][]error
	calls    []string // event ids, in call order
	applied  []string
	inFlight map[string]bool // persons with a call running
	overlap  bool            // two calls of one person ran at once
	maxPar   int
	running  int
	release  chan struct{} // when set, every call waits for it
}

func (f *fakePlatform) Write(ctx context.Context, rec contact.SinkRecord) error {
	f.mu.Lock()
	f.calls = append(f.calls, rec.EventID)
	if f.inFlight[rec.PersonID] {
		f.overlap = true
	}
	f.inFlight[rec.PersonID] = true
	f.running++
	f.maxPar = max(f.maxPar, f.running)
	var err error
	if s := f.script[rec.EventID]; len(s) > 0 {
		err, f.script[rec.EventID] = s[0], s[1:]
	}
	release := f.release
	f.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	delete(f.inFlight, rec.PersonID)
	if err == nil {
		f.applied = append(f.applied, rec.EventID)
	}
	return err
}

// fakeClock fires every pause at once and records what was asked.
type fakeClock struct {
	mu     sync.Mutex
	pauses []time.Duration
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.pauses = append(c.pauses, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func newTestApplier(t *testing.T, p Platform, clock Clock, cfg Config) (*Applier, *avrocodec.Codec) {
	t.Helper()
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.System, cfg.Brokers, cfg.Group, cfg.Topic, cfg.KickOutTopic = "online", []string{"127.0.0.1:1"}, "g", "contactsync.sink.online", "ko"
	a, err := New(cfg, p, codec, zap.NewNop(), nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	return a, codec
}

func sinkRecords(t *testing.T, codec *avrocodec.Codec, recs ...contact.SinkRecord) []*kgo.Record {
	t.Helper()
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		v, err := codec.EncodeSink(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &kgo.Record{Topic: "contactsync.sink.online", Partition: 0, Offset: int64(i), Key: []byte(r.PersonID), Value: v}
	}
	return out
}

func rec(person, event string) contact.SinkRecord {
	return contact.SinkRecord{EventID: event, PersonID: person, TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: "c-" + person, Set: contact.Values{contact.Email: person + "@example.org"}}
}

func newFake() *fakePlatform {
	return &fakePlatform{script: map[string][]error{}, inFlight: map[string]bool{}}
}

func TestEachPersonInOrderAndRetriesUntilApplied(t *testing.T) {
	p := newFake()
	transient := errors.New("500")
	p.script["a2"] = []error{transient, transient}
	p.script["b1"] = []error{&Throttled{Wait: 7 * time.Second}}
	clk := &fakeClock{}
	a, codec := newTestApplier(t, p, Clock{After: clk.after}, Config{Concurrency: 4, BreakerThreshold: 100})
	var in []contact.SinkRecord
	for _, person := range []string{"a", "b", "c"} {
		for i := 1; i <= 3; i++ {
			in = append(in, rec(person, fmt.Sprintf("%s%d", person, i)))
		}
	}
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: "ko"}, codec, nil)
	done, err := a.Process(context.Background(), sinkRecords(t, codec, in...), out)
	if err != nil || !done {
		t.Fatalf("Process: done %v, %v", done, err)
	}
	if p.overlap {
		t.Fatal("two writes of one person ran at once")
	}
	for _, person := range []string{"a", "b", "c"} {
		var got []string
		for _, e := range p.applied {
			if e[:1] == person {
				got = append(got, e)
			}
		}
		if want := []string{person + "1", person + "2", person + "3"}; !slices.Equal(got, want) {
			t.Errorf("person %s applied %v, want %v", person, got, want)
		}
	}
	if len(p.applied) != 9 || len(out.Records) != 0 {
		t.Fatalf("applied %d (want 9), kick-outs %d", len(p.applied), len(out.Records))
	}
	// The 429's Retry-After was waited, as given.
	if !slices.Contains(clk.pauses, 7*time.Second) {
		t.Errorf("pauses %v: the Retry-After of 7s was not honoured", clk.pauses)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	p := newFake()
	p.release = make(chan struct{})
	a, codec := newTestApplier(t, p, Clock{}, Config{Concurrency: 3})
	var in []contact.SinkRecord
	for i := range 10 {
		in = append(in, rec(fmt.Sprintf("p%d", i), fmt.Sprintf("e%d", i)))
	}
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: "ko"}, codec, nil)
	res := make(chan error, 1)
	go func() {
		_, err := a.Process(context.Background(), sinkRecords(t, codec, in...), out)
		res <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n := p.running
		p.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls running, want 3", n)
		}
		time.Sleep(time.Millisecond) // polling for a state with a deadline
	}
	close(p.release)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if p.maxPar != 3 || len(p.applied) != 10 {
		t.Fatalf("max parallel calls %d (want 3), applied %d", p.maxPar, len(p.applied))
	}
}

func TestRejectionIsAKickOutWithThePlatformsAnswer(t *testing.T) {
	p := newFake()
	p.script["a1"] = []error{&Rejected{Status: 422, Code: "validation_failed", Message: "email: must be an address"}}
	a, codec := newTestApplier(t, p, Clock{}, Config{})
	recs := sinkRecords(t, codec, rec("a", "a1"), rec("a", "a2"))
	recs = append(recs, &kgo.Record{Topic: "contactsync.sink.online", Offset: 9, Key: []byte("z"), Value: []byte("not avro")})
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: "ko"}, codec, nil)
	done, err := a.Process(context.Background(), recs, out)
	if err != nil || !done {
		t.Fatalf("Process: done %v, %v", done, err)
	}
	if !slices.Equal(p.applied, []string{"a2"}) || len(p.calls) != 2 {
		t.Fatalf("calls %v, applied %v: a rejection is not retried, the next record goes on", p.calls, p.applied)
	}
	if len(out.Records) != 2 {
		t.Fatalf("%d kick-outs, want 2", len(out.Records))
	}
	byReason := map[string]contact.KickOut{}
	for _, r := range out.Records {
		ko, err := codec.DecodeKickOut(r.Value)
		if err != nil || r.Topic != "ko" {
			t.Fatalf("kick-out on %s: %v", r.Topic, err)
		}
		byReason[ko.Reason] = ko
	}
	ko := byReason[ReasonRejected]
	if ko.Stage != Stage || ko.EventID != "a1" || ko.PersonID != "a" || ko.Error != "platform rejected the write: 422 validation_failed: email: must be an address" ||
		string(ko.Value) != string(recs[0].Value) || ko.Topic != "contactsync.sink.online" {
		t.Fatalf("rejection kick-out: %+v", ko)
	}
	if _, ok := byReason[ReasonDecode]; !ok {
		t.Fatalf("no %s kick-out for the unreadable record: %v", ReasonDecode, byReason)
	}
}

// A platform that keeps failing opens the breaker: no call is made during
// the cooldown (the clock decides when it ends), then one probe. (One
// person, so that exactly one caller waits and the rounds are fixed.)
func TestBreakerHoldsCallsWhilePlatformIsDown(t *testing.T) {
	p := newFake()
	down := errors.New("connection refused")
	p.script["a1"] = []error{down, down, down, down}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	cooldownEnds := make(chan chan time.Time, 10)
	clock := Clock{
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		After: func(d time.Duration) <-chan time.Time {
			ch := make(chan time.Time, 1)
			if d >= time.Minute { // the breaker's cooldown: the test ends it
				cooldownEnds <- ch
				return ch
			}
			ch <- time.Time{} // retry pauses end at once
			return ch
		},
	}
	a, codec := newTestApplier(t, p, clock, Config{BreakerThreshold: 3, BreakerCooldown: time.Minute, RetryMax: time.Millisecond})
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: "ko"}, codec, nil)
	res := make(chan error, 1)
	go func() {
		_, err := a.Process(context.Background(), sinkRecords(t, codec, rec("a", "a1"), rec("a", "a2")), out)
		res <- err
	}()
	for range 2 { // two cooldowns: the threshold opens it, the failed probe re-opens it
		var ch chan time.Time
		select {
		case ch = <-cooldownEnds:
		case <-time.After(5 * time.Second):
			t.Fatal("the breaker never opened")
		}
		p.mu.Lock()
		calls := len(p.calls)
		p.mu.Unlock()
		if !a.breaker.isOpen() {
			t.Fatal("breaker closed while waiting")
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		p.mu.Lock()
		if len(p.calls) != calls {
			t.Fatalf("calls made while the breaker was open: %v", p.calls)
		}
		p.mu.Unlock()
		ch <- now
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if a.breaker.isOpen() || len(p.applied) != 2 {
		t.Fatalf("breaker open %v, applied %v", a.breaker.isOpen(), p.applied)
	}
	// a1 failed 3 times (open), failed its probe (re-open), then applied.
	a1 := 0
	for _, e := range p.calls {
		if e == "a1" {
			a1++
		}
	}
	if a1 != 5 {
		t.Fatalf("a1 called %d times, want 5 (3 failures, a failed probe, the success): %v", a1, p.calls)
	}
}

// A batch cut short by shutdown is reported not done: the caller must not
// commit it.
func TestShutdownMidBatchIsNotDone(t *testing.T) {
	p := newFake()
	p.script["a1"] = []error{errors.New("500"), errors.New("500"), errors.New("500")}
	ctx, cancel := context.WithCancel(context.Background())
	clock := Clock{After: func(time.Duration) <-chan time.Time { cancel(); return make(chan time.Time) }}
	a, codec := newTestApplier(t, p, clock, Config{})
	out := pipeline.NewOutput(Stage, pipeline.Topics{KickOuts: "ko"}, codec, nil)
	done, err := a.Process(ctx, sinkRecords(t, codec, rec("a", "a1")), out)
	if done || err != nil {
		t.Fatalf("done %v, err %v: want not done, no error", done, err)
	}
}
