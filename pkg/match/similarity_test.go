package match

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/adrg/strutil/metrics"
	edlib "github.com/hbollon/go-edlib"
)

// libraryJaroWinkler and libraryOSA are what the comparators called before
// the allocation-free versions: the reference they must equal bit for bit.
func libraryJaroWinkler(a, b string) float64 {
	jw := metrics.JaroWinkler{CaseSensitive: true}
	return jw.Compare(clipForCompare(a), clipForCompare(b))
}

func libraryOSA(a, b string) int {
	return edlib.OSADamerauLevenshteinDistance(clipForCompare(a), clipForCompare(b))
}

func checkAgainstLibrary(t *testing.T, a, b string) {
	t.Helper()
	if got, want := jaroWinkler(a, b), libraryJaroWinkler(a, b); math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("jaroWinkler(%q, %q) = %v, library %v", a, b, got, want)
	}
	if got, want := osaDistance(a, b), libraryOSA(a, b); got != want {
		t.Fatalf("osaDistance(%q, %q) = %d, library %d", a, b, got, want)
	}
}

var similarityCorpus = [][2]string{
	{"", ""}, {"a", ""}, {"", "a"}, {"a", "a"}, {"a", "b"}, {"ab", "ba"},
	{"martha", "marhta"}, {"dwayne", "duane"}, {"dixon", "dicksonx"}, {"jones", "johnson"},
	{"crate", "trace"}, {"abcvwxyz", "cabvwxyz"}, {"robert", "rupert"}, {"smith", "smyth"},
	{"19560409", "19560490"}, {"19560409", "19560904"}, {"2119", "2191"}, {"+61412345678", "+61412345687"},
	{"wallaby place", "wallaby pl"}, {"müller", "mueller"}, {"müller", "muller"}, {"josé", "jose"},
	{"zoë", "zoe"}, {"\xff\xfe", "\xfe\xff"}, {"a\xffb", "a\uFFFDb"}, {"日本語", "日本"},
	{"aaaa", "aaab"}, {"abab", "baba"}, {"ca", "abc"}, {"aabbcc", "abcabc"},
	{strings.Repeat("ab", 200), strings.Repeat("ba", 200)},
	{strings.Repeat("é", 300), strings.Repeat("é", 299) + "e"},
	{strings.Repeat("x", 255) + "é", strings.Repeat("x", 256) + "é"},
}

func TestSimilarityMatchesLibraryOnCorpus(t *testing.T) {
	for _, p := range similarityCorpus {
		checkAgainstLibrary(t, p[0], p[1])
		checkAgainstLibrary(t, p[1], p[0])
	}
}

// Random values over small alphabets (many common runes, transpositions and
// window edges), with multi-byte and invalid bytes and lengths around the
// clip, compared with the libraries.
func TestSimilarityMatchesLibraryOnRandomValues(t *testing.T) {
	alphabets := []string{"ab", "abc", "abcdefgh", "aeiou rst", "0123456789", "aé日\xff"}
	rng := rand.New(rand.NewPCG(16, 15))
	value := func(alphabet []rune, n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	pairs := 20000
	if testing.Short() {
		pairs = 2000
	}
	for i := range pairs {
		alphabet := []rune(alphabets[i%len(alphabets)])
		if alphabets[i%len(alphabets)] == "aé日\xff" {
			alphabet[len(alphabet)-1] = 0xFFFD // the invalid byte, as decoded
		}
		maxLen := 14
		if i%50 == 0 {
			maxLen = 300
		}
		a := value(alphabet, rng.IntN(maxLen+1))
		b := a
		if i%3 != 0 {
			b = value(alphabet, rng.IntN(maxLen+1))
		} else if len(a) > 1 {
			// A near copy: one rune changed or two swapped.
			r := []rune(a)
			k := rng.IntN(len(r) - 1)
			if i%2 == 0 {
				r[k], r[k+1] = r[k+1], r[k]
			} else {
				r[k] = alphabet[rng.IntN(len(alphabet))]
			}
			b = string(r)
		}
		if i%7 == 0 {
			a += "\xff" // an invalid byte the decoders turn into U+FFFD
		}
		checkAgainstLibrary(t, a, b)
	}
}

func FuzzSimilarityMatchesLibrary(f *testing.F) {
	for _, p := range similarityCorpus {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		checkAgainstLibrary(t, a, b)
	})
}

func TestSimilarityAllocatesNothing(t *testing.T) {
	pairs := [][2]string{{"catherine", "katharine"}, {"müller", "mueller"}, {"19560409", "19560490"}}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range pairs {
			jaroWinkler(p[0], p[1])
			osaDistance(p[0], p[1])
		}
	})
	if allocs != 0 {
		t.Errorf("similarities allocate %.1f times per run, want 0", allocs)
	}
}

// The same-run ratio of the similarities to the libraries.
func BenchmarkSimilarity(b *testing.B) {
	pairs := [][2]string{
		{"catherine", "katharine"}, {"wallaby place", "wallaby pl"}, {"smith", "smyth"},
		{"19560409", "19560490"}, {"+61412345678", "+61412345687"}, {"müller", "mueller"},
	}
	b.Run("jaro-winkler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				jaroWinkler(p[0], p[1])
			}
		}
	})
	b.Run("jaro-winkler-library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				libraryJaroWinkler(p[0], p[1])
			}
		}
	})
	b.Run("osa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				osaDistance(p[0], p[1])
			}
		}
	})
	b.Run("osa-library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				libraryOSA(p[0], p[1])
			}
		}
	})
}
