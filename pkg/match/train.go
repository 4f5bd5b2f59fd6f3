package match

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// TrainOptions tune unsupervised training. Zero values take the defaults.
type TrainOptions struct {
	// RandomPairs is the number of random record pairs u is estimated
	// from. Default 200,000.
	RandomPairs int
	// Seed makes training reproducible. Default 1.
	Seed uint64
	// Sessions are the blocking rules of the EM sessions (see
	// BlockingRules); each estimates m for every comparison its rule does
	// not force to agree. Default: dob, nm, pch.
	Sessions []string
	// MaxIterations bounds EM per session. Default 100.
	MaxIterations int
	// MaxBlockSize skips blocks with more records (they would dominate a
	// session with pairs that are nearly all non-matches). Default 100.
	MaxBlockSize int
	// PriorRecall is the assumed share of true pairs that the
	// deterministic prior rule finds. Default 0.7.
	PriorRecall float64
	// Base supplies starting values and the m and u of levels the data
	// cannot inform. Default BaseModel().
	Base *Model
	// FixedM lists levels, as "comparison/label" ("given_name/nickname"),
	// whose m keeps the base value because the training data cannot show
	// the phenomenon (a synthetic generator that never uses nicknames); the
	// other levels of the comparison share the rest of the probability.
	FixedM []string
	// Data names the training data, for the model's record.
	Data []string
}

func (o *TrainOptions) defaults() {
	if o.RandomPairs <= 0 {
		o.RandomPairs = 200_000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Sessions) == 0 {
		o.Sessions = []string{"dob", "nm", "pch"}
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 100
	}
	if o.MaxBlockSize <= 0 {
		o.MaxBlockSize = 100
	}
	if o.PriorRecall <= 0 || o.PriorRecall > 1 {
		o.PriorRecall = 0.7
	}
	if o.Base == nil {
		o.Base = BaseModel()
	}
}

// Training constants: pseudo-counts that pull sparse estimates towards the
// base model, and the evidence needed before the data overrides the base.
const (
	uPseudoPairs       = 1.0  // u: random pairs are plentiful
	mPseudoPairs       = 10.0 // m: a handful of expected matches per level
	minNonNullForU     = 1000 // random pairs with the field on both sides
	minMatchesForM     = 30   // expected matching pairs with the field on both sides
	emConvergenceDelta = 1e-7
)

// ErrTrain is wrapped by training errors.
var ErrTrain = errors.New("train match model")

