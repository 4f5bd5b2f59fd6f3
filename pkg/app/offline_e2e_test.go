package app

// The offline edge end to end: the reference offline schema on the real
// PostgreSQL, streamed by Debezium's PostgreSQL connector on the harness's
// Kafka Connect worker into the pipeline (ingest, matcher, router and
// collector in this process, on the real Kafka and Redis), and the offline
// applier (`contactsync apply-offline`, table mode) writing the offline sink
// back into the same tables.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/rules"
)

// offlineEdge is one run of the test: its schema (also the connector's,
// slot's, publication's and topic prefix's name), the pipeline, and the
// Debezium topic as read so far.
type offlineEdge struct {
	t       *testing.T
	ctx     context.Context
	name    string
	db      *pgxpool.Pool
	p       *running
	env     map[string]string
	cdc     *kgo.Client
	cdcRecs []*kgo.Record
	applier struct {
		group string
		stop  func()
	}
}

func TestOfflineEdgeEndToEnd(t *testing.T) {
	connectURL := os.Getenv("CONNECT_URL")
	if connectURL == "" {
		if testenv.InCI() {
			t.Fatal("CI=true but CONNECT_URL is unset: run the tests through `make test`")
		}
		t.Skip("CONNECT_URL is unset: this test needs the Kafka Connect worker with Debezium that `make test` starts")
	}
	e := newOfflineEdge(t, connectURL, offlineEdgeSetup{})
	topics := e.p.cfg.Topics
	at := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }

	// 1. Anna is in the offline table before the connector starts
	// (snapshot) and signs up online with the same email: one person.
	e.waitCDC("OFF-1", `"first_name":"Anna"`)
	e.p.waitIdle()
	e.p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"oe-1","type":"contact.created","system":"online","occurred_at":"`+at()+`","origin":"api",
		"contact":{"id":"web-1","reference_source":"online","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org","phone":"+1 217 384 0101"}}`))

	// 2. An offline edit reaches the online sink.
	e.exec(`UPDATE contacts SET first_name = 'Annabel' WHERE id = 'OFF-1'`)
	e.waitCDC("OFF-1", `"first_name":"Annabel"`)
	e.p.waitIdle()
	if !hasSink(e.p.sinks("online"), func(s contact.SinkRecord) bool {
		return s.TargetRecordID == "web-1" && s.Set[contact.GivenName] == "Annabel"
	}) {
		t.Fatalf("the offline edit did not reach the online sink: %q", describeAll(e.p.sinks("online")))
	}

	// 3. A new online donor and her gift: the applier creates her in the
	// offline tables, with the online reference source.
	e.p.feed(topics.OnlineEvents, webhook("web-2", `{"event_id":"oe-2","type":"gift.created","system":"online","occurred_at":"`+at()+`","origin":"api",
		"contact":{"id":"web-2","reference_source":"online","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org"},
		"gift":{"id":"g-2","amount":"10.00","currency":"USD"}}`))
	before := e.counts()
	e.runApplier()
	var caraID, caraRef, caraBy, giftRef, giftAmount string
	if err := e.db.QueryRow(e.ctx, `SELECT c.id, c.reference_source, c.updated_by, g.reference_source, g.amount::text
	FROM contacts c JOIN gifts g ON g.contact_id = c.id WHERE c.first_name = 'Cara' AND g.gift_id = 'g-2'`).
		Scan(&caraID, &caraRef, &caraBy, &giftRef, &giftAmount); err != nil {
		t.Fatalf("the new online donor and her gift are not in the offline tables: %v", err)
	}
	if caraRef != "online" || giftRef != "online" || caraBy != "contactsync" || giftAmount != "10.00" {
		t.Errorf("offline contact %s: reference source %s, written by %s; gift from %s, amount %s; want online, contactsync, online, 10.00",
			caraID, caraRef, caraBy, giftRef, giftAmount)
	}

	// 4. The applier's write comes back through Debezium as the sync's own
	// and causes nothing (counted from before the applier started to after
	// the pipeline has taken the echo in): no record to the offline sink,
	// no kick-out, and online no value; only the one link-only update that
	// writes Cara's new offline id back to her online record.
	e.waitCDC(caraID, `"updated_by":"contactsync"`)
	e.p.waitIdle()
	after := e.counts()
	if after.offline != before.offline || after.kickOuts != before.kickOuts || after.online != before.online+1 {
		t.Errorf("the applier's echo caused records: before %+v, after %+v; want one online record (the id written back) and nothing else",
			before, after)
	}
	var newOnline []string
	for _, s := range e.p.sinks("online") {
		if s.TargetRecordID == "web-2" {
			newOnline = append(newOnline, describe(s))
			if len(s.Set) != 0 || len(s.Clear) != 0 || s.Gift != nil || s.Links[e.p.cfg.OfflineSystem] != caraID {
				t.Errorf("online record for Cara after the echo: %s links %v; want a link-only update carrying %s", describe(s), s.Links, caraID)
			}
		}
	}
	if len(newOnline) != 1 {
		t.Errorf("online records for Cara: %q, want the one link-only update", newOnline)
	}
	e.stopApplier()

	// 5. A concurrent offline edit is not lost: Anna changes her email and
	// phone online; the router decides the offline change; before the
	// applier applies it, the desk changes both. The phone's rule gives the
	// offline system authority: the desk's phone stands. The email's does
	// not: the desk's email stays and goes to a person as apply.conflict
	// with both values.
	e.p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"oe-3","type":"contact.updated","system":"online","occurred_at":"`+at()+`","origin":"api",
		"contact":{"id":"web-1","email":"anna.adams@mailbox.org","phone":"+1 217 384 0111"}}`))
	if !hasSink(e.p.sinks("offline"), func(s contact.SinkRecord) bool {
		return s.TargetRecordID == "OFF-1" && s.Set[contact.Email] == "anna.adams@mailbox.org"
	}) {
		t.Fatalf("no offline change decided for Anna's new email: %q", describeAll(e.p.sinks("offline")))
	}
	e.exec(`UPDATE contacts SET email = 'anna@desk.example.org', phone = '+1 217 384 0199' WHERE id = 'OFF-1'`)
	e.waitCDC("OFF-1", `"email":"anna@desk.example.org"`)
	e.p.waitIdle()
	seen := map[string]bool{}
	for _, k := range e.conflicts() {
		seen[k.ID] = true
	}
	e.runApplier()
	var email, phone string
	if err := e.db.QueryRow(e.ctx, `SELECT email, phone FROM contacts WHERE id = 'OFF-1'`).Scan(&email, &phone); err != nil {
		t.Fatal(err)
	}
	if email != "anna@desk.example.org" || phone != "+1 217 384 0199" {
		t.Errorf("after the apply: email %s, phone %s; want the desk's edits kept", email, phone)
	}
	var conflicts []contact.KickOut
	for _, k := range e.conflicts() {
		if !seen[k.ID] {
			conflicts = append(conflicts, k)
		}
	}
	if len(conflicts) != 1 || !strings.Contains(conflicts[0].Explanation, "anna@desk.example.org") ||
		!strings.Contains(conflicts[0].Explanation, "anna.adams@mailbox.org") || strings.Contains(conflicts[0].Explanation, `"phone"`) {
		t.Errorf("apply.conflict kick-outs %+v, want one naming both emails and not the phone", conflicts)
	}
	e.stopApplier()
}

