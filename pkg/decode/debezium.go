package decode

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// DebeziumConfig describes the offline system's contact table.
type DebeziumConfig struct {
	System                string                   // name of the offline system; required
	Columns               map[string]contact.Field // column -> field; nil = DefaultColumns()
	IDColumn              string                   // default "id"
	ReferenceSourceColumn string                   // default "reference_source"
	UpdatedByColumn       string                   // default "updated_by"
	UpdatedAtColumn       string                   // default "updated_at"
	// SyncUser is the updated_by value of rows the sync itself wrote
	// (default "contactsync"): such a change is an echo, origin sync.
	SyncUser string
	// Fields are the fields Columns may name; nil = the built-in ones.
	Fields *contact.FieldSet
}

// DefaultColumns maps the columns of deploy/postgres/offline-schema.sql.
func DefaultColumns() map[string]contact.Field { return contact.DefaultMapping().Offline.Columns }

// DebeziumConfigFor is the decoder configuration of system's table as m
// maps it, with the fields of fs (the rules file's mapping and custom
// fields).
func DebeziumConfigFor(system string, m contact.OfflineMapping, fs *contact.FieldSet) DebeziumConfig {
	return DebeziumConfig{
		System: system, Columns: m.Columns, IDColumn: m.IDColumn, ReferenceSourceColumn: m.ReferenceSourceColumn,
		UpdatedByColumn: m.UpdatedByColumn, UpdatedAtColumn: m.UpdatedAtColumn, Fields: fs,
	}
}

// Debezium decodes Debezium change events (JSON converter, schemas on or
// off, envelope or ExtractNewRecordState rows) of the offline contact table.
type Debezium struct {
	cfg DebeziumConfig
	// columns are the mapped columns in field order, so that Cleared comes
	// out sorted and the first bad column reported is always the same one.
	columns []column
}

type column struct {
	name  string
	field contact.Field
	kind  contact.Kind
	info  contact.FieldInfo
}

// NewDebezium checks cfg and fills its defaults.
func NewDebezium(cfg DebeziumConfig) (*Debezium, error) {
	if cfg.System == "" {
		return nil, errors.New("debezium decoder: system name is empty")
	}
	if cfg.Columns == nil {
		cfg.Columns = DefaultColumns()
	}
	if cfg.Fields == nil {
		cfg.Fields = contact.BuiltIn()
	}
	d := &Debezium{}
	byField := map[contact.Field]string{}
	for name, f := range cfg.Columns {
		info, ok := cfg.Fields.Lookup(f)
		switch {
		case name == "":
			return nil, errors.New("debezium decoder: empty column name")
		case !ok:
			return nil, fmt.Errorf("debezium decoder: column %q maps to unknown field %q", name, f)
		case byField[f] != "":
			// Two columns for one field: which one wins would depend on
			// the row, and a NULL in one would clear the other's value.
			return nil, fmt.Errorf("debezium decoder: columns %q and %q both map to field %q",
				min(name, byField[f]), max(name, byField[f]), f)
		}
		byField[f] = name
		d.columns = append(d.columns, column{name: name, field: f, kind: info.Kind, info: info})
	}
	slices.SortFunc(d.columns, func(a, b column) int {
		return cmp.Compare(cfg.Fields.Position(a.field), cfg.Fields.Position(b.field))
	})
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.IDColumn, "id")
	def(&cfg.ReferenceSourceColumn, "reference_source")
	def(&cfg.UpdatedByColumn, "updated_by")
	def(&cfg.UpdatedAtColumn, "updated_at")
	def(&cfg.SyncUser, "contactsync")
	cfg.Columns = nil // d.columns is the copy; the caller may reuse its map
	d.cfg = cfg
	return d, nil
}

// columnType is what a schemas-on event says about one column.
type columnType struct {
	connect string // Connect's type ("string", "bytes", ...); "" without a schema
	logical string
	scale   int
}

