package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
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
	// every canonical field is governed by a rule: none is dropped silently
	for _, f := range contact.Fields {
		if c.byField[f.Name] == nil {
			t.Errorf("no rule governs %s", f.Name)
		}
	}
	if g := c.Gifts(); g.To != "offline" || strings.Join(g.From, ",") != "online" {
		t.Errorf("gifts %+v", g)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("error %v, want one naming the file", err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(base, "conflict: latest", "conflict: newest", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err == nil || !strings.HasPrefix(err.Error(), path+":11: ") {
		t.Fatalf("error %v, want it to start with %s:11:", err, path)
	}
}

// base is a valid rules document; the line numbers in the tests below
// count from its first line.
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

// replace applies old/new pairs to base, failing the test if one is absent.
func replace(t *testing.T, doc string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("%q not in the document", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

// Each kind of mistake is rejected with the line it is on.
func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs []string // replacements in base, or "+" and text to append
		want  string   // the error, or a part of it, with its line
	}{
		{"unknown field", []string{"family_name]", "family_nam]"}, `x.yaml:8: rule "name": unknown field "family_nam"`},
		{"unknown system", []string{"from: [offline, online]", "from: [offline, onlin]"}, `x.yaml:9: rule "name" from: unknown system "onlin" (declared: offline, online)`},
		{"flow to a system not declared", []string{"to: [offline, online]", "to:\n      - offline\n      - mailer"}, `x.yaml:12: rule "name" to: unknown system "mailer"`},
		{"two authorities", []string{"authority: offline", "authority: [offline, online]"}, `x.yaml:12: a field has one authority, not a list of 2`},
		{"an authority that may not write", []string{"from: [offline, online]", "from: [online]"}, `x.yaml:12: rule "name": authority "offline" may not change the fields (it is not in from)`},
		{"field in two rules", []string{"+", "  - rule: again\n    fields: [family_name]\n    from: [offline]\n    to: [online]\n    conflict: latest\n"},
			`x.yaml:14: rule "again": field "family_name" is already governed by rule "name" (line 7)`},
		{"contradicting directions in a group", []string{"given_name, family_name", "given_name", "+", "  - rule: family\n    fields: [family_name]\n    from: [offline]\n    to: [online]\n    conflict: latest\n"},
			`x.yaml:13: rule "family": contradicting directions for the name fields (rule "name", line 7, flows otherwise)`},
		{"a unit split over two rules", []string{"+", "  - rule: street\n    fields: [address_line1, address_line2]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: latest\n    unit: true\n" +
			"  - rule: town\n    fields: [locality]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: latest\n"},
			`x.yaml:19: rule "town": the address fields are one unit; they must all be in rule "street" (line 13)`},
		{"fields flowing only back where they came from", []string{"from: [offline, online]", "from: [online]", "to: [offline, online]", "to: [online]", "authority: offline", "authority: online"},
			`x.yaml:7: rule "name": the fields flow from "online" only back to "online": contradicting directions`},
		{"gifts both ways", []string{"+", "gifts:\n  from: [online]\n  to: online\n"}, `x.yaml:15: gifts: "online" both sends and receives gifts (contradicting directions)`},
		{"gifts to nowhere", []string{"+", "gifts:\n  from: [online]\n"}, `x.yaml:14: gifts needs from`},
		{"a review for a system the fields do not reach", []string{"to: [offline, online]", "to: [online]", "+", "    review: {from: online, origins: [self_service], to: [offline]}\n"},
			`x.yaml:13: rule "name": review for "offline", but the fields do not flow there`},
		{"a review of changes from a system that may not make them", []string{"from: [offline, online]", "from: [offline]", "+", "    review:\n      from: online\n      origins: [self_service]\n      to: [offline]\n"},
			`x.yaml:14: rule "name": review from "online", but "online" may not change these fields`},
		{"a review of the sync's own writes", []string{"+", "    review:\n      from: online\n      origins: [self_service, sync]\n      to: [offline]\n"},
			`x.yaml:15: rule "name": changes of origin sync are the sync's own writes; they are never reviewed`},
		{"a review origin that does not exist", []string{"+", "    review:\n      from: online\n      origins:\n        - selfservice\n      to: [offline]\n"},
			`x.yaml:16: rule "name": review origin "selfservice" is unknown`},
		{"no system of record", []string{"    role: system_of_record\n", ""}, `x.yaml:2: no system has role system_of_record`},
		{"two systems of record", []string{"  - name: online\n", "  - name: online\n    role: system_of_record\n"}, `x.yaml:6: system "online": "offline" is already the system of record`},
		{"a system declared twice", []string{"  - name: online\n", "  - name: offline\n"}, `x.yaml:5: system "offline" declared twice (first on line 3)`},
		{"a system name that cannot name a topic", []string{"  - name: online\n", "  - name: On Line\n"}, `x.yaml:5: system "On Line": names use a-z`},
		{"unknown conflict policy", []string{"conflict: latest", "conflict: newest"}, `x.yaml:11: rule "name": unknown conflict policy "newest"`},
		{"no conflict policy", []string{"    conflict: latest\n", ""}, `x.yaml:7: rule "name": conflict policy missing`},
		{"a typo in a key", []string{"conflict: latest", "confict: latest"}, `x.yaml:11: unknown key "confict"`},
		{"a wrong type", []string{"fields: [given_name, family_name]", "fields: 5"}, `x.yaml:8: cannot unmarshal`},
		{"most_restrictive on a field that is not an opt-out flag", []string{"conflict: latest", "conflict: most_restrictive", "    authority: offline\n", ""},
			`x.yaml:8: rule "name": most_restrictive needs opt-out flags, "given_name" is not one`},
		{"opt_in_from without most_restrictive", []string{"+", "    opt_in_from: [online]\n"}, `x.yaml:13: rule "name": opt_in_from only applies to conflict most_restrictive`},
		{"an unknown clear policy", []string{"+", "    clear: sometimes\n"}, `x.yaml:13: rule "name": clear must be honour or ignore, not "sometimes"`},
		{"a wrong version", []string{"version: 1", "version: 2"}, `x.yaml:1: version must be 1, got 2`},
		{"bad YAML syntax", []string{"  - name: online\n", "  - name: [online\n"}, `x.yaml:5: did not find expected ',' or ']'`},
		// (opened on line 1, found missing on line 2)
		{"bad YAML syntax on the first line", []string{"version: 1", "version: {1"}, `x.yaml:2: did not find expected ',' or '}'`},
		{"a key twice", []string{"    conflict: latest\n", "    conflict: latest\n    conflict: authority\n"}, `x.yaml:12: mapping key "conflict" already defined at line 11`},
		{"a review without origins", []string{"+", "    review:\n      from: online\n      to: [offline]\n"}, `x.yaml:13: rule "name": review needs from, origins and to`},
		{"a tab", []string{"    conflict: latest", "\tconflict: latest"}, `x.yaml:11: found character that cannot start any token`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := base
			for i := 0; i+1 < len(tc.pairs); i += 2 {
				if tc.pairs[i] == "+" {
					doc += tc.pairs[i+1]
				} else {
					doc = replace(t, doc, tc.pairs[i], tc.pairs[i+1])
				}
			}
			_, err := Parse([]byte(doc), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q\n%s", err, tc.want, numbered(doc))
			}
			checkLines(t, err, "x.yaml")
		})
	}
	if _, err := Parse([]byte(base), "x.yaml"); err != nil {
		t.Fatalf("the base document is valid: %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n"} {
		if _, err := Parse([]byte(doc), "x.yaml"); err == nil || err.Error() != "x.yaml:1: empty rules file" {
			t.Errorf("%q: error %v", doc, err)
		}
	}
}

// One run reports every problem, each on its own line.
func TestParseReportsAllProblems(t *testing.T) {
	doc := replace(t, base, "family_name]", "family_nam]", "to: [offline, online]", "to: [offline, onlne]", "conflict: latest", "conflict: newest",
		"authority: offline", "authority: [offline, online]") + "gifts:\n  from: [online]\n  to: online\n"
	_, err := Parse([]byte(doc), "x.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{"x.yaml:8:", "x.yaml:10:", "x.yaml:11:", "x.yaml:12:", "x.yaml:15:"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no problem on %s in\n%v", want, err)
		}
	}
	checkLines(t, err, "x.yaml")
}

