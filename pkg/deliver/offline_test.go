package deliver_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/filedrop"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/pgstore"
	"github.com/contactsync/contactsync/pkg/window"
)

type offlineRun struct {
	brokers        []string
	codec          *avrocodec.Codec
	sink, kickOuts string
	clock          *fakeClock
	schedule       window.Schedule
	group          string
	maxPoll        int // records per poll; 0 = the default
	produce        func(recs ...contact.SinkRecord)
	newLoader      func(store deliver.Store) *deliver.Loader
}

func newOfflineRun(t *testing.T, ctx context.Context, partitions int32) *offlineRun {
	brokers := testenv.RealKafka(t)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	r := &offlineRun{brokers: brokers, codec: codec, sink: testenv.Unique("apply-sink"), kickOuts: testenv.Unique("apply-ko"),
		group: testenv.Unique("apply-group"),
		clock: &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), waiting: make(chan chan time.Time, 1)}}
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{r.sink, r.kickOuts}, partitions, 1); err != nil {
		t.Fatal(err)
	}
	if r.schedule, err = window.Parse("Mon-Fri 20:00-06:00", time.UTC); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	r.produce = func(recs ...contact.SinkRecord) {
		var out []*kgo.Record
		for _, s := range recs {
			val, err := codec.EncodeSink(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, &kgo.Record{Topic: r.sink, Key: []byte(s.PersonID), Value: val})
		}
		if err := prod.ProduceSync(ctx, out...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	r.newLoader = func(store deliver.Store) *deliver.Loader {
		l, err := deliver.New(deliver.Config{System: "offline", Brokers: brokers, Group: r.group, Topic: r.sink,
			KickOutTopic: r.kickOuts, Schedule: r.schedule, SessionTimeout: 6 * time.Second, MaxPollRecords: r.maxPoll},
			store, codec, zaptest.NewLogger(t), nil, r.clock)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	return r
}

// waitClosed waits until the loader found the window closed and returns
// the channel that wakes it.
func (r *offlineRun) waitClosed(t *testing.T) chan time.Time {
	t.Helper()
	select {
	case wake := <-r.clock.waiting:
		return wake
	case <-time.After(30 * time.Second): // deadline
		t.Fatal("the loader never waited for its window")
		return nil
	}
}

func (r *offlineRun) open(wake chan time.Time) {
	r.clock.set(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC))
	wake <- r.clock.Now()
}

// The applier in table mode behind the loader: nothing is written while
// the window is closed; when it opens, a new online donor and her gift
// appear in the offline tables (the create first), her create and update
// of the same window are one write, and a row edited at the desk after the
// change was made keeps the desk's value and is kicked out as
// apply.conflict.
func TestOfflineApplyThroughTheLoader(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	dsn := testenv.Postgres(t)
	run := newOfflineRun(t, ctx, 2)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_apply_")
	store, err := pgstore.OpenOffline(ctx, dsn, pgstore.OfflineConfig{Schema: schema, Columns: decode.DefaultColumns()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// A contact the offline system has, edited at the desk after the online
	// change below was made.
	changed := time.Now().Add(-time.Hour)
	if _, err := pool.Exec(ctx, `INSERT INTO contacts (id, first_name, email, updated_by) VALUES ('OFF-9', 'Bob', 'bob@desk.example.org', 'desk')`); err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)
	run.produce(
		contact.SinkRecord{EventID: "ev-create", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
			Op: contact.SinkCreate, ReferenceSource: "online", SourceTime: received,
			Set: contact.Values{contact.GivenName: "Ada", contact.FamilyName: "Lovelace", contact.Email: "ada@example.org"}},
		contact.SinkRecord{EventID: "ev-gift", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityGift,
			Op: contact.SinkCreate, ReferenceSource: "online", Gift: &contact.Gift{GiftID: "web-g-1", AmountMinor: 2500, Currency: "EUR", ReceivedAt: received}},
		contact.SinkRecord{EventID: "ev-update", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, SourceTime: received.Add(time.Minute), Set: contact.Values{contact.Locality: "London"}},
		contact.SinkRecord{EventID: "ev-bob", PersonID: "p-bob", TargetSystem: "offline", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: "OFF-9", SourceTime: changed.Add(-time.Hour),
			Set: contact.Values{contact.Email: "bob@web.example.org", contact.Phone: "+447700900123"}},
	)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run.newLoader(store).Run(runCtx) }()
	wake := run.waitClosed(t)
	var n int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contacts WHERE id <> 'OFF-9') + (SELECT count(*) FROM contactsync_applied_events)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("while the window is closed %d rows were written (err %v), want none", n, err)
	}
	run.open(wake)
	if err := kafkaops.WaitIdle(ctx, run.brokers, []kafkaops.GroupInputs{{Group: run.group, Topics: []string{run.sink}}}); err != nil {
		t.Fatalf("delivery did not finish: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var name, city, ref, by string
	var version int64
	if err := pool.QueryRow(ctx, `SELECT first_name, city, reference_source, updated_by, row_version FROM contacts WHERE id = 'cs-p-ada'`).
		Scan(&name, &city, &ref, &by, &version); err != nil {
		t.Fatalf("the online donor is not in the offline table: %v", err)
	}
	if name != "Ada" || city != "London" || ref != "online" || by != pgstore.SyncWriter || version != 1 {
		t.Errorf("donor row: %s %s ref %s by %s version %d; want Ada London from online, by the sync, written once", name, city, ref, by, version)
	}
	var giftContact string
	if err := pool.QueryRow(ctx, `SELECT contact_id FROM gifts WHERE gift_id = 'web-g-1'`).Scan(&giftContact); err != nil || giftContact != "cs-p-ada" {
		t.Errorf("gift on %q (err %v), want cs-p-ada", giftContact, err)
	}
	var email, phone string
	if err := pool.QueryRow(ctx, `SELECT email, phone FROM contacts WHERE id = 'OFF-9'`).Scan(&email, &phone); err != nil {
		t.Fatal(err)
	}
	if email != "bob@desk.example.org" || phone != "+447700900123" {
		t.Errorf("desk-edited row: email %s phone %s; want the desk's email kept and the new phone written", email, phone)
	}
	kos, err := kafkaops.ReadTopic(ctx, run.brokers, run.kickOuts)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, r := range kos {
		ko, err := run.codec.DecodeKickOut(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, ko.Reason+" "+ko.PersonID)
		if !strings.Contains(ko.Explanation, "bob@desk.example.org") || !strings.Contains(ko.Explanation, "bob@web.example.org") {
			t.Errorf("conflict explanation %q lacks both values", ko.Explanation)
		}
	}
	if !slices.Equal(reasons, []string{"apply.conflict p-bob"}) {
		t.Errorf("kick-outs %v, want one apply.conflict for p-bob", reasons)
	}
}

// crashAfterWrite is the file drop of a process that dies after the file is
// renamed into place and before Kafka's commit.
type crashAfterWrite struct {
	drop  *filedrop.Drop
	crash context.CancelFunc
}

func (c crashAfterWrite) Apply(ctx context.Context, batch []deliver.Delivery) (int, error) {
	if _, err := c.drop.Apply(ctx, batch); err != nil {
		return 0, err
	}
	c.crash()
	return 0, context.Canceled
}

// Files mode: the window's backlog becomes one import file with its
// manifest; a restart after a crash between the file's rename and Kafka's
// commit redelivers the batch and writes no second file.
func TestFileDropOnceAcrossARestart(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	run := newOfflineRun(t, ctx, 1)
	dir := t.TempDir()
	drop, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)
	run.produce(
		contact.SinkRecord{EventID: "f-create", PersonID: "p-ada", Entity: contact.EntityContact, Op: contact.SinkCreate,
			ReferenceSource: "online", SourceTime: at, Set: contact.Values{contact.GivenName: "Ada"}},
		contact.SinkRecord{EventID: "f-gift", PersonID: "p-ada", Entity: contact.EntityGift, Op: contact.SinkCreate,
			Gift: &contact.Gift{GiftID: "web-g-2", AmountMinor: 1000, Currency: "EUR", ReceivedAt: at}},
		contact.SinkRecord{EventID: "f-update", PersonID: "p-ada", Entity: contact.EntityContact, Op: contact.SinkUpdate,
			SourceTime: at.Add(time.Minute), Set: contact.Values{contact.Locality: "London"}},
	)
	runCtx, crash := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run.newLoader(crashAfterWrite{drop: drop, crash: crash}).Run(runCtx) }()
	wake := run.waitClosed(t)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files while the window is closed: %v", entries)
	}
	run.open(wake)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	csvs, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(csvs) != 1 {
		t.Fatalf("import files after the first run: %v, want 1", csvs)
	}
	first, err := os.ReadFile(csvs[0])
	if err != nil {
		t.Fatal(err)
	}

	// The restart: a new process on the same directory and group.
	drop, err = filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- run.newLoader(drop).Run(runCtx) }()
	if err := kafkaops.WaitIdle(ctx, run.brokers, []kafkaops.GroupInputs{{Group: run.group, Topics: []string{run.sink}}}); err != nil {
		t.Fatalf("redelivery did not finish: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	again, err := os.ReadFile(csvs[0])
	if len(after) != 1 || err != nil || string(again) != string(first) {
		t.Errorf("after the restart: files %v (err %v), want the one file, unchanged", after, err)
	}
	if rows := strings.Count(string(first), "\n"); rows != 3 {
		t.Errorf("the file has %d lines, want the header, one contact row and one gift row:\n%s", rows, first)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "*.manifest.json"))
	if len(manifests) != 1 || filepath.Base(csvs[0]) != "offline-p0.0-2.csv" {
		t.Errorf("manifests %v, file %s; want one manifest for offline-p0.0-2.csv", manifests, csvs[0])
	}
}

