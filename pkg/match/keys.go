package match

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/contactsync/contactsync/pkg/normalize"
)

// blockingRule derives the values of one conjunctive blocking key from a
// record. Two records are candidates when they share a key of any rule: the
// union of several narrow rules reaches nearly every true pair (each rule
// alone misses the pairs with a typo in one of its fields) while keeping
// blocks small.
type blockingRule struct {
	// name prefixes the rule's keys; it is what explanations show.
	name string
	// excludes lists the comparisons a training session on this rule must
	// not estimate, because the rule forces them to agree.
	excludes []int
	// cap is the number of persons a key of this rule may hold before the
	// index treats it as generic and stops returning its persons.
	cap    int
	values func(r *Record) []string
}

// DefaultKeyCap is the person cap for rules without a tighter one.
const DefaultKeyCap = 50

// blockingRules are the keys of the design measured in the reference notes:
// the names (in either order, with nickname variants), phonetic surname +
// birth year, surname or given name + postcode, surname prefix + date of
// birth, house number + street, date of birth alone, postcode + house
// number, and the exact email and phone.
var blockingRules = []blockingRule{
	{
		// Unordered name pair: one key covers given+surname and the
		// swapped order; nickname variants of the given name meet formal
		// names ("bob smith" and "robert smith" share "robert|smith").
		name: "nm", excludes: []int{cmpGiven, cmpFamily}, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			if r.Family == "" {
				return nil
			}
			var out []string
			for _, g := range normalize.NameVariants(r.Given) {
				a, b := g, r.Family
				if b < a {
					a, b = b, a
				}
				out = append(out, a+"|"+b)
			}
			return out
		},
	},
	{
		name: "sxy", excludes: nil, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			sx := normalize.Soundex(r.Family)
			if sx == "" || len(r.DOB) < 4 {
				return nil
			}
			return []string{sx + "|" + r.DOB[:4]}
		},
	},
	{
		name: "fpc", excludes: []int{cmpFamily, cmpPostcode}, cap: DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.Family, r.Postcode) },
	},
	{
		name: "gpc", excludes: []int{cmpGiven, cmpPostcode}, cap: DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.Given, r.Postcode) },
	},
	{
		name: "fdb", excludes: []int{cmpDOB}, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			if len(r.Family) < 3 {
				return joinAll(r.Family, r.DOB)
			}
			return joinAll(r.Family[:3], r.DOB)
		},
	},
	{
		name: "hst", excludes: []int{cmpHouseNumber, cmpStreet}, cap: DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.HouseNumber, r.Street) },
	},
	{
		// Alone, a date of birth is shared by hundreds of people in a large
		// index; the cap turns it generic there, while it still rescues
		// pairs with typos in every name field in smaller ones.
		name: "dob", excludes: []int{cmpDOB}, cap: 2 * DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.DOB) },
	},
	{
		name: "pch", excludes: []int{cmpPostcode, cmpHouseNumber}, cap: DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.Postcode, r.HouseNumber) },
	},
	{
		// Both names by sound, in either order: survives a typo in each
		// name at once ("jon smyth" / "john smith").
		name: "sxn", excludes: nil, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			a, b := normalize.Soundex(r.Given), normalize.Soundex(r.Family)
			if b < a {
				a, b = b, a
			}
			return joinAll(a, b)
		},
	},
	{
		name: "lhn", excludes: []int{cmpLocality, cmpHouseNumber}, cap: DefaultKeyCap,
		values: func(r *Record) []string { return joinAll(r.Locality, r.HouseNumber) },
	},
	{
		// Either address line with the locality, under one rule, so that
		// records whose street and second line are swapped still meet.
		name: "aln", excludes: []int{cmpStreet, cmpLocality}, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			out := joinAll(r.Street, r.Locality)
			if r.AddressLine2 != r.Street {
				out = append(out, joinAll(r.AddressLine2, r.Locality)...)
			}
			return out
		},
	},
	{
		// A shared mailbox or landline is normal for a household, not for
		// a street: a low cap makes office and placeholder values generic.
		name: "em", excludes: []int{cmpEmail}, cap: 10,
		values: func(r *Record) []string { return joinAll(r.EmailKey) },
	},
	{
		name: "tel", excludes: []int{cmpPhone}, cap: 10,
		values: func(r *Record) []string { return joinAll(r.Phone) },
	},
	{
		// Organisations by their normalised name (legal form and
		// abbreviations folded); persons carry none.
		name: "org", excludes: []int{cmpOrganisation}, cap: DefaultKeyCap,
		values: func(r *Record) []string {
			if !r.IsOrganisation() {
				return nil
			}
			return joinAll(r.Organisation)
		},
	},
	{
		// A personal identity number, by its keyed fingerprint. One
		// number is one person's; one held by more than a few persons is
		// a stand-in value and proposes nobody.
		name: "nid", excludes: []int{cmpNationalID}, cap: 5,
		values: func(r *Record) []string { return joinAll(identifierWhole(r.NationalID)) },
	},
}

