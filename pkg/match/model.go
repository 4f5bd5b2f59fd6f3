package match

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// ModelVersion is the version of the model file format this package reads.
//
// Version 2 adds a day/month swap level to the date of birth, the
// organisation comparison and a cap on the address group's weight
// (GroupCaps) to version 1's per-field address comparisons and floors.
const ModelVersion = 2

// ErrModel is wrapped by every model validation error.
var ErrModel = errors.New("invalid match model")

// Model holds the Fellegi-Sunter parameters: the prior probability that two
// random records are the same person, and for every level of every
// comparison the probability m of reaching it when the records match and u
// when they do not. The comparison design itself (which comparisons, which
// levels, in which order) is fixed in code; a model file must name exactly
// those levels. The null level is implicit: it always weighs zero.
//
// The JSON form follows Splink's settings export closely enough to be read
// side by side with it.
type Model struct {
	Version     int    `json:"version"`
	Description string `json:"description,omitempty"`
	// PriorMatchProbability is lambda, the probability that two records
	// drawn at random are the same person.
	PriorMatchProbability float64           `json:"probability_two_random_records_match"`
	Comparisons           []ComparisonModel `json:"comparisons"`
	// GroupFloors bounds, per comparison group, how much the disagreements
	// of the group may subtract from the weight, in bits (a negative
	// number), when no comparison of the group agrees. For "address": a
	// person who moved disagrees on house number, street, locality and
	// postcode at once, which is one event, not five independent pieces of
	// evidence against the match. A partial disagreement (same postcode,
	// other street) is not floored.
	GroupFloors map[string]float64 `json:"group_floors,omitempty"`
	// GroupCaps bounds, per comparison group, the weight the group adds
	// in bits (a positive number). For "address": a household shares
	// house number, street, town and postcode, so their agreement is one
	// piece of evidence and may not outweigh the names and the date of
	// birth however many fields agree.
	GroupCaps map[string]float64 `json:"group_caps,omitempty"`
	// TFPseudoCount smooths observed term frequencies towards the
	// level's average u: a value seen count times among total indexed
	// records gets u = (count + k*u) / (total + k). It keeps a young index
	// (few records) from over- or under-weighting a name.
	TFPseudoCount float64 `json:"tf_pseudo_count,omitempty"`
	// TFMaxBoost bounds the term-frequency adjustment upwards, in bits: a
	// rare value may add at most this much to the level's average weight.
	TFMaxBoost float64 `json:"tf_max_boost_bits,omitempty"`
	// Training records how the parameters were estimated.
	Training *TrainingInfo `json:"training,omitempty"`
}

// ComparisonModel holds the parameters of one comparison's levels, strongest
// agreement first.
type ComparisonModel struct {
	Name   string       `json:"output_column_name"`
	Levels []LevelModel `json:"comparison_levels"`
}

// LevelModel holds m and u for one comparison level.
type LevelModel struct {
	Label string  `json:"label_for_charts"`
	M     float64 `json:"m_probability"`
	U     float64 `json:"u_probability"`
	// TFAdjust marks the exact level whose u is replaced at scoring time
	// by the frequency of the value in the index.
	TFAdjust bool `json:"tf_adjustment,omitempty"`
}

// TrainingInfo documents a trained model.
type TrainingInfo struct {
	Method       string   `json:"method"`
	Records      int      `json:"records"`
	RandomPairs  int      `json:"random_pairs"`
	Sessions     []string `json:"em_sessions"`
	PriorRule    string   `json:"prior_rule"`
	PriorRecall  float64  `json:"prior_assumed_recall"`
	PriorMatches int      `json:"prior_rule_matches"`
	FixedM       []string `json:"fixed_m,omitempty"`
	Data         []string `json:"data,omitempty"`
}

// Defaults for the smoothing knobs when a model does not set them.
const (
	defaultTFPseudoCount = 1000
	defaultTFMaxBoost    = 4
	// defaultAddressCap is the most a wholly agreeing address adds, in
	// bits: about what a given name, or a date of birth, adds. With the
	// prior an address alone never links.
	defaultAddressCap = 18
	// addressFloor is the least a wholly different address adds, in bits:
	// one record in ten shows its person at another address (a move), so
	// about log2(0.1 / 0.98).
	addressFloor = -4
)

