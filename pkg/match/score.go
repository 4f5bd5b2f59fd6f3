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
	tfLevel    [numComparisons]int
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
	// Weight is the total match weight: prior + fields.
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
	ps.Weight = s.priorWeight
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
	}
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
