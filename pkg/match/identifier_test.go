package match

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/normalize"
)

// withID returns r carrying the identity number raw, as FromValues would.
func withID(r Record, raw string) Record {
	r.NationalID = identifierFingerprint(normalize.NationalID(raw))
	return r
}

func TestCompareNationalID(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "850709-1234", "8507091234", levelExact},
		{"equal, spacing and case", "ab 12 34 56 c", "AB123456C", levelExact},
		{"one digit off", "8507091234", "8507091235", levelIDNear},
		{"two digits swapped", "8507091234", "8507091243", levelIDNear},
		{"a digit dropped", "8507091234", "850709123", levelIDNear},
		{"two digits off", "8507091234", "8507091265", levelIDElse},
		{"another number", "8507091234", "6301024567", levelIDElse},
		{"missing on one side", "8507091234", "", NullLevel},
		{"a stand-in value is missing", "000-000-000", "000000000", NullLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := withID(Record{}, tt.a), withID(Record{}, tt.b)
			if got := compareNationalID(&a, &b); got != tt.want {
				t.Errorf("compareNationalID(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestNationalIDIsKeptAsFingerprintsOnly(t *testing.T) {
	r := FromValues(contact.Values{contact.GivenName: "Ann", contact.NationalID: "850709-1234"})
	if r.NationalID == "" {
		t.Fatal("FromValues dropped the identity number")
	}
	for _, part := range []string{"8507091234", "850709", "091234"} {
		if strings.Contains(r.NationalID, part) {
			t.Errorf("record form %q holds %q of the number", r.NationalID, part)
		}
	}
	keys := Keys(r)
	if !strings.HasPrefix(keys[len(keys)-1], "nid:") {
		t.Errorf("keys %v: want an nid key", keys)
	}
}

func TestNationalIDRelations(t *testing.T) {
	with := func(f func(r *Record)) Record { r := melissa; f(&r); return r }
	const id = "650412-4411"
	tests := []struct {
		name          string
		first, second Record
		want          contact.Decision
		relation      Relation
	}{
		// Without numbers these are household members or ruled out by
		// their names (see TestHouseholdsAreNeverLinked); one number, or
		// one typo of it, makes them one person.
		{"another given name in use, no birth date, same number", withID(melissa, id),
			withID(with(func(r *Record) { r.Given, r.DOB = "maria", "" }), id), contact.DecisionLinked, RelationNone},
		{"another given name, no birth date, number a typo apart", withID(melissa, id),
			withID(with(func(r *Record) { r.Given, r.DOB = "maria", "" }), "650412-4414"), contact.DecisionLinked, RelationNone},
		{"married name and another given name, same number", withID(melissa, id),
			withID(with(func(r *Record) { r.Given, r.Family, r.DOB = "maria", "jones", "" }), id), contact.DecisionLinked, RelationNone},
		// Everything else agrees but the birth date is unknown: a father
		// and son of one name are told apart by their numbers.
		{"namesakes at one address, other numbers", withID(with(func(r *Record) { r.DOB = "" }), id),
			withID(with(func(r *Record) { r.DOB = "" }), "920101-2378"), contact.DecisionNew, RelationOtherIdentifier},
		{"names fit, other birth date, other numbers", withID(melissa, id),
			withID(with(func(r *Record) { r.DOB = "19920101" }), "920101-2378"), contact.DecisionNew, RelationOtherIdentifier},
		// Names and birth date agree: one number was entered wrongly.
		{"names and birth date agree, other numbers", withID(melissa, id),
			withID(melissa, "920101-2378"), contact.DecisionLinked, RelationNone},
	}
	m := defaultMatcher(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := matchPair(t, m, tt.first, tt.second)
			if got.Decision != tt.want {
				t.Errorf("decision %s, want %s (%s)", got.Decision, tt.want, got.Explanation)
			}
			s := m.scorer.Score(&tt.first, &tt.second)
			if rel := relate(&tt.first, &tt.second, s, false); rel != tt.relation {
				t.Errorf("relation %q, want %q", rel, tt.relation)
			}
		})
	}
}