// Train estimates a model from unlabelled records, following the
// Fellegi-Sunter practice of Splink:
//
//   - u, the chance agreement of non-matches, from random record pairs;
//   - m, the agreement of matches, by expectation-maximisation over the
//     pairs of each session's blocking rule, with u fixed and the rule's own
//     comparisons left out of that session (they agree by construction).
//     Separate sessions per rule keep EM from converging to the degenerate
//     "everything matches" solution that a union of blocks invites; each
//     comparison's m is the mean over the sessions that estimated it;
//   - the prior from a deterministic rule (exact given name, family name
//     and date of birth; or exact email or phone with an exact name),
//     divided by its assumed recall and the number of possible pairs.
//
// Levels the data cannot inform (email and phone when no record has them)
// keep the base model's values. Training is deterministic for a given seed.
func Train(records []Record, opts TrainOptions) (*Model, error) {
	opts.defaults()
	if len(records) < 2 {
		return nil, fmt.Errorf("%w: need at least 2 records, got %d", ErrTrain, len(records))
	}
	base := opts.Base.Clone()
	if err := base.Validate(); err != nil {
		return nil, fmt.Errorf("%w: base model: %w", ErrTrain, err)
	}
	var baseM, u [numComparisons][]float64
	for c := range comparisons {
		for _, l := range base.Comparisons[c].Levels {
			baseM[c] = append(baseM[c], l.M)
			u[c] = append(u[c], l.U)
		}
	}

	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	sample := estimateU(records, opts.RandomPairs, rng, &u)

	info := &TrainingInfo{
		Method:      "unsupervised: u from random pairs (less the expected matches among them), m by EM per blocking-rule session, prior from deterministic rule",
		Records:     len(records),
		RandomPairs: opts.RandomPairs,
		PriorRule:   "(given exact AND family exact AND dob exact) OR (email exact AND (given exact OR family exact)) OR (phone exact AND given exact AND family exact)",
		PriorRecall: opts.PriorRecall,
		Data:        slices.Clone(opts.Data),
	}

	var mSum [numComparisons][]float64
	var mSessions [numComparisons]int
	var dobSessionMatches float64
	for _, ruleName := range opts.Sessions {
		rule, ok := findRule(ruleName)
		if !ok {
			return nil, fmt.Errorf("%w: unknown session rule %q (have %v)", ErrTrain, ruleName, BlockingRules())
		}
		patterns, pairs := blockedPatterns(records, []blockingRule{rule}, opts.MaxBlockSize)
		s := emSession(patterns, rule.excludes, baseM, u, opts.MaxIterations)
		if rule.name == "dob" {
			dobSessionMatches = s.lambda * float64(pairs)
		}
		info.Sessions = append(info.Sessions, fmt.Sprintf("%s: %d pairs, lambda=%.4f, %d iterations", rule.name, pairs, s.lambda, s.iterations))
		for c := range comparisons {
			if !s.estimated[c] {
				continue
			}
			if mSum[c] == nil {
				mSum[c] = make([]float64, len(baseM[c]))
			}
			for l := range s.m[c] {
				mSum[c][l] += s.m[c][l]
			}
			mSessions[c]++
		}
	}

	model := base.Clone()
	model.Description = "trained without labels by match.Train"
	fixed := map[string]bool{}
	for _, f := range opts.FixedM {
		fixed[f] = true
	}
	info.FixedM = slices.Clone(opts.FixedM)
	for c := range comparisons {
		levels := model.Comparisons[c].Levels
		var fixedMass, freeMass float64
		for l := range levels {
			if fixed[comparisons[c].name+"/"+levels[l].Label] {
				fixedMass += levels[l].M
			} else if mSessions[c] > 0 {
				freeMass += mSum[c][l] / float64(mSessions[c])
			}
		}
		for l := range levels {
			lm := &levels[l]
			lm.U = clampProbability(u[c][l])
			if mSessions[c] > 0 && !fixed[comparisons[c].name+"/"+lm.Label] {
				lm.M = clampProbability(mSum[c][l] / float64(mSessions[c]) * (1 - fixedMass) / freeMass)
			}
		}
	}
	for _, f := range opts.FixedM {
		if !knownLevel(f) {
			return nil, fmt.Errorf("%w: unknown level %q in FixedM", ErrTrain, f)
		}
	}

	nm, _ := findRule("nm")
	em, _ := findRule("em")
	tel, _ := findRule("tel")
	matches := deterministicMatches(records, []blockingRule{nm, em, tel}, opts.MaxBlockSize)
	info.PriorMatches = matches
	n := float64(len(records))
	if matches > 0 {
		prior := float64(matches) / opts.PriorRecall / (n * (n - 1) / 2)
		model.PriorMatchProbability = min(max(prior, 1e-9), 0.5)
	}
	// Better than an assumed recall: the matches EM found among the pairs
	// sharing a date of birth, divided by the share of true pairs that
	// share it (both dates known, and equal: m of the exact level).
	var withDOB float64
	for i := range records {
		if records[i].DOB != "" {
			withDOB++
		}
	}
	if mExact := model.Comparisons[cmpDOB].Levels[levelExact].M; dobSessionMatches > 0 && withDOB > 1 {
		known := (withDOB / n) * (withDOB / n)
		prior := dobSessionMatches / mExact / known / (n * (n - 1) / 2)
		model.PriorMatchProbability = min(max(prior, 1e-9), 0.5)
		info.PriorRule = fmt.Sprintf("EM matches of the dob session (%.0f) / m(date_of_birth exact) / share of pairs with both dates known", dobSessionMatches)
	}
	removeMatchesFromU(model, sample)
	model.Training = info
	if err := model.Validate(); err != nil {
		return nil, fmt.Errorf("%w: result: %w", ErrTrain, err)
	}
	return model, nil
}

func knownLevel(ref string) bool {
	for c := range comparisons {
		for _, l := range comparisons[c].levels {
			if comparisons[c].name+"/"+l.label == ref {
				return true
			}
		}
	}
	return false
}

