package match

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// syntheticRecords makes n persons from small value pools, each with one
// duplicate carrying a typo in one field.
func syntheticRecords(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	given := []string{"robert", "olivia", "mitchell", "harley", "madeline", "isabelle", "jack", "chloe", "liam", "zoe", "noah", "ava"}
	family := []string{"green", "mccarthy", "mason", "noack", "heidrich", "reid", "whishaw", "smith", "jones", "brown", "white", "taylor", "lee", "martin"}
	streets := []string{"wallaby pl", "degraves cres", "endeavour st", "arndell st", "ashcroft cres", "hoseason st"}
	typo := func(s string) string {
		if len(s) < 3 {
			return s + "x"
		}
		i := 1 + rng.IntN(len(s)-2)
		return s[:i] + s[i+1:i+2] + s[i:i+1] + s[i+2:]
	}
	var out []Record
	for i := range n {
		r := Record{
			Given:       given[rng.IntN(len(given))],
			Family:      family[rng.IntN(len(family))],
			DOB:         fmt.Sprintf("19%02d%02d%02d", 20+rng.IntN(80), 1+rng.IntN(12), 1+rng.IntN(28)),
			HouseNumber: fmt.Sprint(1 + rng.IntN(200)),
			Street:      streets[rng.IntN(len(streets))],
			Locality:    fmt.Sprintf("town%d", rng.IntN(50)),
			Region:      []string{"nsw", "vic", "qld"}[rng.IntN(3)],
			Postcode:    fmt.Sprint(2000 + rng.IntN(300)),
		}
		d := r
		switch i % 4 {
		case 0:
			d.Given = typo(d.Given)
		case 1:
			d.DOB = typo(d.DOB)
		case 2:
			d.Street = typo(d.Street)
		case 3:
			d.Postcode = typo(d.Postcode)
		}
		out = append(out, r, d)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestTrain(t *testing.T) {
	records := syntheticRecords(1500, 3)
	opts := TrainOptions{RandomPairs: 50_000, Seed: 5, Data: []string{"synthetic"}}
	m1, err := Train(records, opts)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Train(records, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m1, m2) {
		t.Error("training is not deterministic for a fixed seed")
	}
	for c, cm := range m1.Comparisons {
		exact := cm.Levels[0]
		if c == cmpEmail || c == cmpPhone {
			base := BaseModel().Comparisons[c].Levels[0]
			if exact != base {
				t.Errorf("%s has no data but changed: %+v -> %+v", cm.Name, base, exact)
			}
			continue
		}
		if exact.M <= exact.U {
			t.Errorf("%s: exact m %.4f not above u %.4f", cm.Name, exact.M, exact.U)
		}
	}
	// 1500 true pairs among 3000 records: lambda = 1500 / (3000*2999/2).
	truth := 1500.0 / (3000 * 2999 / 2)
	if p := m1.PriorMatchProbability; p < truth/3 || p > truth*3 {
		t.Errorf("prior %.3g far from the truth %.3g", p, truth)
	}
	if m1.Training == nil || len(m1.Training.Sessions) != 3 {
		t.Errorf("training info: %+v", m1.Training)
	}
	if _, err := NewScorer(m1); err != nil {
		t.Errorf("trained model does not compile: %v", err)
	}
	if _, err := Train(records[:1], opts); err == nil {
		t.Error("training on one record succeeded")
	}
	if _, err := Train(records, TrainOptions{Sessions: []string{"nope"}}); err == nil {
		t.Error("unknown session rule accepted")
	}
}
