package decode

import (
	"errors"
	"reflect"
	"strings"
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

var at = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func TestDebezium(t *testing.T) {
	d := newDebezium(t)
	for _, tc := range []struct {
		name   string
		key    string
		value  string
		want   *contact.Change // nil with no reason: no change (tombstone)
		reason string
	}{
		{
			name:  "snapshot row, schemas off",
			value: `{"before":null,"after":{"id":"OFF-1","first_name":" Anna ","last_name":"Adams","organisation":null,"email":"anna@example.org","address2":"","do_not_email":false,"giving_total":"125.00","birth_date":"1970-02-03","reference_source":"online","updated_by":"admin","updated_at":"2026-11-02T09:00:00Z"},"op":"r",` + pgSource + `,"ts_ms":1762074000001}`,
			want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-1", SourceSystem: "offline", SourceRecordID: "OFF-1", ReferenceSource: "online",
				Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
				Values: contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org", contact.DoNotEmail: "false", contact.GivingTotal: "125.00", contact.DateOfBirth: "1970-02-03"}},
		},
		{
			name:  "update clears a value explicitly; the sync's own write is an echo",
			value: `{"before":{"id":"OFF-1","phone":"+12175550101","email":"a@example.org"},"after":{"id":"OFF-1","phone":null,"email":"a@example.org","organisation":null,"updated_by":"ContactSync"},"op":"u",` + pgSource + `}`,
			want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-1", SourceSystem: "offline", SourceRecordID: "OFF-1",
				Origin: contact.OriginSync, Op: contact.OpUpsert, SourceTime: time.UnixMilli(1793610000000).UTC(),
				Values: contact.Values{contact.Email: "a@example.org"}, Cleared: []contact.Field{contact.Phone}},
		},
		{
			name:  "delete",
			value: `{"before":{"id":42,"email":"x@example.org"},"after":null,"op":"d",` + pgSource + `}`,
			want: &contact.Change{EventID: "offline:pg:12345:contacts:42", SourceSystem: "offline", SourceRecordID: "42",
				Origin: contact.OriginAdmin, Op: contact.OpDelete, SourceTime: time.UnixMilli(1793610000000).UTC()},
		},
		{
			name: "schemas on: Debezium dates, decimals and micro timestamps",
			value: `{"schema":{"type":"struct","fields":[{"field":"before","type":"struct","fields":[]},{"field":"after","type":"struct","fields":[
				{"field":"id","type":"string"},{"field":"birth_date","type":"int32","name":"io.debezium.time.Date"},
				{"field":"giving_total","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},
				{"field":"updated_at","type":"int64","name":"io.debezium.time.MicroTimestamp"}]}]},
				"payload":{"before":null,"after":{"id":"OFF-2","birth_date":1,"giving_total":"MDk=","updated_at":1793610000000000},"op":"c",` + pgSource + `}}`,
			want: &contact.Change{EventID: "offline:pg:12345:contacts:OFF-2", SourceSystem: "offline", SourceRecordID: "OFF-2",
				Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
				Values: contact.Values{contact.DateOfBirth: "1970-01-02", contact.GivingTotal: "123.45"}},
		},
		{
			name:  "negative connect decimal and id from the key, kafka position as event id",
			key:   `{"schema":{},"payload":{"id":"OFF-3"}}`,
			value: `{"schema":{"fields":[{"field":"after","fields":[{"field":"giving_total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}}]}]},"payload":{"after":{"giving_total":"/w=="},"op":"c","ts_ms":1793610000000}}`,
			want: &contact.Change{EventID: "offline:kafka:cdc/2/9", SourceSystem: "offline", SourceRecordID: "OFF-3",
				Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at, Values: contact.Values{contact.GivingTotal: "-0.1"}},
		},
		{name: "tombstone", value: ``},
		{name: "tombstone with schemas on", value: `{"schema":null,"payload":null}`},
		{name: "truncated", value: `{"before":null,"after":{"id":`, reason: ReasonJSON},
		{name: "not an object", value: `[1,2]`, reason: ReasonJSON},
		{name: "no op", value: `{"after":{"id":"1"}}`, reason: ReasonEnvelope},
		{name: "unknown op", value: `{"after":{"id":"1"},"op":"x"}`, reason: ReasonEnvelope},
		{name: "create without after", value: `{"after":null,"op":"c"}`, reason: ReasonEnvelope},
		{name: "after not an object", value: `{"after":"x","op":"c"}`, reason: ReasonEnvelope},
		{name: "no id anywhere", value: `{"after":{"email":"a@b.c"},"op":"c","ts_ms":1}`, reason: ReasonMissingID},
		{name: "no time", value: `{"after":{"id":"1"},"op":"c"}`, reason: ReasonTime},
		{name: "boolean in a text column", value: `{"after":{"id":"1","email":true},"op":"c","ts_ms":1}`, reason: ReasonField},
		{name: "object in a column", value: `{"after":{"id":"1","email":{"a":1}},"op":"c","ts_ms":1}`, reason: ReasonField},
		{name: "huge exponent", value: `{"after":{"id":"1","giving_total":1e999999999},"op":"c","ts_ms":1}`, reason: ReasonField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tc.key), []byte(tc.value), "cdc", 2, 9)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if tc.reason != "" {
				if strings.Contains(err.Error(), "example.org") {
					t.Fatalf("error text carries a value: %v", err)
				}
				return
			}
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no change", got)
				}
				return
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], *tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, *tc.want)
			}
			if err := Validate(got[0]); err != nil {
				t.Fatalf("decoded change does not validate: %v", err)
			}
		})
	}
}

