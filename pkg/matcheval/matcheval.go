// Package matcheval implements `contactsync match-eval`: it streams labelled
// records (FEBRL, any labelled CSV, or the generated household set) one at a
// time, in file order, through the production matcher (normalize.Canonical,
// match.FromValues, match.Matcher over a MemIndex) and scores the resulting
// persons against the ground truth.
package matcheval

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/fieldmap"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
)

const usage = `Streams the records of LEFT (then RIGHT) one at a time through the matcher and
reports pairwise precision, recall and F1 against the ground truth: FEBRL
rec ids (rec-N-org / rec-N-dup-k), the --entity column of a labelled CSV, or
the generated household set (households, moves, organisations; no files).
With one file it evaluates a streaming dedupe (all within-file pairs); with
two, a link (only pairs across the files count).

  match-eval --format febrl [flags] LEFT.csv [RIGHT.csv]
  match-eval --format csv --id COLUMN --entity COLUMN [--map FIELD=COLUMN,...] [flags] LEFT.csv [RIGHT.csv]
  match-eval --format households [--households N] [--gen-seed S] [flags]

A labelled CSV has a header. Canonical fields (given_name, family_name, email,
phone, organisation, address_line1, address_line2, locality, region, postcode,
country, date_of_birth, and national_id: a personal identity number, FEBRL's
soc_sec_id) are read from columns of the same name or as --map says, e.g.
--map given_name=first_name,family_name=surname,date_of_birth=dob,locality=city

The model is the same procedure for every data set:
  --model train    (default) train without labels on the records being evaluated
  --model default  the model embedded in the product
  --model base     the untrained base model
  --model FILE     a model file written by --save-model
Labels (rec ids) are only used to score the result, never to train or match.
`

// Command is `contactsync match-eval`. A run exits 0 on success, 1 on
// failure, 2 on bad usage; the last line of a successful run is exactly
// "precision=P recall=R f1=F".
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "match-eval --format febrl|csv|households [flags] [LEFT.csv [RIGHT.csv]]",
		Short: "evaluate matching on a labelled data set (FEBRL, labelled CSV, generated households)",
		Long:  usage,
		Args:  cli.Args(0, 2, "at most two files"),
	}
	defaults := match.DefaultThresholds()
	f := cmd.Flags()
	format := f.String("format", "febrl", "input format: febrl | csv | households")
	idColumn := f.String("id", "", "csv: column holding the record id (required with --format csv)")
	entityColumn := f.String("entity", "", "csv: column holding the true entity / cluster (required with --format csv)")
	fieldMap := f.String("map", "", "csv: comma-separated FIELD=COLUMN pairs mapping canonical fields to columns")
	country := f.String("country", "", "default country of records without one (phones, dates); febrl: AU")
	households := f.Int("households", 2000, "households: number of households to generate")
	genSeed := f.Uint64("gen-seed", 1, "households: generator seed")
	strict := f.Bool("strict-households", false, "rule out twins and namesakes in one household even without other evidence (match.Options.StrictHouseholds)")
	modelFlag := f.String("model", "train", "train | default | base | path of a model file")
	saveModel := f.String("save-model", "", "write the model used to this file")
	link := f.Float64("link", defaults.Link, "link threshold on match probability")
	review := f.Float64("review", defaults.Review, "review threshold on match probability")
	seed := f.Uint64("seed", 1, "training seed")
	fixedM := f.String("train-fixed-m", "", "comma-separated comparison/level whose m keeps the base value (levels the training data cannot show)")
	trainFrom := f.String("train-from", "", "comma-separated files (of --format) to train on instead of the evaluated ones (with --model train)")
	shuffle := f.Uint64("shuffle", 0, "if not 0, shuffle each file's records with this seed (arrival-order sensitivity)")
	showErrors := f.Int("show-errors", 0, "print up to N wrong links and missed links with explanations")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var layout csvLayout
		switch *format {
		case "febrl":
			layout.country = "AU"
		case "csv":
			if *idColumn == "" || *entityColumn == "" {
				return cli.Usagef("--format csv needs --id COLUMN and --entity COLUMN")
			}
			fields, err := fieldmap.Parse(*fieldMap)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			layout = csvLayout{idColumn: *idColumn, entityColumn: *entityColumn, fields: fields}
		case "households":
			if len(args) != 0 || *households < 1 {
				return cli.Usagef("--format households takes no files and --households >= 1")
			}
		default:
			return cli.Usagef("unsupported --format %q (febrl, csv or households)", *format)
		}
		if *format != "households" && len(args) == 0 {
			return cli.Usagef("want one or two files")
		}
		if *country != "" {
			layout.country = strings.ToUpper(*country)
		}
		cfg := config{
			format:     *format,
			layout:     layout,
			households: *households,
			genSeed:    *genSeed,
			strict:     *strict,
			files:      args,
			model:      *modelFlag,
			saveModel:  *saveModel,
			thresholds: match.Thresholds{Link: *link, Review: *review},
			seed:       *seed,
			showErrors: *showErrors,
			shuffle:    *shuffle,
		}
		if *trainFrom != "" {
			cfg.trainFrom = strings.Split(*trainFrom, ",")
		}
		if *fixedM != "" {
			cfg.fixedM = strings.Split(*fixedM, ",")
		}
		return run(cmd.Context(), cfg, cmd.OutOrStdout())
	}
	return cmd
}

