package decode_test

// The Debezium decoder against the real connector: Debezium's PostgreSQL
// connector on the harness's Kafka Connect worker streams a copy of the
// reference offline schema while the test edits rows, and every record it
// writes is decoded the way ingest decodes it. One connector per converter
// setting, each with its own schema, slot, publication and topic.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// connectorMode is one supported (or deliberately unsupported) converter
// setting of the connector.
type connectorMode struct {
	name   string
	config map[string]string
	// preciseSchemaless: amounts arrive as base64 bytes without the scale
	// that says how to read them; such rows must be kicked out.
	preciseSchemaless bool
	// flat: ExtractNewRecordState; no before image, so clears are not seen.
	flat bool
	// deletesKickedOut: the connector turns deletes into records the
	// decoder cannot read; they must be kicked out, never dropped.
	deletesKickedOut bool
}

var unwrap = map[string]string{
	"transforms":                                       "unwrap",
	"transforms.unwrap.type":                           "io.debezium.transforms.ExtractNewRecordState",
	"transforms.unwrap.add.fields":                     "op,lsn,source.ts_ms",
	"transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
}

func withSchemas(on bool, extra ...map[string]string) map[string]string {
	m := map[string]string{
		"key.converter.schemas.enable":   fmt.Sprint(on),
		"value.converter.schemas.enable": fmt.Sprint(on),
	}
	for _, e := range extra {
		for k, v := range e {
			m[k] = v
		}
	}
	return m
}

var connectorModes = []connectorMode{
	{name: "schemas_on", config: withSchemas(true)},
	{name: "schemas_off_string", config: withSchemas(false, map[string]string{"decimal.handling.mode": "string"})},
	{name: "schemas_off_double", config: withSchemas(false, map[string]string{"decimal.handling.mode": "double"})},
	{name: "schemas_off_precise", config: withSchemas(false), preciseSchemaless: true},
	{name: "unwrap_schemas_on", config: withSchemas(true, unwrap), flat: true},
	{name: "schemas_on_connect_time", config: withSchemas(true, map[string]string{"time.precision.mode": "connect"})},
	{name: "unwrap_schemas_off", config: withSchemas(false, unwrap, map[string]string{"decimal.handling.mode": "string",
		"transforms.unwrap.delete.tombstone.handling.mode": "rewrite-with-tombstone"}), flat: true},
	// Unsupported: the transform's default delete handling.
	{name: "unwrap_tombstones", config: withSchemas(true, unwrap, map[string]string{
		"transforms.unwrap.delete.tombstone.handling.mode": "tombstone"}), flat: true, deletesKickedOut: true},
}

// expect is what one record must decode to.
type expect struct {
	op      contact.Op
	id      string
	origin  contact.Origin
	values  contact.Values  // a subset of the change's values; decimals compared by value
	absent  []contact.Field // fields the change must not carry
	cleared []contact.Field // the change's Cleared exactly (envelope modes)
	amount  bool            // the row has a giving_total (precise schemaless: kicked out)
}

// step is one transaction on the database and the records it must yield.
type step struct {
	name   string
	sql    []string // run in one transaction; %s is the schema
	expect []expect
}

const (
	adminOrigin = contact.OriginAdmin
	syncOrigin  = contact.OriginSync
)

// snapshotSQL are the rows there before the connector starts.
var snapshotSQL = []string{
	`INSERT INTO %s.contacts (id, first_name, last_name, email, phone, city, country, birth_date,
	   do_not_email, giving_total, last_gift_date, reference_source)
	 VALUES ('S1', 'Anna', 'Adams', 'anna@example.org', '+1 217 555 0101', 'Springfield', 'US', '1980-05-17',
	   false, -29293.56, '2026-11-02', 'online')`,
	`INSERT INTO %s.contacts (id, first_name, last_name, email) VALUES ('S2', 'Ben', 'Brown', 'ben@example.org')`,
}