func findRule(name string) (blockingRule, bool) {
	for _, r := range blockingRules {
		if r.name == name {
			return r, true
		}
	}
	return blockingRule{}, false
}

func clampProbability(p float64) float64 { return min(max(p, 1e-9), 1) }

// estimateU replaces u with level frequencies among random pairs, smoothed
// towards the starting u, for comparisons with enough non-null pairs.
func estimateU(records []Record, pairs int, rng *rand.Rand, u *[numComparisons][]float64) map[Levels]float64 {
	sample := make(map[Levels]float64)
	var counts [numComparisons][]float64
	var nonNull [numComparisons]float64
	for c := range comparisons {
		counts[c] = make([]float64, len(u[c]))
	}
	n := len(records)
	for range pairs {
		i := rng.IntN(n)
		j := rng.IntN(n - 1)
		if j >= i {
			j++
		}
		lv := Compare(&records[i], &records[j])
		sample[lv]++
		for c, l := range lv {
			if l != NullLevel {
				counts[c][l]++
				nonNull[c]++
			}
		}
	}
	for c := range comparisons {
		if nonNull[c] < minNonNullForU {
			continue
		}
		for l := range u[c] {
			// A level never seen among the sample is rarer than one in
			// nonNull pairs, not impossible: half a pair bounds it below.
			u[c][l] = max((counts[c][l]+uPseudoPairs*u[c][l])/(nonNull[c]+uPseudoPairs), 0.5/nonNull[c])
		}
	}
	return sample
}

// removeMatchesFromU re-estimates u from the random sample with each pair
// weighted by the probability, under the trained model, that it is a
// non-match. A share lambda of random pairs are true matches; counted as
// chance agreement they make the strongest levels (a whole address, whose
// chance agreement is rarer than the matches in the sample) look common and
// cap their weight at what the sample size allows.
func removeMatchesFromU(model *Model, sample map[Levels]float64) {
	prior := math.Log(model.PriorMatchProbability / (1 - model.PriorMatchProbability))
	var counts [numComparisons][]float64
	var nonNull [numComparisons]float64
	for c := range model.Comparisons {
		counts[c] = make([]float64, len(model.Comparisons[c].Levels))
	}
	// Map order is random; sorted patterns keep the sums reproducible.
	patterns := make([]Levels, 0, len(sample))
	for lv := range sample {
		patterns = append(patterns, lv)
	}
	slices.SortFunc(patterns, func(a, b Levels) int {
		for c := range a {
			if a[c] != b[c] {
				return int(a[c]) - int(b[c])
			}
		}
		return 0
	})
	for _, lv := range patterns {
		n := sample[lv]
		logOdds := prior
		for c, l := range lv {
			if l != NullLevel {
				lm := model.Comparisons[c].Levels[l]
				logOdds += math.Log(lm.M / lm.U)
			}
		}
		w := n / (1 + math.Exp(logOdds)) // n times P(non-match)
		for c, l := range lv {
			if l != NullLevel {
				counts[c][l] += w
				nonNull[c] += w
			}
		}
	}
	for c := range model.Comparisons {
		if nonNull[c] < minNonNullForU {
			continue
		}
		levels := model.Comparisons[c].Levels
		for l := range levels {
			levels[l].U = clampProbability(max((counts[c][l]+uPseudoPairs*levels[l].U)/(nonNull[c]+uPseudoPairs), 0.5/nonNull[c]))
		}
	}
}

// blockedPatterns returns the distinct comparison patterns of the pairs that
// share a key of any of the rules (each pair once), with their counts.
func blockedPatterns(records []Record, rules []blockingRule, maxBlock int) (map[Levels]float64, int) {
	patterns := make(map[Levels]float64)
	pairs := 0
	forEachBlockedPair(records, rules, maxBlock, func(i, j int) {
		patterns[Compare(&records[i], &records[j])]++
		pairs++
	})
	return patterns, pairs
}

