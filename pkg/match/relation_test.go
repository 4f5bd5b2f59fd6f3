package match

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func defaultMatcher(t *testing.T, opts Options) *Matcher {
	t.Helper()
	model, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatcher(model, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// matchPair indexes first, then matches second against it.
func matchPair(t *testing.T, m *Matcher, first, second Record) (Result, Result) {
	t.Helper()
	ctx := context.Background()
	idx := NewMemIndex()
	a, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: first})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Match(ctx, idx, Incoming{RecordID: "online/2", Record: second})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

var melissa = Record{Given: "melissa", Family: "rodriguez", DOB: "19650412", HouseNumber: "14",
	Street: "acacia ave", Locality: "bristol", Postcode: "bs14dj"}

func TestHouseholdsAreNeverLinked(t *testing.T) {
	with := func(f func(r *Record)) Record { r := melissa; f(&r); return r }
	tests := []struct {
		name   string
		strict bool
		other  Record
		want   contact.Decision
	}{
		// The case: another given name and birth date at the same
		// address, no email or phone.
		{"mother", false, with(func(r *Record) { r.Given, r.DOB = "elizabeth", "19440302" }), contact.DecisionNew},
		{"spouse sharing email and landline", false, with(func(r *Record) {
			r.Given, r.DOB = "robert", "19630101"
		}), contact.DecisionNew},
		{"spouse without a birth date", false, with(func(r *Record) { r.Given, r.DOB = "james", "" }), contact.DecisionNew},
		{"twin, nothing else apart, strict", true, with(func(r *Record) { r.Given = "harriet" }), contact.DecisionNew},
		{"same name, another birth date, strict", true, with(func(r *Record) { r.DOB = "19920812" }), contact.DecisionNew},
		{"same name, another birth date, own phones", false, with(func(r *Record) {
			r.DOB, r.Phone = "19920812", "+447700900123"
		}), contact.DecisionNew},
		{"nickname is the same person", false, with(func(r *Record) { r.Given = "mel" }), contact.DecisionLinked},
		{"typo is the same person", false, with(func(r *Record) { r.Given = "melisa" }), contact.DecisionLinked},
		{"initial is the same person", false, with(func(r *Record) { r.Given = "m"; r.DOB = "" }), contact.DecisionLinked},
		{"day and month swapped is the same person", false, with(func(r *Record) { r.DOB = "19651204" }), contact.DecisionLinked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := defaultMatcher(t, Options{StrictHouseholds: tt.strict})
			first := melissa
			if strings.HasPrefix(tt.name, "spouse sharing") {
				first.EmailKey, first.Phone = "rodriguez.family@mail.net", "+441174960123"
				tt.other.EmailKey, tt.other.Phone = first.EmailKey, first.Phone
			}
			if strings.HasPrefix(tt.name, "same name, another birth date, own") {
				first.Phone = "+447700900456"
			}
			a, b := matchPair(t, m, first, tt.other)
			if b.Decision != tt.want {
				t.Fatalf("decision %s, want %s: %s", b.Decision, tt.want, b.Explanation)
			}
			if tt.want == contact.DecisionNew {
				if !slices.Contains(b.Household, a.PersonID) || b.HouseholdKey == "" {
					t.Errorf("household not recorded: household=%v key=%q", b.Household, b.HouseholdKey)
				}
				if !strings.Contains(b.Explanation.String(), "household=") || b.Explanation.Reason != "household" {
					t.Errorf("explanation lacks the household: %s", b.Explanation)
				}
				for _, c := range b.Candidates {
					if c.PersonID == a.PersonID && c.Relation != RelationHousehold {
						t.Errorf("candidate relation %q", c.Relation)
					}
				}
			}
		})
	}
}