// joinAll returns the one key value made of all parts, or nil when any part
// is missing (a conjunctive key needs every field).
func joinAll(parts ...string) []string {
	for _, p := range parts {
		if p == "" {
			return nil
		}
	}
	return []string{strings.Join(parts, "|")}
}

// BlockingRules returns the names of the blocking rules, in key order.
func BlockingRules() []string {
	out := make([]string, len(blockingRules))
	for i, r := range blockingRules {
		out[i] = r.name
	}
	return out
}

// Keys returns the blocking keys of a record, "<rule>:<hash>", sorted by rule
// in BlockingRules order and without duplicates. The value part is a
// truncated SHA-256, so keys carry no personal data, contain only
// [a-z0-9:] and are safe as parts of Redis key names.
func Keys(r Record) []string {
	var out []string
	for _, rule := range blockingRules {
		for _, v := range rule.values(&r) {
			k := hashedKey(rule.name, v)
			if len(out) == 0 || !containsString(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hashedKey hashes a key value with its rule, keeping 80 bits: collisions
// within one rule are negligible for billions of values, and a collision
// only adds a candidate to score, never a link.
func hashedKey(rule, value string) string {
	sum := sha256.Sum256([]byte(rule + "\x00" + value))
	return rule + ":" + hex.EncodeToString(sum[:10])
}

// KeyRule returns the rule name of a key ("nm" for "nm:4f1c...").
func KeyRule(key string) string {
	rule, _, _ := strings.Cut(key, ":")
	return rule
}

// KeyCap returns how many persons a key may hold before it is generic: a
// value shared by more people than that (a common birth date in a large
// index, an office phone) no longer proposes candidates.
func KeyCap(key string) int {
	rule := KeyRule(key)
	for _, r := range blockingRules {
		if r.name == rule {
			return r.cap
		}
	}
	return DefaultKeyCap
}

// Generic reports whether a key holding this many persons is generic: a
// value shared by more people than its rule's cap (a common birth date in a
// large index, an office phone) proposes no candidates. Indexes enforce it
// when adding persons to a key; together with Placeholder (known stand-in
// values, dropped before keys are made) it keeps shared values from linking
// people.
func Generic(key string, persons int) bool { return persons > KeyCap(key) }

// Terms returns the term-frequency keys of a record, "tf:<comparison>:<hash>",
// one per comparison with a term-frequency adjusted level and a value.
func Terms(r Record) []string {
	var out []string
	for i := range comparisons {
		if k := termKey(i, &r); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func termKey(comparison int, r *Record) string {
	c := &comparisons[comparison]
	if c.tfValue == nil {
		return ""
	}
	v := c.tfValue(r)
	if v == "" {
		return ""
	}
	return "tf:" + hashedKey(c.name, v)
}