// Decode decodes one change event; topic, partition and offset name its
// Kafka position, the event id of last resort. A tombstone (an empty value,
// which Kafka log compaction keeps after a delete) yields no change and no
// error: the delete itself came in the event before it.
func (d *Debezium) Decode(key, value []byte, topic string, partition int32, offset int64) ([]contact.Change, error) {
	if v := bytes.TrimSpace(value); len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	top, err := parseObject(value)
	if err != nil {
		return nil, err
	}
	ev, err := readEvent(top)
	if ev == nil || err != nil {
		return nil, err // nil, nil: a tombstone
	}
	env, before, after, types := ev.env, ev.before, ev.after, ev.types
	c := contact.Change{SourceSystem: d.cfg.System, Origin: contact.OriginAdmin}
	var image map[string]any // the row as it is (after) or was (before a delete)
	op, isString := env["op"].(string)
	if !isString && env["op"] != nil {
		return nil, errorf(ReasonEnvelope, "op is %s, not a string", typeName(env["op"]))
	}
	switch op {
	case "c", "r", "u":
		if after == nil {
			return nil, errorf(ReasonEnvelope, "op %q without an after image", op)
		}
		c.Op, image = contact.OpUpsert, after
	case "d":
		// Without a before image (REPLICA IDENTITY NOTHING) the key
		// still names the record.
		c.Op, image = contact.OpDelete, before
	case "":
		return nil, errorf(ReasonEnvelope, "not a Debezium change event (no op)")
	default:
		return nil, errorf(ReasonEnvelope, "unknown op %s", token(op))
	}

	id, ok, wrong := idString(image[d.cfg.IDColumn])
	if wrong {
		return nil, errorf(ReasonField, "column %s: %s, not an id", d.cfg.IDColumn, typeName(image[d.cfg.IDColumn]))
	}
	if !ok {
		id, ok = KeyRecordID(key, d.cfg.IDColumn)
	}
	if !ok {
		return nil, errorf(ReasonMissingID, "no %s column and no usable key", d.cfg.IDColumn)
	}
	c.SourceRecordID = id
	if rs, ok := image[d.cfg.ReferenceSourceColumn].(string); ok {
		c.ReferenceSource = strings.TrimSpace(rs)
	}
	// A delete's before image names the row's last writer, not whoever
	// deleted it: calling a delete an echo would hide a real one.
	if by, ok := after[d.cfg.UpdatedByColumn].(string); ok && c.Op == contact.OpUpsert &&
		strings.EqualFold(strings.TrimSpace(by), d.cfg.SyncUser) {
		c.Origin = contact.OriginSync
	}
	if c.SourceTime, err = d.sourceTime(ev, c.Op); err != nil {
		return nil, err
	}

	if c.Op == contact.OpUpsert {
		for _, col := range d.columns {
			v, present := after[col.name]
			if !present {
				continue // not captured: not supplied
			}
			if v == nil {
				if before != nil && before[col.name] != nil {
					c.Cleared = append(c.Cleared, col.field) // value -> NULL: an explicit clear
				}
				continue
			}
			s, err := columnValue(col, v, types[col.name])
			if err == nil && col.info.Custom {
				s, err = contact.ParseCustomValue(col.info, s)
			}
			if err != nil {
				return nil, errorf(ReasonField, "%s (column %s): %v", col.field, col.name, err)
			}
			if s == "" {
				continue // blank is "not supplied", never a clear
			}
			if c.Values == nil {
				c.Values = contact.Values{}
			}
			c.Values[col.field] = s
		}
	}
	c.EventID = d.eventID(env, id, topic, partition, offset)
	// Decoded is not yet valid: a text in a decimal column, a year 0.
	if err := ValidateFields(c, d.cfg.Fields); err != nil {
		return nil, err
	}
	return []contact.Change{c}, nil
}

func row(env map[string]any, name string) (map[string]any, error) {
	v := env[name]
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ReasonEnvelope, "%s is %s, not an object", name, typeName(v))
	}
	return m, nil
}

