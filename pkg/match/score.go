package match

import (
	"fmt"
	"math"
)

// Scorer computes Fellegi-Sunter match weights with a validated model. It is
// immutable and safe for concurrent use.
type Scorer struct {
	model       *Model
	priorWeight float64
	// weight[c][l] = log2(m/u) of level l of comparison c.
	weight [numComparisons][]float64
	u      [numComparisons][]float64
	m      [numComparisons][]float64
	// tfLevel[c] is the term-frequency adjusted level of c, or -1.
	tfLevel [numComparisons]int
	// groupFloor and groupCap bound the summed weight of c's group (0:
	// unbounded); groupHead[c] is the first comparison of c's group, under
	// which the group is accumulated.
	groupFloor [numComparisons]float64
	groupCap   [numComparisons]float64
	groupHead  [numComparisons]int
	tfK        float64
	tfMaxBoost float64
}

// NewScorer compiles a model for scoring.
func NewScorer(m *Model) (*Scorer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	s := &Scorer{model: m.Clone(), tfK: m.TFPseudoCount, tfMaxBoost: m.TFMaxBoost}
	if s.tfK == 0 {
		s.tfK = defaultTFPseudoCount
	}
	if s.tfMaxBoost == 0 {
		s.tfMaxBoost = defaultTFMaxBoost
	}
	p := m.PriorMatchProbability
	s.priorWeight = math.Log2(p / (1 - p))
	for i, cm := range m.Comparisons {
		s.tfLevel[i] = -1
		for j, l := range cm.Levels {
			s.weight[i] = append(s.weight[i], math.Log2(l.M/l.U))
			s.m[i] = append(s.m[i], l.M)
			s.u[i] = append(s.u[i], l.U)
			if l.TFAdjust {
				s.tfLevel[i] = j
			}
		}
		if g := comparisons[i].group; g != "" {
			s.groupFloor[i] = m.GroupFloors[g]
			s.groupCap[i] = m.GroupCaps[g]
		}
		s.groupHead[i] = i
		for j := 0; j < i; j++ {
			if comparisons[j].group != "" && comparisons[j].group == comparisons[i].group {
				s.groupHead[i] = j
				break
			}
		}
	}
	// Names entered the other way round cannot be better evidence than the
	// same names in the right fields. Random pairs almost never show the
	// swapped level, so its estimated u is tiny and unreliable; without
	// this bound a swap of two common names would outweigh everything else.
	bound := s.weight[cmpGiven][levelExact] + s.weight[cmpFamily][levelExact]
	s.weight[cmpGiven][levelGivenSwapped] = min(s.weight[cmpGiven][levelGivenSwapped], bound)
	return s, nil
}

// Model returns a copy of the scorer's model.
func (s *Scorer) Model() *Model { return s.model.Clone() }

// PriorWeight is log2(lambda / (1 - lambda)), the weight before any evidence.
func (s *Scorer) PriorWeight() float64 { return s.priorWeight }

// frequencies carries, for one incoming record, how many indexed records
// hold the same value as it for each term-frequency adjusted comparison.
type frequencies struct {
	count [numComparisons]int64 // -1: unknown
	total int64
}

func noFrequencies() *frequencies {
	f := &frequencies{}
	for i := range f.count {
		f.count[i] = -1
	}
	return f
}

// PairScore is the scored comparison of two records.
type PairScore struct {
	Levels Levels
	// FieldWeights holds each comparison's contribution in bits (0 for
	// null), term-frequency adjustment included.
	FieldWeights [numComparisons]float64
	// TFAdjusted marks comparisons whose weight used the value frequency.
	TFAdjusted [numComparisons]bool
	// GroupAdjustment is what the address group's floor added back (> 0)
	// or its cap took off (< 0), in bits.
	GroupAdjustment float64
	// Address is the graded level of the whole address (levelAddress*, or
	// NullLevel), which the decision rules read.
	Address int8
	// Weight is the total match weight: prior + fields + group adjustment.
	Weight float64
}

// Probability converts the match weight into a match probability.
func (p PairScore) Probability() float64 { return WeightToProbability(p.Weight) }

// WeightToProbability converts a match weight in bits to a probability.
func WeightToProbability(w float64) float64 { return 1 / (1 + math.Exp2(-w)) }

// ProbabilityToWeight converts a match probability to a weight in bits.
func ProbabilityToWeight(p float64) float64 { return math.Log2(p / (1 - p)) }

// Score compares two records and weighs the comparison without term
// frequencies.
func (s *Scorer) Score(a, b *Record) PairScore { return s.score(a, b, nil) }

func (s *Scorer) score(a, b *Record, freq *frequencies) PairScore {
	var ps PairScore
	ps.Levels = Compare(a, b)
	ps.Address = int8(compareAddress(a, b))
	ps.Weight = s.priorWeight
	// Per group (indexed by its first comparison): the summed weight and
	// whether any comparison of the group agreed.
	var groupSum [numComparisons]float64
	var groupAgrees, grouped [numComparisons]bool
	for i, lv := range ps.Levels {
		if lv == NullLevel {
			continue
		}
		w := s.weight[i][lv]
		if int(lv) == s.tfLevel[i] && freq != nil && freq.count[i] >= 0 {
			w = s.tfWeight(i, int(lv), freq.count[i], freq.total)
			ps.TFAdjusted[i] = true
		}
		ps.FieldWeights[i] = w
		ps.Weight += w
		if comparisons[i].group != "" {
			g := s.groupHead[i]
			grouped[g] = true
			groupSum[g] += w
			if w > 0 {
				groupAgrees[g] = true
			}
		}
	}
	for g := range groupSum {
		if !grouped[g] {
			continue
		}
		switch floor, limit := s.groupFloor[g], s.groupCap[g]; {
		case floor < 0 && !groupAgrees[g] && groupSum[g] < floor:
			// Only a wholesale disagreement (nothing in the group agrees:
			// a move) is floored; a partial one is evidence.
			ps.GroupAdjustment += floor - groupSum[g]
		case limit > 0 && groupSum[g] > min(limit, addressLevelCap(ps.Address)):
			ps.GroupAdjustment += min(limit, addressLevelCap(ps.Address)) - groupSum[g]
		}
	}
	ps.Weight += ps.GroupAdjustment
	return ps
}

// tfWeight is the weight of an exact match on a value held by count of total
// indexed records: the level's u is replaced by the smoothed frequency of the
// value, so agreeing on "smith" counts for less than agreeing on "portia".
func (s *Scorer) tfWeight(comparison, level int, count, total int64) float64 {
	u := s.u[comparison][level]
	freq := (float64(count) + s.tfK*u) / (float64(total) + s.tfK)
	freq = max(freq, u/math.Exp2(s.tfMaxBoost))
	freq = min(freq, 1)
	return math.Log2(s.m[comparison][level] / freq)
}

// LevelLabel returns the label of a level of a comparison ("null" for
// NullLevel).
func LevelLabel(comparison int, level int8) string {
	if level == NullLevel {
		return "null"
	}
	if comparison < 0 || comparison >= numComparisons || int(level) >= len(comparisons[comparison].levels) {
		return fmt.Sprintf("level%d", level)
	}
	return comparisons[comparison].levels[level].label
}