// offlineEdgeSetup is what a run adds to the reference one: statements run
// after the reference schema (before any row exists), and environment
// settings (e.g. a rules file) for the pipeline and the applier.
type offlineEdgeSetup struct {
	ddl []string
	env map[string]string
}

func newOfflineEdge(t *testing.T, connectURL string, setup offlineEdgeSetup) *offlineEdge {
	dsn := testenv.Postgres(t)
	brokers := testenv.RealKafka(t)
	e := &offlineEdge{t: t, ctx: testenv.Context(t, 5*time.Minute)}
	e.db, e.name = testenv.OfflineSchema(t, e.ctx, "e2e_offline_")
	for _, stmt := range setup.ddl {
		e.exec(stmt)
	}
	e.exec(`INSERT INTO contacts (id, first_name, last_name, email, phone, reference_source)
	VALUES ('OFF-1', 'Anna', 'Adams', 'anna@mailbox.org', '+1 217 384 0101', 'online')`)

	cdcTopic := e.name + "." + e.name + ".contacts" // <topic.prefix>.<schema>.<table>
	e.env = map[string]string{
		"KAFKA_BROKERS":                 strings.Join(brokers, ","),
		"CONTACTSYNC_TOPIC_PREFIX":      e.name + ".",
		"CONTACTSYNC_GROUP_PREFIX":      e.name,
		"CONTACTSYNC_REDIS_PREFIX":      e.name,
		"CONTACTSYNC_TOPIC_OFFLINE_CDC": cdcTopic,
		"CONTACTSYNC_INSTANCE":          "test",
		"CONTACTSYNC_ADMIN_ADDR":        "127.0.0.1:0",
		"CONTACTSYNC_SESSION_TIMEOUT":   "6s",
		"CONTACTSYNC_PARTITIONS":        "3",
		EnvDeliverDSN:                   dsn,
		EnvApplySchema:                  e.name,
	}
	for k, v := range setup.env {
		e.env[k] = v
	}
	e.p = startPipeline(t, e.env) // creates the topics, the Debezium one included
	topo, err := topologyOf(e.p.cfg, rules.Default().Systems())
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := topo.Loader(e.p.cfg.OfflineSystem)
	e.applier.group = spec.Group

	pg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	registerDebezium(t, e.ctx, connectURL, e.name, map[string]string{
		"connector.class":                "io.debezium.connector.postgresql.PostgresConnector",
		"tasks.max":                      "1",
		"plugin.name":                    "pgoutput",
		"database.hostname":              pg.Host,
		"database.port":                  fmt.Sprint(pg.Port),
		"database.user":                  pg.User,
		"database.password":              pg.Password,
		"database.dbname":                pg.Database,
		"topic.prefix":                   e.name,
		"table.include.list":             e.name + ".contacts",
		"slot.name":                      e.name,
		"publication.name":               e.name,
		"publication.autocreate.mode":    "filtered",
		"snapshot.mode":                  "initial",
		"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable":   "true",
		"value.converter.schemas.enable": "true",
	})
	t.Cleanup(func() { dropDebezium(t, connectURL, dsn, e.name) })
	if e.cdc, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(cdcTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cdc.Close)
	return e
}

