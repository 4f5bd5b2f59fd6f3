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
	// Reason is a stable code: known_record, match, multiple_persons,
	// between_thresholds, below_review, names_disagree, no_candidates.
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
	Fields          []FieldExplanation
	PriorWeight     float64
	FloorAdjustment float64
	Weight          float64
	Probability     float64
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
		Weight: res.Weight, Probability: res.Probability,
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
	if best == nil {
		return e
	}
	e.Rules = slices.Clone(best.Rules)
	e.FloorAdjustment = best.score.FloorAdjustment
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
		if e.FloorAdjustment > 0 {
			fmt.Fprintf(&b, " group_floor=%+.2f", e.FloorAdjustment)
		}
		fmt.Fprintf(&b, " prior=%+.2f", e.PriorWeight)
	}
	return b.String()
}
