// Package rules decides, field by field, what a change in one system means
// for every other system: which way each field flows, who wins a conflict,
// what must be reviewed by a person first, and which incoming values are
// only the echo of the sync's own writes. It is pure: the router stage
// feeds it a person's golden state and a matched change and gets back the
// sink patches, review items, kick-outs and the new state, with a decision
// record that says which rule produced each value.
//
// The rules are one YAML file (deploy/config/rules.yaml is the default and
// documents the format). A wrong rules file would quietly damage donor
// data in two systems, so Parse rejects anything it does not understand,
// reporting every problem at once with its file and line.
package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/contactsync/contactsync/pkg/contact"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in rules file (identical to
// deploy/config/rules.yaml; a test keeps them so).
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Conflict policies.
const (
	// Latest: the newest source time wins; the authority wins a tie.
	Latest = "latest"
	// Authority: once the authority has set a value, only it can change it.
	Authority = "authority"
	// MostRestrictive: for opt-out flags, "true" (do not contact) wins.
	MostRestrictive = "most_restrictive"
)

// Clear policies.
const (
	ClearHonour = "honour" // an explicit clear empties the field everywhere
	ClearIgnore = "ignore" // explicit clears are dropped
)

// RoleSystemOfRecord marks the offline system of record.
const RoleSystemOfRecord = "system_of_record"

// Config is a validated rules file. It is immutable and safe to share.
type Config struct {
	systems []System
	rules   []Rule
	byField map[contact.Field]*Rule
	gifts   Gifts
	sor     string
	fields  *contact.FieldSet
	mapping contact.Mapping
}

// System is one system the sync talks to.
type System struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
	// CreateMissing creates a contact in this system when a person has no
	// record there (a new online donor becomes an offline contact).
	CreateMissing bool `yaml:"create_missing"`
	Scope         struct {
		// ReferenceSource, when set, limits the contacts synced to this
		// system to those whose reference source is listed.
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
	// Unit: the fields are one unit (an address). The first field is the
	// unit's key: a change that supplies it replaces the whole unit.
	Unit   bool    `yaml:"unit"`
	Review *Review `yaml:"review"`
	line   int
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

// Gifts returns where gifts go.
func (c *Config) Gifts() Gifts { return Gifts{From: slices.Clone(c.gifts.From), To: c.gifts.To} }

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
		return nil, err // names the path already
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
	// CustomFields and Mapping are read node by node (custom.go).
	CustomFields yaml.Node `yaml:"custom_fields"`
	Mapping      yaml.Node `yaml:"mapping"`
}

// problems collects every error of a file with its line, so that one run
// of `rules check` shows them all.
type problems struct {
	name string
	errs []error
}

func (p *problems) add(line int, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, max(line, 1), fmt.Sprintf(format, args...)))
}

// yamlLine finds the line in yaml.v3's messages ("yaml: line 3: ...",
// "line 8: cannot unmarshal ..."), so they read like ours.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parserProblems are yaml.v3's parser (not scanner) errors: it reports
// their line counting from 0, so they are one line short.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected '-' indicator",
	"did not find expected <document start>", "did not find expected <stream-start>", "did not find expected key",
	"did not find expected node content", "found duplicate %TAG directive", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle",
}

func (p *problems) yamlError(fallback int, msg string) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		msg = strings.TrimPrefix(msg, "yaml: ")
		if slices.Contains(parserProblems, msg) {
			fallback = 1 // a parser error on the first line has no line
		}
		p.add(fallback, "%s", msg)
		return
	}
	line, _ := strconv.Atoi(m[1])
	if strings.HasPrefix(msg, "yaml: ") && slices.Contains(parserProblems, m[2]) {
		line++
	}
	p.add(line, "%s", m[2])
}

func (p *problems) decode(n *yaml.Node, v any) bool {
	err := n.Decode(v)
	if err == nil {
		return true
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.yamlError(n.Line, e)
		}
		return false
	}
	p.yamlError(n.Line, err.Error())
	return false
}

