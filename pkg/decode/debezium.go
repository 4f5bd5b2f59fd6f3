package decode

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

// DefaultColumns maps the columns of deploy/postgres/offline-schema.sql.
func DefaultColumns() map[string]contact.Field {
	return map[string]contact.Field{
		"first_name": contact.GivenName, "last_name": contact.FamilyName, "organisation": contact.Organisation,
		"email": contact.Email, "phone": contact.Phone,
		"address1": contact.AddressLine1, "address2": contact.AddressLine2, "city": contact.Locality,
		"state": contact.Region, "postcode": contact.Postcode, "country": contact.Country,
		"birth_date":   contact.DateOfBirth,
		"do_not_email": contact.DoNotEmail, "do_not_mail": contact.DoNotMail, "do_not_phone": contact.DoNotPhone,
		"giving_total": contact.GivingTotal, "last_gift_date": contact.LastGiftDate,
	}
}

// Debezium decodes Debezium change events (JSON converter, schemas on or
// off) of the offline contact table.
type Debezium struct {
	cfg DebeziumConfig
}

// NewDebezium checks cfg and fills its defaults.
func NewDebezium(cfg DebeziumConfig) (*Debezium, error) {
	if cfg.System == "" {
		return nil, errors.New("debezium decoder: system name is empty")
	}
	if cfg.Columns == nil {
		cfg.Columns = DefaultColumns()
	}
	for col, f := range cfg.Columns {
		if _, ok := contact.Lookup(f); !ok {
			return nil, fmt.Errorf("debezium decoder: column %q maps to unknown field %q", col, f)
		}
	}
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
	return &Debezium{cfg: cfg}, nil
}

// columnType is what a schemas-on event says about one column.
type columnType struct {
	logical string
	scale   int
}