// exec runs statements as a person at the desk would (not as the sync).
func (e *offlineEdge) exec(sql string) {
	e.t.Helper()
	if _, err := e.db.Exec(e.ctx, sql); err != nil {
		e.t.Fatalf("%.80s: %v", sql, err)
	}
}

// waitCDC reads the Debezium topic until a record of row id whose value
// holds want has arrived (each record is matched once).
func (e *offlineEdge) waitCDC(id, want string) {
	e.t.Helper()
	key := `"id":"` + id + `"`
	for {
		for i, r := range e.cdcRecs {
			if r != nil && bytes.Contains(r.Key, []byte(key)) && bytes.Contains(r.Value, []byte(want)) {
				e.cdcRecs[i] = nil
				return
			}
		}
		fs := e.cdc.PollFetches(e.ctx)
		if e.ctx.Err() != nil {
			e.t.Fatalf("no change event of %s with %s from Debezium before the deadline", id, want)
		}
		e.cdcRecs = append(e.cdcRecs, fs.Records()...)
	}
}

// runApplier starts `contactsync apply-offline` (table mode, always open)
// and waits until it has applied the whole offline sink.
func (e *offlineEdge) runApplier() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- RunApplyOffline(ctx, func(k string) string { return e.env[k] }) }()
	e.applier.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("apply-offline: %v", err)
		}
	}
	e.t.Cleanup(func() {
		if e.applier.stop != nil {
			e.applier.stop()
		}
	})
	if err := kafkaops.WaitIdle(e.ctx, e.p.brokers, []kafkaops.GroupInputs{{Group: e.applier.group,
		Topics: []string{e.p.cfg.Topics.Sink(e.p.cfg.OfflineSystem)}}}); err != nil {
		e.t.Fatalf("the applier did not apply the offline sink: %v", err)
	}
}

func (e *offlineEdge) stopApplier() {
	e.applier.stop()
	e.applier.stop = nil
}

type recordCounts struct{ online, offline, kickOuts int }

func (e *offlineEdge) counts() recordCounts {
	return recordCounts{len(e.p.read(e.p.cfg.Topics.Sink("online"))), len(e.p.read(e.p.cfg.Topics.Sink("offline"))),
		len(e.p.read(e.p.cfg.Topics.KickOuts))}
}

func (e *offlineEdge) conflicts() []contact.KickOut {
	var out []contact.KickOut
	for _, k := range e.p.kickOuts() {
		if k.Reason == "apply.conflict" {
			out = append(out, k)
		}
	}
	return out
}

func hasSink(recs []contact.SinkRecord, match func(contact.SinkRecord) bool) bool {
	for _, s := range recs {
		if match(s) {
			return true
		}
	}
	return false
}

func registerDebezium(t *testing.T, ctx context.Context, connectURL, name string, cfg map[string]string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"name": name, "config": cfg})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, connectURL+"/connectors", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("register connector: %s: %s", resp.Status, b.String())
	}
}

// dropDebezium deletes the connector, then its replication slot (held until
// the task has stopped) and publication.
func dropDebezium(t *testing.T, connectURL, dsn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, connectURL+"/connectors/"+name, nil)
	if err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer db.Close(ctx)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, name)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Logf("cleanup: slot %s: %v", name, err)
			return
		case <-tick.C: // the stopping task still holds the slot
		}
	}
	_, _ = db.Exec(ctx, `DROP PUBLICATION IF EXISTS `+pgx.Identifier{name}.Sanitize())
}
