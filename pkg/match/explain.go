package match

import (
	"fmt"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Explanation says why the matcher decided what it did, in terms a person
// reviewing the decision can check: which blocking keys found the best
// candidate, how each field compared and what it weighed, and the total. It
// holds no field values, so it can be logged and shown without exposing
// personal data.
type Explanation struct {
	Decision contact.Decision
	// Reason is a stable code: known_record, match, best_of_persons,
	// reference_id, id_conflict, multiple_persons, between_thresholds, below_review,
	// no_candidates, or, when every candidate was ruled out, the relation
	// of the best one: household, other_organisation, person_organisation,
	// names_disagree.
	Reason   string
	PersonID string
	// Rules are the blocking rules that found the best candidate.
	Rules []string
	// GenericRules are rules of the record's keys that hold too many
	// persons to propose candidates.
	GenericRules []string
	// Candidates is the number of persons scored; AboveLink how many of
	// them reached the link threshold.
	Candidates int
	AboveLink  int
	// Fields are the per-comparison outcomes against the best candidate's
	// best member, in model order, null comparisons left out.
	Fields      []FieldExplanation
	PriorWeight float64
	// Address is the graded level of the whole address ("same_address",
	// ..., "else"; "" when unknown) and AddressAdjustment what the address
	// group's cap took off (< 0) or its floor added back (> 0), in bits.
	Address           string
	AddressAdjustment float64
	Weight            float64
	Probability       float64
	// Relation is what rules the best candidate out, if anything.
	Relation Relation
	// Moved says the linked person lives at another address.
	Moved bool
	// Household lists the persons found to be other members of the
	// record's household; HouseholdKey is the record's household key.
	Household    []string
	HouseholdKey string
	// Reference is the known record id the record carried (Incoming.Reference).
	Reference string
}

// FieldExplanation is the outcome of one comparison.
type FieldExplanation struct {
	Comparison string
	Level      string
	Weight     float64
	// TFAdjusted says the weight used the value's frequency in the index.
	TFAdjusted bool
}

func (m *Matcher) explain(res Result, reason string, q Query, f Found, best *Candidate) Explanation {
	e := Explanation{
		Decision: res.Decision, Reason: reason, PersonID: res.PersonID,
		Candidates: len(res.Candidates), PriorWeight: m.scorer.PriorWeight(),
		Weight: res.Weight, Probability: res.Probability, Moved: res.Moved,
		Household: slices.Clone(res.Household), HouseholdKey: res.HouseholdKey, Reference: q.Reference,
	}
	for _, c := range res.Candidates {
		if c.Probability >= m.opts.Thresholds.Link {
			e.AboveLink++
		}
	}
	for i, k := range f.Keys {
		if k.Generic && i < len(q.Keys) {
			if rule := KeyRule(q.Keys[i]); !slices.Contains(e.GenericRules, rule) {
				e.GenericRules = append(e.GenericRules, rule)
			}
		}
	}
	if best == nil && len(res.Candidates) > 0 && res.Candidates[0].Relation != RelationNone {
		// Every candidate was ruled out: show the best one and why.
		best = &res.Candidates[0]
	}
	if best == nil {
		return e
	}
	e.Rules = slices.Clone(best.Rules)
	e.Relation = best.Relation
	e.Address = AddressLevelLabel(best.score.Address)
	e.AddressAdjustment = best.score.GroupAdjustment
	for i, lv := range best.score.Levels {
		if lv == NullLevel {
			continue
		}
		e.Fields = append(e.Fields, FieldExplanation{
			Comparison: comparisons[i].name,
			Level:      LevelLabel(i, lv),
			Weight:     best.score.FieldWeights[i],
			TFAdjusted: best.score.TFAdjusted[i],
		})
	}
	return e
}

// String renders the explanation on one line, e.g.
//
//	linked(match) p=0.99998 w=+22.41 person=p-1a2b... keys=nm,dob candidates=2 above_link=1 |
//	given_name=exact:+7.12tf family_name=jw92:+5.40 date_of_birth=exact:+12.90 ... prior=-13.29
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%s)", e.Decision, e.Reason)
	if e.Decision != contact.DecisionKnown {
		fmt.Fprintf(&b, " p=%.5f w=%+.2f", e.Probability, e.Weight)
	}
	if e.PersonID != "" {
		fmt.Fprintf(&b, " person=%s", e.PersonID)
	}
	if len(e.Rules) > 0 {
		fmt.Fprintf(&b, " keys=%s", strings.Join(e.Rules, ","))
	}
	if len(e.GenericRules) > 0 {
		fmt.Fprintf(&b, " generic=%s", strings.Join(e.GenericRules, ","))
	}
	fmt.Fprintf(&b, " candidates=%d above_link=%d", e.Candidates, e.AboveLink)
	if len(e.Fields) > 0 {
		b.WriteString(" |")
		for _, f := range e.Fields {
			fmt.Fprintf(&b, " %s=%s:%+.2f", f.Comparison, f.Level, f.Weight)
			if f.TFAdjusted {
				b.WriteString("tf")
			}
		}
		switch {
		case e.AddressAdjustment < 0:
			fmt.Fprintf(&b, " address_cap=%+.2f", e.AddressAdjustment)
		case e.AddressAdjustment > 0:
			fmt.Fprintf(&b, " address_floor=%+.2f", e.AddressAdjustment)
		}
		fmt.Fprintf(&b, " prior=%+.2f", e.PriorWeight)
	}
	if e.Address != "" {
		fmt.Fprintf(&b, " address=%s", e.Address)
	}
	if e.Relation != RelationNone {
		fmt.Fprintf(&b, " ruled_out=%s", e.Relation)
	}
	if e.Moved {
		b.WriteString(" moved")
	}
	if e.Reference != "" {
		fmt.Fprintf(&b, " ref=%s", e.Reference)
	}
	if len(e.Household) > 0 {
		fmt.Fprintf(&b, " household=%s", strings.Join(e.Household, ","))
	}
	if e.HouseholdKey != "" && len(e.Household) > 0 {
		fmt.Fprintf(&b, " household_key=%s", e.HouseholdKey)
	}
	return b.String()
}

