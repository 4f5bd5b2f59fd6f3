package contact

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var level = FieldInfo{Name: "membership_level", Kind: Enum, Allowed: []string{"Bronze", "Silver", "Gold"}}

func TestParseCustomValue(t *testing.T) {
	for _, tc := range []struct {
		kind    Kind
		raw     string
		want    string
		wantErr bool
	}{
		{Text, "  XMAS26 ", "XMAS26", false},
		{Text, "", "", false},
		{Text, "   ", "", false},
		{Text, "a\x00b", "", true},
		{Text, "\xff", "", true},
		{Text, strings.Repeat("é", MaxCustomTextLength), strings.Repeat("é", MaxCustomTextLength), false},
		{Text, strings.Repeat("x", MaxCustomTextLength+1), "", true},
		{Bool, "TRUE", "true", false},
		{Bool, "yes", "true", false},
		{Bool, "Y", "true", false},
		{Bool, "1", "true", false},
		{Bool, "no", "false", false},
		{Bool, "0", "false", false},
		{Bool, "f", "false", false},
		{Bool, "maybe", "", true},
		{Bool, "2", "", true},
		{Date, "2019-04-01", "2019-04-01", false},
		{Date, "2019-04-01T23:30:00-05:00", "2019-04-01", false}, // its own calendar date, not UTC's
		{Date, "2019-02-30", "", true},
		{Date, "01/04/2019", "", true},
		{Date, "0000-01-01", "", true},
		{Date, "1799-12-31", "", true},
		{Decimal, "1250.50", "1250.50", false},
		{Decimal, "-3", "-3", false},
		{Decimal, "1e3", "", true},
		{Decimal, "+5", "", true},
		{Decimal, ".5", "", true},
		{Decimal, "1,250.50", "", true},
		{Decimal, "NaN", "", true},
		{Decimal, strings.Repeat("9", 41), "", true},
		{Enum, "gold", "Gold", false},
		{Enum, " SILVER ", "Silver", false},
		{Enum, "Platinum", "", true},
	} {
		f := FieldInfo{Name: "x", Kind: tc.kind, Custom: true}
		if tc.kind == Enum {
			f = level
		}
		got, err := ParseCustomValue(f, tc.raw)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s %q: got %q, %v; want %q (error %v)", tc.kind, tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNewFieldSet(t *testing.T) {
	fs, err := NewFieldSet(FieldInfo{Name: "appeal_code", Kind: Text}, level)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fs.All()); n != len(Fields)+2 {
		t.Fatalf("%d fields, want %d", n, len(Fields)+2)
	}
	if info, ok := fs.Lookup("membership_level"); !ok || !info.Custom || !slices.Equal(info.Allowed, level.Allowed) ||
		fs.Position("membership_level") != len(Fields)+1 {
		t.Fatalf("lookup: %+v %v at %d", info, ok, fs.Position("membership_level"))
	}
	if _, ok := BuiltIn().Lookup("appeal_code"); ok {
		t.Fatal("the built-in set knows a custom field")
	}
	for _, tc := range []struct {
		f    FieldInfo
		want string
	}{
		{FieldInfo{Name: "Appeal", Kind: Text}, "a name is a-z"},
		{FieldInfo{Name: "1st", Kind: Text}, "a name is a-z"},
		{FieldInfo{Name: "a-b", Kind: Text}, "a name is a-z"},
		{FieldInfo{Name: "email", Kind: Text}, "name is taken"},
		{FieldInfo{Name: "code", Kind: Kind(99)}, "unknown type"},
		{FieldInfo{Name: "code", Kind: Text, Allowed: []string{"a"}}, "only for type enum"},
		{FieldInfo{Name: "code", Kind: Enum}, "enum needs"},
		{FieldInfo{Name: "code", Kind: Enum, Allowed: []string{"a", "A"}}, "listed twice"},
		{FieldInfo{Name: "code", Kind: Enum, Allowed: []string{" a"}}, "blank, padded"},
	} {
		if _, err := NewFieldSet(tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.f, err, tc.want)
		}
	}
	if _, err := NewFieldSet(FieldInfo{Name: "code", Kind: Text}, FieldInfo{Name: "code", Kind: Bool}); err == nil {
		t.Error("a custom field declared twice was accepted")
	}
}

