package decode

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func customFieldSet(t testing.TB) *contact.FieldSet {
	t.Helper()
	fs, err := contact.NewFieldSet(
		contact.FieldInfo{Name: "appeal_code", Kind: contact.Text},
		contact.FieldInfo{Name: "solicit_code", Kind: contact.Enum, Allowed: []string{"OK", "NO_MAIL", "NO_PHONE"}},
		contact.FieldInfo{Name: "member_since", Kind: contact.Date},
		contact.FieldInfo{Name: "lifetime_value", Kind: contact.Decimal},
		contact.FieldInfo{Name: "gift_aid", Kind: contact.Bool},
	)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// A donor database of its own shape: another table layout, renamed id and
// marker columns, and custom columns, read through the mapping.
func TestDebeziumMappedColumnsAndCustomFields(t *testing.T) {
	fs := customFieldSet(t)
	m := contact.DefaultMapping().Offline
	m.IDColumn, m.UpdatedByColumn, m.UpdatedAtColumn, m.ReferenceSourceColumn = "constituent_id", "modified_by", "modified_at", "origin_system"
	delete(m.Columns, "first_name")
	m.Columns["forename"] = contact.GivenName
	for col, f := range map[string]contact.Field{"appeal": "appeal_code", "solicit": "solicit_code", "member_since": "member_since",
		"ltv": "lifetime_value", "gift_aid": "gift_aid"} {
		m.Columns[col] = f
	}
	d, err := NewDebezium(DebeziumConfigFor("offline", m, fs))
	if err != nil {
		t.Fatal(err)
	}
	row := func(after string) []byte {
		return []byte(`{"before":{"constituent_id":"C-1","appeal":"OLD","ltv":"5.00"},"after":{"constituent_id":"C-1",` + after +
			`,"modified_by":"admin","modified_at":"2026-11-02T09:00:00Z","origin_system":"online"},"op":"u",` + pgSource + `}`)
	}
	for _, tc := range []struct {
		name    string
		after   string
		want    contact.Values
		cleared []contact.Field
		reason  string
	}{
		{name: "every type", after: `"forename":"Anna","first_name":"ignored","appeal":" XMAS26 ","solicit":"no_mail","member_since":17987,"ltv":"1250.50","gift_aid":"Y"`,
			want: contact.Values{contact.GivenName: "Anna", "appeal_code": "XMAS26", "solicit_code": "NO_MAIL", "member_since": "2019-04-01",
				"lifetime_value": "1250.50", "gift_aid": "true"}},
		{name: "a custom clear", after: `"appeal":null,"ltv":"5.00"`, want: contact.Values{"lifetime_value": "5.00"}, cleared: []contact.Field{"appeal_code"}},
		{name: "a bool column", after: `"gift_aid":false`, want: contact.Values{"gift_aid": "false"}},
		{name: "an enum value not declared", after: `"solicit":"` + pii + `"`, reason: ReasonField},
		{name: "not a date", after: `"member_since":"` + pii + `"`, reason: ReasonField},
		{name: "not a decimal", after: `"ltv":"1e3"`, reason: ReasonField},
		{name: "not a boolean", after: `"gift_aid":"` + pii + `"`, reason: ReasonField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode(nil, row(tc.after), "cdc", 0, 1)
			if tc.reason != "" {
				if reasonOf(err) != tc.reason || len(got) != 0 || strings.Contains(err.Error(), pii) {
					t.Fatalf("got %+v, %v; want %s without the value", got, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := got[0]
			if c.SourceRecordID != "C-1" || c.ReferenceSource != "online" || !reflect.DeepEqual(c.Values, tc.want) || !reflect.DeepEqual(c.Cleared, tc.cleared) {
				t.Fatalf("decoded %+v", c)
			}
		})
	}
	// The built-in decoder does not know the custom fields: Validate
	// rejects them, so a change cannot carry a field the rules do not know.
	if err := Validate(contact.Change{EventID: "e", SourceSystem: "s", SourceRecordID: "r", Origin: contact.OriginAdmin, Op: contact.OpUpsert,
		SourceTime: at, Values: contact.Values{"appeal_code": "X"}}); reasonOf(err) != ReasonField {
		t.Fatalf("a custom value passed the built-in Validate: %v", err)
	}
}

func TestOnlineMappedKeysAndCustomFields(t *testing.T) {
	fs := customFieldSet(t)
	m := contact.DefaultMapping().Online
	delete(m.Contact, "first_name")
	m.Contact["firstName"] = contact.GivenName
	m.Contact["appeal"] = "appeal_code"
	o, err := NewOnline(OnlineConfig{System: "online", Mapping: &m, Fields: fs})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		body    string
		want    contact.Values
		cleared []contact.Field
		reason  string
	}{
		{name: "mapped keys and custom_fields of every type",
			body: `,"firstName":"Anna","first_name":"ignored","appeal":"XMAS26","custom_fields":{"solicit_code":"ok","member_since":"2019-04-01T23:30:00-05:00","lifetime_value":1250.5,"gift_aid":true,"unknown":"x"}`,
			want: contact.Values{contact.GivenName: "Anna", "appeal_code": "XMAS26", "solicit_code": "OK", "member_since": "2019-04-01",
				"lifetime_value": "1250.5", "gift_aid": "true"}},
		{name: "clears", body: `,"appeal":null,"custom_fields":{"gift_aid":null,"solicit_code":""}`, cleared: []contact.Field{"appeal_code", "gift_aid"}},
		{name: "an enum value not declared", body: `,"custom_fields":{"solicit_code":"` + pii + `"}`, reason: ReasonField},
		{name: "a boolean for a date", body: `,"custom_fields":{"member_since":true}`, reason: ReasonField},
		{name: "custom_fields not an object", body: `,"custom_fields":"` + pii + `"`, reason: ReasonField},
		{name: "a number for a mapped text key", body: `,"appeal":12`, want: contact.Values{"appeal_code": "12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.Decode(nil, []byte(contactEvent("contact.updated", tc.body)))
			if tc.reason != "" {
				if reasonOf(err) != tc.reason || len(got) != 0 || strings.Contains(err.Error(), pii) {
					t.Fatalf("got %+v, %v; want %s without the value", got, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c := got[0]; !reflect.DeepEqual(c.Values, tc.want) || !reflect.DeepEqual(c.Cleared, tc.cleared) {
				t.Fatalf("decoded values %v cleared %v", c.Values, c.Cleared)
			}
		})
	}
	bad := contact.DefaultMapping().Online
	bad.Consent["sms"] = "appeal_code"
	if _, err := NewOnline(OnlineConfig{System: "online", Mapping: &bad, Fields: fs}); err == nil || !strings.Contains(err.Error(), "opt-out flag") {
		t.Fatalf("a consent key on a text field: %v", err)
	}
}

// The custom field parsers under the decoders: any custom_fields object
// decodes to canonical values or a typed error.
func FuzzOnlineCustomFields(f *testing.F) {
	for _, s := range []string{`{"solicit_code":"ok"}`, `{"gift_aid":"yes","lifetime_value":"1.50"}`, `{"member_since":17987}`, `null`, `[]`,
		`{"lifetime_value":1e400}`, `{"appeal_code":"\u0000"}`} {
		f.Add(s)
	}
	fs := customFieldSet(f)
	o, err := NewOnline(OnlineConfig{System: "online", Fields: fs})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, obj string) {
		changes, err := o.Decode(nil, []byte(contactEvent("contact.updated", `,"custom_fields":`+obj)))
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == "" || len(changes) != 0 {
				t.Fatalf("untyped error or a change with the error: %v", err)
			}
			return
		}
		if verr := ValidateFields(changes[0], fs); verr != nil {
			t.Fatalf("decoded but not valid: %v", verr)
		}
		for f, v := range changes[0].Values {
			if info, _ := fs.Lookup(f); !contact.ValidCustomValue(info, v) {
				t.Fatalf("%s=%q is not canonical", f, v)
			}
		}
	})
}
