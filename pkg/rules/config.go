// Package rules decides, field by field, what a change in one system means
// for every other system: which way each field flows, who wins a conflict,
// what must be reviewed by a person first, and which incoming values are
// only the echo of the sync's own writes. It is pure: the router stage
// feeds it a person's golden state and a matched change and gets back the
// sink patches, review items and the new state.
package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/contactsync/contactsync/pkg/contact"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in rules file (deploy/config/rules.yaml).
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Conflict policies.
const (
	Latest          = "latest"
	Authority       = "authority"
	MostRestrictive = "most_restrictive"
)

// RoleSystemOfRecord marks the offline system of record.
const RoleSystemOfRecord = "system_of_record"

// Config is a validated rules file.
type Config struct {
	systems []System
	rules   []Rule
	byField map[contact.Field]*Rule
	gifts   Gifts
	sor     string
}

// System is one system the sync talks to.
type System struct {
	Name          string `yaml:"name"`
	Role          string `yaml:"role"`
	CreateMissing bool   `yaml:"create_missing"`
	Scope         struct {
		ReferenceSource []string `yaml:"reference_source"`
	} `yaml:"scope"`
	line int
}

// Rule governs a group of fields.
type Rule struct {
	Name      string          `yaml:"rule"`
	Fields    []contact.Field `yaml:"fields"`
	From      []string        `yaml:"from"`
	To        []string        `yaml:"to"`
	Conflict  string          `yaml:"conflict"`
	Authority string          `yaml:"authority"`
	OptInFrom []string        `yaml:"opt_in_from"`
	Clear     string          `yaml:"clear"`
	Unit      bool            `yaml:"unit"`
	Review    *Review         `yaml:"review"`
	line      int
}

// Review holds changes of a rule's fields for a person's approval.
type Review struct {
	From    string           `yaml:"from"`
	Origins []contact.Origin `yaml:"origins"`
	To      []string         `yaml:"to"`
}

// Gifts says where gifts and orders go.
type Gifts struct {
	From []string `yaml:"from"`
	To   string   `yaml:"to"`
}

// Systems returns the systems in file order (one sink topic each).
func (c *Config) Systems() []string {
	out := make([]string, len(c.systems))
	for i, s := range c.systems {
		out[i] = s.Name
	}
	return out
}

// SystemOfRecord names the offline system of record.
func (c *Config) SystemOfRecord() string { return c.sor }

// Rules returns the field rules in file order.
func (c *Config) Rules() []Rule { return slices.Clone(c.rules) }

func (c *Config) system(name string) (*System, bool) {
	for i := range c.systems {
		if c.systems[i].Name == name {
			return &c.systems[i], true
		}
	}
	return nil, false
}

// Default returns the built-in rules.
func Default() *Config {
	c, err := Parse(defaultYAML, "default rules")
	if err != nil {
		panic(err) // the embedded file is tested; this cannot happen in a release
	}
	return c
}

// Load reads and validates a rules file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return Parse(b, path)
}

// Check validates a rules file (`contactsync rules check FILE`).
func Check(path string) error {
	_, err := Load(path)
	return err
}

// file is the document as written.
type file struct {
	Version int       `yaml:"version"`
	Systems yaml.Node `yaml:"systems"`
	Fields  yaml.Node `yaml:"fields"`
	Gifts   yaml.Node `yaml:"gifts"`
}

// problems collects every error of a file with its line, so one run of
// `rules check` shows them all.
type problems struct {
	name string
	errs []error
}

func (p *problems) add(line int, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, args...)))
}

func (p *problems) decode(n *yaml.Node, v any) bool {
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				p.errs = append(p.errs, fmt.Errorf("%s: %s", p.name, e)) // yaml says "line N: ..."
			}
			return false
		}
		p.add(n.Line, "%v", err)
		return false
	}
	return true
}