func TestMappingCheck(t *testing.T) {
	fs, err := NewFieldSet(FieldInfo{Name: "appeal_code", Kind: Text}, FieldInfo{Name: "gift_aid", Kind: Bool})
	if err != nil {
		t.Fatal(err)
	}
	if err := DefaultMapping().Check(BuiltIn()); err != nil {
		t.Fatalf("the default mapping: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(m *Mapping)
		want   string
	}{
		{"custom column", func(m *Mapping) { m.Offline.Columns["appeal"] = "appeal_code" }, ""},
		{"renamed table", func(m *Mapping) { m.Offline.ContactsTable = "constituents" }, ""},
		{"unknown field", func(m *Mapping) { m.Offline.Columns["x"] = "nickname" }, `unknown field "nickname"`},
		{"two columns one field", func(m *Mapping) { m.Offline.Columns["forename"] = GivenName }, `"first_name" and "forename" both map`},
		{"bad table", func(m *Mapping) { m.Offline.ContactsTable = "Contacts; DROP" }, "lower-case SQL name"},
		{"bad column", func(m *Mapping) { m.Offline.Columns["First Name"] = "appeal_code" }, "lower-case SQL name"},
		{"bad id column", func(m *Mapping) { m.Offline.IDColumn = "" }, "id column"},
		{"online key", func(m *Mapping) { m.Online.Contact["appeal"] = "appeal_code" }, ""},
		{"online two keys", func(m *Mapping) { m.Online.Contact["mail"] = Email }, `"contact.email" and "contact.mail" both map`},
		{"consent on text", func(m *Mapping) { m.Online.Consent["sms"] = "appeal_code" }, "not an opt-out flag"},
		{"consent on custom bool", func(m *Mapping) { m.Online.Consent["sms"] = "gift_aid" }, ""},
		{"household column", func(m *Mapping) { m.Offline.HouseholdColumn = "household_id" }, ""},
		{"bad household column", func(m *Mapping) { m.Offline.HouseholdColumn = "Household" }, "household_id column"},
		{"household column of a field", func(m *Mapping) { m.Offline.HouseholdColumn = "email" }, "already the column"},
		{"household column is the id", func(m *Mapping) { m.Offline.HouseholdColumn = "id" }, "already the column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultMapping().Clone()
			tc.change(&m)
			err := m.Check(fs)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Clone is deep: changing the copy leaves the default alone.
	m := DefaultMapping()
	c := m.Clone()
	c.Offline.Columns["x"] = "appeal_code"
	if _, leaked := m.Offline.Columns["x"]; leaked {
		t.Fatal("Clone shares the column map")
	}
}

// FuzzParseCustomValue: any input gives a canonical value or an error,
// never a panic; a canonical value reads as itself, and fits its type.
func FuzzParseCustomValue(f *testing.F) {
	for _, s := range []string{"", "yes", "2019-04-01", "2019-04-01T23:30:00-05:00", "-1250.50", "gold", "1e3", "\xff", " x "} {
		for k := range KindNames {
			f.Add(int(k), s)
		}
	}
	f.Fuzz(func(t *testing.T, k int, raw string) {
		info := FieldInfo{Name: "x", Kind: Kind(k), Custom: true}
		if info.Kind == Enum {
			info.Allowed = level.Allowed
		}
		got, err := ParseCustomValue(info, raw)
		if err != nil {
			if got != "" {
				t.Fatalf("%q: error %v with value %q", raw, err, got)
			}
			return
		}
		if got == "" {
			if strings.TrimSpace(raw) != "" {
				t.Fatalf("%q: a non-blank value read as not supplied", raw)
			}
			return
		}
		if !utf8.ValidString(got) || strings.TrimSpace(got) != got || !ValidCustomValue(info, got) {
			t.Fatalf("%s %q -> %q: not canonical", info.Kind, raw, got)
		}
		switch info.Kind {
		case Bool:
			if got != "true" && got != "false" {
				t.Fatalf("bool %q -> %q", raw, got)
			}
		case Enum:
			if !slices.Contains(level.Allowed, got) {
				t.Fatalf("enum %q -> %q", raw, got)
			}
		case Date:
			if len(got) != 10 {
				t.Fatalf("date %q -> %q", raw, got)
			}
		}
	})
}

// The personal identity number reaches the matcher through the pipeline as
// a custom field of that name (it is not a built-in field), which flows to
// no system unless a rule names it.
func TestNationalIDMayBeDeclaredAsCustomField(t *testing.T) {
	if _, builtIn := Lookup(NationalID); builtIn {
		t.Fatal("national_id is a built-in field: it would flow through every schema")
	}
	fs, err := NewFieldSet(FieldInfo{Name: NationalID, Kind: Text})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := fs.Lookup(NationalID); !ok || !f.Custom {
		t.Errorf("Lookup(national_id) = %+v, %v", f, ok)
	}
}