// The backlog of a closed window is one batch however many polls it takes
// to read: with one record per poll, a person's create and two updates held
// while the window was closed are still one insert (row version 1) in table
// mode, and one contact row beside her gift in one file in files mode.
func TestWindowBacklogIsCoalescedAcrossPolls(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	dsn := testenv.Postgres(t)
	at := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC)
	backlog := []contact.SinkRecord{
		{EventID: "w-create", PersonID: "p-eve", Entity: contact.EntityContact, Op: contact.SinkCreate,
			ReferenceSource: "online", SourceTime: at, Set: contact.Values{contact.GivenName: "Eve", contact.Email: "eve@example.org"}},
		{EventID: "w-gift", PersonID: "p-eve", Entity: contact.EntityGift, Op: contact.SinkCreate,
			Gift: &contact.Gift{GiftID: "web-g-3", AmountMinor: 500, Currency: "EUR", ReceivedAt: at}},
		{EventID: "w-update-1", PersonID: "p-eve", Entity: contact.EntityContact, Op: contact.SinkUpdate,
			SourceTime: at.Add(time.Minute), Set: contact.Values{contact.Locality: "Leeds"}},
		{EventID: "w-update-2", PersonID: "p-eve", Entity: contact.EntityContact, Op: contact.SinkUpdate,
			SourceTime: at.Add(2 * time.Minute), Set: contact.Values{contact.Locality: "York"}, Clear: []contact.Field{contact.Email}},
	}
	deliverWindow := func(t *testing.T, store deliver.Store) *offlineRun {
		run := newOfflineRun(t, ctx, 1)
		run.maxPoll = 1
		run.produce(backlog...)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run.newLoader(store).Run(runCtx) }()
		run.open(run.waitClosed(t))
		if err := kafkaops.WaitIdle(ctx, run.brokers, []kafkaops.GroupInputs{{Group: run.group, Topics: []string{run.sink}}}); err != nil {
			t.Fatalf("delivery did not finish: %v", err)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		return run
	}
	t.Run("table", func(t *testing.T) {
		pool, schema := testenv.OfflineSchema(t, ctx, "test_apply_")
		store, err := pgstore.OpenOffline(ctx, dsn, pgstore.OfflineConfig{Schema: schema, Columns: decode.DefaultColumns()})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		deliverWindow(t, store)
		var city string
		var email *string
		var version int64
		if err := pool.QueryRow(ctx, `SELECT city, email, row_version FROM contacts WHERE id = 'cs-p-eve'`).Scan(&city, &email, &version); err != nil {
			t.Fatal(err)
		}
		if city != "York" || email != nil || version != 1 {
			t.Errorf("city %s email %v version %d; want York, cleared, written once", city, email, version)
		}
	})
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		drop, err := filedrop.Open(dir, "offline")
		if err != nil {
			t.Fatal(err)
		}
		deliverWindow(t, drop)
		csvs, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
		if len(csvs) != 1 || filepath.Base(csvs[0]) != "offline-p0.0-3.csv" {
			t.Fatalf("files %v, want the window's one offline-p0.0-3.csv", csvs)
		}
		body, err := os.ReadFile(csvs[0])
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); len(lines) != 3 ||
			!strings.HasPrefix(lines[1], "contact,create,p-eve,") || !strings.Contains(lines[1], "York") ||
			!strings.HasPrefix(lines[2], "gift,create,p-eve,") {
			t.Errorf("file, want the header, one contact row (York) and the gift row:\n%s", body)
		}
	})
}

// The router writes sink topics in transactions. A loader that has
// delivered everything commits past their commit markers: its lag is 0,
// not 1 per partition (which no later record would ever clear).
func TestLoaderCommitsPastTransactionMarkers(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	run := newOfflineRun(t, ctx, 1)
	txn, err := kgo.NewClient(kgo.SeedBrokers(run.brokers...), kgo.TransactionalID(testenv.Unique("apply-txn")))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	val, err := run.codec.EncodeSink(contact.SinkRecord{EventID: "t-create", PersonID: "p-fay", Entity: contact.EntityContact,
		Op: contact.SinkCreate, ReferenceSource: "online", Set: contact.Values{contact.GivenName: "Fay"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Topic: run.sink, Key: []byte("p-fay"), Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	drop, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run.newLoader(drop).Run(runCtx) }()
	run.open(run.waitClosed(t))
	idle, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafkaops.WaitIdle(idle, run.brokers, []kafkaops.GroupInputs{{Group: run.group, Topics: []string{run.sink}}}); err != nil {
		t.Errorf("the loader stopped short of the commit marker: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