// Parse reads and validates a rules document; filename labels the errors.
func Parse(data []byte, filename string) (*Config, error) {
	p := &problems{name: filename}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty rules file", filename)
	}
	doc := root.Content[0]
	strictKeys(p, doc, "version", "systems", "fields", "gifts")
	var f file
	if !p.decode(doc, &f) {
		return nil, errors.Join(p.errs...)
	}
	if f.Version != 1 {
		p.add(doc.Line, "version must be 1, got %d", f.Version)
	}
	c := &Config{byField: map[contact.Field]*Rule{}}
	c.readSystems(p, &f.Systems)
	c.readRules(p, &f.Fields)
	c.readGifts(p, &f.Gifts)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	for i := range c.rules {
		for _, fl := range c.rules[i].Fields {
			c.byField[fl] = &c.rules[i]
		}
	}
	return c, nil
}

// strictKeys reports keys of a mapping that the format does not know: a
// typo must not silently turn a rule off.
func strictKeys(p *problems, n *yaml.Node, known ...string) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "expected a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			p.add(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(known, ", "))
		}
	}
}

func child(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (c *Config) readSystems(p *problems, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.add(max(n.Line, 1), "systems: a list of at least one system is required")
		return
	}
	for _, item := range n.Content {
		strictKeys(p, item, "name", "role", "create_missing", "scope")
		if s := child(item, "scope"); s != nil {
			strictKeys(p, s, "reference_source")
		}
		var s System
		if !p.decode(item, &s) {
			continue
		}
		s.line = item.Line
		switch {
		case s.Name == "":
			p.add(s.line, "system without a name")
		case !validName(s.Name):
			p.add(s.line, "system %q: names use a-z, 0-9, _ and - (they name topics)", s.Name)
		}
		if _, dup := c.system(s.Name); dup {
			p.add(s.line, "system %q declared twice", s.Name)
		}
		switch s.Role {
		case "":
		case RoleSystemOfRecord:
			if c.sor != "" {
				p.add(s.line, "system %q: %q is already the system of record", s.Name, c.sor)
			}
			c.sor = s.Name
		default:
			p.add(s.line, "system %q: unknown role %q (the only role is %s)", s.Name, s.Role, RoleSystemOfRecord)
		}
		c.systems = append(c.systems, s)
	}
	if c.sor == "" {
		p.add(n.Line, "no system has role %s", RoleSystemOfRecord)
	}
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

func (c *Config) knownSystems(p *problems, line int, what string, names []string) {
	for _, s := range names {
		if _, ok := c.system(s); !ok {
			p.add(line, "%s: unknown system %q (declared: %s)", what, s, strings.Join(c.Systems(), ", "))
		}
	}
}

func (c *Config) readRules(p *problems, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.add(max(n.Line, 1), "fields: a list of rules is required")
		return
	}
	owner := map[contact.Field]*Rule{}
	names := map[string]bool{}
	for _, item := range n.Content {
		strictKeys(p, item, "rule", "fields", "from", "to", "conflict", "authority", "opt_in_from", "clear", "unit", "review")
		if a := child(item, "authority"); a != nil && a.Kind == yaml.SequenceNode {
			p.add(a.Line, "a field has one authority, not a list of %d", len(a.Content))
			continue
		}
		if rv := child(item, "review"); rv != nil {
			strictKeys(p, rv, "from", "origins", "to")
		}
		var r Rule
		if !p.decode(item, &r) {
			continue
		}
		r.line = item.Line
		what := fmt.Sprintf("rule %q", r.Name)
		if r.Name == "" {
			p.add(r.line, "rule without a name (key `rule`)")
		} else if names[r.Name] {
			p.add(r.line, "%s declared twice", what)
		}
		names[r.Name] = true
		if len(r.Fields) == 0 {
			p.add(r.line, "%s has no fields", what)
		}
		for _, f := range r.Fields {
			if _, ok := contact.Lookup(f); !ok {
				p.add(r.line, "%s: unknown field %q", what, f)
				continue
			}
			if prev, dup := owner[f]; dup {
				p.add(r.line, "%s: field %q is already governed by rule %q (line %d)", what, f, prev.Name, prev.line)
				continue
			}
			owner[f] = &r
		}
		if len(r.From) == 0 || len(r.To) == 0 {
			p.add(r.line, "%s needs both from and to systems", what)
		}
		c.knownSystems(p, r.line, what+" from", r.From)
		c.knownSystems(p, r.line, what+" to", r.To)
		switch r.Conflict {
		case Latest, MostRestrictive:
		case Authority:
			if r.Authority == "" {
				p.add(r.line, "%s: conflict authority needs an authority system", what)
			}
		case "":
			p.add(r.line, "%s: conflict policy missing (latest, authority or most_restrictive)", what)
		default:
			p.add(r.line, "%s: unknown conflict policy %q (latest, authority or most_restrictive)", what, r.Conflict)
		}
		if r.Authority != "" {
			c.knownSystems(p, r.line, what+" authority", []string{r.Authority})
			if !slices.Contains(r.From, r.Authority) {
				p.add(r.line, "%s: authority %q is not allowed to change the fields (not in from)", what, r.Authority)
			}
		}
		if len(r.OptInFrom) > 0 && r.Conflict != MostRestrictive {
			p.add(r.line, "%s: opt_in_from only applies to conflict most_restrictive", what)
		}
		c.knownSystems(p, r.line, what+" opt_in_from", r.OptInFrom)
		if r.Conflict == MostRestrictive {
			for _, f := range r.Fields {
				if info, ok := contact.Lookup(f); ok && info.Kind != contact.Bool {
					p.add(r.line, "%s: most_restrictive needs opt-out flags, %q is not one", what, f)
				}
			}
		}
		switch r.Clear {
		case "", "honour", "ignore":
		default:
			p.add(r.line, "%s: clear must be honour or ignore, not %q", what, r.Clear)
		}
		if rv := r.Review; rv != nil {
			if !slices.Contains(r.From, rv.From) {
				p.add(r.line, "%s: review from %q, but %q may not change these fields", what, rv.From, rv.From)
			}
			for _, t := range rv.To {
				if !slices.Contains(r.To, t) {
					p.add(r.line, "%s: review for %q, but the fields do not flow there", what, t)
				}
			}
			if len(rv.Origins) == 0 || len(rv.To) == 0 {
				p.add(r.line, "%s: review needs origins and to", what)
			}
			for _, o := range rv.Origins {
				if !contact.KnownOrigin(o) {
					p.add(r.line, "%s: review origin %q is unknown", what, o)
				}
			}
		}
		c.rules = append(c.rules, r)
	}
	// Fields that move together (a name, an address) must flow the same way:
	// otherwise a street from one system would meet a postcode from another.
	groups := map[string]*Rule{}
	for _, info := range contact.Fields {
		r := owner[info.Name]
		if r == nil || info.Group == "" {
			continue
		}
		if g, ok := groups[info.Group]; ok && (!slices.Equal(g.From, r.From) || !slices.Equal(g.To, r.To)) {
			p.add(r.line, "rule %q: contradicting directions for the %s fields (rule %q, line %d, flows otherwise)", r.Name, info.Group, g.Name, g.line)
		}
		if _, ok := groups[info.Group]; !ok {
			groups[info.Group] = r
		}
	}
}

func (c *Config) readGifts(p *problems, n *yaml.Node) {
	if n.Kind == 0 {
		return // no gifts flow anywhere
	}
	strictKeys(p, n, "from", "to")
	if !p.decode(n, &c.gifts) {
		return
	}
	c.knownSystems(p, n.Line, "gifts from", c.gifts.From)
	c.knownSystems(p, n.Line, "gifts to", []string{c.gifts.To})
	if slices.Contains(c.gifts.From, c.gifts.To) {
		p.add(n.Line, "gifts: %q both sends and receives gifts (contradicting directions)", c.gifts.To)
	}
}
