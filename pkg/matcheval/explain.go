package matcheval

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
)

const explainUsage = `Compares two records the way the matcher would and prints, per comparison,
the level reached and its weight, the blocking keys the records share, the
total weight, the match probability and the decision the model gives.

Records are JSON objects of canonical fields, e.g.
  --a '{"given_name":"Ann","family_name":"Lee","email":"ann@lee.net","date_of_birth":"1980-04-12"}'
or two rec_ids of FEBRL files (--ids rec-1-org,rec-1-dup-0). Values go
through normalize.Canonical first, as ingest would. Term frequencies are
unknown outside an index, so exact agreements weigh their average.
`

// ExplainCommand is `contactsync match explain`: exit 0 on success, 1 on
// failure, 2 on bad usage.
func ExplainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain (--a JSON --b JSON | --febrl FILE[,FILE] --ids ID_A,ID_B) [flags]",
		Short: "show how two records compare: keys, field levels, weights, score, decision",
		Long:  explainUsage,
		Args:  cli.NoArgs,
	}
	defaults := match.DefaultThresholds()
	f := cmd.Flags()
	a := f.String("a", "", "first record as a JSON object of canonical fields")
	b := f.String("b", "", "second record as a JSON object of canonical fields")
	febrl := f.String("febrl", "", "comma-separated FEBRL files to take --ids from")
	ids := f.String("ids", "", "two FEBRL rec_ids, comma-separated")
	region := f.String("region", "AU", "default country for phone numbers and dates without a country")
	modelFlag := f.String("model", "default", "default | base | path of a model file")
	link := f.Float64("link", defaults.Link, "link threshold on match probability")
	review := f.Float64("review", defaults.Review, "review threshold on match probability")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		byJSON, byFEBRL := *a != "" || *b != "", *febrl != "" || *ids != ""
		if byJSON == byFEBRL || (byJSON && (*a == "" || *b == "")) || (byFEBRL && (*febrl == "" || *ids == "")) {
			return cli.Usagef("give either --a and --b, or --febrl and --ids")
		}
		var recs [2]namedValues
		var err error
		if byJSON {
			recs, err = jsonRecords(*a, *b)
		} else {
			recs, err = febrlRecords(strings.Split(*febrl, ","), *ids)
		}
		if err != nil {
			return err
		}
		model, err := explainModel(*modelFlag)
		if err != nil {
			return err
		}
		return explain(cmd.OutOrStdout(), recs, model, *modelFlag, match.Thresholds{Link: *link, Review: *review}, *region)
	}
	return cmd
}

type namedValues struct {
	name   string
	values contact.Values
}

func jsonRecords(a, b string) ([2]namedValues, error) {
	var out [2]namedValues
	for i, text := range []string{a, b} {
		name := string(rune('a' + i))
		var raw map[string]string
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return out, fmt.Errorf("--%s: want a JSON object of field names to strings: %w", name, err)
		}
		v := contact.Values{}
		for k, s := range raw {
			if _, ok := contact.Lookup(contact.Field(k)); !ok {
				return out, fmt.Errorf("--%s: unknown field %q", name, k)
			}
			v[contact.Field(k)] = s
		}
		out[i] = namedValues{name: name, values: v}
	}
	return out, nil
}

func febrlRecords(files []string, ids string) ([2]namedValues, error) {
	var out [2]namedValues
	want := strings.Split(ids, ",")
	if len(want) != 2 || want[0] == "" || want[1] == "" {
		return out, fmt.Errorf("--ids: want two rec_ids separated by a comma, got %q", ids)
	}
	found := [2]bool{}
	for _, f := range files {
		rows, err := readFEBRL(strings.TrimSpace(f))
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			for i, id := range want {
				if !found[i] && r.RecordID == strings.TrimSpace(id) {
					out[i], found[i] = namedValues{name: r.RecordID, values: r.Values}, true
				}
			}
		}
	}
	for i, ok := range found {
		if !ok {
			return out, fmt.Errorf("rec_id %q is not in %s", want[i], strings.Join(files, ", "))
		}
	}
	return out, nil
}

func explainModel(name string) (*match.Model, error) {
	switch name {
	case "default":
		return match.DefaultModel()
	case "base":
		return match.BaseModel(), nil
	}
	return match.Load(name)
}

