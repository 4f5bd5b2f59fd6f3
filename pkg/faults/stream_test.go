package faults

import (
	"encoding/json"
	"strings"
	"testing"
)

// The generated people are distinct: no two share a phone, and no two have
// family names or emails within one syllable (a typo apart), so a matcher
// that asks a person about one of them (or links two) is wrong, not the
// stream.
func TestGeneratedDonorsAreDistinct(t *testing.T) {
	s := Generate(11, 2000, 20000)
	owner := map[string]string{} // "field=value" -> the person who has it
	check := func(person string, fields map[string]any) {
		for _, f := range []string{"last_name", "email", "phone"} {
			v, _ := fields[f].(string)
			if v == "" {
				t.Fatalf("%s has no %s", person, f)
			}
			v = strings.ToLower(v)
			keys := []string{f + "=" + v}
			if f != "phone" { // syllables are two letters: every one-syllable wildcard
				name, _, _ := strings.Cut(v, "@")
				for i := 0; i+2 <= len(name); i += 2 {
					keys = append(keys, f+"~"+name[:i]+"**"+name[i+2:])
				}
			}
			for _, k := range keys {
				if o, ok := owner[k]; ok && o != person {
					t.Errorf("%s and %s: %s", o, person, k)
				}
				owner[k] = person
			}
		}
	}
	for _, in := range s.Load {
		var env struct{ After map[string]any }
		if err := json.Unmarshal(in.Value, &env); err != nil {
			t.Fatal(err)
		}
		check(env.After["id"].(string), env.After)
	}
	people := 0
	for _, in := range s.Flow {
		var ev struct{ Contact map[string]any }
		if !in.Online || json.Unmarshal(in.Value, &ev) != nil || ev.Contact == nil {
			continue // poison JSON, echoes
		}
		id := ev.Contact["id"].(string)
		if n, ok := strings.CutPrefix(id, "web-k"); ok {
			id = "OFF-" + n // a known donor's online record: the same person
		}
		check(id, ev.Contact)
		people++
	}
	if len(owner) < 3*2000 || people == 0 {
		t.Fatalf("checked %d values of %d online events", len(owner), people)
	}
}