// columnValue renders one non-null column value as the canonical string of
// its field's kind. The logical type, when the event has a schema, says how
// the value is encoded; without one the JSON type and the field's kind do.
func columnValue(col column, v any, t columnType) (string, error) {
	switch t.logical {
	case typeDecimal:
		if s, ok := v.(string); ok {
			return connectDecimal(s, t.scale)
		}
	case typeVariableScale:
		if m, ok := v.(map[string]any); ok {
			return variableScale(m)
		}
	case typeDate, typeConnectDate:
		if n, ok := v.(json.Number); ok {
			return epochDays(n)
		}
	case typeNano, typeMicro, typeMilli, typeConnectMilli:
		if n, ok := v.(json.Number); ok && col.kind == contact.Date {
			t, err := epochTime(n, t.logical)
			if err != nil {
				return "", err
			}
			return t.Format(time.DateOnly), nil
		}
	}
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		switch col.kind {
		case contact.Decimal:
			if t.connect == "" {
				if err := schemalessDecimal(s); err != nil {
					return "", err
				}
			}
		case contact.Bool:
			if strings.EqualFold(s, "true") || strings.EqualFold(s, "false") {
				return strings.ToLower(s), nil
			}
		case contact.Date:
			// A timestamp column read as a date (ZonedTimestamp): the
			// calendar date where it was written, not in UTC.
			if len(s) > 10 {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					return t.Format(time.DateOnly), nil
				}
			}
		}
		return s, nil // Validate judges whether it fits the kind
	case bool:
		if col.kind != contact.Bool {
			return "", fmt.Errorf("a boolean where %s was expected", kindName(col.kind))
		}
		return strconv.FormatBool(x), nil
	case json.Number:
		switch col.kind {
		case contact.Date:
			return epochDays(x) // Debezium's date encoding, schema or not
		case contact.Bool:
			switch x.String() {
			case "0":
				return "false", nil
			case "1":
				return "true", nil
			}
			return "", fmt.Errorf("a number where a boolean was expected")
		}
		return plainDecimal(x)
	case map[string]any:
		if col.kind == contact.Decimal {
			return variableScale(x) // VariableScaleDecimal with schemas off
		}
	}
	return "", fmt.Errorf("%s is not a column value", typeName(v))
}

// variableScale decodes io.debezium.data.VariableScaleDecimal, a numeric
// column without a declared scale: {"scale": n, "value": base64 bytes}.
func variableScale(m map[string]any) (string, error) {
	scale, ok := intParam(m["scale"])
	b64, isString := m["value"].(string)
	if !ok || !isString {
		return "", fmt.Errorf("an object that is not a variable-scale decimal")
	}
	return connectDecimal(b64, scale)
}

// sourceTime is when the change was made: the row's updated_at when the
// change set it, else when the database committed it.
func (d *Debezium) sourceTime(ev *event, op contact.Op) (time.Time, error) {
	env, before, after, types := ev.env, ev.before, ev.after, ev.types
	col := d.cfg.UpdatedAtColumn
	// A delete's before image holds the last update's time, not the
	// delete's; an update that left updated_at alone did not set it, and
	// an unwrapped update has no before image to tell.
	stamped := op == contact.OpUpsert && !(before != nil && reflect.DeepEqual(before[col], after[col])) &&
		!(ev.flat && env["op"] == "u")
	if stamped {
		var t time.Time
		var err error
		switch v := after[col].(type) {
		case string:
			t, err = parseTime(v)
		case json.Number:
			t, err = epochTime(v, types[col].logical)
		default:
			err = errors.New("no value")
		}
		if err == nil && plausible(t) {
			return t, nil
		}
	}
	for _, m := range []map[string]any{asObject(env["source"]), env} {
		if n, ok := m["ts_ms"].(json.Number); ok {
			if ms, err := n.Int64(); err == nil {
				if t := time.UnixMilli(ms).UTC(); plausible(t) {
					return t, nil
				}
			}
		}
	}
	return time.Time{}, errorf(ReasonTime, "no usable %s, source.ts_ms or ts_ms", col)
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// eventID derives an id from the change's position in the source database,
// so that the same change delivered twice (a connector restart re-sends
// from its last flushed offset, at new Kafka offsets) is recognised. The
// table and record id tell apart the rows of a snapshot, which share one
// position. Without a known position it falls back to the Kafka position,
// which is stable across consumer redelivery.
func (d *Debezium) eventID(env map[string]any, id, topic string, partition int32, offset int64) string {
	src := asObject(env["source"])
	str := func(k string) string {
		switch v := src[k].(type) {
		case json.Number:
			return v.String()
		case string:
			return strings.TrimSpace(v)
		}
		return ""
	}
	table := str("table")
	if lsn := str("lsn"); lsn != "" {
		return fmt.Sprintf("%s:pg:%s:%s:%s", d.cfg.System, lsn, table, id)
	}
	if file, pos := str("file"), str("pos"); file != "" && pos != "" {
		return fmt.Sprintf("%s:mysql:%s:%s:%s:%s:%s", d.cfg.System, file, pos, str("row"), table, id)
	}
	return fmt.Sprintf("%s:kafka:%s/%d/%d", d.cfg.System, topic, partition, offset)
}

// sortFields orders fields as set does (schema order, then custom fields).
func sortFields(fs []contact.Field, set *contact.FieldSet) {
	slices.SortFunc(fs, func(a, b contact.Field) int { return cmp.Compare(set.Position(a), set.Position(b)) })
}