// explain prints how the matcher would decide on record a arriving at an
// index holding only record b: the normalised values, the shared blocking
// keys, each comparison's level and weight, the total, the probability and
// the decision with its one-line explanation (contact.Match.Explanation).
func explain(out io.Writer, recs [2]namedValues, model *match.Model, modelName string, th match.Thresholds, region string) error {
	m, err := match.NewMatcher(model, match.Options{Thresholds: th})
	if err != nil {
		return err
	}
	var records [2]match.Record
	for i, r := range recs {
		values, errs := normalize.Canonical(r.values, region)
		for _, e := range errs {
			fmt.Fprintf(out, "%s: %v (dropped, as ingest would)\n", r.name, e)
		}
		records[i] = match.FromValues(values)
	}

	// Score b as the only person of an index, as the matcher would see it
	// when a arrives.
	in := match.Incoming{RecordID: "a", Record: records[0]}
	q := m.Query(in)
	otherKeys := match.Keys(records[1])
	var hit []int
	var shared []string
	for i, k := range q.Keys {
		if slices.Contains(otherKeys, k) {
			hit = append(hit, i)
			if rule := match.KeyRule(k); !slices.Contains(shared, rule) {
				shared = append(shared, rule)
			}
		}
	}
	f := match.Found{
		Keys: make([]match.KeyState, len(q.Keys)),
		Persons: []match.Person{{ID: "b", HitKeys: hit,
			Members: []match.Member{{RecordID: "b", Record: records[1]}}}},
	}
	res, _ := m.Decide(in, q, f)
	e := res.Explanation

	for i, r := range recs {
		label := string(rune('a' + i))
		if r.name != label { // a FEBRL rec_id
			label += ": " + r.name
		}
		fmt.Fprintf(out, "%s:%s\n", label, recordValues(records[i]))
	}
	fmt.Fprintf(out, "model: %s prior=%.3g; thresholds link>=%v review>=%v; no term frequencies (average weights)\n",
		modelName, model.PriorMatchProbability, th.Link, th.Review)
	if len(shared) > 0 {
		fmt.Fprintf(out, "blocking: shared keys %s (%d shared; a has %d keys, b %d)\n",
			strings.Join(shared, ","), len(hit), len(q.Keys), len(otherKeys))
	} else {
		fmt.Fprintf(out, "blocking: no shared key (a has %d, b %d): the matcher would never compare these records\n",
			len(q.Keys), len(otherKeys))
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "comparison\tlevel\tweight")
	byName := map[string]match.FieldExplanation{}
	for _, fe := range e.Fields {
		byName[fe.Comparison] = fe
	}
	for _, name := range match.Comparisons() {
		fe, ok := byName[name]
		if !ok {
			fmt.Fprintf(tw, "%s\tnull\t0 (%s)\n", name, nullReason(name, records))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%+.2f\n", name, fe.Level, fe.Weight)
	}
	fmt.Fprintf(tw, "prior\t\t%+.2f\n", e.PriorWeight)
	fmt.Fprintf(tw, "total\t\t%+.2f\n", e.Weight)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "probability: %.6f\n", e.Probability)
	decision := fmt.Sprintf("%s (%s)", res.Decision, e.Reason)
	switch res.Decision {
	case contact.DecisionNew:
		decision += ": a would start a person of its own"
	case contact.DecisionLinked:
		decision += ": a would join b's person"
	case contact.DecisionAmbiguous:
		decision += ": held for review"
	case contact.DecisionIDConflict:
		decision += ": held for review (id conflict)"
	}
	if len(shared) == 0 {
		decision += "; but without a shared blocking key b is never a candidate, so a would be new"
	}
	fmt.Fprintf(out, "decision: %s\n", decision)
	if words := e.Words(); len(words) > 0 {
		fmt.Fprintln(out, "evidence:")
		for _, w := range words {
			fmt.Fprintf(out, "  - %s\n", w)
		}
	}
	fmt.Fprintf(out, "explanation: %s\n", e)
	return nil
}

// comparedValue is the value of a record that a comparison compares (""
// when missing, or for a comparison this file does not know).
func comparedValue(comparison string, r match.Record) string {
	switch comparison {
	case "given_name":
		return r.Given
	case "family_name":
		return r.Family
	case "date_of_birth":
		return r.DOB
	case "email":
		return r.EmailKey
	case "phone":
		return r.Phone
	case "house_number":
		return r.HouseNumber
	case "street":
		return r.Street
	case "address_line2":
		return r.AddressLine2
	case "locality":
		return r.Locality
	case "region":
		return r.Region
	case "postcode":
		return r.Postcode
	case "organisation":
		return r.Organisation
	}
	return ""
}

// recordValues lists a record's compared values, in comparison order: what
// the matcher sees after normalisation and placeholder removal.
func recordValues(r match.Record) string {
	var b strings.Builder
	for _, name := range match.Comparisons() {
		if v := comparedValue(name, r); v != "" {
			fmt.Fprintf(&b, " %s=%q", name, v)
		}
	}
	if b.Len() == 0 {
		return " (nothing to compare)"
	}
	return b.String()
}

// nullReason says why a comparison weighs nothing: a value is missing, or
// both are there and another comparison counts them (swapped names count
// as the given name's "swapped" level, swapped address lines as the street's).
func nullReason(comparison string, records [2]match.Record) string {
	a, b := comparedValue(comparison, records[0]), comparedValue(comparison, records[1])
	switch {
	case a == "" && b == "":
		return "missing in both"
	case a == "":
		return "missing in a"
	case b == "":
		return "missing in b"
	}
	return "counted by another comparison"
}
