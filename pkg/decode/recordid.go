package decode

import (
	"encoding/json"
	"sort"
)

// This file is the one reader of record ids and email addresses from raw
// JSON records: the decoders read ids with it, and the kick-out review uses
// it for records that did not decode (or never reached a decoder), so both
// name a record the same way.

// KeyRecordID reads the record id of a Debezium key: the value of column in
// the key struct, or in its "payload" with schemas on. A string is trimmed;
// a number is kept exactly as written.
func KeyRecordID(key []byte, column string) (string, bool) {
	if len(key) == 0 {
		return "", false
	}
	m, err := parseObject(key)
	if err != nil {
		return "", false
	}
	if p, ok := m["payload"].(map[string]any); ok {
		m = p
	}
	id, ok, _ := idString(m[column])
	return id, ok
}

// DebeziumRecordID reads the record id of a raw Debezium change event (its
// value): column of the after image, else of the before image, with or
// without the schema envelope. It does not check that the event is valid.
func DebeziumRecordID(value []byte, column string) (string, bool) {
	env, err := parseObject(value)
	if err != nil {
		return "", false
	}
	if p, ok := env["payload"].(map[string]any); ok {
		env = p
	}
	for _, side := range []string{"after", "before"} {
		if img, ok := env[side].(map[string]any); ok {
			if id, ok, _ := idString(img[column]); ok {
				return id, true
			}
		}
	}
	return "", false
}

// OnlineRecordID reads the record id (contact.id) and the system an online
// event names, without checking that the event is valid.
func OnlineRecordID(value []byte) (id, system string, ok bool) {
	ev, err := parseObject(value)
	if err != nil {
		return "", "", false
	}
	system, _ = ev["system"].(string)
	if person, isObj := ev["contact"].(map[string]any); isObj {
		id, ok, _ = idString(person["id"])
	}
	return id, system, ok
}

// FindString returns the first non-empty string value of a field called
// name anywhere in a JSON value (an email or event id of a record that did
// not decode), searching breadth first with keys in sorted order so the
// answer is stable ("after" before "before" in a Debezium envelope).
func FindString(value []byte, name string) string {
	var v any
	if json.Unmarshal(value, &v) != nil {
		return ""
	}
	queue := []any{v}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		switch x := cur.(type) {
		case map[string]any:
			if s, ok := x[name].(string); ok && s != "" {
				return s
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				queue = append(queue, x[k])
			}
		case []any:
			queue = append(queue, x...)
		}
	}
	return ""
}

// FindEmail is the email address a raw JSON record carries, if any.
func FindEmail(value []byte) string { return FindString(value, "email") }
