package decode

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

func newDebezium(t testing.TB) *Debezium {
	t.Helper()
	d, err := NewDebezium(DebeziumConfig{System: "offline"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newOnline(t testing.TB) *Online {
	t.Helper()
	o, err := NewOnline(OnlineConfig{System: "online"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func reasonOf(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Reason
	}
	if err != nil {
		return "untyped: " + err.Error()
	}
	return ""
}

const pgSource = `"source":{"connector":"postgresql","name":"offline","ts_ms":1793610000000,"db":"donors","schema":"public","table":"contacts","lsn":12345,"txId":77}`

var (
	at     = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	allAdr = []contact.Field{contact.AddressLine1, contact.AddressLine2, contact.Locality, contact.Region, contact.Postcode, contact.Country}
)

// schemaOn wraps a payload in a JsonConverter schemas-on record whose after
// struct declares the given column schemas.
func schemaOn(cols, payload string) string {
	return `{"schema":{"type":"struct","name":"offline.public.contacts.Envelope","fields":[` +
		`{"field":"before","type":"struct","optional":true,"fields":[]},` +
		`{"field":"after","type":"struct","optional":true,"fields":[` + cols + `]},` +
		`{"field":"op","type":"string"}]},"payload":` + payload + `}`
}

// A pii marker appears in the inputs of failing cases: no error may repeat it.
const pii = "zebediah"

type debeziumCase struct {
	name   string
	key    string
	value  string
	want   *contact.Change // nil and no reason: no change (a tombstone)
	reason string
}

var debeziumCases = []debeziumCase{
	// Envelopes and ops.
	{
		name: "snapshot row, schemas off",
		value: `{"before":null,"after":{"id":"OFF-1","first_name":" Anna ","last_name":"Adams","organisation":null,"email":"anna@example.org","address2":"",
			"do_not_email":false,"giving_total":"125.00","birth_date":"1970-02-03","reference_source":" online ","updated_by":"admin","updated_at":"2026-11-02T09:00:00Z"},
			"op":"r",` + pgSource + `,"ts_ms":1762074000001}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-1", SourceSystem: "offline", SourceRecordID: "OFF-1", ReferenceSource: "online",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org", contact.DoNotEmail: "false",
				contact.GivingTotal: "125.00", contact.DateOfBirth: "1970-02-03"}},
	},
	{
		name: "demo-shaped snapshot row (numbers for lsn and txId, snapshot flag)",
		key:  `{"id":"OFF-01000"}`,
		value: `{"after":{"address1":"12 High Street","address2":null,"birth_date":"1955-04-12","city":"Springfield","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,
			"email":"anna.adams@example.org","first_name":"Anna","giving_total":"25.00","id":"OFF-01000","last_gift_date":"2026-03-14","last_name":"Adams","organisation":null,
			"phone":"+12175550100","postcode":"62701","reference_source":"online","state":"IL","updated_at":"2026-11-02T09:00:00Z","updated_by":"admin"},
			"before":null,"op":"r","source":{"connector":"postgresql","db":"donors","lsn":1793610000000000,"name":"offline","schema":"public","snapshot":"true","table":"contacts",
			"ts_ms":1793610000000,"txId":10000,"version":"3.6.1.Final"},"transaction":null,"ts_ms":1793610000000}`,
		want: &contact.Change{EventID: "offline:pg:1793610000000000:contacts:OFF-01000", SourceSystem: "offline", SourceRecordID: "OFF-01000", ReferenceSource: "online",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna.adams@example.org", contact.Phone: "+12175550100",
				contact.AddressLine1: "12 High Street", contact.Locality: "Springfield", contact.Region: "IL", contact.Postcode: "62701", contact.Country: "US",
				contact.DateOfBirth: "1955-04-12", contact.DoNotEmail: "false", contact.DoNotMail: "false", contact.DoNotPhone: "false",
				contact.GivingTotal: "25.00", contact.LastGiftDate: "2026-03-14"}},
	},
	{
		name: "demo-shaped update of an address",
		key:  `{"id":"OFF-01003"}`,
		value: `{"after":{"address1":"77 Harbour View","address2":null,"birth_date":"1995-01-19","city":"Madison","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,
			"email":"katherine.davies@example.org","first_name":"Katherine","giving_total":"100.00","id":"OFF-01003","last_gift_date":"2026-03-14","last_name":"Davies","organisation":null,
			"phone":"+15375690130","postcode":"53703","reference_source":"event","state":"WI","updated_at":"2026-11-02T11:17:00Z","updated_by":"admin"},
			"before":{"address1":"89 Kings Road","address2":null,"birth_date":"1995-01-19","city":"Madison","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,
			"email":"katherine.davies@example.org","first_name":"Katherine","giving_total":"100.00","id":"OFF-01003","last_gift_date":"2026-03-14","last_name":"Davies","organisation":null,
			"phone":"+15375690130","postcode":"53703","reference_source":"event","state":"WI","updated_by":"admin"},
			"op":"u","source":{"connector":"postgresql","db":"donors","lsn":1793618220000000,"name":"offline","schema":"public","snapshot":"false","table":"contacts","ts_ms":1793618220000,
			"txId":18220,"version":"3.6.1.Final"},"transaction":null,"ts_ms":1793618220000}`,
		want: &contact.Change{EventID: "offline:pg:1793618220000000:contacts:OFF-01003", SourceSystem: "offline", SourceRecordID: "OFF-01003", ReferenceSource: "event",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at.Add(2*time.Hour + 17*time.Minute),
			Values: contact.Values{contact.GivenName: "Katherine", contact.FamilyName: "Davies", contact.Email: "katherine.davies@example.org", contact.Phone: "+15375690130",
				contact.AddressLine1: "77 Harbour View", contact.Locality: "Madison", contact.Region: "WI", contact.Postcode: "53703", contact.Country: "US",
				contact.DateOfBirth: "1995-01-19", contact.DoNotEmail: "false", contact.DoNotMail: "false", contact.DoNotPhone: "false",
				contact.GivingTotal: "100.00", contact.LastGiftDate: "2026-03-14"}},
	},
	{
		name:  "create, schemas off: numbers are exact, dates may be day counts, 0/1 flags",
		value: `{"after":{"id":42,"postcode":62701,"giving_total":125.5,"birth_date":19000,"last_gift_date":-1,"do_not_mail":1,"do_not_phone":"TRUE"},"op":"c",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:42", SourceSystem: "offline", SourceRecordID: "42", Origin: contact.OriginAdmin, Op: contact.OpUpsert,
			SourceTime: at, Values: contact.Values{contact.Postcode: "62701", contact.GivingTotal: "125.5", contact.DateOfBirth: "2022-01-08",
				contact.LastGiftDate: "1969-12-31", contact.DoNotMail: "true", contact.DoNotPhone: "true"}},
	},
	{
		name:  "money in exponent form stays exact",
		value: `{"after":{"id":"1","giving_total":1.2345678901234567890123e3},"op":"c","ts_ms":1793610000000}`,
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "1", Origin: contact.OriginAdmin, Op: contact.OpUpsert,
			SourceTime: at, Values: contact.Values{contact.GivingTotal: "1234.5678901234567890123"}},
	},
	{
		name: "update clears a value explicitly; the sync's own write is an echo",
		value: `{"before":{"id":"OFF-1","phone":"+12175550101","email":"a@example.org","address2":"Flat 2","city":"Springfield"},
			"after":{"id":"OFF-1","phone":null,"email":"a@example.org","organisation":null,"address2":null,"city":"","updated_by":" ContactSync "},"op":"u",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-1", SourceSystem: "offline", SourceRecordID: "OFF-1",
			Origin: contact.OriginSync, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.Email: "a@example.org"}, Cleared: []contact.Field{contact.Phone, contact.AddressLine2}},
	},
	{
		name:  "update without a before image: a null is not a clear",
		value: `{"before":null,"after":{"id":"OFF-1","phone":null,"email":"a@example.org"},"op":"u",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-1", SourceSystem: "offline", SourceRecordID: "OFF-1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at, Values: contact.Values{contact.Email: "a@example.org"}},
	},
	{
		name:  "delete: id from before, no values; origin and time are not the last writer's",
		value: `{"before":{"id":42,"email":"x@example.org","reference_source":"event","updated_by":"contactsync","updated_at":"2020-01-01T00:00:00Z"},"after":null,"op":"d",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:42", SourceSystem: "offline", SourceRecordID: "42", ReferenceSource: "event",
			Origin: contact.OriginAdmin, Op: contact.OpDelete, SourceTime: at},
	},
	{
		name:  "delete without a before image: id from the key",
		key:   `{"id":"OFF-9"}`,
		value: `{"before":null,"after":null,"op":"d","ts_ms":1793610000000}`,
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "OFF-9",
			Origin: contact.OriginAdmin, Op: contact.OpDelete, SourceTime: at},
	},
	{name: "tombstone", value: ``},
	{name: "tombstone, blank", value: " \n"},
	{name: "tombstone as JSON null", value: `null`},
	{name: "tombstone with schemas on", value: `{"schema":null,"payload":null}`},

	// Schemas on: Debezium and Connect encodings.
	{
		name: "schemas on: Debezium date, Connect decimal bytes, micro timestamp",
		value: schemaOn(`{"field":"id","type":"string"},{"field":"birth_date","type":"int32","name":"io.debezium.time.Date"},
				{"field":"giving_total","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"12"}},
				{"field":"updated_at","type":"int64","name":"io.debezium.time.MicroTimestamp"}`,
			`{"before":null,"after":{"id":"OFF-2","birth_date":1,"giving_total":"MDk=","updated_at":1793610000000000},"op":"c",`+pgSource+`}`),
		want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-2", SourceSystem: "offline", SourceRecordID: "OFF-2",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.DateOfBirth: "1970-01-02", contact.GivingTotal: "123.45"}},
	},
	{
		name: "schemas on: negative decimal, id from a schemas-on key, kafka position as event id",
		key:  `{"schema":{"type":"struct","fields":[{"field":"id","type":"string"}]},"payload":{"id":"OFF-3"}}`,
		value: schemaOn(`{"field":"giving_total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}`,
			`{"after":{"giving_total":"z8c="},"op":"c","ts_ms":1793610000000}`),
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "OFF-3",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at, Values: contact.Values{contact.GivingTotal: "-123.45"}},
	},
	{
		name: "schemas on: variable-scale decimal, Connect date, zoned timestamp",
		value: schemaOn(`{"field":"giving_total","type":"struct","name":"io.debezium.data.VariableScaleDecimal"},
				{"field":"last_gift_date","type":"int32","name":"org.apache.kafka.connect.data.Date"},
				{"field":"updated_at","type":"string","name":"io.debezium.time.ZonedTimestamp"}`,
			`{"after":{"id":"OFF-4","giving_total":{"scale":3,"value":"EtaH"},"last_gift_date":20526,"updated_at":"2026-11-02T10:00:00.000000+01:00"},"op":"u",`+pgSource+`}`),
		want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-4", SourceSystem: "offline", SourceRecordID: "OFF-4",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.GivingTotal: "1234.567", contact.LastGiftDate: "2026-03-14"}},
	},
	{
		name: "schemas on: scale 0, millisecond timestamps, a timestamp column read as a date",
		value: schemaOn(`{"field":"giving_total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"0"}},
				{"field":"last_gift_date","type":"int64","name":"org.apache.kafka.connect.data.Timestamp"},
				{"field":"updated_at","type":"int64","name":"io.debezium.time.Timestamp"}`,
			`{"after":{"id":"OFF-5","giving_total":"MDk=","last_gift_date":1773446400000,"updated_at":1793610000000},"op":"c"}`),
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "OFF-5",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.GivingTotal: "12345", contact.LastGiftDate: "2026-03-14"}},
	},

	// Source time.
	{
		name:  "updated_at in microseconds without a schema",
		value: `{"after":{"id":"1","updated_at":1793610000000000},"op":"c","ts_ms":1}`,
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},
	{
		name:  "unparseable updated_at falls back to source.ts_ms",
		value: `{"after":{"id":"1","updated_at":"last tuesday"},"op":"c",` + pgSource + `,"ts_ms":1}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:1", SourceSystem: "offline", SourceRecordID: "1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},
	{
		name:  "absurd updated_at falls back to source.ts_ms",
		value: `{"after":{"id":"1","updated_at":"0001-01-01T00:00:00Z"},"op":"c",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:1", SourceSystem: "offline", SourceRecordID: "1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},
	{
		name:  "an update that did not touch updated_at happened at commit time",
		value: `{"before":{"id":"1","updated_at":"2020-01-01T00:00:00Z"},"after":{"id":"1","updated_at":"2020-01-01T00:00:00Z"},"op":"u",` + pgSource + `}`,
		want: &contact.Change{EventID: "offline:pg:12345:contacts:1", SourceSystem: "offline", SourceRecordID: "1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},
	{
		name:  "no source block: the envelope's ts_ms",
		value: `{"after":{"id":"1"},"op":"c","ts_ms":1793610000000}`,
		want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "1",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},
	{
		name:  "mysql position as event id",
		value: `{"after":{"id":7},"op":"c","source":{"connector":"mysql","file":"binlog.000003","pos":4521,"row":2,"table":"contacts","ts_ms":1793610000000}}`,
		want: &contact.Change{EventID: "offline:mysql:binlog.000003:4521:2:contacts:7", SourceSystem: "offline", SourceRecordID: "7",
			Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at},
	},

	// Failures, one or more per reason. Values carry the pii marker.
	{name: "truncated", value: `{"before":null,"after":{"id":"` + pii, reason: ReasonJSON},
	{name: "not JSON", value: `id=` + pii, reason: ReasonJSON},
	{name: "not an object", value: `["` + pii + `"]`, reason: ReasonJSON},
	{name: "trailing data", value: `{"after":{"id":"1"},"op":"c","ts_ms":1}}`, reason: ReasonJSON},
	{name: "broken UTF-8", value: "{\"after\":{\"id\":\"1\",\"first_name\":\"\xff\"},\"op\":\"c\",\"ts_ms\":1}", reason: ReasonJSON},
	{name: "no op", value: `{"after":{"id":"1"}}`, reason: ReasonEnvelope},
	{name: "op not a string", value: `{"after":{"id":"1"},"op":1}`, reason: ReasonEnvelope},
	{name: "unknown op", value: `{"after":{"id":"1"},"op":"t"}`, reason: ReasonEnvelope},
	{name: "unknown op carrying data", value: `{"after":{"id":"1"},"op":"` + pii + `@example.org"}`, reason: ReasonEnvelope},
	{name: "create without after", value: `{"after":null,"op":"c"}`, reason: ReasonEnvelope},
	{name: "update without after", value: `{"before":{"id":"1"},"op":"u"}`, reason: ReasonEnvelope},
	{name: "snapshot without after", value: `{"op":"r"}`, reason: ReasonEnvelope},
	{name: "after not an object", value: `{"after":"` + pii + `","op":"c"}`, reason: ReasonEnvelope},
	{name: "before not an object", value: `{"before":[1],"after":{"id":"1"},"op":"u"}`, reason: ReasonEnvelope},
	{name: "payload not an object", value: `{"schema":{},"payload":"` + pii + `"}`, reason: ReasonEnvelope},
	{name: "no id anywhere", value: `{"after":{"email":"` + pii + `@example.org"},"op":"c","ts_ms":1793610000000}`, reason: ReasonMissingID},
	{name: "blank id, key not JSON", key: pii, value: `{"after":{"id":" "},"op":"c","ts_ms":1793610000000}`, reason: ReasonMissingID},
	{name: "delete with nothing to name the record", value: `{"before":null,"op":"d","ts_ms":1793610000000}`, reason: ReasonMissingID},
	{name: "id of the wrong type", value: `{"after":{"id":{"v":"` + pii + `"}},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "no time", value: `{"after":{"id":"1"},"op":"c"}`, reason: ReasonTime},
	{name: "time out of range", value: `{"after":{"id":"1","updated_at":"2301-01-01T00:00:00Z"},"op":"c","ts_ms":-99999999999999}`, reason: ReasonTime},
	{name: "boolean in a text column", value: `{"after":{"id":"1","email":true},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "object in a column", value: `{"after":{"id":"1","email":{"a":"` + pii + `"}},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "text in a date column", value: `{"after":{"id":"1","birth_date":"` + pii + `"},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "text in a decimal column", value: `{"after":{"id":"1","giving_total":"1,250.00"},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "text in a boolean column", value: `{"after":{"id":"1","do_not_email":"` + pii + `"},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "number 2 in a boolean column", value: `{"after":{"id":"1","do_not_email":2},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "day count out of range", value: `{"after":{"id":"1","birth_date":99999999},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "fractional day count", value: `{"after":{"id":"1","birth_date":1.5},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "huge exponent", value: `{"after":{"id":"1","giving_total":1e999999999},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{name: "NUL in a text column", value: `{"after":{"id":"1","first_name":"a\u0000b"},"op":"c","ts_ms":1793610000000}`, reason: ReasonField},
	{
		name: "decimal bytes that are not base64",
		value: schemaOn(`{"field":"giving_total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}`,
			`{"after":{"id":"1","giving_total":"`+pii+`!"},"op":"c","ts_ms":1793610000000}`),
		reason: ReasonField,
	},
	{
		name:   "decimal bytes without a schema cannot be read",
		value:  `{"after":{"id":"1","giving_total":"MDk="},"op":"c","ts_ms":1793610000000}`,
		reason: ReasonField,
	},
	{
		name:   "variable-scale decimal without a value",
		value:  `{"after":{"id":"1","giving_total":{"scale":2}},"op":"c","ts_ms":1793610000000}`,
		reason: ReasonField,
	},
}

func TestDebezium(t *testing.T) {
	d := newDebezium(t)
	for _, tc := range debeziumCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tc.key), []byte(tc.value), "cdc", 2, 9)
			checkDecoded(t, got, err, tc.reason, tc.want)
		})
	}
}

// checkDecoded asserts a decoder's answer: the wanted reason with no change
// and no value in the error text, or exactly the wanted change (nil: no
// change, as for a tombstone), which must also pass Validate.
func checkDecoded(t *testing.T, got []contact.Change, err error, reason string, want *contact.Change) {
	t.Helper()
	if r := reasonOf(err); r != reason {
		t.Fatalf("reason %q (%v), want %q", r, err, reason)
	}
	if reason != "" {
		if got != nil {
			t.Fatalf("changes %+v with an error", got)
		}
		if strings.Contains(strings.ToLower(err.Error()), pii) {
			t.Fatalf("error text carries a value: %v", err)
		}
		return
	}
	if want == nil {
		if got != nil {
			t.Fatalf("got %+v, want no change", got)
		}
		return
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], *want) {
		t.Fatalf("got  %+v\nwant %+v", got, *want)
	}
	if err := Validate(got[0]); err != nil {
		t.Fatalf("decoded change does not validate: %v", err)
	}
}

func TestDebeziumUnknownOpIsNamed(t *testing.T) {
	_, err := newDebezium(t).Decode(nil, []byte(`{"op":"t","ts_ms":1}`), "cdc", 0, 0)
	if err == nil || !strings.Contains(err.Error(), `"t"`) {
		t.Fatalf("error %v does not name the op", err)
	}
}

func TestDebeziumEventID(t *testing.T) {
	d := newDebezium(t)
	id := func(key, value string, partition int32, offset int64) string {
		t.Helper()
		got, err := d.Decode([]byte(key), []byte(value), "cdc", partition, offset)
		if err != nil {
			t.Fatal(err)
		}
		return got[0].EventID
	}
	pg := func(lsn, id string) string {
		return `{"after":{"id":"` + id + `"},"op":"u","source":{"connector":"postgresql","table":"contacts","ts_ms":1793610000000,"txId":9,"lsn":` + lsn + `}}`
	}
	// Re-sent after a connector restart: new Kafka position, same change.
	if a, b := id("", pg("100", "A"), 0, 1), id("", pg("100", "A"), 3, 99); a != b {
		t.Errorf("same source change, two ids: %s vs %s", a, b)
	}
	// Snapshot rows share one position; the record tells them apart.
	if a, b := id("", pg("100", "A"), 0, 1), id("", pg("100", "B"), 0, 2); a == b {
		t.Errorf("two rows, one id: %s", a)
	}
	// The next change to the same row is another event.
	if a, b := id("", pg("100", "A"), 0, 1), id("", pg("101", "A"), 0, 2); a == b {
		t.Errorf("two changes, one id: %s", a)
	}
	// Without a source position the Kafka position is the identity.
	noPos := `{"after":{"id":"A"},"op":"u","ts_ms":1793610000000}`
	if a, b := id("", noPos, 0, 5), id("", noPos, 0, 5); a != b || a != "offline:kafka:cdc/0/5" {
		t.Errorf("redelivered record: %s vs %s", a, b)
	}
	if a, b := id("", noPos, 0, 5), id("", noPos, 0, 6); a == b {
		t.Errorf("two records, one id: %s", a)
	}
	// The system name prefixes the id, so two offline systems never collide.
	other, err := NewDebezium(DebeziumConfig{System: "branch"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Decode(nil, []byte(pg("100", "A")), "cdc", 0, 1)
	if err != nil || got[0].EventID != "branch:pg:100:contacts:A" {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestDebeziumConfig(t *testing.T) {
	for name, cfg := range map[string]DebeziumConfig{
		"no system":     {},
		"unknown field": {System: "o", Columns: map[string]contact.Field{"shoe": "shoe_size"}},
		"one field, two columns": {System: "o", Columns: map[string]contact.Field{
			"email": contact.Email, "email2": contact.Email}},
		"empty column": {System: "o", Columns: map[string]contact.Field{"": contact.Email}},
	} {
		if _, err := NewDebezium(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	cols := map[string]contact.Field{"fname": contact.GivenName, "mail": contact.Email, "optout": contact.DoNotEmail}
	d, err := NewDebezium(DebeziumConfig{System: "crm", Columns: cols, IDColumn: "contact_no",
		ReferenceSourceColumn: "src", UpdatedByColumn: "who", UpdatedAtColumn: "changed", SyncUser: "svc_sync"})
	if err != nil {
		t.Fatal(err)
	}
	cols["first_name"] = contact.FamilyName // the decoder keeps its own copy
	got, err := d.Decode(nil, []byte(`{"before":{"mail":"x"},"after":{"contact_no":5,"fname":"Anna","first_name":"Adams","mail":null,"optout":true,
		"src":"event","who":"SVC_SYNC","changed":"2026-11-02T09:00:00Z","id":"not-this","email":"not-this"},"op":"u"}`), "cdc", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := contact.Change{EventID: "crm:kafka:cdc/1/2", SourceSystem: "crm", SourceRecordID: "5", ReferenceSource: "event",
		Origin: contact.OriginSync, Op: contact.OpUpsert, SourceTime: at,
		Values: contact.Values{contact.GivenName: "Anna", contact.DoNotEmail: "true"}, Cleared: []contact.Field{contact.Email}}
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("got  %+v\nwant %+v", got[0], want)
	}

	def := DefaultColumns()
	if len(def) != len(contact.Fields) {
		t.Fatalf("DefaultColumns maps %d columns, want one per field (%d)", len(def), len(contact.Fields))
	}
	def["x"] = contact.Email
	if _, ok := DefaultColumns()["x"]; ok {
		t.Fatal("DefaultColumns returns a shared map")
	}
}

func onlineEvent(body string) string {
	return `{"event_id":"evt-1","type":"gift.created","system":"online","occurred_at":"2026-11-02T09:00:00Z","origin":"api",` + body + `}`
}

func contactEvent(kind, contactBody string) string {
	return `{"event_id":"evt-1","type":"` + kind + `","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"web-1"` + contactBody + `}}`
}

func giftEvent(gift string) string {
	return onlineEvent(`"contact":{"id":"web-1"},"gift":{"id":"g-1",` + gift + `}`)
}

func withGift(g contact.Gift) *contact.Change {
	return &contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1", Origin: contact.OriginAPI,
		Op: contact.OpUpsert, SourceTime: at, Gift: &g}
}

func withValues(v contact.Values, cleared ...contact.Field) *contact.Change {
	return &contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1", Origin: contact.OriginUnknown,
		Op: contact.OpUpsert, SourceTime: at, Values: v, Cleared: cleared}
}

type onlineCase struct {
	name   string
	value  string
	want   *contact.Change
	reason string
}

var onlineCases = []onlineCase{
	{
		name: "gift with donor, consent and a cleared field",
		value: onlineEvent(`"contact":{"id":"web-1","reference_source":"online","first_name":" Anna ","last_name":"Adams","email":"anna@example.org","phone":"","organisation":null,
				"address":{"line1":"1 High Street","city":"Springfield","region":"IL","postcode":"62701","country":"US","unknown_key":1},"consent":{"email":false,"post":true},"loyalty":{"tier":3}},
				"gift":{"id":"g-1","amount":"12.50","currency":"usd","campaign":"winter","fund":"general","payment_method":"card","extra":[1]},"schema_version":2`),
		want: &contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1", ReferenceSource: "online",
			Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at,
			Values: contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org",
				contact.AddressLine1: "1 High Street", contact.Locality: "Springfield", contact.Region: "IL", contact.Postcode: "62701", contact.Country: "US",
				contact.DoNotEmail: "true", contact.DoNotMail: "false"},
			Cleared: []contact.Field{contact.Organisation},
			Gift:    &contact.Gift{GiftID: "g-1", AmountMinor: 1250, Currency: "USD", ReceivedAt: at, Campaign: "winter", Fund: "general", PaymentMethod: "card"}},
	},
	{
		name: "demo-shaped gift",
		value: `{"contact":{"address":{"city":"Portland","country":"US","line1":"162 Park Avenue","postcode":"97201","region":"OR"},"email":"maria.garcia@example.org","first_name":"Maria",
			"id":"web-0001","last_name":"Garcia","phone":"+19726848466","reference_source":"online"},"event_id":"evt-web-0001-1793613660",
			"gift":{"amount":"25.00","campaign":"winter-appeal","currency":"USD","id":"g-web-0001-1793613660","payment_method":"card","received_at":"2026-11-02T10:01:00Z"},
			"occurred_at":"2026-11-02T10:01:00Z","origin":"api","system":"online","type":"gift.created"}`,
		want: &contact.Change{EventID: "evt-web-0001-1793613660", SourceSystem: "online", SourceRecordID: "web-0001", ReferenceSource: "online",
			Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at.Add(time.Hour + time.Minute),
			Values: contact.Values{contact.GivenName: "Maria", contact.FamilyName: "Garcia", contact.Email: "maria.garcia@example.org", contact.Phone: "+19726848466",
				contact.AddressLine1: "162 Park Avenue", contact.Locality: "Portland", contact.Region: "OR", contact.Postcode: "97201", contact.Country: "US"},
			Gift: &contact.Gift{GiftID: "g-web-0001-1793613660", AmountMinor: 2500, Currency: "USD", ReceivedAt: at.Add(time.Hour + time.Minute),
				Campaign: "winter-appeal", PaymentMethod: "card"}},
	},
	{
		name: "demo-shaped consent change",
		value: `{"contact":{"address":{"city":"Portland","country":"US","line1":"162 Park Avenue","postcode":"97201","region":"OR"},"consent":{"email":false},"email":"maria.garcia@example.org",
			"first_name":"Maria","id":"web-0001","last_name":"Garcia","phone":"+19726848466","reference_source":"online"},"event_id":"evt-web-0001-1793618222",
			"occurred_at":"2026-11-02T11:17:02Z","origin":"self_service","system":"online","type":"contact.updated"}`,
		want: &contact.Change{EventID: "evt-web-0001-1793618222", SourceSystem: "online", SourceRecordID: "web-0001", ReferenceSource: "online",
			Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: at.Add(2*time.Hour + 17*time.Minute + 2*time.Second),
			Values: contact.Values{contact.GivenName: "Maria", contact.FamilyName: "Garcia", contact.Email: "maria.garcia@example.org", contact.Phone: "+19726848466",
				contact.AddressLine1: "162 Park Avenue", contact.Locality: "Portland", contact.Region: "OR", contact.Postcode: "97201", contact.Country: "US",
				contact.DoNotEmail: "true"}},
	},
	{
		name: "contact created, every field, default system",
		value: contactEvent("contact.created", `,"first_name":"Anna","last_name":"Adams","organisation":"Acme","email":"a@example.org","phone":"+12175550100","date_of_birth":"1970-02-03",
			"address":{"line1":"1 High St","line2":"Flat 2","city":"Springfield","region":"IL","postcode":"62701","country":"US"},"consent":{"email":true,"post":false,"phone":true}`),
		want: withValues(contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Organisation: "Acme", contact.Email: "a@example.org",
			contact.Phone: "+12175550100", contact.DateOfBirth: "1970-02-03", contact.AddressLine1: "1 High St", contact.AddressLine2: "Flat 2",
			contact.Locality: "Springfield", contact.Region: "IL", contact.Postcode: "62701", contact.Country: "US",
			contact.DoNotEmail: "false", contact.DoNotMail: "true", contact.DoNotPhone: "false"}),
	},
	{
		name:  "contact update: null clears, blank and absent are not supplied, null consent is ignored",
		value: contactEvent("contact.updated", `,"first_name":null,"last_name":"  ","email":"","address":{"line2":null,"city":"Madison"},"consent":{"email":null,"phone":false}`),
		want:  withValues(contact.Values{contact.Locality: "Madison", contact.DoNotPhone: "true"}, contact.GivenName, contact.AddressLine2),
	},
	{
		name:  "contact update, whole address cleared, no origin, numeric id, offset time",
		value: `{"event_id":"evt-2","type":"contact.updated","occurred_at":"2026-11-02T10:00:00+01:00","contact":{"id":7,"address":null,"consent":null}}`,
		want: &contact.Change{EventID: "evt-2", SourceSystem: "online", SourceRecordID: "7", Origin: contact.OriginUnknown, Op: contact.OpUpsert, SourceTime: at,
			Cleared: allAdr},
	},
	{
		name:  "self-service origin, the source's own system named",
		value: `{"event_id":"e","type":"contact.updated","system":"online","origin":"self_service","occurred_at":"2026-11-02T09:00:00.5Z","contact":{"id":"w"}}`,
		want: &contact.Change{EventID: "e", SourceSystem: "online", SourceRecordID: "w", Origin: contact.OriginSelfService, Op: contact.OpUpsert,
			SourceTime: at.Add(500 * time.Millisecond)},
	},
	{name: "two-decimal currency", value: giftEvent(`"amount":"12.5","currency":"EUR"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1250, Currency: "EUR", ReceivedAt: at})},
	{name: "whole amount", value: giftEvent(`"amount":"12","currency":"GBP"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1200, Currency: "GBP", ReceivedAt: at})},
	{name: "amount as a JSON number", value: giftEvent(`"amount":12.5,"currency":"USD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1250, Currency: "USD", ReceivedAt: at})},
	{name: "one cent", value: giftEvent(`"amount":"0.01","currency":"USD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1, Currency: "USD", ReceivedAt: at})},
	{name: "trailing zeros are exact", value: giftEvent(`"amount":"10.500","currency":"USD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1050, Currency: "USD", ReceivedAt: at})},
	{name: "yen has no minor unit", value: giftEvent(`"amount":"1500","currency":"JPY"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1500, Currency: "JPY", ReceivedAt: at})},
	{name: "won has no minor unit", value: giftEvent(`"amount":50000,"currency":"KRW"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 50000, Currency: "KRW", ReceivedAt: at})},
	{name: "dinar has three", value: giftEvent(`"amount":1.005,"currency":"KWD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1005, Currency: "KWD", ReceivedAt: at})},
	{name: "bahraini dinar has three", value: giftEvent(`"amount":"2.5","currency":"BHD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 2500, Currency: "BHD", ReceivedAt: at})},
	{name: "rial has three", value: giftEvent(`"amount":"0.125","currency":"OMR"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 125, Currency: "OMR", ReceivedAt: at})},
	{name: "tunisian and jordanian dinars have three", value: giftEvent(`"amount":"1.001","currency":"TND"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1001, Currency: "TND", ReceivedAt: at})},
	{name: "jordanian dinar has three", value: giftEvent(`"amount":"1.999","currency":"JOD"`), want: withGift(contact.Gift{GiftID: "g-1", AmountMinor: 1999, Currency: "JOD", ReceivedAt: at})},
	{name: "received_at and numeric gift id", value: onlineEvent(`"contact":{"id":"web-1"},"gift":{"id":991,"amount":"5","currency":"USD","received_at":"2026-11-01T09:00:00Z"}`),
		want: withGift(contact.Gift{GiftID: "991", AmountMinor: 500, Currency: "USD", ReceivedAt: at.Add(-24 * time.Hour)})},
	{name: "a gift on a contact event is not read", value: `{"event_id":"evt-1","type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"web-1"},"gift":{"amount":"-1"}}`,
		want: withValues(nil)},

	// Gift failures.
	{name: "too many decimals for the dollar", value: giftEvent(`"amount":"1.005","currency":"USD"`), reason: ReasonGift},
	{name: "decimals for the yen", value: giftEvent(`"amount":"12.5","currency":"JPY"`), reason: ReasonGift},
	{name: "too many decimals for the dinar", value: giftEvent(`"amount":"1.0005","currency":"KWD"`), reason: ReasonGift},
	{name: "negative amount", value: giftEvent(`"amount":"-5.00","currency":"USD"`), reason: ReasonGift},
	{name: "zero amount", value: giftEvent(`"amount":"0","currency":"USD"`), reason: ReasonGift},
	{name: "exponent amount", value: giftEvent(`"amount":1e2,"currency":"USD"`), reason: ReasonGift},
	{name: "huge exponent amount", value: giftEvent(`"amount":1e999999,"currency":"USD"`), reason: ReasonGift},
	{name: "grouped amount", value: giftEvent(`"amount":"1,000.00","currency":"USD"`), reason: ReasonGift},
	{name: "amount with a symbol", value: giftEvent(`"amount":"$5","currency":"USD"`), reason: ReasonGift},
	{name: "amount out of range", value: giftEvent(`"amount":"99999999999999999999","currency":"USD"`), reason: ReasonGift},
	{name: "amount a boolean", value: giftEvent(`"amount":true,"currency":"USD"`), reason: ReasonGift},
	{name: "no amount", value: giftEvent(`"currency":"USD"`), reason: ReasonGift},
	{name: "two-letter currency", value: giftEvent(`"amount":"5","currency":"US"`), reason: ReasonGift},
	{name: "currency not letters", value: giftEvent(`"amount":"5","currency":"U$D"`), reason: ReasonGift},
	{name: "no currency", value: giftEvent(`"amount":"5"`), reason: ReasonGift},
	{name: "no gift id", value: onlineEvent(`"contact":{"id":"web-1"},"gift":{"amount":"5","currency":"USD"}`), reason: ReasonGift},
	{name: "gift id a boolean", value: onlineEvent(`"contact":{"id":"web-1"},"gift":{"id":true,"amount":"5","currency":"USD"}`), reason: ReasonGift},
	{name: "bad received_at", value: giftEvent(`"amount":"5","currency":"USD","received_at":"` + pii + `"`), reason: ReasonGift},
	{name: "received long ago", value: giftEvent(`"amount":"5","currency":"USD","received_at":"1900-01-01T00:00:00Z"`), reason: ReasonGift},
	{name: "campaign a number", value: giftEvent(`"amount":"5","currency":"USD","campaign":5`), reason: ReasonField},
	{name: "gift.created without gift", value: onlineEvent(`"contact":{"id":"web-1"}`), reason: ReasonEvent},
	{name: "gift.created with a null gift", value: onlineEvent(`"contact":{"id":"web-1"},"gift":null`), reason: ReasonEvent},
	{name: "gift not an object", value: onlineEvent(`"contact":{"id":"web-1"},"gift":"` + pii + `"`), reason: ReasonEvent},

	// Event and contact failures.
	{name: "no contact id", value: onlineEvent(`"contact":{"first_name":"` + pii + `"},"gift":{}`), reason: ReasonMissingID},
	{name: "blank contact id", value: `{"event_id":"e","type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"  "}}`, reason: ReasonMissingID},
	{name: "contact id an object", value: `{"event_id":"e","type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":{"x":"` + pii + `"}}}`, reason: ReasonField},
	{name: "no contact", value: onlineEvent(`"x":1`), reason: ReasonEvent},
	{name: "contact not an object", value: onlineEvent(`"contact":"` + pii + `"`), reason: ReasonEvent},
	{name: "number as a name", value: contactEvent("contact.created", `,"first_name":5`), reason: ReasonField},
	{name: "array as an email", value: contactEvent("contact.created", `,"email":["`+pii+`@example.org"]`), reason: ReasonField},
	{name: "reference source a number", value: contactEvent("contact.created", `,"reference_source":1`), reason: ReasonField},
	{name: "address a string", value: contactEvent("contact.created", `,"address":"`+pii+` Street"`), reason: ReasonField},
	{name: "address line a number", value: contactEvent("contact.created", `,"address":{"postcode":62701}`), reason: ReasonField},
	{name: "consent a boolean", value: contactEvent("contact.created", `,"consent":true`), reason: ReasonField},
	{name: "consent not boolean", value: contactEvent("contact.created", `,"consent":{"email":"yes"}`), reason: ReasonField},
	{name: "date of birth not ISO", value: contactEvent("contact.created", `,"date_of_birth":"03/02/1970"`), reason: ReasonField},
	{name: "impossible date of birth", value: contactEvent("contact.created", `,"date_of_birth":"1970-02-30"`), reason: ReasonField},
	{name: "NUL in a name", value: contactEvent("contact.created", `,"first_name":"`+pii+`\u0000"`), reason: ReasonField},
	{name: "event id a number", value: `{"event_id":5,"type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonField},
	{name: "system a number", value: `{"event_id":"e","system":1,"type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonField},
	{name: "origin a number", value: `{"event_id":"e","origin":1,"type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonField},
	{name: "another system named", value: `{"event_id":"e","type":"contact.updated","system":"shop","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonSystem},
	{name: "admin origin from an untrusted source", value: `{"event_id":"e","type":"contact.updated","origin":"admin","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonOrigin},
	{name: "unknown type", value: `{"event_id":"e","type":"order.shipped"}`, reason: ReasonEvent},
	{name: "type not a string", value: `{"event_id":"e","type":["contact.created"]}`, reason: ReasonEvent},
	{name: "no type", value: `{"event_id":"e"}`, reason: ReasonEvent},
	{name: "no event id", value: `{"type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonEventID},
	{name: "blank event id", value: `{"event_id":" ","type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonEventID},
	{name: "no time", value: `{"event_id":"e","type":"contact.created","contact":{"id":"w"}}`, reason: ReasonTime},
	{name: "bad time", value: `{"event_id":"e","type":"contact.created","occurred_at":"yesterday","contact":{"id":"w"}}`, reason: ReasonTime},
	{name: "time without a zone", value: `{"event_id":"e","type":"contact.created","occurred_at":"2026-11-02T09:00:00","contact":{"id":"w"}}`, reason: ReasonTime},
	{name: "absurd time", value: `{"event_id":"e","type":"contact.created","occurred_at":"0001-01-01T00:00:00Z","contact":{"id":"w"}}`, reason: ReasonTime},
	{name: "unknown origin", value: `{"event_id":"e","type":"contact.created","origin":"robot","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonOrigin},
	{name: "origin carrying data", value: `{"event_id":"e","type":"contact.created","origin":"` + pii + `@example.org","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonOrigin},
	{name: "truncated", value: `{"event_id": "evt-bad-1", "type": "gift.created", `, reason: ReasonJSON},
	{name: "empty", value: ``, reason: ReasonJSON},
	{name: "null", value: `null`, reason: ReasonJSON},
	{name: "an array", value: `[{"event_id":"e"}]`, reason: ReasonJSON},
	{name: "two events", value: `{"event_id":"e"} {"event_id":"f"}`, reason: ReasonJSON},
	{name: "broken UTF-8", value: "{\"event_id\":\"e\",\"type\":\"contact.created\",\"occurred_at\":\"2026-11-02T09:00:00Z\",\"contact\":{\"id\":\"w\",\"first_name\":\"\xc3\"}}", reason: ReasonJSON},
}

func TestOnline(t *testing.T) {
	o := newOnline(t)
	for _, tc := range onlineCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.Decode(nil, []byte(tc.value))
			checkDecoded(t, got, err, tc.reason, tc.want)
		})
	}
}

func TestOnlineOrigins(t *testing.T) {
	o, err := NewOnline(OnlineConfig{System: "online", TrustedOrigins: PrivilegedOrigins})
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []contact.Origin{contact.OriginAdmin, contact.OriginSelfService, contact.OriginAPI,
		contact.OriginNCOA, contact.OriginImport, contact.OriginSync, contact.OriginUnknown} {
		got, err := o.Decode(nil, []byte(`{"event_id":"e","type":"contact.updated","origin":"`+string(origin)+`","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`))
		if err != nil || got[0].Origin != origin {
			t.Errorf("origin %s: got %+v, %v", origin, got, err)
		}
	}
}

func TestOnlineFieldErrorNamesField(t *testing.T) {
	_, err := newOnline(t).Decode(nil, []byte(contactEvent("contact.created", `,"first_name":5`)))
	if err == nil || !strings.Contains(err.Error(), "first_name") {
		t.Fatalf("error %v does not name first_name", err)
	}
	_, err = newOnline(t).Decode(nil, []byte(giftEvent(`"amount":"5","currency":"USD","fund":{}`)))
	if err == nil || !strings.Contains(err.Error(), "gift.fund") {
		t.Fatalf("error %v does not name gift.fund", err)
	}
}

func TestNewOnline(t *testing.T) {
	if _, err := NewOnline(OnlineConfig{}); err == nil {
		t.Fatal("no error without a system")
	}
}

func TestMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		exp  int
		want int64
		ok   bool
	}{
		{"12.50", 2, 1250, true}, {"12.5", 2, 1250, true}, {"12", 2, 1200, true}, {"0.01", 2, 1, true},
		{"1500", 0, 1500, true}, {"1.005", 3, 1005, true}, {"1.005", 2, 0, false}, {"1.5", 0, 0, false},
		{"92233720368547758.07", 2, 9223372036854775807, true}, {"92233720368547758.08", 2, 0, false},
		{"abc", 2, 0, false}, {"99999999999999999999", 2, 0, false}, {"1/3", 2, 0, false}, {"0x10", 2, 0, false},
		{"1e2", 2, 0, false}, {".5", 2, 0, false}, {"5.", 2, 0, false}, {"+5", 2, 0, false}, {"", 2, 0, false},
		{" 5", 2, 0, false}, {"-1.50", 2, -150, true},
	} {
		got, err := minorUnits(tc.in, tc.exp)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("minorUnits(%q, %d) = %d, %v; want %d ok=%v", tc.in, tc.exp, got, err, tc.want, tc.ok)
		}
	}
}

func TestPlainDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"125": "125", "125.50": "125.50", "-3": "-3", "0": "0",
		"1e2": "100", "1E+2": "100", "1.5e1": "15", "1.50e1": "15.0", "12.5e-1": "1.25",
		"5e-3": "0.005", "5e-1": "0.5", "0.5e1": "5", "-2.5e-2": "-0.025", "123e-2": "1.23", "1e0": "1",
		"1.2345678901234567890123e3": "1234.5678901234567890123",
	} {
		got, err := plainDecimal(json.Number(in))
		if err != nil || got != want {
			t.Errorf("plainDecimal(%s) = %q, %v; want %q", in, got, err, want)
		}
		if err == nil && !decimalRE.MatchString(got) {
			t.Errorf("plainDecimal(%s) = %q is not a plain decimal", in, got)
		}
	}
	for _, in := range []string{"1e101", "1e-101", "1e999999999999999999999"} {
		if got, err := plainDecimal(json.Number(in)); err == nil {
			t.Errorf("plainDecimal(%s) = %q, want an error", in, got)
		}
	}
}

func TestConnectDecimal(t *testing.T) {
	for _, tc := range []struct {
		b64   string
		scale int
		want  string
	}{
		{"MDk=", 2, "123.45"}, {"z8c=", 2, "-123.45"}, {"MDk=", 0, "12345"}, {"AA==", 2, "0.00"},
		{"", 2, "0.00"}, {"/w==", 1, "-0.1"}, {"AP8=", 0, "255"}, {"EtaH", 3, "1234.567"}, {"MDk=", 6, "0.012345"},
	} {
		got, err := connectDecimal(tc.b64, tc.scale)
		if err != nil || got != tc.want {
			t.Errorf("connectDecimal(%q, %d) = %q, %v; want %q", tc.b64, tc.scale, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		b64   string
		scale int
	}{{"MDk=", -1}, {"MDk=", 101}, {"not base64!", 2}, {strings.Repeat("AAAA", 30), 2}} {
		if got, err := connectDecimal(tc.b64, tc.scale); err == nil {
			t.Errorf("connectDecimal(%q, %d) = %q, want an error", tc.b64, tc.scale, got)
		}
	}
}

func TestEpochTime(t *testing.T) {
	for _, tc := range []struct {
		n       string
		logical string
	}{
		{"1793610000000", ""}, {"1793610000000000", ""}, {"1793610000000000000", ""},
		{"1793610000000", typeMilli}, {"1793610000000", typeConnectMilli},
		{"1793610000000000", typeMicro}, {"1793610000000000000", typeNano},
	} {
		got, err := epochTime(json.Number(tc.n), tc.logical)
		if err != nil || !got.Equal(at) {
			t.Errorf("epochTime(%s, %q) = %v, %v; want %v", tc.n, tc.logical, got, err, at)
		}
	}
	if _, err := epochTime(json.Number("1.5"), ""); err == nil {
		t.Error("fractional timestamp accepted")
	}
}

func TestError(t *testing.T) {
	cause := errors.New("phone: not a text value")
	err := error(&Error{Reason: ReasonField, Err: cause})
	if err.Error() != "validate.field: phone: not a text value" {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	if got := (&Error{Reason: ReasonOp}).Error(); got != ReasonOp {
		t.Errorf("Error() without a cause = %q", got)
	}
	wrapped := fmt.Errorf("ingest: %w", err)
	if reasonOf(wrapped) != ReasonField {
		t.Error("reason lost through wrapping")
	}
}

func TestValidate(t *testing.T) {
	good := contact.Change{EventID: "e", SourceSystem: "s", SourceRecordID: "r", Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
		Values:  contact.Values{contact.GivenName: "Anna", contact.DoNotEmail: "true", contact.DateOfBirth: "1980-02-29", contact.GivingTotal: "10.5"},
		Cleared: []contact.Field{contact.Phone},
		Gift:    &contact.Gift{GiftID: "g", AmountMinor: 1, Currency: "USD", ReceivedAt: at}}
	if err := Validate(good); err != nil {
		t.Fatal(err)
	}
	del := contact.Change{EventID: "e", SourceSystem: "s", SourceRecordID: "r", Origin: contact.OriginUnknown, Op: contact.OpDelete, SourceTime: at}
	if err := Validate(del); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*contact.Change)
		reason string
		msg    string // the message must contain this
	}{
		{"no event id", func(c *contact.Change) { c.EventID = "" }, ReasonEventID, ""},
		{"no system", func(c *contact.Change) { c.SourceSystem = "" }, ReasonSystem, ""},
		{"no record id", func(c *contact.Change) { c.SourceRecordID = "" }, ReasonMissingID, ""},
		{"bad op", func(c *contact.Change) { c.Op = "merge" }, ReasonOp, `"merge"`},
		{"no op", func(c *contact.Change) { c.Op = "" }, ReasonOp, ""},
		{"bad origin", func(c *contact.Change) { c.Origin = "x" }, ReasonOrigin, ""},
		{"no origin", func(c *contact.Change) { c.Origin = "" }, ReasonOrigin, ""},
		{"no time", func(c *contact.Change) { c.SourceTime = time.Time{} }, ReasonTime, ""},
		{"before 1970", func(c *contact.Change) { c.SourceTime = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, ReasonTime, ""},
		{"after 2200", func(c *contact.Change) { c.SourceTime = time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC) }, ReasonTime, ""},
		{"bool", func(c *contact.Change) { c.Values[contact.DoNotMail] = "yes" }, ReasonField, "do_not_mail: not a boolean value"},
		{"bool upper case", func(c *contact.Change) { c.Values[contact.DoNotMail] = "TRUE" }, ReasonField, "do_not_mail"},
		{"date", func(c *contact.Change) { c.Values[contact.DateOfBirth] = "1981-02-29" }, ReasonField, "date_of_birth: not a date"},
		{"date format", func(c *contact.Change) { c.Values[contact.LastGiftDate] = "2026-3-14" }, ReasonField, "last_gift_date"},
		{"decimal", func(c *contact.Change) { c.Values[contact.GivingTotal] = "1,5" }, ReasonField, "giving_total: not a decimal"},
		{"decimal exponent", func(c *contact.Change) { c.Values[contact.GivingTotal] = "1e5" }, ReasonField, "giving_total"},
		{"empty text", func(c *contact.Change) { c.Values[contact.Phone] = "" }, ReasonField, "phone: not a text value"},
		{"NUL in text", func(c *contact.Change) { c.Values[contact.Email] = "a\x00b" }, ReasonField, "email: not a text value"},
		{"broken UTF-8", func(c *contact.Change) { c.Values[contact.FamilyName] = "\xff" }, ReasonField, "family_name"},
		{"unknown field", func(c *contact.Change) { c.Values["shoe_size"] = "9" }, ReasonField, "shoe_size: unknown field"},
		{"unknown cleared field", func(c *contact.Change) { c.Cleared = []contact.Field{"shoe_size"} }, ReasonField, "unknown field"},
		{"set and cleared", func(c *contact.Change) { c.Cleared = []contact.Field{contact.DoNotEmail} }, ReasonField, "do_not_email: both"},
		{"gift id", func(c *contact.Change) { c.Gift.GiftID = "" }, ReasonGift, "gift id"},
		{"gift amount zero", func(c *contact.Change) { c.Gift.AmountMinor = 0 }, ReasonGift, "amount must be positive"},
		{"gift amount negative", func(c *contact.Change) { c.Gift.AmountMinor = -1 }, ReasonGift, "amount must be positive"},
		{"gift currency lower case", func(c *contact.Change) { c.Gift.Currency = "usd" }, ReasonGift, "currency"},
		{"gift currency length", func(c *contact.Change) { c.Gift.Currency = "USDT" }, ReasonGift, "currency"},
		{"gift received", func(c *contact.Change) { c.Gift.ReceivedAt = time.Time{} }, ReasonGift, "received"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Values = good.Values.Clone()
			g := *good.Gift
			c.Gift = &g
			tc.mutate(&c)
			err := Validate(c)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q does not contain %q", err, tc.msg)
			}
			// Messages never repeat a value.
			for _, v := range c.Values {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Fatalf("message %q carries the value %q", err, v)
				}
			}
		})
	}
}

// The decoders hold no per-call state: one instance serves every
// goroutine of a stage (run with -race).
func TestConcurrentDecode(t *testing.T) {
	d, o := newDebezium(t), newOnline(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j, tc := range debeziumCases {
				_, _ = d.Decode([]byte(tc.key), []byte(tc.value), "cdc", int32(i), int64(j))
			}
			for _, tc := range onlineCases {
				_, _ = o.Decode(nil, []byte(tc.value))
			}
		})
	}
	wg.Wait()
}
