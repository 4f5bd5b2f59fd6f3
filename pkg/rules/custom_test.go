package rules

import (
	"sort"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// customRules are the default rules with three custom fields: an appeal
// code that flows online -> offline, a membership level offline -> online,
// and gift aid both ways.
const customFields = `custom_fields:
  - name: appeal_code
    type: text
  - name: membership_level
    type: enum
    values: [Bronze, Silver, Gold]
  - name: gift_aid
    type: bool
  - name: unruled
    type: text
`

const customRules = `  - rule: appeal
    fields: [appeal_code]
    from: [online]
    to: [offline]
    conflict: latest

  - rule: membership
    fields: [membership_level]
    from: [offline]
    to: [online]
    conflict: authority
    authority: offline

  - rule: gift_aid
    fields: [gift_aid]
    from: [offline, online]
    to: [offline, online]
    conflict: latest

gifts:
`

func customConfig(t *testing.T) *Config {
	t.Helper()
	return custom(t, "fields:\n", customFields+"\nfields:\n", "gifts:\n", customRules)
}

// sinkSummary renders a sink record with every value, custom ones too.
func sinkSummary(s contact.SinkRecord) string {
	parts := []string{s.TargetSystem, string(s.Op)}
	var kv []string
	for f, v := range s.Set {
		kv = append(kv, string(f)+"="+v)
	}
	for _, f := range s.Clear {
		kv = append(kv, string(f)+"=<clear>")
	}
	sort.Strings(kv)
	return strings.Join(append(parts, kv...), " ")
}

// Custom fields are governed by their rules like built-in ones: each flows
// only the way its rule says, a clear is honoured, and a change from a
// system not in from is not propagated.
func TestCustomFieldsFlowAsTheirRulesSay(t *testing.T) {
	cfg := customConfig(t)
	e := NewEngine(cfg)
	var state []byte
	for i, s := range []struct {
		change contact.Change
		links  map[string]string
		want   []string
	}{
		{change: offlineRow("OFF-1", t0, contact.Values{"rs": "online", contact.GivenName: "Anna", "membership_level": "Gold", "gift_aid": "true"}),
			links: map[string]string{"offline": "OFF-1"}},
		// her online account: offline -> online the level and gift aid; online -> offline her appeal code
		{change: onlineEv("web-1", at(1), contact.OriginAPI, contact.Values{contact.GivenName: "Anna", "appeal_code": "XMAS26"}), links: linked,
			want: []string{"offline update appeal_code=XMAS26", "online update gift_aid=true membership_level=Gold"}},
		// online may not change the level, nor offline the appeal code: not propagated
		{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{"membership_level": "Bronze"}), links: linked},
		{change: offlineRow("OFF-1", at(3), contact.Values{"rs": "online", "appeal_code": "SPRING27"}), links: linked},
		// gift aid both ways, and its clear is honoured
		{change: withCleared(onlineEv("web-1", at(4), contact.OriginAPI, nil), "gift_aid"), links: linked,
			want: []string{"offline update gift_aid=<clear>"}},
		{change: offlineRow("OFF-1", at(5), contact.Values{"rs": "online", "membership_level": "Silver"}), links: linked,
			want: []string{"online update membership_level=Silver"}},
		// a declared field no rule names does not flow
		{change: onlineEv("web-1", at(6), contact.OriginAPI, contact.Values{"unruled": "x"}), links: linked},
	} {
		res, err := e.Apply(state, contact.Matched{Change: s.change, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: s.links})
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		var got []string
		for _, sk := range res.Sinks {
			got = append(got, sinkSummary(sk))
		}
		if strings.Join(got, " | ") != strings.Join(s.want, " | ") {
			t.Fatalf("step %d: sinks\n got %q\nwant %q", i+1, got, s.want)
		}
		state = res.State
	}
}