func TestMovesLink(t *testing.T) {
	m := defaultMatcher(t, Options{})
	// An index of a realistic size, so term frequencies are not those of a
	// one-record index (where every value is "common").
	ctx := context.Background()
	newIndex := func() *MemIndex {
		idx := NewMemIndex()
		for i := range 300 {
			r := Record{Given: fmt.Sprintf("g%d", i), Family: fmt.Sprintf("f%d", i), EmailKey: fmt.Sprintf("p%d@mail.net", i)}
			if _, err := m.Match(ctx, idx, Incoming{RecordID: fmt.Sprintf("filler/%d", i), Record: r}); err != nil {
				t.Fatal(err)
			}
		}
		return idx
	}
	elsewhere := func(r Record) Record {
		r.HouseNumber, r.Street, r.Locality, r.Postcode = "3", "king st", "leeds", "ls27ew"
		return r
	}
	tests := []struct {
		name  string
		other Record
	}{
		{"same names and birth date", elsewhere(melissa)},
		{"nickname and birth date", func() Record { r := elsewhere(melissa); r.Given = "mel"; return r }()},
		{"swapped names and birth date", func() Record {
			r := elsewhere(melissa)
			r.Given, r.Family = r.Family, r.Given
			return r
		}()},
		{"same personal email, no birth date", func() Record {
			r := elsewhere(melissa)
			r.DOB, r.EmailKey = "", "melissa.r@mail.net"
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := melissa
			first.EmailKey = "melissa.r@mail.net"
			idx := newIndex()
			if _, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: first}); err != nil {
				t.Fatal(err)
			}
			b, err := m.Match(ctx, idx, Incoming{RecordID: "online/2", Record: tt.other})
			if err != nil {
				t.Fatal(err)
			}
			if b.Decision != contact.DecisionLinked || !b.Moved {
				t.Fatalf("decision %s moved=%v: %s", b.Decision, b.Moved, b.Explanation)
			}
			if !strings.Contains(b.Explanation.String(), " moved") || !strings.Contains(strings.Join(b.Explanation.Words(), "\n"), "moved") {
				t.Errorf("explanation does not say moved: %s", b.Explanation)
			}
		})
	}
}

func TestOrganisations(t *testing.T) {
	m := defaultMatcher(t, Options{})
	office := Record{HouseNumber: "20", Street: "granary ct", Locality: "york", Postcode: "yo17hh", Phone: "+442079460000"}
	org := func(name string) Record { r := office; r.Organisation = name; return r }
	tests := []struct {
		name          string
		first, second Record
		want          contact.Decision
	}{
		{"same organisation, legal form differs", org("acme widgets"), org("acme widgets"), contact.DecisionLinked},
		{"two organisations at one address", org("acme widgets"), org("blue door architects"), contact.DecisionNew},
		{"person and organisation", org("acme widgets"), func() Record { r := office; r.Given, r.Family = "ann", "lee"; return r }(), contact.DecisionNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := matchPair(t, m, tt.first, tt.second)
			if b.Decision != tt.want {
				t.Fatalf("decision %s, want %s: %s", b.Decision, tt.want, b.Explanation)
			}
		})
	}
}

