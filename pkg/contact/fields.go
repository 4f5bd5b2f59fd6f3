package contact

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCustomTextLength bounds a custom text field's value, in characters.
const MaxCustomTextLength = 500

// MaxEnumValues bounds the values one enum field may declare.
const MaxEnumValues = 200

// customName is a custom field's name: it becomes an Avro map key, a JSON
// key, a column in import files and a word in rules files, so it is kept
// to what all of them accept unquoted.
var customName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// plainDecimal: no exponent, no grouping, no "+", no bare point, so that
// every system reads it the same way.
var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// KindNames are the type names a configuration uses, by kind.
var KindNames = map[Kind]string{Text: "text", Bool: "bool", Date: "date", Decimal: "decimal", Enum: "enum"}

// String is the kind's configuration name.
func (k Kind) String() string {
	if n, ok := KindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ParseKind reads a configuration type name.
func ParseKind(name string) (Kind, bool) {
	for k, n := range KindNames {
		if n == name {
			return k, true
		}
	}
	return 0, false
}

// FieldSet is the fields one configuration knows: the built-in ones in
// schema order, then its custom fields in declared order. It is immutable
// and safe to share.
type FieldSet struct {
	list  []FieldInfo
	index map[Field]int
}

var builtIn = mustFieldSet()

func mustFieldSet() *FieldSet {
	s, err := NewFieldSet()
	if err != nil {
		panic(err) // the built-in list is fixed and tested
	}
	return s
}

// BuiltIn is the field set without custom fields.
func BuiltIn() *FieldSet { return builtIn }

// NewFieldSet returns the built-in fields followed by custom, after
// checking each custom field's name, type and enum values.
func NewFieldSet(custom ...FieldInfo) (*FieldSet, error) {
	s := &FieldSet{index: map[Field]int{}}
	add := func(f FieldInfo) {
		s.index[f.Name] = len(s.list)
		s.list = append(s.list, f)
	}
	for _, f := range Fields {
		add(f)
	}
	var errs []error
	for _, f := range custom {
		if err := CheckCustomField(f); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := s.index[f.Name]; dup {
			errs = append(errs, fmt.Errorf("custom field %q: the name is taken (built-in or declared twice)", f.Name))
			continue
		}
		f.Custom, f.Group, f.Allowed = true, "", slices.Clone(f.Allowed)
		add(f)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// CheckCustomField checks one custom field declaration on its own.
func CheckCustomField(f FieldInfo) error {
	if !customName.MatchString(string(f.Name)) {
		return fmt.Errorf("custom field %q: a name is a-z, then a-z, 0-9 or _, at most 63 characters", f.Name)
	}
	if _, ok := KindNames[f.Kind]; !ok {
		return fmt.Errorf("custom field %q: unknown type", f.Name)
	}
	if f.Kind != Enum {
		if len(f.Allowed) > 0 {
			return fmt.Errorf("custom field %q: values are only for type enum", f.Name)
		}
		return nil
	}
	if len(f.Allowed) == 0 || len(f.Allowed) > MaxEnumValues {
		return fmt.Errorf("custom field %q: an enum needs 1 to %d values", f.Name, MaxEnumValues)
	}
	seen := map[string]bool{}
	for _, v := range f.Allowed {
		key := strings.ToLower(v)
		switch {
		case strings.TrimSpace(v) != v || v == "" || !utf8.ValidString(v) || strings.ContainsRune(v, 0) ||
			utf8.RuneCountInString(v) > MaxCustomTextLength:
			return fmt.Errorf("custom field %q: enum value %q is blank, padded or not text", f.Name, v)
		case seen[key]:
			return fmt.Errorf("custom field %q: enum value %q listed twice (values are matched ignoring case)", f.Name, v)
		}
		seen[key] = true
	}
	return nil
}

// All returns every field in order: built-in, then custom.
func (s *FieldSet) All() []FieldInfo { return s.list }

// Custom returns the custom fields in declared order.
func (s *FieldSet) Custom() []FieldInfo { return s.list[len(Fields):] }

// Lookup returns the description of a field name and whether it is known.
func (s *FieldSet) Lookup(name Field) (FieldInfo, bool) {
	i, ok := s.index[name]
	if !ok {
		return FieldInfo{}, false
	}
	return s.list[i], true
}

// Position is the field's place in All (for sorting), or -1.
func (s *FieldSet) Position(name Field) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// ParseCustomValue reads a raw value of a custom field into its canonical
// form: text trimmed; bool "true"/"false" (from true/false, yes/no, y/n,
// t/f, 1/0, any case); date YYYY-MM-DD (a timestamp is cut to its own
// calendar date); decimal a plain decimal literal, never rounded; enum the
// declared spelling of the value matched ignoring case. An empty result
// means "not supplied". The error says why a value does not fit.
func ParseCustomValue(f FieldInfo, raw string) (string, error) {
	if !utf8.ValidString(raw) || strings.ContainsRune(raw, 0) {
		return "", errors.New("not UTF-8 text")
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxCustomTextLength && utf8.RuneCountInString(s) > MaxCustomTextLength {
		return "", fmt.Errorf("longer than %d characters", MaxCustomTextLength)
	}
	switch f.Kind {
	case Text:
		return s, nil
	case Bool:
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			return "true", nil
		case "false", "f", "no", "n", "0":
			return "false", nil
		}
		return "", errors.New("not a boolean (true/false, yes/no, 1/0)")
	case Date:
		if len(s) > 10 {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return checkYear(t)
			}
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return "", errors.New("not a date (YYYY-MM-DD)")
		}
		return checkYear(t)
	case Decimal:
		if len(s) > 40 || !plainDecimal.MatchString(s) {
			return "", errors.New("not a plain decimal (digits, optional - and . fraction, at most 40 characters)")
		}
		return s, nil
	case Enum:
		for _, a := range f.Allowed {
			if strings.EqualFold(a, s) {
				return a, nil
			}
		}
		return "", fmt.Errorf("not one of the %d allowed values", len(f.Allowed))
	}
	return "", fmt.Errorf("field %q has an unknown type", f.Name)
}

// checkYear refuses dates no donor database means (a year 0 default).
func checkYear(t time.Time) (string, error) {
	if t.Year() < 1800 || t.Year() > 2200 {
		return "", errors.New("date out of range (years 1800 to 2200)")
	}
	return t.Format(time.DateOnly), nil
}

// ValidCustomValue reports whether v is already the canonical form of a
// value of f: what ParseCustomValue returns, not empty.
func ValidCustomValue(f FieldInfo, v string) bool {
	c, err := ParseCustomValue(f, v)
	return err == nil && c != "" && c == v
}