var snapshotExpect = []expect{
	{op: contact.OpUpsert, id: "S1", origin: adminOrigin, amount: true, values: contact.Values{
		contact.GivenName: "Anna", contact.Email: "anna@example.org", contact.DateOfBirth: "1980-05-17",
		contact.DoNotEmail: "false", contact.GivingTotal: "-29293.56", contact.LastGiftDate: "2026-11-02"}},
	{op: contact.OpUpsert, id: "S2", origin: adminOrigin, values: contact.Values{contact.GivenName: "Ben"},
		absent: []contact.Field{contact.GivingTotal, contact.Phone}},
}

var scenario = []step{
	{name: "insert", sql: []string{`INSERT INTO %s.contacts (id, first_name, email, giving_total, last_gift_date)
		VALUES ('I1', 'Cara', 'cara@example.org', 1000000.10, '1969-12-31')`},
		expect: []expect{{op: contact.OpUpsert, id: "I1", origin: adminOrigin, amount: true, values: contact.Values{
			contact.GivenName: "Cara", contact.GivingTotal: "1000000.10", contact.LastGiftDate: "1969-12-31"}}}},
	{name: "single-field update", sql: []string{`UPDATE %s.contacts SET first_name = 'Anne' WHERE id = 'S1'`},
		expect: []expect{{op: contact.OpUpsert, id: "S1", origin: adminOrigin, amount: true,
			values: contact.Values{contact.GivenName: "Anne", contact.Email: "anna@example.org"}}}},
	{name: "null clear", sql: []string{`UPDATE %s.contacts SET email = NULL WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: adminOrigin, cleared: []contact.Field{contact.Email},
			absent: []contact.Field{contact.Email}}}},
	{name: "consent toggle", sql: []string{`UPDATE %s.contacts SET do_not_email = true WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: adminOrigin, values: contact.Values{contact.DoNotEmail: "true"}}}},
	{name: "numerics and dates", sql: []string{`UPDATE %s.contacts SET giving_total = 0.01, last_gift_date = '2000-02-29',
		birth_date = '1970-01-01' WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: adminOrigin, amount: true, values: contact.Values{
			contact.GivingTotal: "0.01", contact.LastGiftDate: "2000-02-29", contact.DateOfBirth: "1970-01-01"}}}},
	{name: "zero amount", sql: []string{`UPDATE %s.contacts SET giving_total = 0 WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: adminOrigin, amount: true,
			values: contact.Values{contact.GivingTotal: "0"}}}},
	// The applier's write: tagged through its session, and (as older
	// loaders did) through the column.
	{name: "echo", sql: []string{`SET LOCAL contactsync.origin = 'sync'`,
		`UPDATE %s.contacts SET city = 'Madison', updated_by = 'contactsync' WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: syncOrigin, amount: true,
			values: contact.Values{contact.Locality: "Madison"}}}},
	// A person's edit after the sync wrote the row is not an echo.
	{name: "human edit after echo", sql: []string{`UPDATE %s.contacts SET phone = '+1 608 555 0199' WHERE id = 'S2'`},
		expect: []expect{{op: contact.OpUpsert, id: "S2", origin: adminOrigin, amount: true,
			values: contact.Values{contact.Phone: "+1 608 555 0199"}}}},
	// A primary-key change is a delete of the old key and a create of the new.
	{name: "primary-key change", sql: []string{`UPDATE %s.contacts SET id = 'S1-NEW' WHERE id = 'S1'`},
		expect: []expect{
			{op: contact.OpDelete, id: "S1", origin: adminOrigin},
			{op: contact.OpUpsert, id: "S1-NEW", origin: adminOrigin, amount: true, values: contact.Values{contact.GivenName: "Anne"}},
		}},
	{name: "delete", sql: []string{`DELETE FROM %s.contacts WHERE id = 'I1'`},
		expect: []expect{{op: contact.OpDelete, id: "I1", origin: adminOrigin}}},
	{name: "end", sql: []string{`INSERT INTO %s.contacts (id, first_name) VALUES ('END', 'End')`},
		expect: []expect{{op: contact.OpUpsert, id: "END", origin: adminOrigin}}},
}

func TestDebeziumRealConnector(t *testing.T) {
	connectURL := required(t, "CONNECT_URL", "the Kafka Connect worker with Debezium")
	dsn := testenv.Postgres(t)
	brokers := testenv.RealKafka(t)
	schemaSQL, err := os.ReadFile(filepath.Join("..", "..", "deploy", "postgres", "offline-schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range connectorModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			recs := runConnector(t, mode, connectURL, dsn, brokers, string(schemaSQL))
			captureRecords(t, mode.name, recs)
			checkRecords(t, mode, recs)
		})
	}
}

// required returns the variable, or skips outside CI when it is unset.
func required(t *testing.T, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if testenv.InCI() {
			t.Fatalf("CI=true but %s is unset: run the tests through `make test`", name)
		}
		t.Skipf("%s is unset: this test needs %s that `make test` starts", name, what)
	}
	return v
}

// runConnector creates the reference schema in a fresh PostgreSQL schema,
// runs a connector in mode on it through the scenario and returns every
// record the connector wrote, in order.
func runConnector(t *testing.T, mode connectorMode, connectURL, dsn string, brokers []string, schemaSQL string) []*kgo.Record {
	ctx := testenv.Context(t, 4*time.Minute)
	name := testenv.Unique("dbz_" + mode.name + "_")
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	exec := func(sqls ...string) {
		t.Helper()
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		for _, s := range sqls {
			if strings.Contains(s, "%s") {
				s = fmt.Sprintf(s, pgx.Identifier{name}.Sanitize())
			}
			if _, err := tx.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE SCHEMA `+pgx.Identifier{name}.Sanitize(), `SET LOCAL search_path = `+pgx.Identifier{name}.Sanitize(), schemaSQL)
	t.Cleanup(func() {
		_, _ = db.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
	})
	exec(snapshotSQL...)

	cfg := pgConnectorConfig(t, dsn, name)
	for k, v := range mode.config {
		cfg[k] = v
	}
	registerConnector(t, ctx, connectURL, name, cfg)
	t.Cleanup(func() { dropConnector(t, connectURL, dsn, name) })

	topic := name + "." + name + ".contacts"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), topic)
		cl.Close()
	})
	var recs []*kgo.Record
	// consumeUntil reads until a record of row id has arrived.
	consumeUntil := func(id string) {
		t.Helper()
		for !slices.ContainsFunc(recs, func(r *kgo.Record) bool { return keyIs(r.Key, id) }) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("no record of %s within the deadline (%d records so far); connector: %s",
					id, len(recs), connectorStatus(connectURL, name))
			}
			for _, e := range fs.Errors() {
				if e.Err != nil && !strings.Contains(e.Err.Error(), "UNKNOWN_TOPIC") {
					t.Fatalf("fetch: %v", e.Err)
				}
			}
			recs = append(recs, fs.Records()...)
		}
	}
	consumeUntil("S2") // the snapshot is streamed
	for _, s := range scenario {
		exec(s.sql...)
	}
	consumeUntil("END")
	return recs
}