var located = regexp.MustCompile(`^[^:]+:\d+: `)

// checkLines: every reported problem starts with "file:line: ".
func checkLines(t *testing.T, err error, file string) {
	t.Helper()
	for _, l := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(l, file+":") || !located.MatchString(l) {
			t.Errorf("problem without file and line: %q", l)
		}
	}
}

func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		b.WriteString(strings.Repeat(" ", 3-len(itoa(i+1))) + itoa(i+1) + "  " + l + "\n")
	}
	return b.String()
}

func itoa(i int) string {
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// FuzzParse: no document makes Parse panic; every error is located; a
// valid config has a system of record and an engine that does not panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add(DefaultYAML())
	f.Add([]byte("version: 1\nsystems: {}\nfields: 3\ngifts: []\n"))
	f.Add([]byte("version: 1\nsystems:\n  - name: a\n    role: system_of_record\n    create_missing: true\n  - name: b\n    scope: {reference_source: [b]}\nfields:\n" +
		"  - rule: u\n    fields: [address_line1, postcode]\n    from: [a, b]\n    to: [a, b]\n    conflict: latest\n    unit: true\n    review: {from: b, origins: [api], to: [a]}\n" +
		"  - rule: c\n    fields: [do_not_email]\n    from: [a, b]\n    to: [a, b]\n    conflict: most_restrictive\n    opt_in_from: [b]\ngifts: {from: [b], to: a}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc, "fuzz.yaml")
		if err != nil {
			if !located.MatchString(err.Error()) || !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
				t.Fatalf("error without file and line: %q", err)
			}
			return
		}
		if c.SystemOfRecord() == "" || len(c.Systems()) == 0 {
			t.Fatal("a valid config has a system of record")
		}
		e := NewEngine(c)
		var state []byte
		for i, sys := range c.Systems() {
			ch := onlineEv("r-"+sys, at(i), contact.OriginAPI, with(onlineAnna, "do_not_mail", "true"))
			ch.SourceSystem = sys
			ch.Gift = &contact.Gift{GiftID: "g", AmountMinor: 1}
			res, err := e.Apply(state, contact.Matched{Change: ch, Match: contact.Match{PersonID: "p", Decision: contact.DecisionNew}})
			if err != nil {
				t.Fatal(err)
			}
			state = res.State
		}
	})
}
