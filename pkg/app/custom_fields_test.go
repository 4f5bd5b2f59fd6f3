package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/rules"
)

// customRulesFile is the default rules with a donor database of its own
// shape (a renamed table, id and first-name column, custom columns) and two
// custom fields: an appeal code that flows online -> offline, a membership
// level offline -> online.
func customRulesFile(t *testing.T) string {
	return rulesFileWithCustomFields(t, `
mapping:
  offline:
    table: constituents
    id: constituent_id
    columns:
      forename: given_name
      appeal: appeal_code
      member_level: membership_level
  online:
    contact:
      appealCode: appeal_code
`)
}

// rulesFileWithCustomFields writes the default rules with two custom
// fields and their rules (appeal_code online -> offline, membership_level
// offline -> online, the offline system deciding) and the given mapping
// section, checks that they parse, and returns the file's path.
func rulesFileWithCustomFields(t *testing.T, mapping string) string {
	t.Helper()
	doc := string(rules.DefaultYAML())
	for _, r := range [][2]string{
		{"\nfields:\n", `
custom_fields:
  - name: appeal_code
    type: text
  - name: membership_level
    type: enum
    values: [Bronze, Silver, Gold]
` + mapping + `
fields:
`},
		{"\ngifts:\n", `
  - rule: appeal
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

gifts:
`},
	} {
		if !strings.Contains(doc, r[0]) {
			t.Fatalf("default rules lack %q", r[0])
		}
		doc = strings.Replace(doc, r[0], r[1], 1)
	}
	if _, err := rules.Parse([]byte(doc), "custom.yaml"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Custom fields flow through ingest's decoders (read through the mapping),
// the Avro changes, the field rules and the Avro sink records, each the
// way its rule says: the membership level offline -> online, the appeal
// code online -> offline.
func TestCustomFieldsFlowThroughThePipeline(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"CONTACTSYNC_TOPIC_PREFIX": "x.", EnvOnlineSources: "web=online"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.RulesFile = customRulesFile(t)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	decoders, err := newDecoders(cfg, codec)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := newRulesAdapter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// ingest: decode, then through Avro as the changes topic carries it
	ingest := func(format string, rec *kgo.Record) contact.Change {
		t.Helper()
		changes, err := decoders[format](rec)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b, err := codec.EncodeChange(changes[0])
		if err != nil {
			t.Fatal(err)
		}
		c, err := codec.DecodeChange(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, changes[0]) {
			t.Fatalf("through Avro\n%+v\nbecame\n%+v", changes[0], c)
		}
		return c
	}
	// route: the rules, then the sink records through Avro
	var state []byte
	route := func(c contact.Change, links map[string]string) []contact.SinkRecord {
		t.Helper()
		v, err := engine.Apply(state, contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: links})
		if err != nil {
			t.Fatal(err)
		}
		state = v.State
		var out []contact.SinkRecord
		for _, s := range v.Sinks {
			b, err := codec.EncodeSink(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := codec.DecodeSink(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, back)
		}
		return out
	}

	row := &kgo.Record{Topic: "cdc", Value: []byte(`{"before":null,"after":{"constituent_id":"C-1","forename":"Anna","last_name":"Adams",` +
		`"member_level":"gold","appeal":"IGNORED","reference_source":"online","updated_by":"admin","updated_at":"2026-11-02T09:00:00Z"},` +
		`"op":"r","source":{"table":"constituents","lsn":1,"ts_ms":1762074000000}}`)}
	off := ingest(pipeline.FormatDebezium, row)
	if off.Values[contact.GivenName] != "Anna" || off.Values["membership_level"] != "Gold" || off.Values["appeal_code"] != "IGNORED" {
		t.Fatalf("offline row decoded as %v", off.Values)
	}
	if sinks := route(off, map[string]string{"offline": "C-1"}); len(sinks) != 0 {
		t.Fatalf("offline row alone: sinks %+v", sinks)
	}

	event := &kgo.Record{Topic: "web", Value: []byte(`{"event_id":"evt-1","type":"contact.updated","occurred_at":"2026-11-02T10:00:00Z",` +
		`"contact":{"id":"web-1","first_name":"Anna","appealCode":"XMAS26"}}`)}
	on := ingest(pipeline.FormatOnline, event)
	if on.Values["appeal_code"] != "XMAS26" {
		t.Fatalf("online event decoded as %v", on.Values)
	}
	got := map[string]contact.Values{}
	for _, s := range route(on, map[string]string{"offline": "C-1", "online": "web-1"}) {
		got[s.TargetSystem] = s.Set
	}
	// offline gets the appeal code (its own IGNORED did not flow), online
	// the level offline holds
	if got["offline"]["appeal_code"] != "XMAS26" || got["offline"]["membership_level"] != "" {
		t.Errorf("offline sink %v", got["offline"])
	}
	if got["online"]["membership_level"] != "Gold" || got["online"]["appeal_code"] != "" {
		t.Errorf("online sink %v", got["online"])
	}
}
