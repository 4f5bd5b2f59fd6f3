package router_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/internal/routertest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/rules"
)

// A sequence of changes from both systems leaves exactly the expected
// history on the audit topic: accepted and sent, held for review, approved,
// the sync's own write suppressed as an echo, unchanged, a lost conflict,
// and a delete kicked out; a redelivered event adds nothing.
func TestAuditHistoryOfBothSystems(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	topics := pipeline.DefaultTopics()
	st := router.New(topics, routertest.JSONCodec{}, routertest.RulesEngine{E: rules.NewEngine(rules.Default())}, newMemStore(), nil)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	links := map[string]string{"offline": "OFF-1", "online": "web-1"}
	offline := func(id string, h int, origin contact.Origin, v contact.Values) contact.Matched {
		return contact.Matched{Change: contact.Change{EventID: id, SourceSystem: "offline", SourceRecordID: "OFF-1", ReferenceSource: "online",
			Origin: origin, Op: contact.OpUpsert, SourceTime: at(h), Values: v}, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: links}
	}
	online := func(id string, h int, origin contact.Origin, v contact.Values) contact.Matched {
		return contact.Matched{Change: contact.Change{EventID: id, SourceSystem: "online", SourceRecordID: "web-1", ReferenceSource: "online",
			Origin: origin, Op: contact.OpUpsert, SourceTime: at(h), Values: v}, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: links}
	}
	anna := contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Phone: "+12175550101"}
	del := offline("e8", 8, contact.OriginAdmin, nil)
	del.Change.Op = contact.OpDelete
	events := []contact.Matched{
		offline("e1", 0, contact.OriginAdmin, anna),
		online("e2", 1, contact.OriginAPI, contact.Values{contact.Phone: "+12175550199"}),
		// our write of e2 comes back from offline
		offline("e3", 2, contact.OriginSync, contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Phone: "+12175550199"}),
		online("e4", 3, contact.OriginSelfService, contact.Values{contact.GivenName: "Annie"}),
		// a person approved e4: the review tools send it on as an admin change
		online("e4~approved", 3, contact.OriginAdmin, contact.Values{contact.GivenName: "Annie"}),
		offline("e5", 0, contact.OriginAdmin, contact.Values{contact.Phone: "+12175550000"}),
		// online reports the phone it reported in e2 (a full record): no edit
		online("e6", 5, contact.OriginAPI, contact.Values{contact.Phone: "+12175550199"}),
		del,
	}
	var batch []*kgo.Record
	for i, m := range events {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, &kgo.Record{Topic: topics.Matched, Offset: int64(i), Key: []byte("p-1"), Value: b})
	}
	// In two batches, with e2 delivered again in the second.
	out1, err := st.Process(ctx, batch[:4])
	if err != nil {
		t.Fatal(err)
	}
	again := *batch[1]
	again.Offset = 100
	out2, err := st.Process(ctx, append([]*kgo.Record{&again}, batch[4:]...))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range append(out1, out2...) {
		if r.Topic != topics.Audit {
			continue
		}
		if string(r.Key) != "p-1" {
			t.Errorf("audit record keyed %q, want the person id", r.Key)
		}
		var a contact.Audit
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		for _, e := range history.Entries(a) {
			got = append(got, e.EventID+"\t"+history.Line(e))
		}
	}
	want := []string{
		"e1\t2026-11-02T09:00:00Z\tgiven_name\t(empty) -> \"Anna\"\tfrom offline/admin\tname/latest\tsent to online",
		"e1\t2026-11-02T09:00:00Z\tfamily_name\t(empty) -> \"Adams\"\tfrom offline/admin\tname/latest\tsent to online",
		"e1\t2026-11-02T09:00:00Z\tphone\t(empty) -> \"+12175550101\"\tfrom offline/admin\tphone/latest\tsent to online",
		"e2\t2026-11-02T10:00:00Z\tphone\t\"+12175550101\" -> \"+12175550199\"\tfrom online/api\tphone/latest\tsent to offline",
		"e3\t2026-11-02T11:00:00Z\tgiven_name\t\"Anna\" -> \"Anna\"\tfrom offline/sync\torigin sync/echo\techo suppressed",
		"e3\t2026-11-02T11:00:00Z\tfamily_name\t\"Adams\" -> \"Adams\"\tfrom offline/sync\torigin sync/echo\techo suppressed",
		"e3\t2026-11-02T11:00:00Z\tphone\t\"+12175550199\" -> \"+12175550199\"\tfrom offline/sync\torigin sync/echo\techo suppressed",
		"e4\t2026-11-02T12:00:00Z\tgiven_name\t\"Anna\" -> \"Annie\"\tfrom online/self_service\tname/review\theld for review (offline); online: keeps its own value",
		"e4~approved\t2026-11-02T12:00:00Z\tgiven_name\t\"Anna\" -> \"Annie\"\tfrom online/admin\tname/latest\tapproved after review; sent to offline",
		"e5\t2026-11-02T09:00:00Z\tphone\t\"+12175550199\" -> \"+12175550000\"\tfrom offline/admin\tphone/latest\tgolden value kept: older than the current value; sent to offline",
		"e6\t2026-11-02T14:00:00Z\tphone\t\"+12175550199\" -> \"+12175550199\"\tfrom online/api\tphone/latest\tunchanged",
		"e8\t2026-11-02T17:00:00Z\t-\t-\tfrom offline/admin\t-\tkicked out (rules.delete)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("history\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Several changes of one person in one batch are applied in order to the
// state in memory and written once; each event's outputs (and memo) are
// exactly those it gets when every change comes in a batch of its own.
func TestChangesOfOnePersonInOneBatchAsInSeparateBatches(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	topics := pipeline.DefaultTopics()
	engine := routertest.RulesEngine{E: rules.NewEngine(rules.Default())}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	change := func(id, person, system, record string, h int, v contact.Values, gift string) *kgo.Record {
		m := contact.Matched{Change: contact.Change{EventID: id, SourceSystem: system, SourceRecordID: record, ReferenceSource: "online",
			Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: t0.Add(time.Duration(h) * time.Hour), Values: v},
			Match: contact.Match{PersonID: person, Decision: contact.DecisionKnown}, Links: map[string]string{"offline": "OFF-" + person, "online": "web-" + person}}
		if gift != "" {
			m.Change.Gift = &contact.Gift{GiftID: gift, AmountMinor: 1000, Currency: "USD", ReceivedAt: m.Change.SourceTime}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: topics.Matched, Key: []byte(person), Value: b}
	}
	batch := []*kgo.Record{
		change("e1", "p-1", "offline", "OFF-p-1", 0, contact.Values{contact.GivenName: "Anna", contact.Phone: "+12175550101"}, ""),
		change("e2", "p-2", "online", "web-p-2", 0, contact.Values{contact.GivenName: "Ben"}, "g-1"),
		change("e3", "p-1", "online", "web-p-1", 1, contact.Values{contact.Phone: "+12175550199"}, "g-2"),
		change("e4", "p-1", "online", "web-p-1", 2, contact.Values{contact.AddressLine1: "1 Main St", contact.Postcode: "61801"}, "g-3"),
		change("e5", "p-2", "offline", "OFF-p-2", 1, contact.Values{contact.GivenName: "Benjamin"}, ""),
		change("e6", "p-1", "offline", "OFF-p-1", 3, contact.Values{contact.Phone: "+12175550199", contact.GivenName: "Anna"}, ""),
	}
	for i, r := range batch {
		r.Offset = int64(i)
	}
	oneStore := newMemStore()
	oneBatch := router.New(topics, routertest.JSONCodec{}, engine, oneStore, nil)
	together, err := oneBatch.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if oneStore.reads != 1 || oneStore.saves != 1 {
		t.Errorf("one batch: %d reads and %d saves of the store, want one of each", oneStore.reads, oneStore.saves)
	}
	store := newMemStore()
	apart := router.New(topics, routertest.JSONCodec{}, engine, store, nil)
	var separate []*kgo.Record
	for _, r := range batch {
		out, err := apart.Process(ctx, []*kgo.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		separate = append(separate, out...)
	}
	if len(together) == 0 || len(together) != len(separate) {
		t.Fatalf("one batch emitted %d records, separate batches %d", len(together), len(separate))
	}
	for i := range together {
		if together[i].Topic != separate[i].Topic || string(together[i].Key) != string(separate[i].Key) || string(together[i].Value) != string(separate[i].Value) {
			t.Errorf("output %d differs:\n one batch %s %s\nseparately %s %s", i, together[i].Topic, together[i].Value, separate[i].Topic, separate[i].Value)
		}
	}
	if store.saves != len(batch) {
		t.Errorf("%d saves for %d separate batches", store.saves, len(batch))
	}
	// The one batch wrote each person once, and its redo re-emits it all.
	again, err := oneBatch.Process(ctx, batch)
	if err != nil || len(again) != len(together) {
		t.Fatalf("redo of the one batch: %d records, %v; want %d", len(again), err, len(together))
	}
}