type config struct {
	format     string
	layout     csvLayout
	households int
	genSeed    uint64
	strict     bool
	files      []string
	model      string
	saveModel  string
	thresholds match.Thresholds
	seed       uint64
	showErrors int
	trainFrom  []string
	fixedM     []string
	shuffle    uint64
}

// evalRecord is a loaded record ready for streaming.
type evalRecord struct {
	labelled
	side   int // 0 left, 1 right
	record match.Record
	keys   []string
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	started := time.Now()
	var records []evalRecord
	fieldErrors := map[string]int{}
	sources := cfg.files
	if cfg.format == "households" {
		sources = []string{fmt.Sprintf("generated households=%d seed=%d", cfg.households, cfg.genSeed)}
	}
	for side, path := range sources {
		rows, err := cfg.read(path)
		if err != nil {
			return err
		}
		if cfg.shuffle != 0 {
			rng := rand.New(rand.NewPCG(cfg.shuffle, uint64(side)))
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		}
		for _, row := range rows {
			// The ingest path: canonicalise, keep what survives, then the
			// matcher's comparison view.
			values, errs := normalize.Canonical(row.Values, cfg.layout.country)
			for _, e := range errs {
				fieldErrors[string(e.Field)+"/"+e.Reason]++
			}
			rec := match.FromValues(values)
			records = append(records, evalRecord{
				labelled: labelled{RecordID: fmt.Sprintf("%d/%s", side, row.RecordID), Entity: row.Entity, Values: values},
				side:     side,
				record:   rec,
				keys:     match.Keys(rec),
			})
		}
		fmt.Fprintf(out, "input: %s %d records\n", filepath.Base(path), len(rows))
	}
	loaded := time.Since(started)
	link := len(cfg.files) == 2
	if len(fieldErrors) > 0 {
		fmt.Fprintf(out, "canonical: field errors (dropped) %s\n", formatCounts(fieldErrors))
	}

	trainStart := time.Now()
	model, err := loadModel(cfg, records)
	if err != nil {
		return err
	}
	trained := time.Since(trainStart)
	if cfg.saveModel != "" {
		if err := model.Save(cfg.saveModel); err != nil {
			return err
		}
	}
	describeModel(out, cfg.model, model)

	matcher, err := match.NewMatcher(model, match.Options{Thresholds: cfg.thresholds, StrictHouseholds: cfg.strict})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "thresholds: link=%v review=%v mode=%s\n", cfg.thresholds.Link, cfg.thresholds.Review, map[bool]string{true: "link", false: "dedupe"}[link])

	idx := match.NewMemIndex()
	results := make([]match.Result, len(records))
	matchStart := time.Now()
	for i, r := range records {
		res, err := matcher.Match(ctx, idx, match.Incoming{RecordID: r.RecordID, Record: r.record})
		if err != nil {
			return fmt.Errorf("match %s: %w", r.RecordID, err)
		}
		results[i] = res
	}
	matched := time.Since(matchStart)

	rep := evaluate(records, results, idx, link)
	if cfg.format == "households" {
		rep.householdMerges = householdMerges(records, idx)
	}
	rep.print(out)
	if cfg.format == "households" {
		fmt.Fprintf(out, "households: persons holding two members of one household=%d\n", rep.householdMerges)
	}
	if cfg.showErrors > 0 {
		showErrors(out, records, results, idx, matcher, link, cfg.showErrors)
	}
	fmt.Fprintf(out, "timing: load+normalise=%s train=%s match=%s (%.0f records/s, %.1f µs/record)\n",
		loaded.Round(time.Millisecond), trained.Round(time.Millisecond), matched.Round(time.Millisecond),
		float64(len(records))/matched.Seconds(), float64(matched.Microseconds())/float64(len(records)))
	fmt.Fprintf(out, "precision=%.3f recall=%.3f f1=%.3f\n", rep.precision, rep.recall, rep.f1)
	return nil
}