// keyIs reports whether a Debezium key (schemas on or off) names row id.
func keyIs(key []byte, id string) bool {
	var k struct {
		ID      *string `json:"id"`
		Payload struct {
			ID string `json:"id"`
		} `json:"payload"`
	}
	if json.Unmarshal(key, &k) != nil {
		return false
	}
	return (k.ID != nil && *k.ID == id) || k.Payload.ID == id
}

// pgConnectorConfig is the connector config shared by every mode: pgoutput,
// its own slot and publication, topics created by Connect.
func pgConnectorConfig(t *testing.T, dsn, name string) map[string]string {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"connector.class":             "io.debezium.connector.postgresql.PostgresConnector",
		"tasks.max":                   "1",
		"plugin.name":                 "pgoutput",
		"database.hostname":           c.Host,
		"database.port":               fmt.Sprint(c.Port),
		"database.user":               c.User,
		"database.password":           c.Password,
		"database.dbname":             c.Database,
		"topic.prefix":                name,
		"table.include.list":          name + ".contacts",
		"slot.name":                   name,
		"publication.name":            name,
		"publication.autocreate.mode": "filtered",
		"snapshot.mode":               "initial",
		"key.converter":               "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":             "org.apache.kafka.connect.json.JsonConverter",
		"topic.creation.default.replication.factor": "1",
		"topic.creation.default.partitions":         "1",
	}
}