// Decode decodes one change event. A tombstone (empty value, which Kafka
// log compaction uses after a delete) yields no change and no error.
func (d *Debezium) Decode(key, value []byte, topic string, partition int32, offset int64) ([]contact.Change, error) {
	if len(value) == 0 {
		return nil, nil
	}
	top, err := parseObject(value)
	if err != nil {
		return nil, err
	}
	env, types := top, map[string]columnType{}
	if payload, ok := top["payload"]; ok {
		if payload == nil {
			return nil, nil // a tombstone with schemas on
		}
		if env, ok = payload.(map[string]any); !ok {
			return nil, errorf(ReasonEnvelope, "payload is %s, not an object", typeName(payload))
		}
		types = columnTypes(top["schema"])
	}
	op, _ := env["op"].(string)
	before, err := row(env, "before")
	if err != nil {
		return nil, err
	}
	after, err := row(env, "after")
	if err != nil {
		return nil, err
	}
	c := contact.Change{SourceSystem: d.cfg.System, Origin: contact.OriginAdmin}
	var image map[string]any
	switch op {
	case "c", "r", "u":
		if after == nil {
			return nil, errorf(ReasonEnvelope, "op %q without an after image", op)
		}
		c.Op, image = contact.OpUpsert, after
	case "d":
		if before == nil {
			return nil, errorf(ReasonEnvelope, "delete without a before image")
		}
		c.Op, image = contact.OpDelete, before
	case "":
		return nil, errorf(ReasonEnvelope, "not a Debezium change event (no op)")
	default:
		return nil, errorf(ReasonEnvelope, "unknown op %q", op)
	}

	id, ok := idString(image[d.cfg.IDColumn])
	if !ok {
		id, ok = keyID(key, d.cfg.IDColumn)
	}
	if !ok {
		return nil, errorf(ReasonMissingID, "no %s column and no usable key", d.cfg.IDColumn)
	}
	c.SourceRecordID = id
	if rs, ok := image[d.cfg.ReferenceSourceColumn].(string); ok {
		c.ReferenceSource = strings.TrimSpace(rs)
	}
	if by, ok := image[d.cfg.UpdatedByColumn].(string); ok && strings.EqualFold(strings.TrimSpace(by), d.cfg.SyncUser) {
		c.Origin = contact.OriginSync
	}
	if c.SourceTime, err = d.sourceTime(env, image, types); err != nil {
		return nil, err
	}

	if c.Op == contact.OpUpsert {
		for _, col := range sortedColumns(d.cfg.Columns) {
			f := d.cfg.Columns[col]
			v, present := after[col]
			if !present {
				continue
			}
			if v == nil {
				if before != nil && before[col] != nil {
					c.Cleared = append(c.Cleared, f) // value -> NULL: an explicit clear
				}
				continue
			}
			s, err := columnValue(f, v, types[col])
			if err != nil {
				return nil, errorf(ReasonField, "%s (column %s): %v", f, col, err)
			}
			if s == "" {
				continue // blank is "not supplied", never a clear
			}
			if c.Values == nil {
				c.Values = contact.Values{}
			}
			c.Values[f] = s
		}
		sortFields(c.Cleared)
	}
	c.EventID = d.eventID(env, id, topic, partition, offset)
	// Decoded is not yet valid: a text in a decimal column, a year 0.
	if err := Validate(c); err != nil {
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

// keyID reads the record id from a Debezium key ({"id":..} or with schema).
func keyID(key []byte, column string) (string, bool) {
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
	return idString(m[column])
}

// columnTypes reads the after-image column types of a schemas-on event.
func columnTypes(schema any) map[string]columnType {
	out := map[string]columnType{}
	s, _ := schema.(map[string]any)
	fields, _ := s["fields"].([]any)
	for _, f := range fields {
		fm, _ := f.(map[string]any)
		if fm["field"] != "after" {
			continue
		}
		cols, _ := fm["fields"].([]any)
		for _, c := range cols {
			cm, _ := c.(map[string]any)
			name, _ := cm["field"].(string)
			ct := columnType{}
			ct.logical, _ = cm["name"].(string)
			if params, ok := cm["parameters"].(map[string]any); ok {
				if sc, ok := params["scale"].(string); ok {
					ct.scale, _ = strconv.Atoi(sc)
				}
			}
			out[name] = ct
		}
	}
	return out
}

// columnValue renders one column value as the canonical string of f's kind.
func columnValue(f contact.Field, v any, t columnType) (string, error) {
	info, _ := contact.Lookup(f)
	switch x := v.(type) {
	case string:
		if t.logical == "org.apache.kafka.connect.data.Decimal" {
			return connectDecimal(x, t.scale)
		}
		return strings.TrimSpace(x), nil
	case bool:
		if info.Kind != contact.Bool {
			return "", fmt.Errorf("a boolean where %s was expected", kindName(info.Kind))
		}
		return strconv.FormatBool(x), nil
	case json.Number:
		switch {
		case info.Kind == contact.Date:
			return epochDays(x)
		case info.Kind == contact.Bool:
			switch x.String() {
			case "0":
				return "false", nil
			case "1":
				return "true", nil
			}
			return "", fmt.Errorf("a number where a boolean was expected")
		}
		return plainDecimal(x)
	}
	return "", fmt.Errorf("%s is not a column value", typeName(v))
}

func (d *Debezium) sourceTime(env, image map[string]any, types map[string]columnType) (time.Time, error) {
	switch v := image[d.cfg.UpdatedAtColumn].(type) {
	case string:
		if t, err := parseTime(v); err == nil {
			return t, nil
		}
	case json.Number:
		if t, err := epochTime(v, types[d.cfg.UpdatedAtColumn].logical); err == nil {
			return t, nil
		}
	}
	if src, ok := env["source"].(map[string]any); ok {
		if n, ok := src["ts_ms"].(json.Number); ok {
			if ms, err := n.Int64(); err == nil && ms > 0 {
				return time.UnixMilli(ms).UTC(), nil
			}
		}
	}
	if n, ok := env["ts_ms"].(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 0 {
			return time.UnixMilli(ms).UTC(), nil
		}
	}
	return time.Time{}, errorf(ReasonTime, "no %s, source.ts_ms or ts_ms", d.cfg.UpdatedAtColumn)
}

// eventID derives an id from the change's position in the source database,
// so that the same change delivered twice (a connector restart re-sends
// from its last flushed offset) is recognised. Without a known position it
// falls back to the Kafka position, which is stable across redelivery too.
func (d *Debezium) eventID(env map[string]any, id, topic string, partition int32, offset int64) string {
	src, _ := env["source"].(map[string]any)
	str := func(k string) string {
		switch v := src[k].(type) {
		case json.Number:
			return v.String()
		case string:
			return v
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

func sortedColumns(m map[string]contact.Field) []string {
	cols := make([]string, 0, len(m))
	for c := range m {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	return cols
}

// sortFields orders fields as contact.Fields does (schema order).
func sortFields(fs []contact.Field) {
	pos := map[contact.Field]int{}
	for i, f := range contact.Fields {
		pos[f.Name] = i
	}
	slices.SortFunc(fs, func(a, b contact.Field) int { return pos[a] - pos[b] })
}
