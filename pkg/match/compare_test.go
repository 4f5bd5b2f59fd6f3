package match

import (
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestOSADistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"19560409", "19560409", 0},
		{"19560409", "19560490", 1}, // adjacent transposition is one edit
		{"19560409", "19560408", 1},
		{"19560409", "1956040", 1},
		{"ca", "abc", 3}, // OSA, unlike full Damerau-Levenshtein (2), edits no substring twice
		{"martha", "marhta", 1},
		{"kitten", "sitting", 3},
		{"zoë", "zoe", 1}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := osaDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("osaDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := osaDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("osaDistance(%q, %q) = %d, want %d (symmetry)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestJaroWinklerReference(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.8400},
		{"dixon", "dicksonx", 0.8133},
	}
	for _, tt := range tests {
		if got := jaroWinkler(tt.a, tt.b); got < tt.want-0.0001 || got > tt.want+0.0001 {
			t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
	}
}

func level(t *testing.T, a, b Record, comparison string) string {
	t.Helper()
	if comparison == "address" {
		if l := AddressLevelLabel(int8(compareAddress(&a, &b))); l != "" {
			return l
		}
		return "null"
	}
	lv := Compare(&a, &b)
	for i, name := range Comparisons() {
		if name == comparison {
			return LevelLabel(i, lv[i])
		}
	}
	t.Fatalf("no comparison %q", comparison)
	return ""
}

func TestCompareLevels(t *testing.T) {
	base := Record{Given: "robert", Family: "smith", DOB: "19560409", HouseNumber: "12",
		Street: "wallaby pl", AddressLine2: "delmar", Locality: "cleveland", Region: "sa", Postcode: "2119",
		EmailKey: "rsmith@example.org", Phone: "+61298765432"}
	with := func(f func(r *Record)) Record { r := base; f(&r); return r }
	tests := []struct {
		name, comparison, want string
		other                  Record
	}{
		{"exact given", "given_name", "exact", base},
		{"nickname", "given_name", "nickname", with(func(r *Record) { r.Given = "bob" })},
		{"given typo", "given_name", "jw92", with(func(r *Record) { r.Given = "robery" })},
		{"swapped names", "given_name", "swapped", with(func(r *Record) { r.Given, r.Family = "smith", "robert" })},
		{"swap counted once", "family_name", "null", with(func(r *Record) { r.Given, r.Family = "smith", "robert" })},
		{"different given", "given_name", "else", with(func(r *Record) { r.Given = "xavier" })},
		{"missing given is null", "given_name", "null", with(func(r *Record) { r.Given = "" })},
		{"family typo", "family_name", "jw92", with(func(r *Record) { r.Family = "smithe" })},
		{"dob exact", "date_of_birth", "exact", base},
		{"dob transposed", "date_of_birth", "dl1", with(func(r *Record) { r.DOB = "19560490" })},
		{"dob two edits", "date_of_birth", "dl2", with(func(r *Record) { r.DOB = "19580419" })},
		{"dob different", "date_of_birth", "else", with(func(r *Record) { r.DOB = "19821130" })},
		{"email same user", "email", "same_user", with(func(r *Record) { r.EmailKey = "rsmith@gmail.com" })},
		{"phone other country code", "phone", "same_last8", with(func(r *Record) { r.Phone = "+64298765432" })},
		{"phone typo", "phone", "dl1", with(func(r *Record) { r.Phone = "+61298765433" })},
		{"dob day and month swapped", "date_of_birth", "day_month_swapped", with(func(r *Record) { r.DOB = "19560904" })},
		{"house number digits swapped", "address", "similar_address", with(func(r *Record) { r.HouseNumber = "21" })},
		{"next door", "address", "same_street_other_number", with(func(r *Record) { r.HouseNumber, r.AddressLine2 = "13", "" })},
		{"number typo in a named house", "address", "similar_address", with(func(r *Record) { r.HouseNumber = "13" })},
		{"house number typo", "house_number", "dl1", with(func(r *Record) { r.HouseNumber = "13" })},
		{"lines swapped", "address", "similar_address", with(func(r *Record) { r.Street, r.AddressLine2 = "delmar", "wallaby pl" })},
		{"postcode typo", "address", "same_house_and_street", with(func(r *Record) { r.Postcode = "2191" })},
		{"region differs is no evidence", "address", "same_address", with(func(r *Record) { r.Region = "nsw" })},
		{"persons have no organisation comparison", "organisation", "null", with(func(r *Record) { r.Organisation = "acme" })},
	}
	for _, tt := range tests {
		if got := level(t, base, tt.other, tt.comparison); got != tt.want {
			t.Errorf("%s: %s level = %s, want %s", tt.name, tt.comparison, got, tt.want)
		}
		if got := level(t, tt.other, base, tt.comparison); got != tt.want {
			t.Errorf("%s (reversed): %s level = %s, want %s", tt.name, tt.comparison, got, tt.want)
		}
	}
}