// Parse reads and validates a rules document; filename labels the errors,
// which are all reported at once as "file:line: message".
func Parse(data []byte, filename string) (*Config, error) {
	p := &problems{name: filename}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.yamlError(1, err.Error())
		return nil, errors.Join(p.errs...)
	}
	if len(root.Content) == 0 {
		p.add(1, "empty rules file")
		return nil, errors.Join(p.errs...)
	}
	doc := root.Content[0]
	if !strictKeys(p, doc, "version", "systems", "custom_fields", "fields", "gifts", "mapping") {
		return nil, errors.Join(p.errs...)
	}
	var f file
	if !p.decode(doc, &f) {
		return nil, errors.Join(p.errs...)
	}
	if f.Version != 1 {
		p.add(lineOf(doc, "version"), "version must be 1, got %d", f.Version)
	}
	c := &Config{byField: map[contact.Field]*Rule{}}
	c.readSystems(p, doc, &f.Systems)
	c.readCustomFields(p, &f.CustomFields)
	c.readMapping(p, &f.Mapping)
	c.readRules(p, doc, &f.Fields)
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
// typo must not silently switch a rule off.
func strictKeys(p *problems, n *yaml.Node, known ...string) bool {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "expected a mapping with the keys %s", strings.Join(known, ", "))
		return false
	}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			p.add(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(known, ", "))
			ok = false
		}
	}
	return ok
}

// child returns the value node of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf is the line of key's value in mapping n (n's line without it),
// so an error points at the offending line, not at the start of its rule.
func lineOf(n *yaml.Node, key string) int {
	if v := child(n, key); v != nil {
		return v.Line
	}
	return n.Line
}

// withoutKey returns a copy of mapping n without key.
func withoutKey(n *yaml.Node, key string) *yaml.Node {
	cp := *n
	cp.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != key {
			cp.Content = append(cp.Content, n.Content[i], n.Content[i+1])
		}
	}
	return &cp
}

// keyLine is the line of key itself in mapping n (n's line without it).
func keyLine(n *yaml.Node, key string) int {
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	if n == nil {
		return 1
	}
	return n.Line
}

// itemLine is the line of the list element equal to value under key (for
// a flow list [a, b] that is the list's line; for a block list, its own).
func itemLine(n *yaml.Node, key, value string) int {
	v := child(n, key)
	if v == nil {
		return n.Line
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			if e.Value == value {
				return e.Line
			}
		}
	}
	return v.Line
}

func (c *Config) readSystems(p *problems, doc, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.add(keyLine(doc, "systems"), "systems: a list of at least one system is required")
		return
	}
	for _, item := range n.Content {
		if !strictKeys(p, item, "name", "role", "create_missing", "scope") {
			continue
		}
		if s := child(item, "scope"); s != nil && !strictKeys(p, s, "reference_source") {
			continue
		}
		var s System
		if !p.decode(item, &s) {
			continue
		}
		s.line = item.Line
		switch {
		case s.Name == "":
			p.add(s.line, "system without a name")
			continue
		case !validName(s.Name):
			p.add(lineOf(item, "name"), "system %q: names use a-z, 0-9, _ and - (they name topics)", s.Name)
		}
		if prev, dup := c.system(s.Name); dup {
			p.add(lineOf(item, "name"), "system %q declared twice (first on line %d)", s.Name, prev.line)
			continue
		}
		switch s.Role {
		case "":
		case RoleSystemOfRecord:
			if c.sor != "" {
				p.add(lineOf(item, "role"), "system %q: %q is already the system of record; there is exactly one", s.Name, c.sor)
			} else {
				c.sor = s.Name
			}
		default:
			p.add(lineOf(item, "role"), "system %q: unknown role %q (the only role is %s)", s.Name, s.Role, RoleSystemOfRecord)
		}
		c.systems = append(c.systems, s)
	}
	if c.sor == "" {
		p.add(keyLine(doc, "systems"), "no system has role %s (the offline system of record)", RoleSystemOfRecord)
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

// knownSystems reports names under key of item that are not declared.
func (c *Config) knownSystems(p *problems, item *yaml.Node, key, what string, names []string) {
	for _, s := range names {
		if _, ok := c.system(s); !ok {
			p.add(itemLine(item, key, s), "%s: unknown system %q (declared: %s)", what, s, strings.Join(c.Systems(), ", "))
		}
	}
}

var ruleKeys = []string{"rule", "fields", "from", "to", "conflict", "authority", "opt_in_from", "clear", "unit", "review"}

func (c *Config) readRules(p *problems, doc, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.add(keyLine(doc, "fields"), "fields: a list of rules is required")
		return
	}
	type owned struct {
		rule string
		line int
	}
	owner := map[contact.Field]owned{}
	names := map[string]int{}
	for _, item := range n.Content {
		if !strictKeys(p, item, ruleKeys...) {
			continue
		}
		if rv := child(item, "review"); rv != nil && !strictKeys(p, rv, "from", "origins", "to") {
			continue
		}
		decoded := item
		if a := child(item, "authority"); a != nil && a.Kind == yaml.SequenceNode {
			p.add(a.Line, "a field has one authority, not a list of %d", len(a.Content))
			decoded = withoutKey(item, "authority") // and check the rest of the rule
		}
		var r Rule
		if !p.decode(decoded, &r) {
			continue
		}
		r.line = item.Line
		what := fmt.Sprintf("rule %q", r.Name)
		if r.Name == "" {
			p.add(r.line, "rule without a name (key `rule`)")
		} else if first, dup := names[r.Name]; dup {
			p.add(lineOf(item, "rule"), "%s declared twice (first on line %d)", what, first)
		} else {
			names[r.Name] = r.line
		}
		if len(r.Fields) == 0 {
			p.add(lineOf(item, "fields"), "%s has no fields", what)
		}
		for _, f := range r.Fields {
			at := itemLine(item, "fields", string(f))
			if _, ok := c.fields.Lookup(f); !ok {
				p.add(at, "%s: unknown field %q (built-in or declared in custom_fields)", what, f)
				continue
			}
			if prev, dup := owner[f]; dup {
				p.add(at, "%s: field %q is already governed by rule %q (line %d); a field is in one rule", what, f, prev.rule, prev.line)
				continue
			}
			owner[f] = owned{r.Name, r.line}
		}
		c.checkFlow(p, item, &r, what)
		c.checkPolicy(p, item, &r, what)
		c.checkReview(p, item, &r, what)
		c.rules = append(c.rules, r)
	}
	c.checkGroups(p)
}