// read loads the labelled records of one input.
func (cfg config) read(path string) ([]labelled, error) {
	switch cfg.format {
	case "csv":
		return readCSV(path, cfg.layout)
	case "households":
		return GenerateHouseholds(cfg.genSeed, cfg.households), nil
	}
	return readFEBRL(path)
}

func loadModel(cfg config, records []evalRecord) (*match.Model, error) {
	switch cfg.model {
	case "train":
		files := cfg.files
		if cfg.format == "households" {
			files = []string{"generated households"}
		}
		recs := make([]match.Record, 0, len(records))
		if len(cfg.trainFrom) > 0 {
			files = cfg.trainFrom
			for _, path := range files {
				rows, err := cfg.read(path)
				if err != nil {
					return nil, err
				}
				for _, row := range rows {
					values, _ := normalize.Canonical(row.Values, cfg.layout.country)
					recs = append(recs, match.FromValues(values))
				}
			}
		} else {
			for _, r := range records {
				recs = append(recs, r.record)
			}
		}
		var data []string
		for _, f := range files {
			data = append(data, filepath.Base(f))
		}
		return match.Train(recs, match.TrainOptions{Seed: cfg.seed, Data: data, FixedM: cfg.fixedM})
	case "default":
		return match.DefaultModel()
	case "base":
		return match.BaseModel(), nil
	}
	return match.Load(cfg.model)
}

func describeModel(out io.Writer, name string, m *match.Model) {
	fmt.Fprintf(out, "model: %s prior=%.3g", name, m.PriorMatchProbability)
	if m.Training != nil {
		fmt.Fprintf(out, " prior_rule_matches=%d", m.Training.PriorMatches)
		for _, s := range m.Training.Sessions {
			fmt.Fprintf(out, "\n  em %s", s)
		}
	}
	fmt.Fprintln(out)
}

func formatCounts(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}

// report holds the evaluation figures.
type report struct {
	link                    bool
	truePairs, blockedPairs int64
	keysPerRecord           float64
	decisions               map[contact.Decision]int
	reasons                 map[string]int // per Explanation.Reason
	candMean                float64
	candP99, candMax        int
	reachable, reached      int
	persons, entities       int
	b3Precision, b3Recall   float64
	predictedPairs, tp      int64
	precision, recall, f1   float64
	genericLookups          int
	maxWrongProbability     float64
	wrongAboveHalf          int
	calibration             []calibrationBin
	// householdMerges counts persons holding records of two members of
	// one household (generated set only).
	householdMerges int
}

// calibrationBin counts the scored candidate pairs whose match probability
// fell in [low, high) and how many of them were truly the same entity.
type calibrationBin struct {
	low, high   float64
	pairs, same int
}

// calibrationEdges are the bin edges of the calibration report: a model is
// calibrated when the observed precision of each bin is at least its low edge.
var calibrationEdges = []float64{0.5, 0.9, 0.99, 0.999, 0.9999, 1.0000001}

// assignment returns the person of each record at the end of the stream; a
// record held for review belongs to no person, so it is its own singleton.
func assignment(records []evalRecord, idx *match.MemIndex) []string {
	out := make([]string, len(records))
	for i, r := range records {
		if p, ok := idx.PersonOf(r.RecordID); ok {
			out[i] = p
		} else {
			out[i] = "unassigned/" + r.RecordID
		}
	}
	return out
}