func registerConnector(t *testing.T, ctx context.Context, connectURL, name string, cfg map[string]string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "config": cfg})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, connectURL+"/connectors", bytes.NewReader(body))
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

func connectorStatus(connectURL, name string) string {
	resp, err := http.Get(connectURL + "/connectors/" + name + "/status")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

// dropConnector deletes the connector, then its slot (active until the task
// has stopped) and publication.
func dropConnector(t *testing.T, connectURL, dsn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, connectURL+"/connectors/"+name, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer db.Close(ctx)
	for {
		_, err := db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, name)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the slot is still held by the stopping task
	}
	_, _ = db.Exec(ctx, `DROP PUBLICATION IF EXISTS `+pgx.Identifier{name}.Sanitize())
}

// captureRecords writes the records to $DEBEZIUM_CAPTURE_DIR/<mode>.jsonl
// when that is set: the source of the captured records in testdata.
func captureRecords(t *testing.T, mode string, recs []*kgo.Record) {
	dir := os.Getenv("DEBEZIUM_CAPTURE_DIR")
	if dir == "" {
		return
	}
	var b bytes.Buffer
	for _, r := range recs {
		line, _ := json.Marshal(map[string]*string{"key": nullable(r.Key), "value": nullable(r.Value)})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, mode+".jsonl"), b.Bytes(), 0o644); err != nil {
		t.Error(err)
	}
}

func nullable(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// checkRecords decodes every record as ingest does and compares the outcome
// with the scenario: each expected change or kick-out exactly once, in
// order; a record that yields nothing only as the tombstone after a delete.
func checkRecords(t *testing.T, mode connectorMode, recs []*kgo.Record) {
	d, err := decode.NewDebezium(decode.DebeziumConfig{System: "offline"})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(snapshotExpect)
	for _, s := range scenario {
		want = append(want, s.expect...)
	}
	var got []outcome
	lastDeleted := map[string]bool{}
	eventIDs := map[string]int{}
	for i, r := range recs {
		changes, err := d.Decode(r.Key, r.Value, r.Topic, r.Partition, r.Offset)
		switch {
		case err != nil:
			got = append(got, outcome{index: i, err: err})
		case len(changes) == 0:
			// Only a tombstone after its row's delete may yield nothing.
			id := keyID(r.Key)
			if r.Value != nil || !lastDeleted[id] {
				t.Errorf("record %d (key %s) silently dropped: %.300s", i, id, r.Value)
			}
		default:
			for _, c := range changes {
				got = append(got, outcome{index: i, change: c})
				lastDeleted[c.SourceRecordID] = c.Op == contact.OpDelete
				if j, dup := eventIDs[c.EventID]; dup {
					t.Errorf("records %d and %d share event id %s", j, i, c.EventID)
				}
				eventIDs[c.EventID] = i
			}
			// The same record again (a re-send after a connector restart,
			// at another offset) is the same event.
			again, err := d.Decode(r.Key, r.Value, r.Topic, r.Partition+1, r.Offset+1000)
			if err != nil || len(again) != len(changes) || again[0].EventID != changes[0].EventID {
				t.Errorf("record %d re-sent: event id %v (%v), first %s", i, again, err, changes[0].EventID)
			}
		}
	}
	if len(got) != len(want) {
		for _, o := range got {
			t.Logf("got %s", o)
		}
		t.Fatalf("%d outcomes from %d records, want %d", len(got), len(recs), len(want))
	}
	for i, w := range want {
		if problem := w.check(got[i], mode); problem != "" {
			t.Errorf("change %d (%s %s): %s\n  record: %.400s", i, w.op, w.id, problem, recs[got[i].index].Value)
		}
	}
}

type outcome struct {
	index  int
	change contact.Change
	err    error
}

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("record %d: %v", o.index, o.err)
	}
	c := o.change
	return fmt.Sprintf("record %d: %s %s %s values=%v cleared=%v", o.index, c.Op, c.SourceRecordID, c.Origin, c.Values, c.Cleared)
}