// checkFlow checks the rule's directions.
func (c *Config) checkFlow(p *problems, item *yaml.Node, r *Rule, what string) {
	if len(r.From) == 0 {
		p.add(lineOf(item, "from"), "%s needs the systems that may change the fields (from)", what)
	}
	if len(r.To) == 0 {
		p.add(lineOf(item, "to"), "%s needs the systems that receive the fields (to)", what)
	}
	c.knownSystems(p, item, "from", what+" from", r.From)
	c.knownSystems(p, item, "to", what+" to", r.To)
	for _, key := range []string{"from", "to"} {
		list := r.From
		if key == "to" {
			list = r.To
		}
		for i, s := range list {
			if slices.Contains(list[:i], s) {
				p.add(itemLine(item, key, s), "%s %s: %q listed twice", what, key, s)
			}
		}
	}
	if len(r.From) == 1 && len(r.To) == 1 && r.From[0] == r.To[0] {
		p.add(r.line, "%s: the fields flow from %q only back to %q: contradicting directions", what, r.From[0], r.To[0])
	}
}

// checkPolicy checks the conflict and clear policies.
func (c *Config) checkPolicy(p *problems, item *yaml.Node, r *Rule, what string) {
	switch r.Conflict {
	case Latest:
	case MostRestrictive:
		for _, f := range r.Fields {
			if info, ok := c.fields.Lookup(f); ok && info.Kind != contact.Bool {
				p.add(itemLine(item, "fields", string(f)), "%s: most_restrictive needs opt-out flags, %q is not one", what, f)
			}
		}
		if r.Authority != "" {
			p.add(lineOf(item, "authority"), "%s: most_restrictive has no authority (an opt-out from any system wins)", what)
		}
		if r.Unit {
			p.add(lineOf(item, "unit"), "%s: opt-out flags are not a unit: each one is the most restrictive on its own", what)
		}
	case Authority:
		if r.Authority == "" {
			p.add(lineOf(item, "conflict"), "%s: conflict authority needs an authority system", what)
		}
	case "":
		p.add(r.line, "%s: conflict policy missing (latest, authority or most_restrictive)", what)
	default:
		p.add(lineOf(item, "conflict"), "%s: unknown conflict policy %q (latest, authority or most_restrictive)", what, r.Conflict)
	}
	if r.Authority != "" {
		if _, ok := c.system(r.Authority); !ok {
			c.knownSystems(p, item, "authority", what+" authority", []string{r.Authority})
		} else if !slices.Contains(r.From, r.Authority) {
			p.add(lineOf(item, "authority"), "%s: authority %q may not change the fields (it is not in from)", what, r.Authority)
		}
	}
	if len(r.OptInFrom) > 0 && r.Conflict != MostRestrictive {
		p.add(lineOf(item, "opt_in_from"), "%s: opt_in_from only applies to conflict most_restrictive", what)
	}
	c.knownSystems(p, item, "opt_in_from", what+" opt_in_from", r.OptInFrom)
	for _, s := range r.OptInFrom {
		if _, ok := c.system(s); ok && !slices.Contains(r.From, s) {
			p.add(itemLine(item, "opt_in_from", s), "%s: opt_in_from %q may not change the fields (it is not in from)", what, s)
		}
	}
	switch r.Clear {
	case "", ClearHonour, ClearIgnore:
	default:
		p.add(lineOf(item, "clear"), "%s: clear must be honour or ignore, not %q", what, r.Clear)
	}
	if r.Unit && len(r.Fields) < 2 {
		p.add(lineOf(item, "unit"), "%s: a unit needs at least two fields", what)
	}
}