// levelWords says in words what each comparison level means, for people
// reviewing a decision.
var levelWords = map[string]map[string]string{
	"given_name": {
		"exact": "same given name", "nickname": "given names are nicknames of one name",
		"jw92": "given names a typo apart", "swapped": "given and family name swapped",
		"jw88": "given names similar", "jw70": "given names differ", "else": "different given names",
	},
	"family_name": {
		"exact": "same family name", "jw92": "family names a typo apart", "jw88": "family names similar",
		"jw70": "family names differ", "else": "different family names",
	},
	"date_of_birth": {
		"exact": "same date of birth", "dl1": "dates of birth one typo apart",
		"day_month_swapped": "dates of birth with day and month swapped",
		"dl2":               "dates of birth two typos apart", "else": "different dates of birth",
	},
	"email": {
		"exact": "same email address", "same_user": "same email user at another provider",
		"jw88": "similar email addresses", "else": "different email addresses",
	},
	"phone": {
		"exact": "same phone number", "same_last8": "same number under another country code",
		"dl1": "phone numbers one digit apart", "else": "different phone numbers",
	},
	"house_number": {"exact": "same house number", "dl1": "house numbers one typo apart", "else": "different house numbers"},
	"street": {
		"exact": "same street", "jw92": "streets a typo apart", "lines_swapped": "street given in the other address line",
		"jw80": "similar streets", "else": "different streets",
	},
	"address_line2": {"exact": "same second address line", "jw90": "similar second address lines", "else": "different second address lines"},
	"locality":      {"exact": "same town", "jw90": "towns a typo apart", "else": "different towns"},
	"region":        {"exact": "same region", "else": "different regions"},
	"postcode":      {"exact": "same postcode", "dl1": "postcodes one typo apart", "else": "different postcodes"},
	"organisation": {
		"exact": "same organisation name", "similar": "similar organisation names",
		"else": "different organisation names",
	},
	"national_id": {
		"exact": "same personal identity number", "dl1": "personal identity numbers one typo apart",
		"else": "different personal identity numbers",
	},
}

// addressWords says in words what the graded address level means.
var addressWords = map[string]string{
	"same_address": "the whole address agrees", "same_house_and_street": "same house and street, postcode or town a typo apart",
	"similar_address":          "the same address with a typo",
	"partial_address":          "same postcode or town, and the house number or street that both give",
	"same_street_other_number": "same street, another house number",
	"same_postcode_and_town":   "same postcode and town, another street",
	"same_postcode_or_town":    "same postcode or town, another street",
	"else":                     "another address",
}

// relationWords says why a ruled-out candidate is another person.
var relationWords = map[Relation]string{
	RelationHousehold:          "a member of the same household: same home (and family name), but another given name or date of birth",
	RelationOtherOrganisation:  "another organisation: the organisation names differ",
	RelationPersonOrganisation: "a person and an organisation are never one",
	RelationNamesDisagree:      "the names rule it out and nothing else identifies the person",
	RelationOtherIdentifier:    "another person: both carry a personal identity number and the numbers differ",
}

// Words returns the explanation as sentences for a person: what agrees and
// what does not against the best candidate, what ruled it out, and notes
// (moved, household, reference id). Like String it holds no field values.
func (e Explanation) Words() []string {
	var out []string
	for _, f := range e.Fields {
		w := levelWords[f.Comparison][f.Level]
		if w == "" {
			w = f.Comparison + " " + f.Level
		}
		out = append(out, fmt.Sprintf("%s (%+.1f)", w, f.Weight))
	}
	if e.Address != "" {
		w := "address: " + addressWords[e.Address]
		switch {
		case e.AddressAdjustment < 0:
			w += fmt.Sprintf(" (the address fields count as one piece of evidence: capped, %+.1f)", e.AddressAdjustment)
		case e.AddressAdjustment > 0:
			w += fmt.Sprintf(" (a move is one event, not one per field: floored, %+.1f)", e.AddressAdjustment)
		}
		out = append(out, w)
	}
	if e.Relation != RelationNone {
		out = append(out, "ruled out: "+relationWords[e.Relation])
	}
	if e.Moved {
		out = append(out, "moved: the person is known at another address; names and date of birth or a personal email or phone identify them")
	}
	switch e.Reason {
	case "reference_id":
		out = append(out, "linked on the reference id "+e.Reference+": the names fit that record")
	case "best_of_persons":
		out = append(out, fmt.Sprintf("linked to the best of %d persons that each reach the link threshold: it fits this one at least 100 times better than the next; the persons may be one (merging them is a person's decision)", e.AboveLink))
	case "id_conflict":
		out = append(out, "id conflict: the record carries the reference id "+e.Reference+" but names another person (a forwarded appeal?); not linked on it")
	}
	if len(e.Household) > 0 {
		out = append(out, "household: shares a home with "+strings.Join(e.Household, ", ")+" (never linked to them)")
	}
	return out
}