func forEachBlockedPair(records []Record, rules []blockingRule, maxBlock int, visit func(i, j int)) {
	blocks := make(map[string][]int)
	for i := range records {
		for _, rule := range rules {
			for _, v := range rule.values(&records[i]) {
				key := rule.name + ":" + v
				if b := blocks[key]; len(b) == 0 || b[len(b)-1] != i {
					blocks[key] = append(b, i)
				}
			}
		}
	}
	keys := make([]string, 0, len(blocks))
	for k := range blocks {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic visiting order
	seen := make(map[[2]int]bool)
	for _, k := range keys {
		b := blocks[k]
		if len(b) < 2 || len(b) > maxBlock {
			continue
		}
		for x := 0; x < len(b); x++ {
			for y := x + 1; y < len(b); y++ {
				pair := [2]int{b[x], b[y]}
				if seen[pair] {
					continue
				}
				seen[pair] = true
				visit(pair[0], pair[1])
			}
		}
	}
}

type sessionResult struct {
	m          [numComparisons][]float64
	estimated  [numComparisons]bool
	lambda     float64
	iterations int
}

// emSession runs expectation-maximisation over comparison patterns with u
// fixed, estimating m for the comparisons not excluded and the session's
// share of matches lambda.
func emSession(patterns map[Levels]float64, excludes []int, baseM, u [numComparisons][]float64, maxIter int) sessionResult {
	var s sessionResult
	active := make([]bool, numComparisons)
	for c := range comparisons {
		active[c] = !slices.Contains(excludes, c)
		s.m[c] = slices.Clone(baseM[c])
	}
	type entry struct {
		lv    Levels
		count float64
	}
	entries := make([]entry, 0, len(patterns))
	var total float64
	for lv, n := range patterns {
		entries = append(entries, entry{lv, n})
		total += n
	}
	// Map iteration order is random; sort for reproducible sums.
	slices.SortFunc(entries, func(a, b entry) int {
		for c := range a.lv {
			if a.lv[c] != b.lv[c] {
				return int(a.lv[c]) - int(b.lv[c])
			}
		}
		return 0
	})
	if total == 0 {
		return s
	}
	s.lambda = 0.5
	var expectedMatches [numComparisons]float64
	for s.iterations = 1; s.iterations <= maxIter; s.iterations++ {
		var mNum [numComparisons][]float64
		var mDen [numComparisons]float64
		for c := range comparisons {
			mNum[c] = make([]float64, len(s.m[c]))
		}
		var matchSum float64
		for _, e := range entries {
			// log-space products keep eleven small factors from underflowing.
			logM, logU := math.Log(s.lambda), math.Log(1-s.lambda)
			for c, l := range e.lv {
				if !active[c] || l == NullLevel {
					continue
				}
				logM += math.Log(s.m[c][l])
				logU += math.Log(u[c][l])
			}
			p := 1 / (1 + math.Exp(logU-logM))
			w := p * e.count
			matchSum += w
			for c, l := range e.lv {
				if !active[c] || l == NullLevel {
					continue
				}
				mNum[c][l] += w
				mDen[c] += w
			}
		}
		delta := math.Abs(matchSum/total - s.lambda)
		s.lambda = min(max(matchSum/total, 1e-9), 1-1e-9)
		for c := range comparisons {
			if !active[c] {
				continue
			}
			for l := range s.m[c] {
				next := (mNum[c][l] + mPseudoPairs*baseM[c][l]) / (mDen[c] + mPseudoPairs)
				delta = max(delta, math.Abs(next-s.m[c][l]))
				s.m[c][l] = next
			}
			expectedMatches[c] = mDen[c]
		}
		if delta < emConvergenceDelta {
			break
		}
	}
	for c := range comparisons {
		s.estimated[c] = active[c] && expectedMatches[c] >= minMatchesForM
	}
	return s
}

// deterministicMatches counts the pairs, among those sharing a key of the
// rules, that the deterministic prior rule calls matches.
func deterministicMatches(records []Record, rules []blockingRule, maxBlock int) int {
	count := 0
	forEachBlockedPair(records, rules, maxBlock, func(i, j int) {
		a, b := &records[i], &records[j]
		given := a.Given != "" && a.Given == b.Given
		family := a.Family != "" && a.Family == b.Family
		dob := a.DOB != "" && a.DOB == b.DOB
		email := a.EmailKey != "" && a.EmailKey == b.EmailKey
		phone := a.Phone != "" && a.Phone == b.Phone
		if given && family && dob || email && (given || family) || phone && given && family {
			count++
		}
	})
	return count
}