// checkReview checks the rule's review.
func (c *Config) checkReview(p *problems, item *yaml.Node, r *Rule, what string) {
	rv := r.Review
	if rv == nil {
		return
	}
	n := child(item, "review")
	if rv.From == "" || len(rv.Origins) == 0 || len(rv.To) == 0 {
		p.add(keyLine(item, "review"), "%s: review needs from, origins and to", what)
	}
	if rv.From != "" {
		if _, ok := c.system(rv.From); !ok {
			c.knownSystems(p, n, "from", what+" review from", []string{rv.From})
		} else if !slices.Contains(r.From, rv.From) {
			p.add(lineOf(n, "from"), "%s: review from %q, but %q may not change these fields", what, rv.From, rv.From)
		}
	}
	for _, t := range rv.To {
		if _, ok := c.system(t); !ok {
			c.knownSystems(p, n, "to", what+" review to", []string{t})
		} else if !slices.Contains(r.To, t) {
			p.add(itemLine(n, "to", t), "%s: review for %q, but the fields do not flow there", what, t)
		}
	}
	for _, o := range rv.Origins {
		switch {
		case !contact.KnownOrigin(o):
			p.add(itemLine(n, "origins", string(o)), "%s: review origin %q is unknown", what, o)
		case o == contact.OriginSync:
			p.add(itemLine(n, "origins", string(o)), "%s: changes of origin sync are the sync's own writes; they are never reviewed", what)
		}
	}
}

// checkGroups: fields that belong together (a name, an address) must flow
// the same way, otherwise a street from one system would meet a postcode
// from another.
func (c *Config) checkGroups(p *problems) {
	ruleOf := map[contact.Field]*Rule{}
	for i := range c.rules {
		for _, f := range c.rules[i].Fields {
			if _, dup := ruleOf[f]; !dup {
				ruleOf[f] = &c.rules[i]
			}
		}
	}
	groups := map[string]*Rule{}
	reported := map[*Rule]bool{}
	for _, info := range c.fields.All() {
		r := ruleOf[info.Name]
		if r == nil || info.Group == "" {
			continue
		}
		g, ok := groups[info.Group]
		if !ok {
			groups[info.Group] = r
			continue
		}
		if g == r || reported[r] {
			continue
		}
		reported[r] = true
		if !sameSet(g.From, r.From) || !sameSet(g.To, r.To) {
			p.add(r.line, "rule %q: contradicting directions for the %s fields (rule %q, line %d, flows otherwise)", r.Name, info.Group, g.Name, g.line)
		}
		if g.Unit || r.Unit {
			p.add(r.line, "rule %q: the %s fields are one unit; they must all be in rule %q (line %d)", r.Name, info.Group, g.Name, g.line)
		}
	}
}

func (c *Config) readGifts(p *problems, n *yaml.Node) {
	if n.Kind == 0 {
		return // no gifts flow anywhere
	}
	if !strictKeys(p, n, "from", "to") || !p.decode(n, &c.gifts) {
		return
	}
	if len(c.gifts.From) == 0 || c.gifts.To == "" {
		p.add(n.Line, "gifts needs from (the systems where gifts are made) and to (the one system that records them)")
	}
	c.knownSystems(p, n, "from", "gifts from", c.gifts.From)
	if c.gifts.To != "" {
		c.knownSystems(p, n, "to", "gifts to", []string{c.gifts.To})
	}
	if slices.Contains(c.gifts.From, c.gifts.To) {
		p.add(lineOf(n, "to"), "gifts: %q both sends and receives gifts (contradicting directions)", c.gifts.To)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
