package rules

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Fields returns the fields this configuration knows: the built-in ones,
// then its custom fields in declared order.
func (c *Config) Fields() *contact.FieldSet { return c.fields }

// Mapping returns where the fields live in the offline table and the
// online events (the reference names where the file says nothing).
func (c *Config) Mapping() contact.Mapping { return c.mapping.Clone() }

// readCustomFields reads custom_fields: a list of {name, type, values}.
func (c *Config) readCustomFields(p *problems, n *yaml.Node) {
	c.fields = contact.BuiltIn()
	if n.Kind == 0 {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, "custom_fields: a list of fields is required")
		return
	}
	var declared []contact.FieldInfo
	lines := map[contact.Field]int{}
	for _, item := range n.Content {
		if !strictKeys(p, item, "name", "type", "values") {
			continue
		}
		var d struct {
			Name   string   `yaml:"name"`
			Type   string   `yaml:"type"`
			Values []string `yaml:"values"`
		}
		if !p.decode(item, &d) {
			continue
		}
		f := contact.FieldInfo{Name: contact.Field(d.Name), Allowed: d.Values}
		kind, ok := contact.ParseKind(d.Type)
		if !ok {
			p.add(lineOf(item, "type"), "custom field %q: type must be text, bool, date, decimal or enum, not %q", d.Name, d.Type)
			continue
		}
		f.Kind = kind
		if err := contact.CheckCustomField(f); err != nil {
			line := lineOf(item, "name")
			if strings.Contains(err.Error(), "value") {
				line = lineOf(item, "values")
			}
			p.add(line, "%v", err)
			continue
		}
		if _, builtin := contact.Lookup(f.Name); builtin {
			p.add(lineOf(item, "name"), "custom field %q: a built-in field has that name", d.Name)
			continue
		}
		if first, dup := lines[f.Name]; dup {
			p.add(lineOf(item, "name"), "custom field %q declared twice (first on line %d)", d.Name, first)
			continue
		}
		lines[f.Name] = item.Line
		declared = append(declared, f)
	}
	fs, err := contact.NewFieldSet(declared...)
	if err != nil {
		p.add(n.Line, "%v", err) // checked one by one above; kept for safety
		return
	}
	c.fields = fs
}

// readMapping reads mapping: the offline table and column names and the
// online event keys. Each list is merged into the reference names by
// field: mapping a field to a new column (or key) replaces its reference
// one, and omit removes fields a system does not have.
func (c *Config) readMapping(p *problems, n *yaml.Node) {
	c.mapping = contact.DefaultMapping()
	if n.Kind == 0 {
		return
	}
	if !strictKeys(p, n, "offline", "online") {
		return
	}
	m := &c.mapping
	if off := child(n, "offline"); off != nil {
		if strictKeys(p, off, "table", "id", "reference_source", "updated_by", "updated_at", "household_id", "columns", "omit") {
			for key, dst := range map[string]*string{"table": &m.Offline.ContactsTable, "id": &m.Offline.IDColumn,
				"reference_source": &m.Offline.ReferenceSourceColumn, "updated_by": &m.Offline.UpdatedByColumn,
				"updated_at": &m.Offline.UpdatedAtColumn, "household_id": &m.Offline.HouseholdColumn} {
				v := child(off, key)
				if v == nil {
					continue
				}
				if v.Kind != yaml.ScalarNode || !contact.ValidSQLName(v.Value) {
					p.add(v.Line, "mapping offline %s: want a lower-case SQL name, not %q", key, v.Value)
					continue
				}
				*dst = v.Value
			}
			c.mergeNames(p, off, "columns", "offline column", m.Offline.Columns, true)
			c.omit(p, off, "offline", m.Offline.Columns)
		}
	}
	if on := child(n, "online"); on != nil {
		if strictKeys(p, on, "contact", "address", "consent", "custom_fields", "omit") {
			c.mergeNames(p, on, "contact", "online contact key", m.Online.Contact, false)
			c.mergeNames(p, on, "address", "online address key", m.Online.Address, false)
			c.mergeNames(p, on, "consent", "online consent key", m.Online.Consent, false)
			if v := child(on, "custom_fields"); v != nil {
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					p.add(v.Line, "mapping online custom_fields: want the key of the custom fields object")
				} else {
					m.Online.CustomObject = v.Value
				}
			}
			c.omit(p, on, "online", m.Online.Contact, m.Online.Address, m.Online.Consent)
		}
	}
	for key, f := range m.Online.Consent {
		if info, ok := c.fields.Lookup(f); ok && info.Kind != contact.Bool {
			p.add(lineOf(n, "online"), "mapping online consent key %q: %q is not an opt-out flag", key, f)
		}
	}
	if len(p.errs) == 0 {
		if err := m.Check(c.fields); err != nil {
			p.add(n.Line, "mapping: %v", err)
		}
	}
}

// mergeNames reads the mapping name: field under key of n into names,
// replacing the name a field had before (a field has one name).
func (c *Config) mergeNames(p *problems, n *yaml.Node, key, what string, names map[string]contact.Field, sql bool) {
	v := child(n, key)
	if v == nil {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.add(v.Line, "mapping %s: want name: field pairs", key)
		return
	}
	seen := map[contact.Field]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, fv := v.Content[i], v.Content[i+1]
		f := contact.Field(fv.Value)
		switch {
		case fv.Kind != yaml.ScalarNode:
			p.add(fv.Line, "%s %q: want a field name", what, k.Value)
			continue
		case sql && !contact.ValidSQLName(k.Value):
			p.add(k.Line, "%s %q: want a lower-case SQL name", what, k.Value)
			continue
		case !sql && strings.TrimSpace(k.Value) == "":
			p.add(k.Line, "%s: empty key", what)
			continue
		}
		if _, ok := c.fields.Lookup(f); !ok {
			p.add(fv.Line, "%s %q: unknown field %q (built-in or declared in custom_fields)", what, k.Value, f)
			continue
		}
		if first, dup := seen[f]; dup {
			p.add(k.Line, "%s %q: field %q is already mapped on line %d; a field has one name", what, k.Value, f, first)
			continue
		}
		seen[f] = k.Line
		for name, g := range names {
			if g == f {
				delete(names, name)
			}
		}
		if prev, taken := names[k.Value]; taken && seen[prev] == 0 {
			delete(names, k.Value) // the reference field of that name is remapped away
		}
		names[k.Value] = f
	}
}

// omit removes the fields listed under omit of n from every name map.
func (c *Config) omit(p *problems, n *yaml.Node, what string, maps ...map[string]contact.Field) {
	var fields []contact.Field
	v := child(n, "omit")
	if v == nil {
		return
	}
	if err := v.Decode(&fields); err != nil {
		p.add(v.Line, "mapping %s omit: want a list of fields", what)
		return
	}
	for _, f := range fields {
		if _, ok := c.fields.Lookup(f); !ok {
			p.add(itemLine(n, "omit", string(f)), "mapping %s omit: unknown field %q", what, f)
		}
		for _, names := range maps {
			for name, g := range names {
				if g == f {
					delete(names, name)
				}
			}
		}
	}
}