// BaseModel returns the untrained model: the comparison design with rough,
// conservative m and u figures and a prior of 1e-4. It is the starting point
// of training and the fallback for levels the training data cannot inform.
func BaseModel() *Model {
	m := &Model{
		Version:               ModelVersion,
		Description:           "base model: hand-set starting values, not trained",
		PriorMatchProbability: 1e-4,
		TFPseudoCount:         defaultTFPseudoCount,
		TFMaxBoost:            defaultTFMaxBoost,
		GroupFloors:           map[string]float64{"address": addressFloor},
		GroupCaps:             map[string]float64{"address": defaultAddressCap},
	}
	for i := range comparisons {
		c := &comparisons[i]
		cm := ComparisonModel{Name: c.name}
		for _, l := range c.levels {
			cm.Levels = append(cm.Levels, LevelModel{Label: l.label, M: l.m, U: l.u, TFAdjust: l.tf})
		}
		m.Comparisons = append(m.Comparisons, cm)
	}
	return m
}

//go:embed model/default.json
var defaultModelJSON []byte

// DefaultModel returns a copy of the embedded default model (see
// model/README.md for how it was produced), so the product matches out of
// the box. Each call returns an independent copy.
func DefaultModel() (*Model, error) {
	m, err := ReadModel(bytes.NewReader(defaultModelJSON))
	if err != nil {
		return nil, fmt.Errorf("embedded default model: %w", err)
	}
	return m, nil
}

// Validate checks that the model names exactly the comparisons and levels of
// the code's design, in order, with probabilities in (0, 1].
func (m *Model) Validate() error {
	if m.Version != ModelVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrModel, m.Version, ModelVersion)
	}
	if !(m.PriorMatchProbability > 0 && m.PriorMatchProbability < 1) {
		return fmt.Errorf("%w: prior match probability %v not in (0, 1)", ErrModel, m.PriorMatchProbability)
	}
	if len(m.Comparisons) != numComparisons {
		return fmt.Errorf("%w: %d comparisons, want %d (%v)", ErrModel, len(m.Comparisons), numComparisons, Comparisons())
	}
	for i, cm := range m.Comparisons {
		c := &comparisons[i]
		if cm.Name != c.name {
			return fmt.Errorf("%w: comparison %d is %q, want %q", ErrModel, i, cm.Name, c.name)
		}
		if len(cm.Levels) != len(c.levels) {
			return fmt.Errorf("%w: %s has %d levels, want %d", ErrModel, c.name, len(cm.Levels), len(c.levels))
		}
		for j, l := range cm.Levels {
			if l.Label != c.levels[j].label {
				return fmt.Errorf("%w: %s level %d is %q, want %q", ErrModel, c.name, j, l.Label, c.levels[j].label)
			}
			if !(l.M > 0 && l.M <= 1) || !(l.U > 0 && l.U <= 1) {
				return fmt.Errorf("%w: %s/%s: m=%v u=%v must be in (0, 1]", ErrModel, c.name, l.Label, l.M, l.U)
			}
			if l.TFAdjust && !c.levels[j].tf {
				return fmt.Errorf("%w: %s/%s cannot be term-frequency adjusted", ErrModel, c.name, l.Label)
			}
		}
	}
	for g, floor := range m.GroupFloors {
		if !(floor < 0) || math.IsInf(floor, 0) {
			return fmt.Errorf("%w: group floor %s=%v must be a finite negative number of bits", ErrModel, g, floor)
		}
	}
	for g, limit := range m.GroupCaps {
		if !(limit > 0) || math.IsInf(limit, 0) {
			return fmt.Errorf("%w: group cap %s=%v must be a finite positive number of bits", ErrModel, g, limit)
		}
	}
	if m.TFPseudoCount < 0 || m.TFMaxBoost < 0 {
		return fmt.Errorf("%w: negative term-frequency settings", ErrModel)
	}
	return nil
}

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.Comparisons = make([]ComparisonModel, len(m.Comparisons))
	for i, cm := range m.Comparisons {
		c.Comparisons[i] = ComparisonModel{Name: cm.Name, Levels: slices.Clone(cm.Levels)}
	}
	c.GroupFloors = maps.Clone(m.GroupFloors)
	c.GroupCaps = maps.Clone(m.GroupCaps)
	if m.Training != nil {
		t := *m.Training
		t.Sessions = slices.Clone(t.Sessions)
		t.FixedM = slices.Clone(t.FixedM)
		t.Data = slices.Clone(t.Data)
		c.Training = &t
	}
	return &c
}

// Write writes the model as indented JSON after validating it.
func (m *Model) Write(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

// ReadModel decodes and validates a model. Unknown JSON fields are errors,
// so a misspelt setting is not silently ignored.
func ReadModel(r io.Reader) (*Model, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrModel, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Save writes the model to a file, atomically (temporary file and rename).
func (m *Model) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*.json")
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := m.Write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// Load reads and validates a model file.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer f.Close()
	m, err := ReadModel(f)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}
