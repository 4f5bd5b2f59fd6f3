package schemas

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResolveDefinesEveryTypeOnce(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			text, err := Resolve(name)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(text), &v); err != nil {
				t.Fatalf("resolved schema is not JSON: %v", err)
			}
			defs := map[string]int{}
			countRecords(v, defs)
			for n, c := range defs {
				if c != 1 {
					t.Errorf("record %s defined %d times", n, c)
				}
			}
			if defs[name] != 1 {
				t.Errorf("schema does not define %s itself: %v", name, defs)
			}
			// Every full-name reference must point at a defined record.
			for _, ref := range refs(v) {
				if defs[strings.TrimPrefix(ref, Namespace+".")] == 0 {
					t.Errorf("reference %s is not defined", ref)
				}
			}
		})
	}
}

func TestEmbeddedIDsAreUniqueAndNamed(t *testing.T) {
	seen := map[int]string{}
	for name, id := range EmbeddedIDs {
		if other, dup := seen[id]; dup {
			t.Errorf("id %d used by %s and %s", id, name, other)
		}
		seen[id] = name
		if _, err := Raw(name); err != nil {
			t.Errorf("id %d names %s which has no schema: %v", id, name, err)
		}
	}
}

func TestLegacyIDs(t *testing.T) {
	for id, name := range LegacyIDs {
		if now := EmbeddedIDs[name]; now == id {
			t.Errorf("legacy id %d of %s is still its current id", id, name)
		}
		for other, oid := range EmbeddedIDs {
			if oid == id {
				t.Errorf("legacy id %d of %s is the current id of %s", id, name, other)
			}
		}
		got, text, err := Legacy(id)
		if err != nil || got != name {
			t.Fatalf("Legacy(%d) = %q, %v", id, got, err)
		}
		var s struct{ Name string }
		if err := json.Unmarshal([]byte(text), &s); err != nil || s.Name != name {
			t.Errorf("legacy schema %d names %q, want %s (%v)", id, s.Name, name, err)
		}
	}
}

func TestResolveUnknown(t *testing.T) {
	if _, err := Resolve("NoSuchSchema"); err == nil {
		t.Fatal("want an error for an unknown schema")
	}
}

func countRecords(v any, defs map[string]int) {
	switch n := v.(type) {
	case map[string]any:
		if n["type"] == "record" {
			defs[n["name"].(string)]++
		}
		for _, x := range n {
			countRecords(x, defs)
		}
	case []any:
		for _, x := range n {
			countRecords(x, defs)
		}
	}
}

func refs(v any) []string {
	var out []string
	switch n := v.(type) {
	case string:
		if strings.HasPrefix(n, Namespace+".") {
			out = append(out, n)
		}
	case map[string]any:
		for k, x := range n {
			if k == "doc" || k == "namespace" {
				continue
			}
			out = append(out, refs(x)...)
		}
	case []any:
		for _, x := range n {
			out = append(out, refs(x)...)
		}
	}
	return out
}