func TestFromValues(t *testing.T) {
	r := FromValues(contact.Values{
		contact.GivenName:    " José ",
		contact.FamilyName:   "O'Brien",
		contact.Email:        "Jose.OBrien+news@GoogleMail.com",
		contact.Phone:        "(02) 9876 5432",
		contact.AddressLine1: "12a Wallaby Place",
		contact.AddressLine2: "Delmar Estate",
		contact.Locality:     "Cleveland",
		contact.Region:       "SA",
		contact.Postcode:     "2119",
		contact.Country:      "Australia",
		contact.DateOfBirth:  "1956-04-09",
	})
	want := Record{
		Given: "jose", Family: "obrien", EmailKey: "joseobrien@gmail.com", Phone: "+61298765432",
		HouseNumber: "12a", Street: "wallaby pl", AddressLine2: "delmar estate", Locality: "cleveland",
		Region: "sa", Postcode: "2119", DOB: "19560409",
	}
	if r != want {
		t.Errorf("FromValues =\n%+v, want\n%+v", r, want)
	}
}

func TestPlaceholders(t *testing.T) {
	r := FromValues(contact.Values{
		contact.GivenName:   "Unknown",
		contact.FamilyName:  "Smith",
		contact.Email:       "noemail@nowhere.com",
		contact.Phone:       "+61 400 000 000",
		contact.DateOfBirth: "1900-01-01",
	})
	if r.Given != "" || r.EmailKey != "" || r.Phone != "" || r.DOB != "" {
		t.Errorf("placeholders kept: %+v", r)
	}
	if r.Family != "smith" {
		t.Errorf("real value dropped: %+v", r)
	}
	tests := []struct {
		field contact.Field
		value string
		want  bool
	}{
		{contact.DateOfBirth, "19700101", true},
		{contact.DateOfBirth, "19700102", false},
		{contact.Email, "someone@example.com", true},
		{contact.Email, "someone@shop.test", true},
		{contact.Email, "jane@gmail.com", false},
		{contact.Phone, "+12125550123", true}, // 555-01xx: fiction
		{contact.Phone, "+61413572946", false},
		{contact.Phone, "+61401234567", true},
		{contact.GivenName, "anonymous", true},
		{contact.GivenName, "ann", false},
		{contact.Locality, "unknown", false}, // only the listed fields are checked
	}
	for _, tt := range tests {
		if got := Placeholder(tt.field, tt.value); got != tt.want {
			t.Errorf("Placeholder(%s, %q) = %v, want %v", tt.field, tt.value, got, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	a := Record{Given: "robert", Family: "smith", DOB: "19560409", Postcode: "2119", HouseNumber: "12", Street: "wallaby pl", Locality: "cleveland"}
	swapped := a
	swapped.Given, swapped.Family = a.Family, a.Given
	nick := a
	nick.Given = "bob"

	keysA := Keys(a)
	for _, k := range keysA {
		if strings.ContainsAny(k, " {}\t\n") || k != strings.ToLower(k) {
			t.Errorf("key %q is not safe inside a Redis key", k)
		}
		if strings.Contains(k, "smith") || strings.Contains(k, "2119") {
			t.Errorf("key %q carries personal data", k)
		}
	}
	ruleOf := func(keys []string, other []string) []string {
		var rules []string
		for _, k := range keys {
			for _, o := range other {
				if k == o {
					rules = append(rules, KeyRule(k))
				}
			}
		}
		return rules
	}
	if rules := ruleOf(keysA, Keys(swapped)); !contains(rules, "nm") {
		t.Errorf("swapped names share no name key: shared %v", rules)
	}
	if rules := ruleOf(keysA, Keys(nick)); !contains(rules, "nm") {
		t.Errorf("nickname shares no name key: shared %v", rules)
	}
	if len(Keys(Record{})) != 0 {
		t.Errorf("empty record has keys: %v", Keys(Record{}))
	}
	seen := map[string]bool{}
	for _, k := range keysA {
		if seen[k] {
			t.Errorf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestGeneric(t *testing.T) {
	if Generic("dob:abc", 2*DefaultKeyCap) {
		t.Error("dob key generic at its cap")
	}
	if !Generic("dob:abc", 2*DefaultKeyCap+1) {
		t.Error("dob key not generic above its cap")
	}
	if !Generic("em:abc", 11) {
		t.Error("email key shared by 11 persons not generic")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRecordCacheMatchesFromValues: the cache gives FromValues' answer for
// the first sight of a number, a repeat, an unparseable number, the same
// digits in another country, and after it filled up and started afresh.
func TestRecordCacheMatchesFromValues(t *testing.T) {
	values := []contact.Values{
		{contact.Phone: "(02) 9876 5432", contact.Country: "Australia", contact.GivenName: "José"},
		{contact.Phone: "(02) 9876 5432", contact.Country: "Australia"},
		{contact.Phone: "(02) 9876 5432", contact.Country: "NZ"},
		{contact.Phone: "+61298765432"},
		{contact.Phone: "not a number"},
		{contact.Phone: "+61 400 000 000"}, // placeholder: dropped
		{contact.Phone: ""},
		{contact.Phone: "0412 345 678", contact.Country: "AU"},
	}
	c := NewRecordCache(3)
	for round := range 3 {
		for i, v := range values {
			if got, want := c.FromValues(v), FromValues(v); got != want {
				t.Errorf("round %d, values %d: cache gave\n%+v, FromValues\n%+v", round, i, got, want)
			}
		}
	}
	if n := len(c.phones); n > 3 {
		t.Errorf("cache holds %d numbers, above its size 3", n)
	}
}
