package match

// Allocation-free string similarities for the comparators.
//
// adrg/strutil's Jaro-Winkler and hbollon/go-edlib's OSA distance allocate
// rune slices (and, for Jaro, the matched runes and the common prefix as a
// new string) on every call; in a bulk run that garbage was most of the
// time spent collecting it. Neither library offers a non-allocating call,
// so these are written here, working on fixed-size arrays on the stack
// (values are clipped to maxCompareRunes runes first) and on the bytes
// directly when both values are ASCII. They reproduce the libraries'
// definitions exactly, quirks included (Jaro's match window is half the
// longer length, not half minus one; its two directions are matched
// independently), so every float is identical and no decision changes:
// similarity_test.go checks them against the libraries on a corpus, on
// generated and FEBRL records, and by fuzzing.

// runeSet marks positions 0..maxCompareRunes-1.
type runeSet [(maxCompareRunes + 63) / 64]uint64

func (s *runeSet) has(i int) bool { return s[i>>6]&(1<<(uint(i)&63)) != 0 }
func (s *runeSet) set(i int)      { s[i>>6] |= 1 << (uint(i) & 63) }

// asciiInto copies s into buf when s is ASCII and at most len(buf) bytes.
func asciiInto(buf []byte, s string) (int, bool) {
	if len(s) > len(buf) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return 0, false
		}
		buf[i] = c
	}
	return len(s), true
}

// runesInto decodes s (already clipped to maxCompareRunes runes) into buf
// as []rune(s) would: an invalid byte becomes U+FFFD.
func runesInto(buf *[maxCompareRunes]rune, s string) int {
	n := 0
	for _, r := range s {
		buf[n] = r
		n++
	}
	return n
}

// jaroWinklerClipped is strutil's case-sensitive Jaro-Winkler of two values
// already clipped to maxCompareRunes runes.
func jaroWinklerClipped(a, b string) float64 {
	if a == b {
		// Equal values: Jaro is (1+1+1)/3 = 1 exactly, so is the boost.
		return 1
	}
	var ab, bb [maxCompareRunes]byte
	na, okA := asciiInto(ab[:], a)
	nb, okB := asciiInto(bb[:], b)
	if okA && okB {
		return jaroWinklerSeq(ab[:na], bb[:nb])
	}
	return jaroWinklerRunes(a, b)
}

// jaroWinklerRunes is the non-ASCII path, apart so that the ASCII path's
// frame stays small.
//
//go:noinline
func jaroWinklerRunes(a, b string) float64 {
	var ar, br [maxCompareRunes]rune
	na := runesInto(&ar, a)
	nb := runesInto(&br, b)
	return jaroWinklerSeq(ar[:na], br[:nb])
}

func jaroWinklerSeq[T byte | rune](a, b []T) float64 {
	prefix := 0
	for prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	prefix = min(prefix, 4)
	sim := jaroSeq(a, b)
	return sim + (0.1 * float64(prefix) * (1.0 - sim))
}

func jaroSeq[T byte | rune](a, b []T) float64 {
	lenA, lenB := len(a), len(b)
	if lenA == 0 && lenB == 0 {
		return 1
	}
	if lenA == 0 || lenB == 0 {
		return 0
	}
	half := max(lenA, lenB) / 2
	// Each direction is matched greedily on its own, as the library does:
	// a's runes against b (fromA: which of a's matched), then b's against a.
	var takenB, fromA, takenA, fromB runeSet
	fm := 0
	for i := range lenA {
		for j, end := max(0, i-half), min(i+half+1, lenB); j < end; j++ {
			if a[i] == b[j] && !takenB.has(j) {
				takenB.set(j)
				fromA.set(i)
				fm++
				break
			}
		}
	}
	sm := 0
	for j := range lenB {
		for i, end := max(0, j-half), min(j+half+1, lenA); i < end; i++ {
			if b[j] == a[i] && !takenA.has(i) {
				takenA.set(i)
				fromB.set(j)
				sm++
				break
			}
		}
	}
	if fm == 0 || sm == 0 {
		return 0.0
	}
	// Transpositions: the k-th matched rune of a against the k-th of b, for
	// the shorter of the two sequences.
	t := 0
	i, j := 0, 0
	for range min(fm, sm) {
		for !fromA.has(i) {
			i++
		}
		for !fromB.has(j) {
			j++
		}
		if a[i] != b[j] {
			t++
		}
		i++
		j++
	}
	return (float64(fm)/float64(lenA) +
		float64(sm)/float64(lenB) +
		float64(fm-t/2)/float64(fm)) / 3.0
}

// osaClipped is go-edlib's OSA (restricted Damerau-Levenshtein) distance of
// two values already clipped to maxCompareRunes runes.
func osaClipped(a, b string) int {
	if a == b {
		return 0
	}
	var ab, bb [maxCompareRunes]byte
	na, okA := asciiInto(ab[:], a)
	nb, okB := asciiInto(bb[:], b)
	if okA && okB {
		return osaSeq(ab[:na], bb[:nb])
	}
	return osaRunes(a, b)
}

//go:noinline
func osaRunes(a, b string) int {
	var ar, br [maxCompareRunes]rune
	na := runesInto(&ar, a)
	nb := runesInto(&br, b)
	return osaSeq(ar[:na], br[:nb])
}

func osaSeq[T byte | rune](a, b []T) int {
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	// Three rolling rows of the edit matrix (a transposition looks two rows
	// back); distances never exceed maxCompareRunes, so int16 holds them.
	var rows [3][maxCompareRunes + 1]int16
	for j := 0; j <= len(b); j++ {
		rows[0][j] = int16(j)
	}
	for i := 1; i <= len(a); i++ {
		cur, prev := &rows[i%3], &rows[(i-1)%3]
		cur[0] = int16(i)
		for j := 1; j <= len(b); j++ {
			cost := int16(1)
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[(i-2)%3][j-2]+1)
			}
			cur[j] = d
		}
	}
	return int(rows[len(a)%3][len(b)])
}
