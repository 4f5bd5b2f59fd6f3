// Package schemas embeds contactsync's Avro schemas, the contracts between the
// pipeline's stages and its users. Non-Go tools read the same .avsc files.
//
// Each .avsc file defines one named type and may refer to the others by full
// name; Resolve returns a self-contained schema with every referenced type
// defined once, in place of its first use, which is what goavro needs.
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed avro/*.avsc
var files embed.FS

// Namespace is the Avro namespace of every contactsync schema.
const Namespace = "org.contactsync"

// Top-level record names that travel on topics.
const (
	ContactChange = "ContactChange"
	MatchedChange = "MatchedChange"
	SinkRecord    = "SinkRecord"
	KickOut       = "KickOut"
	ReviewItem    = "ReviewItem"
	GiftEvent     = "GiftEvent"
	AuditRecord   = "AuditRecord"
)

// EmbeddedIDs are the schema ids used in the Confluent wire format when no
// schema registry is configured. They are fixed so that every process of an
// install agrees without coordination; a new, incompatible version of a
// schema gets a new id here.
var EmbeddedIDs = map[string]int{
	// ContactChange, MatchedChange and ReviewItem were 1, 2 and 5 until
	// ContactFields got its custom map (LegacyIDs); MatchedChange then 10
	// and SinkRecord 3 until they got household_id.
	ContactChange: 9,
	MatchedChange: 13,
	SinkRecord:    14,
	KickOut:       7, // 4 until value_size, value_sha256 and truncated were added (LegacyIDs)
	ReviewItem:    11,
	GiftEvent:     6,
	AuditRecord:   12, // 8 until FieldDecision got its kind (LegacyIDs)
}

//go:embed legacy/*.avsc
var legacyFiles embed.FS

// LegacyIDs maps the embedded ids of earlier versions of a schema to the
// schema's name. Records written with one are still read, with the schema
// they were written with (legacy/<name>.<id>.avsc, self-contained): fields
// added since take their defaults. Nothing is written with them.
var LegacyIDs = map[int]string{
	1:  ContactChange,
	2:  MatchedChange,
	3:  SinkRecord,
	4:  KickOut,
	5:  ReviewItem,
	8:  AuditRecord,
	10: MatchedChange,
}

// Legacy returns the text of the earlier schema version with embedded id
// id, and the name of the schema it is a version of.
func Legacy(id int) (name, text string, err error) {
	name, ok := LegacyIDs[id]
	if !ok {
		return "", "", fmt.Errorf("no legacy schema with id %d", id)
	}
	b, err := legacyFiles.ReadFile(fmt.Sprintf("legacy/%s.%d.avsc", name, id))
	if err != nil {
		return "", "", fmt.Errorf("legacy schema %d: %w", id, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", fmt.Errorf("legacy schema %d: %w", id, err)
	}
	return name, string(b), nil
}

// Names returns the short names of all embedded schemas, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, "avro")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".avsc"))
	}
	sort.Strings(names)
	return names
}

// Raw returns the .avsc text of one schema as written, references unresolved.
func Raw(name string) ([]byte, error) {
	b, err := files.ReadFile("avro/" + name + ".avsc")
	if err != nil {
		return nil, fmt.Errorf("schema %q: %w", name, err)
	}
	return b, nil
}

// Resolve returns the schema called name as self-contained JSON text.
func Resolve(name string) (string, error) {
	root, err := load(name)
	if err != nil {
		return "", err
	}
	defined := map[string]bool{Namespace + "." + name: true}
	out, err := inline(root, defined)
	if err != nil {
		return "", fmt.Errorf("schema %q: %w", name, err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("schema %q: %w", name, err)
	}
	return string(b), nil
}

func load(name string) (any, error) {
	b, err := Raw(name)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("schema %q: %w", name, err)
	}
	return v, nil
}

// inline walks a schema in Avro's parse order (record fields in order) and
// replaces the first reference to another embedded type by its definition.
func inline(node any, defined map[string]bool) (any, error) {
	switch n := node.(type) {
	case string:
		short, ok := strings.CutPrefix(n, Namespace+".")
		if !ok || defined[n] {
			return n, nil
		}
		def, err := load(short)
		if err != nil {
			return nil, err
		}
		defined[n] = true
		return inline(def, defined)
	case []any:
		for i := range n {
			v, err := inline(n[i], defined)
			if err != nil {
				return nil, err
			}
			n[i] = v
		}
		return n, nil
	case map[string]any:
		if name, ok := n["name"].(string); ok && n["type"] == "record" {
			full := name
			if !strings.Contains(name, ".") {
				ns, _ := n["namespace"].(string)
				if ns == "" {
					ns = Namespace
				}
				full = ns + "." + name
			}
			defined[full] = true
		}
		for _, key := range []string{"type", "items", "values"} {
			if v, ok := n[key]; ok {
				r, err := inline(v, defined)
				if err != nil {
					return nil, err
				}
				n[key] = r
			}
		}
		if fields, ok := n["fields"].([]any); ok {
			for i := range fields {
				r, err := inline(fields[i], defined)
				if err != nil {
					return nil, err
				}
				fields[i] = r
			}
		}
		return n, nil
	default:
		return n, nil
	}
}