func TestReferenceID(t *testing.T) {
	m := defaultMatcher(t, Options{})
	ctx := context.Background()
	idx := NewMemIndex()
	known, err := m.Match(ctx, idx, Incoming{RecordID: "offline/77", Record: melissa})
	if err != nil {
		t.Fatal(err)
	}
	// Only a name and an email: not enough to link on evidence, but the
	// record carries Melissa's offline id and the names fit.
	online := Record{Given: "mel", Family: "rodriguez", EmailKey: "mel@mail.net"}
	res, err := m.Match(ctx, idx, Incoming{RecordID: "online/1", Record: online, Reference: "offline/77"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionLinked || res.PersonID != known.PersonID || res.Explanation.Reason != "reference_id" {
		t.Fatalf("reference link: %s %s", res.Decision, res.Explanation)
	}
	if !strings.Contains(res.Explanation.String(), "ref=offline/77") {
		t.Errorf("explanation lacks the id: %s", res.Explanation)
	}

	// A forwarded appeal: the husband uses Melissa's reference.
	husband := Record{Given: "robert", Family: "rodriguez", EmailKey: "bob@mail.net"}
	res, err = m.Match(ctx, idx, Incoming{RecordID: "online/2", Record: husband, Reference: "offline/77"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionIDConflict || res.PersonID != known.PersonID || res.Explanation.Reason != "id_conflict" {
		t.Fatalf("forwarded appeal: %s %s", res.Decision, res.Explanation)
	}
	if _, indexed := idx.PersonOf("online/2"); indexed {
		t.Error("an id conflict was written to the index")
	}
	// A stranger with the reference: also a conflict.
	stranger := Record{Given: "olivia", Family: "noack"}
	res, err = m.Match(ctx, idx, Incoming{RecordID: "online/3", Record: stranger, Reference: "offline/77"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionIDConflict {
		t.Fatalf("stranger with the reference: %s %s", res.Decision, res.Explanation)
	}
	// An unknown reference: matched on its own evidence.
	res, err = m.Match(ctx, idx, Incoming{RecordID: "online/4", Record: stranger, Reference: "offline/404"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != contact.DecisionNew {
		t.Fatalf("unknown reference: %s %s", res.Decision, res.Explanation)
	}
}

func TestAddressLevels(t *testing.T) {
	with := func(f func(r *Record)) Record { r := melissa; f(&r); return r }
	tests := []struct {
		name  string
		other Record
		want  string
	}{
		{"same", melissa, "same_address"},
		{"postcode missing", with(func(r *Record) { r.Postcode = "" }), "same_address"},
		{"postcode typo", with(func(r *Record) { r.Postcode = "bs14dk" }), "same_house_and_street"},
		{"number typo", with(func(r *Record) { r.HouseNumber = "41" }), "similar_address"},
		{"no number", with(func(r *Record) { r.HouseNumber = "" }), "partial_address"},
		{"neighbour", with(func(r *Record) { r.HouseNumber = "80" }), "same_street_other_number"},
		{"other street", with(func(r *Record) { r.HouseNumber, r.Street = "2", "elm gr" }), "same_postcode_and_town"},
		{"same town only", with(func(r *Record) { r.HouseNumber, r.Street, r.Postcode = "2", "elm gr", "bs99zz" }), "same_postcode_or_town"},
		{"elsewhere", with(func(r *Record) { r.HouseNumber, r.Street, r.Locality, r.Postcode = "2", "elm gr", "leeds", "ls27ew" }), "else"},
		{"nothing to compare", Record{Given: "x"}, "null"},
	}
	for _, tt := range tests {
		if got := level(t, melissa, tt.other, "address"); got != tt.want {
			t.Errorf("%s: address level %s, want %s", tt.name, got, tt.want)
		}
		if got := level(t, tt.other, melissa, "address"); got != tt.want {
			t.Errorf("%s (reversed): address level %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestGivenNameTypo(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"ben", "bwn", true},    // a letter replaced, "bwn" is no name
		{"tara", "tra", true},   // a letter dropped
		{"zali", "zalk", true},  // neither is a known name
		{"john", "joan", false}, // two known names one letter apart
		{"mark", "mary", false}, // likewise
		{"ben", "ben", false},   // the same name is no typo
		{"jack", "jsk", false},  // two edits
		{"ben", "", false},      // unknown
		{"chloe", "jed", false}, // another name
	}
	for _, tt := range tests {
		if got := givenNameTypo(tt.a, tt.b); got != tt.want {
			t.Errorf("givenNameTypo(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// A short given name with a typo (below the Jaro-Winkler typo levels) at
// the same address is the same person, not a household member; another
// known name one letter apart still is a household member.
func TestGivenNameTypoIsNoHousehold(t *testing.T) {
	ben := Record{Given: "ben", Family: "armiento", HouseNumber: "17", Street: "burnell pl",
		Locality: "fairlight", Postcode: "3630"}
	tests := []struct {
		given string
		want  Relation
	}{
		{"bwn", RelationNone},
		{"bea", RelationHousehold},
		{"joan", RelationHousehold},
	}
	s, err := NewScorer(BaseModel())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		other := ben
		other.Given = tt.given
		if tt.given == "joan" {
			ben.Given = "john"
		}
		if got := relate(&ben, &other, s.Score(&ben, &other), false); got != tt.want {
			t.Errorf("%s vs %s: relation %q, want %q", ben.Given, tt.given, got, tt.want)
		}
	}
}

// A household member whose family name was mistyped or entered in the
// wrong field shares no family name with the others, but a home (address
// and household email) and nothing that identifies her: another given name
// and another birth date. The home counts once; she is never linked.
func TestSharedHomeOnlyIsAHousehold(t *testing.T) {
	theodora := Record{Given: "theodora", Family: "berdale", DOB: "19510605", EmailKey: "theberdales7@family.example.net",
		HouseNumber: "27", Street: "juniper way", Locality: "chester", Postcode: "ch12jh"}
	beatrice := theodora
	beatrice.Given, beatrice.Family, beatrice.DOB = "beartice", "beatrice", "19960606"
	tests := []struct {
		name  string
		other func(r *Record)
		want  Relation
	}{
		{"address and household email shared", func(r *Record) {}, RelationHousehold},
		{"address only", func(r *Record) { r.EmailKey = "" }, RelationHousehold},
		{"nothing of the home shared", func(r *Record) {
			r.EmailKey, r.HouseNumber, r.Street, r.Postcode = "", "3", "elm grove", "ch13aa"
		}, RelationNone},
		{"birth date a typo away", func(r *Record) { r.DOB = "19510650" }, RelationNone},
	}
	m := defaultMatcher(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := beatrice
			tt.other(&other)
			ps := m.Scorer().Score(&theodora, &other)
			if got := relate(&theodora, &other, ps, false); got != tt.want {
				t.Errorf("relation %q, want %q (p=%.5f)", got, tt.want, ps.Probability())
			}
		})
	}
	// Through the matcher: never linked, recorded as the household.
	_, res := matchPair(t, m, theodora, beatrice)
	if res.Decision == contact.DecisionLinked || len(res.Household) != 1 {
		t.Errorf("household member: %s", res.Explanation)
	}
}