func TestDebeziumEventIDStable(t *testing.T) {
	d := newDebezium(t)
	v := []byte(`{"after":{"id":"OFF-1"},"op":"u",` + pgSource + `}`)
	a, _ := d.Decode(nil, v, "cdc", 0, 1)
	b, _ := d.Decode(nil, v, "cdc", 3, 99) // re-sent after a connector restart
	if a[0].EventID != b[0].EventID {
		t.Fatalf("same source change, two ids: %s vs %s", a[0].EventID, b[0].EventID)
	}
}

func onlineEvent(body string) string {
	return `{"event_id":"evt-1","type":"gift.created","system":"online","occurred_at":"2026-11-02T09:00:00Z","origin":"api",` + body + `}`
}

func TestOnline(t *testing.T) {
	o := newOnline(t)
	gift := func(amount, currency string) string {
		return `"contact":{"id":"web-1"},"gift":{"id":"g-1","amount":` + amount + `,"currency":"` + currency + `"}`
	}
	for _, tc := range []struct {
		name   string
		value  string
		want   *contact.Change
		reason string
	}{
		{
			name: "gift with donor, consent and a cleared field",
			value: onlineEvent(`"contact":{"id":"web-1","reference_source":"online","first_name":"Anna","last_name":"Adams","email":"anna@example.org","phone":"","organisation":null,
				"address":{"line1":"1 High Street","city":"Springfield","region":"IL","postcode":"62701","country":"US","unknown_key":1},"consent":{"email":false,"post":true}},
				"gift":{"id":"g-1","amount":"12.50","currency":"usd","campaign":"winter"}`),
			want: &contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1", ReferenceSource: "online",
				Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at,
				Values: contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org",
					contact.AddressLine1: "1 High Street", contact.Locality: "Springfield", contact.Region: "IL", contact.Postcode: "62701", contact.Country: "US",
					contact.DoNotEmail: "true", contact.DoNotMail: "false"},
				Cleared: []contact.Field{contact.Organisation},
				Gift:    &contact.Gift{GiftID: "g-1", AmountMinor: 1250, Currency: "USD", ReceivedAt: at, Campaign: "winter"}},
		},
		{
			name:  "contact update, address cleared, no origin",
			value: `{"event_id":"evt-2","type":"contact.updated","occurred_at":"2026-11-02T10:00:00+01:00","contact":{"id":7,"address":null}}`,
			want: &contact.Change{EventID: "evt-2", SourceSystem: "online", SourceRecordID: "7", Origin: contact.OriginUnknown, Op: contact.OpUpsert, SourceTime: at,
				Cleared: []contact.Field{contact.AddressLine1, contact.AddressLine2, contact.Locality, contact.Region, contact.Postcode, contact.Country}},
		},
		{name: "yen has no minor unit", value: onlineEvent(gift(`"1500"`, "JPY")), want: &contact.Change{}},
		{name: "dinar has three", value: onlineEvent(gift(`1.005`, "KWD")), want: &contact.Change{}},
		{name: "too many decimals", value: onlineEvent(gift(`"1.005"`, "USD")), reason: ReasonGift},
		{name: "negative amount", value: onlineEvent(gift(`"-5.00"`, "USD")), reason: ReasonGift},
		{name: "zero amount", value: onlineEvent(gift(`"0"`, "USD")), reason: ReasonGift},
		{name: "exponent amount", value: onlineEvent(gift(`1e999999`, "USD")), reason: ReasonGift},
		{name: "bad currency", value: onlineEvent(gift(`"5"`, "US")), reason: ReasonGift},
		{name: "no amount", value: onlineEvent(`"contact":{"id":"web-1"},"gift":{"id":"g","currency":"USD"}`), reason: ReasonGift},
		{name: "gift without gift", value: onlineEvent(`"contact":{"id":"web-1"}`), reason: ReasonEvent},
		{name: "no contact id", value: onlineEvent(`"contact":{"first_name":"No"},"gift":{}`), reason: ReasonMissingID},
		{name: "no contact", value: onlineEvent(`"x":1`), reason: ReasonEvent},
		{name: "number as a name", value: onlineEvent(`"contact":{"id":"w","first_name":5}`), reason: ReasonField},
		{name: "consent not boolean", value: onlineEvent(`"contact":{"id":"w","consent":{"email":"yes"}}`), reason: ReasonField},
		{name: "unknown type", value: `{"event_id":"e","type":"order.shipped"}`, reason: ReasonEvent},
		{name: "no type", value: `{"event_id":"e"}`, reason: ReasonEvent},
		{name: "no event id", value: `{"type":"contact.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonEventID},
		{name: "bad time", value: `{"event_id":"e","type":"contact.created","occurred_at":"yesterday","contact":{"id":"w"}}`, reason: ReasonTime},
		{name: "unknown origin", value: `{"event_id":"e","type":"contact.created","origin":"robot","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, reason: ReasonOrigin},
		{name: "truncated", value: `{"event_id": "evt-bad-1", "type": "gift.created", `, reason: ReasonJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.Decode(nil, []byte(tc.value))
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if tc.reason != "" {
				return
			}
			if err := Validate(got[0]); err != nil {
				t.Fatalf("decoded change does not validate: %v", err)
			}
			if tc.want.EventID == "" { // only checked for validity
				return
			}
			if !reflect.DeepEqual(got[0], *tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got[0], *tc.want)
			}
		})
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
		{"abc", 2, 0, false}, {"99999999999999999999", 2, 0, false}, {"1/3", 2, 0, false}, {"0x10", 2, 0, false},
	} {
		got, err := minorUnits(tc.in, tc.exp)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("minorUnits(%q, %d) = %d, %v; want %d ok=%v", tc.in, tc.exp, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	good := contact.Change{EventID: "e", SourceSystem: "s", SourceRecordID: "r", Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at,
		Values: contact.Values{contact.DoNotEmail: "true", contact.DateOfBirth: "1980-02-29", contact.GivingTotal: "10.5"}}
	if err := Validate(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*contact.Change)
		reason string
	}{
		{"no event id", func(c *contact.Change) { c.EventID = "" }, ReasonEventID},
		{"no record id", func(c *contact.Change) { c.SourceRecordID = "" }, ReasonMissingID},
		{"no system", func(c *contact.Change) { c.SourceSystem = "" }, ReasonSourceSyst},
		{"bad op", func(c *contact.Change) { c.Op = "merge" }, ReasonOp},
		{"bad origin", func(c *contact.Change) { c.Origin = "x" }, ReasonOrigin},
		{"no time", func(c *contact.Change) { c.SourceTime = time.Time{} }, ReasonTime},
		{"bool", func(c *contact.Change) { c.Values[contact.DoNotMail] = "yes" }, ReasonField},
		{"date", func(c *contact.Change) { c.Values[contact.DateOfBirth] = "1981-02-29" }, ReasonField},
		{"decimal", func(c *contact.Change) { c.Values[contact.GivingTotal] = "1,5" }, ReasonField},
		{"unknown field", func(c *contact.Change) { c.Values["shoe_size"] = "9" }, ReasonField},
		{"set and cleared", func(c *contact.Change) { c.Cleared = []contact.Field{contact.DoNotEmail} }, ReasonField},
		{"gift amount", func(c *contact.Change) { c.Gift = &contact.Gift{GiftID: "g", Currency: "USD", ReceivedAt: at} }, ReasonGift},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Values = good.Values.Clone()
			tc.mutate(&c)
			if r := reasonOf(Validate(c)); r != tc.reason {
				t.Fatalf("reason %q, want %q", r, tc.reason)
			}
		})
	}
}
