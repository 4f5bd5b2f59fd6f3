package rules

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestDefaultIsTheDeployedFile(t *testing.T) {
	deployed, err := os.ReadFile("../../deploy/config/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deployed, DefaultYAML()) {
		t.Fatal("deploy/config/rules.yaml differs from pkg/rules/default.yaml: keep them identical")
	}
	if err := Check("../../deploy/config/rules.yaml"); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if c.SystemOfRecord() != "offline" || strings.Join(c.Systems(), ",") != "offline,online" {
		t.Fatalf("default systems: %v, system of record %q", c.Systems(), c.SystemOfRecord())
	}
}

const base = `version: 1
systems:
  - name: offline
    role: system_of_record
  - name: online
fields:
  - rule: name
    fields: [given_name, family_name]
    from: [offline, online]
    to: [offline, online]
    conflict: latest
    authority: offline
`

// Each kind of mistake is rejected with its line.
func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want string // substring of the error, with the line
	}{
		{"unknown field", strings.Replace(base, "family_name]", "family_nam]", 1), `x.yaml:7: rule "name": unknown field "family_nam"`},
		{"unknown system", strings.Replace(base, "to: [offline, online]", "to: [offline, onlne]", 1), `x.yaml:7: rule "name" to: unknown system "onlne"`},
		{"two authorities", strings.Replace(base, "authority: offline", "authority: [offline, online]", 1), `x.yaml:12: a field has one authority`},
		{"authority that may not write", strings.Replace(base, "from: [offline, online]", "from: [online]", 1), `x.yaml:7: rule "name": authority "offline" is not allowed`},
		{"field in two rules", base + "  - rule: again\n    fields: [family_name]\n    from: [offline]\n    to: [online]\n    conflict: latest\n", `x.yaml:13: rule "again": field "family_name" is already governed by rule "name" (line 7)`},
		{"contradicting directions in a group", strings.Replace(base, "given_name, family_name", "given_name", 1) + "  - rule: family\n    fields: [family_name]\n    from: [offline]\n    to: [online]\n    conflict: latest\n", `x.yaml:13: rule "family": contradicting directions for the name fields`},
		{"gifts both ways", base + "gifts:\n  from: [online]\n  to: online\n", `x.yaml:14: gifts: "online" both sends and receives`},
		{"review to a system the fields do not reach", strings.Replace(base, "to: [offline, online]", "to: [online]", 1) + "    review: {from: online, origins: [self_service], to: [offline]}\n", `x.yaml:7: rule "name": review for "offline"`},
		{"no system of record", strings.Replace(base, "    role: system_of_record\n", "", 1), `no system has role system_of_record`},
		{"unknown conflict policy", strings.Replace(base, "conflict: latest", "conflict: newest", 1), `x.yaml:7: rule "name": unknown conflict policy "newest"`},
		{"a typo in a key", strings.Replace(base, "conflict: latest", "confict: latest", 1), `x.yaml:11: unknown key "confict"`},
		{"wrong type", strings.Replace(base, "fields: [given_name, family_name]", "fields: 5", 1), `x.yaml: line 8: cannot unmarshal`},
		{"bad syntax", "version: 1\nsystems: [\n", `x.yaml: yaml: line`},
		{"opt-out flags only", strings.Replace(base, "conflict: latest", "conflict: most_restrictive", 1), `most_restrictive needs opt-out flags`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte(base), "x.yaml"); err != nil {
		t.Fatalf("the base document is valid: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add(DefaultYAML())
	f.Add([]byte("version: 1\nsystems: {}\nfields: 3\ngifts: []\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc, "fuzz.yaml")
		if err == nil && c.SystemOfRecord() == "" {
			t.Fatal("a valid config has a system of record")
		}
	})
}