func evaluate(records []evalRecord, results []match.Result, idx *match.MemIndex, link bool) report {
	rep := report{link: link, decisions: map[contact.Decision]int{}, reasons: map[string]int{}}
	person := assignment(records, idx)

	// Ground-truth pairs and blocking recall: a true pair is blocked when
	// the two records share at least one blocking key.
	byEntity := map[string][]int{}
	var keyTotal int
	for i, r := range records {
		byEntity[r.Entity] = append(byEntity[r.Entity], i)
		keyTotal += len(r.keys)
	}
	rep.keysPerRecord = float64(keyTotal) / float64(len(records))
	rep.entities = len(byEntity)
	for _, members := range byEntity {
		for x := 0; x < len(members); x++ {
			for y := x + 1; y < len(members); y++ {
				a, b := records[members[x]], records[members[y]]
				if link && a.side == b.side {
					continue
				}
				rep.truePairs++
				if shareKey(a.keys, b.keys) {
					rep.blockedPairs++
				}
			}
		}
	}

	// Stream statistics.
	cands := make([]int, len(results))
	var candSum int
	for i, res := range results {
		rep.decisions[res.Decision]++
		rep.reasons[res.Explanation.Reason]++
		cands[i] = len(res.Candidates)
		candSum += cands[i]
		if len(res.Explanation.GenericRules) > 0 {
			rep.genericLookups++
		}
	}
	slices.Sort(cands)
	rep.candMean = float64(candSum) / float64(len(cands))
	rep.candP99 = cands[min(len(cands)-1, int(float64(len(cands))*0.99))]
	rep.candMax = cands[len(cands)-1]

	// Candidate recall in the stream: of the records that arrive after a
	// same-entity record already in the index (on the other side, for a
	// link), how many got that record's person among their candidates.
	seen := map[string][]int{}
	for i, r := range records {
		var earlierPersons []string
		for _, j := range seen[r.Entity] {
			if link && records[j].side == r.side {
				continue
			}
			if p, ok := idx.PersonOf(records[j].RecordID); ok {
				earlierPersons = append(earlierPersons, p)
			}
		}
		if len(earlierPersons) > 0 {
			rep.reachable++
			for _, c := range results[i].Candidates {
				if slices.Contains(earlierPersons, c.PersonID) {
					rep.reached++
					break
				}
			}
		}
		seen[r.Entity] = append(seen[r.Entity], i)
	}

	// Margin: how close did persons of other entities come? A wrong
	// candidate near the link threshold is a false link waiting to happen.
	personEntities := map[string]map[string]bool{}
	for i, r := range records {
		if personEntities[person[i]] == nil {
			personEntities[person[i]] = map[string]bool{}
		}
		personEntities[person[i]][r.Entity] = true
	}
	for i, res := range results {
		for _, c := range res.Candidates {
			if personEntities[c.PersonID][records[i].Entity] {
				continue
			}
			rep.maxWrongProbability = max(rep.maxWrongProbability, c.Probability)
			if c.Probability >= 0.5 {
				rep.wrongAboveHalf++
			}
		}
	}

	// Calibration: every scored candidate pair (the incoming record
	// against the person's best member), by predicted probability, against
	// the truth. A candidate ruled out (household, organisation) counts
	// with probability 0: it is never linked.
	byID := make(map[string]int, len(records))
	for i, r := range records {
		byID[r.RecordID] = i
	}
	for k := 0; k+1 < len(calibrationEdges); k++ {
		rep.calibration = append(rep.calibration, calibrationBin{low: calibrationEdges[k], high: calibrationEdges[k+1]})
	}
	for i, res := range results {
		for _, c := range res.Candidates {
			p := c.Probability
			if c.Relation != match.RelationNone {
				p = 0
			}
			j, ok := byID[c.BestMember]
			if !ok {
				continue
			}
			for k := range rep.calibration {
				b := &rep.calibration[k]
				if p >= b.low && p < b.high {
					b.pairs++
					if records[j].Entity == records[i].Entity {
						b.same++
					}
				}
			}
		}
	}

	// Pairwise: two records are predicted the same iff they end in the
	// same person.
	type cell struct{ person, entity string }
	perPerson := map[string][2]int64{}
	perCell := map[cell][2]int64{}
	for i, r := range records {
		pc := perPerson[person[i]]
		pc[r.side]++
		perPerson[person[i]] = pc
		cc := perCell[cell{person[i], r.Entity}]
		cc[r.side]++
		perCell[cell{person[i], r.Entity}] = cc
	}
	rep.persons = len(perPerson)
	pairs := func(c [2]int64) int64 {
		if link {
			return c[0] * c[1]
		}
		n := c[0] + c[1]
		return n * (n - 1) / 2
	}
	for _, c := range perPerson {
		rep.predictedPairs += pairs(c)
	}
	for _, c := range perCell {
		rep.tp += pairs(c)
	}
	rep.precision = ratio(rep.tp, rep.predictedPairs)
	rep.recall = ratio(rep.tp, rep.truePairs)
	if rep.precision+rep.recall > 0 {
		rep.f1 = 2 * rep.precision * rep.recall / (rep.precision + rep.recall)
	}

	// B-cubed over all records: per record, the share of its predicted
	// cluster that is truly its entity, and of its entity that it was put with.
	entitySize := map[string]int64{}
	personSize := map[string]int64{}
	for i, r := range records {
		entitySize[r.Entity]++
		personSize[person[i]]++
	}
	for i, r := range records {
		c := perCell[cell{person[i], r.Entity}]
		overlap := float64(c[0] + c[1])
		rep.b3Precision += overlap / float64(personSize[person[i]])
		rep.b3Recall += overlap / float64(entitySize[r.Entity])
	}
	rep.b3Precision /= float64(len(records))
	rep.b3Recall /= float64(len(records))
	return rep
}

