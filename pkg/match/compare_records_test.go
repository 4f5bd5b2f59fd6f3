package match_test

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/adrg/strutil/metrics"
	edlib "github.com/hbollon/go-edlib"

	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/matcheval"
)

// entityRecord is a comparison record with its true entity; records sorted
// by entity have the same person, household members and strangers as neighbours.
type entityRecord struct {
	entity string
	rec    match.Record
}

func householdRecords(households int) []match.Record {
	var recs []entityRecord
	for _, l := range matcheval.GenerateHouseholds(16, households) {
		recs = append(recs, entityRecord{l.Entity, match.FromValues(l.Values)})
	}
	return sortedByEntity(recs)
}

func sortedByEntity(recs []entityRecord) []match.Record {
	slices.SortStableFunc(recs, func(a, b entityRecord) int {
		switch {
		case a.entity < b.entity:
			return -1
		case a.entity > b.entity:
			return 1
		}
		return 0
	})
	out := make([]match.Record, len(recs))
	for i := range recs {
		out[i] = recs[i].rec
	}
	return out
}

// febrlRecords reads FEBRL dataset3 from shared/data/febrl in a parent
// directory, or skips.
func febrlRecords(t *testing.T) []match.Record {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "shared", "data", "febrl", "dataset3.csv")
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			r := csv.NewReader(f)
			r.TrimLeadingSpace = true
			rows, err := r.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var recs []entityRecord
			for _, row := range rows[1:] {
				// rec-N-org and rec-N-dup-k sort next to each other.
				recs = append(recs, entityRecord{row[0], match.FromValues(matcheval.FEBRLValues(row))})
			}
			return sortedByEntity(recs)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("FEBRL data not found: no shared/data/febrl in any parent directory (required when CI=true)")
	}
	t.Skip("FEBRL data not found: no shared/data/febrl in any parent directory; skipping")
	return nil
}

// comparedPairs are the value pairs the comparators hand to the string
// similarities: each field with itself, and the swapped-name and
// swapped-line checks across fields.
func comparedPairs(a, b *match.Record) [][2]string {
	return [][2]string{
		{a.Given, b.Given}, {a.Family, b.Family}, {a.EmailKey, b.EmailKey}, {a.Phone, b.Phone},
		{a.HouseNumber, b.HouseNumber}, {a.Street, b.Street}, {a.AddressLine2, b.AddressLine2},
		{a.Locality, b.Locality}, {a.Region, b.Region}, {a.Postcode, b.Postcode}, {a.DOB, b.DOB},
		{a.Organisation, b.Organisation},
		{a.Given, b.Family}, {a.Family, b.Given}, {a.Street, b.AddressLine2}, {a.AddressLine2, b.Street},
	}
}

// The comparators' levels (and so the weights and every decision) are a
// function of the string similarities' values; equal values bit for bit on
// every pair of real and generated records means equal levels and weights.
// Each record is compared with its next neighbours in entity order: the
// same person, household members and strangers.
func checkRecordsAgainstLibrary(t *testing.T, recs []match.Record, neighbours int) {
	jw := metrics.JaroWinkler{CaseSensitive: true}
	checked := 0
	for i := range recs {
		for j := i + 1; j < len(recs) && j <= i+neighbours; j++ {
			for _, p := range comparedPairs(&recs[i], &recs[j]) {
				if p[0] == "" || p[1] == "" {
					continue // never compared: the comparators stop at an empty value
				}
				got, want := match.JaroWinkler(p[0], p[1]), jw.Compare(p[0], p[1])
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("JaroWinkler(%q, %q) = %v, library %v", p[0], p[1], got, want)
				}
				if got, want := match.OSADistance(p[0], p[1]), edlib.OSADamerauLevenshteinDistance(p[0], p[1]); got != want {
					t.Fatalf("OSADistance(%q, %q) = %d, library %d", p[0], p[1], got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d value pairs of %d records identical to the libraries", checked, len(recs))
}

func TestSimilarityMatchesLibraryOnHouseholdRecords(t *testing.T) {
	checkRecordsAgainstLibrary(t, householdRecords(1000), 6)
}

func TestSimilarityMatchesLibraryOnFEBRLRecords(t *testing.T) {
	checkRecordsAgainstLibrary(t, febrlRecords(t), 6)
}

// BenchmarkCompareHouseholds compares each generated record with its next
// neighbours in entity order (the same person, household members,
// strangers), as candidate pairs from one block are. ns/op is per pair.
func BenchmarkCompareHouseholds(b *testing.B) {
	recs := householdRecords(500)
	var pairs [][2]*match.Record
	for i := range recs {
		for j := i + 1; j < len(recs) && j <= i+4; j++ {
			pairs = append(pairs, [2]*match.Record{&recs[i], &recs[j]})
		}
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		p := pairs[k]
		match.Compare(p[0], p[1])
		k++
		if k == len(pairs) {
			k = 0
		}
	}
}
