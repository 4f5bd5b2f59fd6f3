package match

import (
	"strings"
	"testing"
)

// Jaro-Winkler and OSA are quadratic; a hostile value must not make one
// comparison take seconds. Two long values that differ only after the
// compared prefix compare as equal: the proof that the comparators look at
// a bounded prefix (a timing assertion would be flaky on a shared machine).
func TestComparatorsCompareABoundedPrefix(t *testing.T) {
	long := strings.Repeat("ab", 2500)
	a, b := long+"xyz", long+"zyx"
	if jw := jaroWinkler(a, b); jw != 1 {
		t.Errorf("jaroWinkler of two 5,003-character values equal in their first 5,000 = %.6f, want 1 (compared in full)", jw)
	}
	if d := osaDistance(a, b); d != 0 {
		t.Errorf("osaDistance of two 5,003-character values equal in their first 5,000 = %d, want 0 (compared in full)", d)
	}
	// Multi-byte runes are cut on a rune boundary, never inside one.
	wide := strings.Repeat("é", 3000)
	if got := clipForCompare(wide); len([]rune(got)) != maxCompareRunes || !strings.HasPrefix(wide, got) {
		t.Errorf("clipForCompare kept %d runes (%d bytes), want %d whole runes", len([]rune(got)), len(got), maxCompareRunes)
	}
	if short := "Müller"; clipForCompare(short) != short {
		t.Errorf("clipForCompare changed a short value")
	}
}

// A megabyte-long name still yields levels (the comparison finishes) and
// equal values are still exact.
func TestCompareHugeValues(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	a := Record{Given: huge + "a", Family: huge, Street: huge, DOB: huge, Phone: huge}
	b := Record{Given: huge + "b", Family: huge, Street: huge + "c", DOB: huge + "d", Phone: huge + "e"}
	lv := Compare(&a, &b)
	if lv[cmpFamily] != levelExact {
		t.Errorf("equal huge family names: level %d, want exact", lv[cmpFamily])
	}
	if lv[cmpGiven] == levelExact {
		t.Errorf("different huge given names compared as exact")
	}
}

func BenchmarkCompareHugeValues(b *testing.B) {
	huge := strings.Repeat("x", 1<<20)
	r1 := Record{Given: huge + "a", Family: huge + "b", Street: huge + "c", Locality: huge + "d", Postcode: huge + "e", Phone: huge + "f"}
	r2 := Record{Given: huge + "g", Family: huge + "h", Street: huge + "i", Locality: huge + "j", Postcode: huge + "k", Phone: huge + "l"}
	for b.Loop() {
		Compare(&r1, &r2)
	}
}