func (w expect) check(o outcome, mode connectorMode) string {
	if mode.preciseSchemaless && w.amount && w.op == contact.OpUpsert {
		var de *decode.Error
		if o.err == nil {
			return fmt.Sprintf("a precise amount without its schema was read as %q, want a kick-out", o.change.Values[contact.GivingTotal])
		}
		if !errors.As(o.err, &de) || de.Reason != decode.ReasonField {
			return fmt.Sprintf("error %v, want %s", o.err, decode.ReasonField)
		}
		return ""
	}
	if mode.deletesKickedOut && w.op == contact.OpDelete {
		var de *decode.Error
		if !errors.As(o.err, &de) || de.Reason != decode.ReasonEnvelope {
			return fmt.Sprintf("got %s (%v), want a %s kick-out", o, o.err, decode.ReasonEnvelope)
		}
		return ""
	}
	if o.err != nil {
		return fmt.Sprintf("kicked out: %v", o.err)
	}
	c := o.change
	switch {
	case c.Op != w.op || c.SourceRecordID != w.id:
		return fmt.Sprintf("got %s %s", c.Op, c.SourceRecordID)
	case c.Origin != w.origin:
		return fmt.Sprintf("origin %s, want %s", c.Origin, w.origin)
	case !strings.HasPrefix(c.EventID, "offline:pg:"):
		return fmt.Sprintf("event id %s is not a source position", c.EventID)
	case c.SourceTime.Before(time.Now().Add(-10*time.Minute)) || c.SourceTime.After(time.Now().Add(time.Minute)):
		return fmt.Sprintf("source time %s", c.SourceTime)
	}
	for f, v := range w.values {
		got, ok := c.Values[f]
		if !ok {
			return fmt.Sprintf("no %s", f)
		}
		if !sameValue(f, got, v) {
			return fmt.Sprintf("%s = %q, want %q", f, got, v)
		}
	}
	for _, f := range w.absent {
		if _, ok := c.Values[f]; ok {
			return fmt.Sprintf("%s = %q, want none", f, c.Values[f])
		}
	}
	wantCleared := w.cleared
	if mode.flat {
		wantCleared = nil // no before image: a NULL is never taken for a clear
	}
	if !slices.Equal(c.Cleared, wantCleared) {
		return fmt.Sprintf("cleared %v, want %v", c.Cleared, wantCleared)
	}
	return ""
}

// sameValue compares decimals by value (double mode drops trailing zeros).
func sameValue(f contact.Field, got, want string) bool {
	if f != contact.GivingTotal {
		return got == want
	}
	g, ok1 := new(big.Rat).SetString(got)
	w, ok2 := new(big.Rat).SetString(want)
	return ok1 && ok2 && g.Cmp(w) == 0
}

func keyID(key []byte) string {
	var k map[string]any
	if json.Unmarshal(key, &k) != nil {
		return ""
	}
	if p, ok := k["payload"].(map[string]any); ok {
		k = p
	}
	id, _ := k["id"].(string)
	return id
}
