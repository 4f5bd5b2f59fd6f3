package decode

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Records that the real Debezium 3.6.1 PostgreSQL connector wrote for the
// scenario of TestDebeziumRealConnector (debezium_real_test.go), captured
// with DEBEZIUM_CAPTURE_DIR: the row S1 has giving_total -29293.56, which
// Debezium's default precise mode writes as the base64 "0000".
var capturedCases = []struct {
	file    string
	reason  string
	op      contact.Op
	id      string
	origin  contact.Origin
	values  contact.Values
	cleared []contact.Field
	// eventID and sourceTime, when set, are exact.
	eventID    string
	sourceTime time.Time
}{
	// Schemas off, precise decimals: no schema says how to read the bytes.
	{file: "precise-schemaless-snapshot", reason: ReasonField},
	{file: "precise-schemaless-insert", reason: ReasonField},
	{file: "string-schemaless-snapshot", op: contact.OpUpsert, id: "S1", origin: contact.OriginAdmin,
		values: contact.Values{contact.GivingTotal: "-29293.56", contact.DateOfBirth: "1980-05-17", contact.LastGiftDate: "2026-11-02"}},
	{file: "double-schemaless-insert", op: contact.OpUpsert, id: "I1", origin: contact.OriginAdmin,
		values: contact.Values{contact.GivingTotal: "1000000.1", contact.LastGiftDate: "1969-12-31"}},
	{file: "precise-schemas-on-snapshot", op: contact.OpUpsert, id: "S1", origin: contact.OriginAdmin,
		values:  contact.Values{contact.GivingTotal: "-29293.56", contact.DoNotEmail: "false"},
		eventID: "offline:pg:28711808:contacts:S1"},
	{file: "schemas-on-clear", op: contact.OpUpsert, id: "S2", origin: contact.OriginAdmin,
		cleared: []contact.Field{contact.Email}, sourceTime: time.UnixMilli(1796306821264).UTC()},
	// The applier's write (SET LOCAL contactsync.origin = 'sync'), then a
	// person's edit of the same row: the trigger re-stamps updated_by.
	{file: "schemas-on-echo", op: contact.OpUpsert, id: "S2", origin: contact.OriginSync,
		values: contact.Values{contact.Locality: "Madison"}},
	{file: "schemas-on-edit-after-echo", op: contact.OpUpsert, id: "S2", origin: contact.OriginAdmin,
		values: contact.Values{contact.Phone: "+1 608 555 0199", contact.Locality: "Madison"}},
	// ExtractNewRecordState, add.fields=op,lsn,source.ts_ms, rewrite mode.
	{file: "unwrap-schemas-on-insert", op: contact.OpUpsert, id: "I1", origin: contact.OriginAdmin,
		values:  contact.Values{contact.GivingTotal: "1000000.10", contact.LastGiftDate: "1969-12-31"},
		eventID: "offline:pg:28349760::I1"},
	{file: "unwrap-schemas-on-delete", op: contact.OpDelete, id: "S1", origin: contact.OriginAdmin,
		eventID: "offline:pg:28352232::S1", sourceTime: time.UnixMilli(1796306810695).UTC()},
	// An update that left updated_at alone: the commit time, not the
	// row's older updated_at.
	{file: "unwrap-schemaless-update", op: contact.OpUpsert, id: "S1", origin: contact.OriginAdmin,
		values:     contact.Values{contact.GivenName: "Anne", contact.GivingTotal: "-29293.56"},
		sourceTime: time.UnixMilli(1796306814760).UTC()},
	// No before image: the NULL is not taken for a clear.
	{file: "unwrap-schemaless-clear", op: contact.OpUpsert, id: "S2", origin: contact.OriginAdmin,
		values: contact.Values{contact.GivenName: "Ben"}},
	{file: "unwrap-schemaless-delete", op: contact.OpDelete, id: "S1", origin: contact.OriginAdmin,
		eventID: "offline:pg:28494944::S1"},
	// The transform's default delete handling leaves a schema and a null
	// payload: the delete is kicked out, not skipped as a tombstone.
	{file: "unwrap-tombstone-mode-delete", reason: ReasonEnvelope},
}

func TestDebeziumCapturedRecords(t *testing.T) {
	d := newDebezium(t)
	for _, tc := range capturedCases {
		t.Run(tc.file, func(t *testing.T) {
			key, value := capturedRecord(t, tc.file)
			got, err := d.Decode(key, value, "cdc", 0, 7)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if tc.reason != "" {
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d changes", len(got))
			}
			c := got[0]
			if c.Op != tc.op || c.SourceRecordID != tc.id || c.Origin != tc.origin {
				t.Errorf("got %s %s origin %s, want %s %s origin %s", c.Op, c.SourceRecordID, c.Origin, tc.op, tc.id, tc.origin)
			}
			for f, v := range tc.values {
				if c.Values[f] != v {
					t.Errorf("%s = %q, want %q", f, c.Values[f], v)
				}
			}
			if !slices.Equal(c.Cleared, tc.cleared) {
				t.Errorf("cleared %v, want %v", c.Cleared, tc.cleared)
			}
			if tc.eventID != "" && c.EventID != tc.eventID {
				t.Errorf("event id %s, want %s", c.EventID, tc.eventID)
			}
			if !tc.sourceTime.IsZero() && !c.SourceTime.Equal(tc.sourceTime) {
				t.Errorf("source time %s, want %s", c.SourceTime, tc.sourceTime)
			}
			if err := Validate(c); err != nil {
				t.Errorf("does not validate: %v", err)
			}
		})
	}
}

// capturedRecord reads testdata/debezium/NAME.json: {"key":…,"value":…},
// each the record's bytes as a string (null for none).
func capturedRecord(t testing.TB, name string) (key, value []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "debezium", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Key, Value *string }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if rec.Key != nil {
		key = []byte(*rec.Key)
	}
	if rec.Value != nil {
		value = []byte(*rec.Value)
	}
	return key, value
}

// Unwrapped rows the transform would write with other settings, or that are
// broken: each a kick-out with a reason, never a guess.
func TestDebeziumFlatRows(t *testing.T) {
	d := newDebezium(t)
	for _, tc := range []struct {
		name, value, reason string
		op                  contact.Op
	}{
		{name: "no add.fields", value: `{"id":"S1","first_name":"Anna"}`, reason: ReasonEnvelope},
		{name: "__op not a string", value: `{"id":"S1","__op":1,"__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "deleted without op", value: `{"id":"S1","__deleted":"true","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "deleted disagrees with op", value: `{"id":"S1","__deleted":"true","__op":"u","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "op d not marked deleted", value: `{"id":"S1","__deleted":"false","__op":"d","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "deleted of a wrong type", value: `{"id":"S1","__deleted":[],"__op":"d","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "no time", value: `{"id":"S1","__op":"u","updated_at":null}`, reason: ReasonTime},
		{name: "boolean deleted", value: `{"id":"S1","__deleted":true,"__op":"d","__source_ts_ms":1796306814760}`, op: contact.OpDelete},
		{name: "delete without rewrite's marker", value: `{"id":"S1","__op":"d","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
		{name: "unknown op", value: `{"id":"S1","__op":"t","__source_ts_ms":1796306814760}`, reason: ReasonEnvelope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(`{"id":"S1"}`), []byte(tc.value), "cdc", 0, 1)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if tc.reason == "" && (len(got) != 1 || got[0].Op != tc.op) {
				t.Fatalf("got %+v, want one %s", got, tc.op)
			}
		})
	}
}