// ratio is a/b, or 1 when b is 0 (nothing to find, or nothing claimed).
func ratio(a, b int64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func shareKey(a, b []string) bool {
	for _, k := range a {
		if slices.Contains(b, k) {
			return true
		}
	}
	return false
}

func (r report) print(out io.Writer) {
	fmt.Fprintf(out, "blocking: true_pairs=%d blocked=%d recall=%.4f keys/record=%.1f\n",
		r.truePairs, r.blockedPairs, ratio(r.blockedPairs, r.truePairs), r.keysPerRecord)
	fmt.Fprintf(out, "stream: new=%d linked=%d (best_of_persons=%d) ambiguous=%d (multiple_persons=%d) known=%d; candidates/record mean=%.2f p99=%d max=%d; lookups with generic keys=%d\n",
		r.decisions[contact.DecisionNew], r.decisions[contact.DecisionLinked], r.reasons["best_of_persons"],
		r.decisions[contact.DecisionAmbiguous], r.reasons["multiple_persons"],
		r.decisions[contact.DecisionKnown], r.candMean, r.candP99, r.candMax, r.genericLookups)
	fmt.Fprintf(out, "margin: best wrong-person candidate p=%.5f; wrong-person candidates with p>=0.5: %d\n",
		r.maxWrongProbability, r.wrongAboveHalf)
	fmt.Fprintf(out, "stream candidate recall: %d of %d records with an earlier true match found its person (%.4f)\n",
		r.reached, r.reachable, ratio(int64(r.reached), int64(r.reachable)))
	b3f := 0.0
	if r.b3Precision+r.b3Recall > 0 {
		b3f = 2 * r.b3Precision * r.b3Recall / (r.b3Precision + r.b3Recall)
	}
	fmt.Fprintf(out, "clusters: persons=%d entities=%d b3_precision=%.4f b3_recall=%.4f b3_f1=%.4f\n",
		r.persons, r.entities, r.b3Precision, r.b3Recall, b3f)
	fmt.Fprintf(out, "pairs: true=%d predicted=%d tp=%d fp=%d fn=%d\n",
		r.truePairs, r.predictedPairs, r.tp, r.predictedPairs-r.tp, r.truePairs-r.tp)
	fmt.Fprint(out, "calibration (scored candidate pairs by predicted p; observed precision):")
	for _, b := range r.calibration {
		fmt.Fprintf(out, " [%g,%g) %d/%d=%.4f;", b.low, min(b.high, 1), b.same, b.pairs, ratio(int64(b.same), int64(b.pairs)))
	}
	fmt.Fprintln(out)
	atLink := r.atOrAbove(0.99)
	fmt.Fprintf(out, "calibration: p>=0.99 pairs=%d wrong=%d (%.4f wrong; a calibrated model has at most 0.01)\n",
		atLink.pairs, atLink.pairs-atLink.same, 1-ratio(int64(atLink.same), int64(atLink.pairs)))
}

// atOrAbove sums the calibration bins from probability p up.
func (r report) atOrAbove(p float64) calibrationBin {
	out := calibrationBin{low: p, high: 1}
	for _, b := range r.calibration {
		if b.low >= p {
			out.pairs += b.pairs
			out.same += b.same
		}
	}
	return out
}

// showErrors prints, for debugging the matcher on synthetic data, records
// that were linked to a person of another entity and records that did not
// join the person of their entity, with the decision's explanation.
func showErrors(out io.Writer, records []evalRecord, results []match.Result, idx *match.MemIndex, m *match.Matcher, link bool, limit int) {
	person := assignment(records, idx)
	entityOfPerson := map[string]map[string]bool{}
	for i, r := range records {
		if entityOfPerson[person[i]] == nil {
			entityOfPerson[person[i]] = map[string]bool{}
		}
		entityOfPerson[person[i]][r.Entity] = true
	}
	firstOfEntity := map[string]int{}
	byID := map[string]int{}
	for i, r := range records {
		byID[r.RecordID] = i
	}
	var wrong, missed []string
	for i, r := range records {
		res := results[i]
		if res.Decision == contact.DecisionLinked && len(res.Candidates) > 0 {
			// A wrong link: the member the record was linked on is of
			// another entity.
			for _, c := range res.Candidates {
				if c.PersonID == res.PersonID {
					if j, ok := byID[c.BestMember]; ok && records[j].Entity != r.Entity {
						wrong = append(wrong, fmt.Sprintf("  %s (entity %s) on %s (entity %s): %s", r.RecordID, r.Entity, c.BestMember, records[j].Entity, res.Explanation))
					}
				}
			}
		}
		if j, ok := firstOfEntity[r.Entity]; ok && person[j] != person[i] && (!link || records[j].side != r.side) {
			missed = append(missed, fmt.Sprintf("  %s (entity %s, first %s): %s", r.RecordID, r.Entity, records[j].RecordID, res.Explanation))
			sc := m.Scorer().Score(&records[j].record, &r.record)
			missed = append(missed, fmt.Sprintf("    vs first: w=%+.2f levels=%s", sc.Weight, levelString(sc.Levels)))
		}
		if _, ok := firstOfEntity[r.Entity]; !ok {
			firstOfEntity[r.Entity] = i
		}
	}
	var near []string
	for i, res := range results {
		for _, c := range res.Candidates {
			if c.Probability < 0.5 || entityOfPerson[c.PersonID][records[i].Entity] {
				continue
			}
			other := records[byID[c.BestMember]]
			sc := m.Scorer().Score(&records[i].record, &other.record)
			near = append(near, fmt.Sprintf("  %s (entity %s) vs %s (entity %s): p=%.5f %s\n    %s", records[i].RecordID, records[i].Entity,
				other.RecordID, other.Entity, c.Probability, res.Explanation, levelString(sc.Levels)))
		}
	}
	fmt.Fprintf(out, "wrong-person candidates with p>=0.5: %d\n", len(near))
	for _, n := range near[:min(limit, len(near))] {
		fmt.Fprintln(out, n)
	}
	sort.Strings(wrong)
	fmt.Fprintf(out, "wrong links: %d\n", len(wrong))
	for _, w := range wrong[:min(limit, len(wrong))] {
		fmt.Fprintln(out, w)
	}
	fmt.Fprintf(out, "missed links: %d\n", len(missed)/2)
	for _, w := range missed[:min(2*limit, len(missed))] {
		fmt.Fprintln(out, w)
	}
}

func levelString(lv match.Levels) string {
	names := match.Comparisons()
	var parts []string
	for i, l := range lv {
		parts = append(parts, fmt.Sprintf("%s=%s", names[i], match.LevelLabel(i, l)))
	}
	return strings.Join(parts, " ")
}
