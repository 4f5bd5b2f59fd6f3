package decode

import (
	"errors"
	"strings"
)

// The two shapes of a Debezium change event that the decoder reads, with
// the JSON converter's schemas on ({"schema":…,"payload":…}) or off:
//
//   - the envelope: {"before":…,"after":…,"op":…,"source":{…},"ts_ms":…}
//   - the flat row of the ExtractNewRecordState transform ("unwrap"), with
//     add.fields=op,lsn,source.ts_ms and delete.tombstone.handling.mode=rewrite:
//     the row's columns plus "__op", "__lsn", "__source_ts_ms" and, on a
//     delete, "__deleted":"true" with the row as it was.
//
// A flat row has no before image: a NULL in it cannot be told from a clear,
// so no clear is ever read from one.

// event is a change event reduced to the envelope's parts.
type event struct {
	env           map[string]any // op, source (lsn, ts_ms, table), ts_ms
	before, after map[string]any
	types         map[string]columnType // column types of a schemas-on event
	// flat: an unwrapped row. Its updated_at may be a value left from an
	// earlier change (no before image shows whether this one set it).
	flat bool
}

// unwrapPrefix is ExtractNewRecordState's default add.fields.prefix.
const unwrapPrefix = "__"

// readEvent finds the change event in a parsed record value. A nil event
// with a nil error is a tombstone.
func readEvent(top map[string]any) (*event, error) {
	msg, schema := top, any(nil)
	if payload, ok := top["payload"]; ok {
		if payload == nil {
			if top["schema"] != nil {
				// Connect writes a real tombstone as an empty value. A
				// null payload under a schema is a record whose value the
				// connector's transform removed: ExtractNewRecordState's
				// delete.tombstone.handling.mode=tombstone turns a delete
				// into it. Skipping it would lose the delete.
				return nil, errorf(ReasonEnvelope, "a schema with a null payload: a delete turned into a "+
					"tombstone by ExtractNewRecordState? set delete.tombstone.handling.mode=rewrite")
			}
			return nil, nil // a tombstone as older converters wrote it
		}
		var isObject bool
		if msg, isObject = payload.(map[string]any); !isObject {
			return nil, errorf(ReasonEnvelope, "payload is %s, not an object", typeName(payload))
		}
		schema = top["schema"]
	}
	_, hasOp := msg["op"]
	_, hasUnwrapOp := msg[unwrapPrefix+"op"]
	_, hasDeleted := msg[unwrapPrefix+"deleted"]
	if !hasOp && (hasUnwrapOp || hasDeleted) {
		ev, err := flatEvent(msg)
		if err != nil {
			return nil, err
		}
		ev.types = columnTypes(schema, true)
		return ev, nil
	}
	_, hasBefore := msg["before"]
	_, hasAfter := msg["after"]
	if !hasOp && !hasBefore && !hasAfter {
		return nil, errorf(ReasonEnvelope, "not a Debezium change event (no op; an unwrapped row "+
			"needs add.fields=op,lsn,source.ts_ms)")
	}
	before, err := row(msg, "before")
	if err != nil {
		return nil, err
	}
	after, err := row(msg, "after")
	if err != nil {
		return nil, err
	}
	return &event{env: msg, before: before, after: after, types: columnTypes(schema, false)}, nil
}

// flatEvent reads an ExtractNewRecordState row into an event: its op, and
// the source fields add.fields put beside the columns.
func flatEvent(msg map[string]any) (*event, error) {
	op, isString := msg[unwrapPrefix+"op"].(string)
	if !isString {
		return nil, errorf(ReasonEnvelope, "an unwrapped row without a string __op: set add.fields=op,lsn,source.ts_ms")
	}
	deleted := false
	switch v := msg[unwrapPrefix+"deleted"].(type) {
	case nil:
	case bool:
		deleted = v
	case string:
		deleted = strings.EqualFold(strings.TrimSpace(v), "true")
	default:
		return nil, errorf(ReasonEnvelope, "__deleted is %s", typeName(v))
	}
	if deleted != (op == "d") {
		return nil, errorf(ReasonEnvelope, "__deleted and __op %s disagree", token(op))
	}
	source := map[string]any{}
	for name, key := range map[string]string{
		"lsn": "lsn", "ts_ms": "source_ts_ms", "table": "source_table",
	} {
		if v, ok := msg[unwrapPrefix+key]; ok {
			source[name] = v
		}
	}
	if _, ok := source["table"]; !ok {
		if v, ok := msg[unwrapPrefix+"table"]; ok {
			source["table"] = v
		}
	}
	env := map[string]any{"op": op, "source": source}
	if v, ok := msg[unwrapPrefix+"ts_ms"]; ok {
		env["ts_ms"] = v
	}
	ev := &event{env: env, flat: true}
	if deleted {
		ev.before = msg // rewrite mode: the row as it was before the delete
	} else {
		ev.after = msg
	}
	return ev, nil
}

// columnTypes reads the column types of a schemas-on event: those of the
// after image, or of the row itself when it is flat. A schema it cannot
// read leaves the values to be read by their JSON type.
func columnTypes(schema any, flat bool) map[string]columnType {
	out := map[string]columnType{}
	s, _ := schema.(map[string]any)
	fields, _ := s["fields"].([]any)
	if !flat {
		var after []any
		for _, f := range fields {
			if fm, _ := f.(map[string]any); fm["field"] == "after" {
				after, _ = fm["fields"].([]any)
			}
		}
		fields = after
	}
	for _, c := range fields {
		cm, _ := c.(map[string]any)
		name, _ := cm["field"].(string)
		ct := columnType{}
		ct.logical, _ = cm["name"].(string)
		ct.connect, _ = cm["type"].(string)
		if params, ok := cm["parameters"].(map[string]any); ok {
			ct.scale, _ = intParam(params["scale"])
		}
		out[name] = ct
	}
	return out
}

// schemalessDecimal checks a decimal column's string value when the event
// has no schema. Debezium's default decimal.handling.mode=precise writes the
// unscaled value as base64 bytes, and the scale that says how to read them
// is only in the schema: "0000" is -29293.56 at scale 2. Without the schema
// the decoder never guesses: it takes a string only when it is a plain
// decimal that cannot be base64 (it has a point or a sign, or its length is
// not a multiple of four), as decimal.handling.mode=string writes a numeric
// column with a scale.
func schemalessDecimal(s string) error {
	if !decimalRE.MatchString(s) || (!strings.ContainsAny(s, ".-") && len(s)%4 == 0) {
		return errors.New("not a decimal literal (without schemas, Debezium's precise decimals " +
			"cannot be read: turn schemas on or set decimal.handling.mode=string)")
	}
	return nil
}