// A rules file's custom fields and mapping are checked like the rest:
// every mistake with its line.
func TestParseRejectsCustomFieldsAndMapping(t *testing.T) {
	doc := base + `custom_fields:
  - name: appeal_code
    type: text
  - name: solicit_code
    type: enum
    values: [ok, no_mail]
`
	if _, err := Parse([]byte(doc), "x.yaml"); err != nil {
		t.Fatalf("a valid file: %v", err)
	}
	for _, tc := range []struct {
		name  string
		pairs []string
		want  string
	}{
		{"an unknown type", []string{"type: text", "type: string"}, `x.yaml:15: custom field "appeal_code": type must be text, bool, date, decimal or enum, not "string"`},
		{"a bad name", []string{"name: appeal_code", "name: Appeal-Code"}, `x.yaml:14: custom field "Appeal-Code": a name is a-z`},
		{"a built-in name", []string{"name: appeal_code", "name: email"}, `x.yaml:14: custom field "email": a built-in field has that name`},
		{"declared twice", []string{"name: solicit_code", "name: appeal_code"}, `x.yaml:16: custom field "appeal_code" declared twice (first on line 14)`},
		{"an enum without values", []string{"    values: [ok, no_mail]\n", ""}, `x.yaml:16: custom field "solicit_code": an enum needs 1 to 200 values`},
		{"an enum value twice", []string{"values: [ok, no_mail]", "values: [ok, OK]"}, `x.yaml:18: custom field "solicit_code": enum value "OK" listed twice`},
		{"values on a text", []string{"type: text", "type: text\n    values: [a]"}, `x.yaml:16: custom field "appeal_code": values are only for type enum`},
		{"a typo in a key", []string{"type: text", "typ: text"}, `x.yaml:15: unknown key "typ" (known: name, type, values)`},
		{"a rule naming an undeclared field", []string{"fields: [given_name, family_name]", "fields: [given_name, family_name, appeal_cod]"},
			`x.yaml:8: rule "name": unknown field "appeal_cod" (built-in or declared in custom_fields)`},
		{"most_restrictive on an enum", []string{"    authority: offline\n", "    authority: offline\n  - rule: solicit\n    fields: [solicit_code]\n    from: [offline]\n    to: [online]\n    conflict: most_restrictive\n"},
			`x.yaml:14: rule "solicit": most_restrictive needs opt-out flags, "solicit_code" is not one`},
		{"a column of an undeclared field", []string{"+", "mapping:\n  offline:\n    columns:\n      appeal: appeal_cod\n"},
			`x.yaml:22: offline column "appeal": unknown field "appeal_cod" (built-in or declared in custom_fields)`},
		{"a column that is not an SQL name", []string{"+", "mapping:\n  offline:\n    columns:\n      Appeal Code: appeal_code\n"},
			`x.yaml:22: offline column "Appeal Code": want a lower-case SQL name`},
		{"a field mapped twice", []string{"+", "mapping:\n  offline:\n    columns:\n      appeal: appeal_code\n      appeal2: appeal_code\n"},
			`x.yaml:23: offline column "appeal2": field "appeal_code" is already mapped on line 22`},
		{"a bad table", []string{"+", "mapping:\n  offline:\n    table: Donors\n"}, `x.yaml:21: mapping offline table: want a lower-case SQL name, not "Donors"`},
		{"a typo in the mapping", []string{"+", "mapping:\n  offline:\n    colums: {}\n"}, `x.yaml:21: unknown key "colums"`},
		{"consent key on a text field", []string{"+", "mapping:\n  online:\n    consent:\n      sms: appeal_code\n"},
			`mapping online consent key "sms": "appeal_code" is not an opt-out flag`},
		{"a household column that is not an SQL name", []string{"+", "mapping:\n  offline:\n    household_id: Household\n"},
			`x.yaml:21: mapping offline household_id: want a lower-case SQL name, not "Household"`},
		{"a household column that is a field's", []string{"+", "mapping:\n  offline:\n    household_id: email\n"},
			`offline household_id column "email" is already the column of something else`},
		{"omit an unknown field", []string{"+", "mapping:\n  offline:\n    omit: [nickname]\n"}, `x.yaml:21: mapping offline omit: unknown field "nickname"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doc
			for i := 0; i+1 < len(tc.pairs); i += 2 {
				if tc.pairs[i] == "+" {
					d += tc.pairs[i+1]
				} else {
					d = replace(t, d, tc.pairs[i], tc.pairs[i+1])
				}
			}
			_, err := Parse([]byte(d), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

// The mapping merges into the reference names by field, so a file says
// only what differs; omit removes the columns a donor database lacks.
func TestMappingMergesByField(t *testing.T) {
	doc := base + customFields + `mapping:
  offline:
    table: constituents
    id: constituent_id
    household_id: household
    columns:
      forename: given_name
      appeal: appeal_code
      gift_aid_flag: gift_aid
    omit: [organisation, highest_gift_date]
  online:
    contact:
      firstName: given_name
      appealCode: appeal_code
    consent:
      sms: gift_aid
    custom_fields: extra
`
	c, err := Parse([]byte(doc), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Mapping()
	off := m.Offline
	if off.ContactsTable != "constituents" || off.IDColumn != "constituent_id" || off.UpdatedByColumn != "updated_by" || off.HouseholdColumn != "household" {
		t.Fatalf("offline names %+v", off)
	}
	for col, want := range map[string]contact.Field{"forename": contact.GivenName, "appeal": "appeal_code", "gift_aid_flag": "gift_aid",
		"last_name": contact.FamilyName, "city": contact.Locality} {
		if off.Columns[col] != want {
			t.Errorf("column %s -> %q, want %q", col, off.Columns[col], want)
		}
	}
	for _, gone := range []string{"first_name", "organisation", "highest_gift_date"} {
		if f, ok := off.Columns[gone]; ok {
			t.Errorf("column %s still maps to %s", gone, f)
		}
	}
	on := m.Online
	if on.Contact["firstName"] != contact.GivenName || on.Contact["appealCode"] != "appeal_code" || on.Contact["last_name"] != contact.FamilyName ||
		on.Consent["sms"] != "gift_aid" || on.Consent["email"] != contact.DoNotEmail || on.CustomObject != "extra" {
		t.Fatalf("online mapping %+v", on)
	}
	if _, ok := on.Contact["first_name"]; ok {
		t.Fatal("first_name still mapped online")
	}
	if info, ok := c.Fields().Lookup("membership_level"); !ok || info.Kind != contact.Enum || len(info.Allowed) != 3 {
		t.Fatalf("custom field %+v %v", info, ok)
	}
	// Without a mapping section, the reference names.
	if d := Default().Mapping(); d.Offline.ContactsTable != "contacts" || d.Offline.Columns["first_name"] != contact.GivenName || len(d.Online.Address) != 6 ||
		d.Offline.HouseholdColumn != "" {
		t.Fatalf("default mapping %+v", d)
	}
}
