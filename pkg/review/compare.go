package review

import (
	"strings"
	"unicode"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// Outcomes of comparing one field of a record with a candidate person.
const (
	OutcomeSame      = "same"
	OutcomeSimilar   = "similar"
	OutcomeDifferent = "different"
	// OutcomeOneSide: only one of the two has a value.
	OutcomeOneSide = "one_side"
)

// FieldComparison is one field of a record beside the same field of a
// candidate person, with what the comparison says in words.
type FieldComparison struct {
	Field     string `json:"field"`
	Label     string `json:"label"`
	Record    string `json:"record"`
	Candidate string `json:"candidate"`
	Outcome   string `json:"outcome"`
	Words     string `json:"words"`
}

// comparedFields are the fields a person compares to tell people apart, in
// the order they read them, with the words for each.
var comparedFields = []struct {
	field contact.Field
	label string
	kind  func(string) string // normalises a value for comparison
}{
	{contact.GivenName, "given name", normText},
	{contact.FamilyName, "family name", normText},
	{contact.Organisation, "organisation", normText},
	{contact.DateOfBirth, "date of birth", normText},
	{contact.Email, "email address", normText},
	{contact.Phone, "phone number", normDigits},
	{contact.AddressLine1, "street address", normText},
	{contact.AddressLine2, "second address line", normText},
	{contact.Postcode, "postcode", normCompact},
	{contact.Locality, "town", normText},
	{contact.Region, "region", normText},
	{contact.Country, "country", normText},
}

// CompareInWords compares a record's values with a candidate person's, field
// by field, and says in words what agrees and what does not ("same date of
// birth", "different given name (Melissa / Elizabeth)"). Fields neither has
// are left out.
func CompareInWords(record, candidate contact.Values) []FieldComparison {
	out := []FieldComparison{}
	for _, f := range comparedFields {
		a, b := strings.TrimSpace(record[f.field]), strings.TrimSpace(candidate[f.field])
		if a == "" && b == "" {
			continue
		}
		c := FieldComparison{Field: string(f.field), Label: f.label, Record: a, Candidate: b}
		switch {
		case a == "":
			c.Outcome, c.Words = OutcomeOneSide, "no "+f.label+" on the record (the candidate has one)"
		case b == "":
			c.Outcome, c.Words = OutcomeOneSide, "no "+f.label+" known for the candidate"
		case f.kind(a) == f.kind(b):
			c.Outcome, c.Words = OutcomeSame, "same "+f.label
		case similar(f.field, f.kind(a), f.kind(b)):
			c.Outcome, c.Words = OutcomeSimilar, "similar "+f.label+" ("+a+" / "+b+")"
		default:
			c.Outcome, c.Words = OutcomeDifferent, "different "+f.label+" ("+a+" / "+b+")"
		}
		out = append(out, c)
	}
	return out
}

// SummaryInWords joins what agrees and what does not into one line, what
// disagrees first.
func SummaryInWords(cs []FieldComparison) string {
	var differ, agree []string
	for _, c := range cs {
		switch c.Outcome {
		case OutcomeDifferent, OutcomeSimilar:
			differ = append(differ, c.Words)
		case OutcomeSame:
			agree = append(agree, c.Words)
		}
	}
	return strings.Join(append(differ, agree...), "; ")
}

func normText(s string) string {
	s = strings.ToLower(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '@'
	}), " ")
}

func normDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func normCompact(s string) string { return strings.ReplaceAll(normText(s), " ", "") }

// similar says two different values are probably the same one written
// differently: a typo (one or two edits), an initial, or a day/month swap
// of a date.
func similar(f contact.Field, a, b string) bool {
	if f == contact.DateOfBirth {
		return dayMonthSwapped(a, b)
	}
	ra, rb := []rune(a), []rune(b)
	if f == contact.GivenName && (len(ra) == 1 || len(rb) == 1) && ra[0] == rb[0] {
		return true // an initial
	}
	limit := 1
	if min(len(ra), len(rb)) >= 6 {
		limit = 2
	}
	return min(len(ra), len(rb)) >= 3 && editDistance(ra, rb) <= limit
}

// dayMonthSwapped says two dates "yyyy mm dd" (as normText leaves them) are
// one with day and month swapped.
func dayMonthSwapped(a, b string) bool {
	pa, pb := strings.Fields(a), strings.Fields(b)
	return len(pa) == 3 && len(pb) == 3 && pa[0] == pb[0] && pa[1] == pb[2] && pa[2] == pb[1]
}

// editDistance is the Levenshtein distance with adjacent transpositions.
func editDistance(a, b []rune) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// NameAndTown is how a row names a person: "Melissa Rodriguez, Springfield"
// (the organisation when there is no name).
func NameAndTown(v contact.Values) (name, town string) {
	name = strings.TrimSpace(strings.TrimSpace(v[contact.GivenName]) + " " + strings.TrimSpace(v[contact.FamilyName]))
	if name == "" {
		name = strings.TrimSpace(v[contact.Organisation])
	}
	return name, strings.TrimSpace(v[contact.Locality])
}

// nameAndTown reads the name and town of a kick-out's record, when its
// format can be read here ("" otherwise).
func (s *Service) nameAndTown(k StoredKickOut) (name, town string) {
	o := originOf(s.src, k.KickOut)
	switch {
	case o.Format == pipeline.FormatChange || o.Format == pipeline.FormatMatched:
		if c, _, err := decodeChange(s.codec, o.Format, k.Value); err == nil {
			return NameAndTown(c.Values)
		}
	case isJSONFormat(o.Format) && s.decode != nil && !k.Truncated:
		if cs, err := s.decode(o.Format, kickOutRecord(k.KickOut)); err == nil && len(cs) > 0 {
			return NameAndTown(cs[0].Values)
		}
	}
	return "", ""
}
