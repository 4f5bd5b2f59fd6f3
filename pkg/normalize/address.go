package normalize

import (
	"strings"
	"unicode"
)

// addressWords folds street types, directions and unit designators to one
// abbreviation each (after USPS Publication 28 and Australia Post usage), so
// "12 Smith Street" and "12 smith st." compare equal.
var addressWords = map[string]string{
	// street types
	"street": "st", "str": "st", "stre": "st",
	"road":   "rd",
	"avenue": "ave", "av": "ave", "avenu": "ave", "avn": "ave",
	"boulevard": "blvd", "boulv": "blvd", "bvd": "blvd",
	"drive": "dr", "drv": "dr",
	"court": "ct", "crt": "ct",
	"place":    "pl",
	"lane":     "ln",
	"crescent": "cres", "cresent": "cres", "crs": "cres",
	"terrace": "tce", "terr": "tce", "ter": "tce",
	"parade":     "pde",
	"highway":    "hwy",
	"circuit":    "cct",
	"circle":     "cir",
	"close":      "cl",
	"square":     "sq",
	"grove":      "gr",
	"parkway":    "pkwy",
	"esplanade":  "esp",
	"freeway":    "fwy",
	"expressway": "expy",
	"trail":      "trl",
	"alley":      "aly",
	"walk":       "wlk",
	"mews":       "mews",
	// directions
	"north": "n", "south": "s", "east": "e", "west": "w",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
	// unit designators
	"apartment": "apt", "unit": "unit", "flat": "flat", "suite": "ste",
	"level": "lvl", "floor": "fl",
}

// gluedStreetTypes are long street types that data entry sometimes glues to
// the street name ("pridhamstreet"). Only types of five letters or more are
// split off, so that short endings inside ordinary names ("Broadway",
// "Broad") are left alone.
var gluedStreetTypes = []string{
	"street", "avenue", "place", "crescent", "terrace", "parade", "circuit", "drive",
	"court", "close", "boulevard", "highway",
}

var unitDesignators = map[string]bool{
	"unit": true, "apt": true, "apartment": true, "flat": true, "suite": true,
	"ste": true, "#": true, "no": true, "lot": true, "shop": true,
}

// FoldAddressWord returns the abbreviation of a street type, direction or
// unit designator, or the word itself. The word must already be in Name form.
func FoldAddressWord(word string) string {
	if short, ok := addressWords[word]; ok {
		return short
	}
	return word
}

// AddressTokens returns the comparison tokens of an address line: Name form
// (lower case, no accents or punctuation), split on spaces, with street
// types, directions and unit designators folded (street -> st) and a long
// street type glued to the preceding name split off.
func AddressTokens(line string) []string {
	words := strings.Fields(Name(line))
	out := make([]string, 0, len(words)+1)
	for _, w := range words {
		if _, known := addressWords[w]; !known {
			if stem, typ, ok := splitGluedStreetType(w); ok {
				out = append(out, stem, addressWords[typ])
				continue
			}
		}
		out = append(out, FoldAddressWord(w))
	}
	return out
}

func splitGluedStreetType(word string) (stem, typ string, ok bool) {
	for _, t := range gluedStreetTypes {
		if len(word) >= len(t)+3 && strings.HasSuffix(word, t) {
			return word[:len(word)-len(t)], t, true
		}
	}
	return "", "", false
}

// Street returns the comparison form of a street line: AddressTokens joined
// by single spaces.
func Street(line string) string { return strings.Join(AddressTokens(line), " ") }

// SplitHouseNumber splits an address line into its house number and the
// rest. The number is the leading token that starts with a digit ("12",
// "12a", "12-14", "3/12"), after an optional unit designator and unit number
// ("Unit 3, 12 Smith St" gives "12"); failing that, a short trailing token
// that starts with a digit, as in "Hauptstraße 12". Post-office boxes have no
// house number. The number is returned lower-cased without trailing
// punctuation; rest is the line without the number token, spaces collapsed.
func SplitHouseNumber(line string) (number, rest string) {
	tokens := strings.FieldsFunc(line, func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
	if len(tokens) == 0 {
		return "", ""
	}
	if isPOBox(tokens) {
		return "", strings.Join(tokens, " ")
	}
	pick := -1
	switch {
	case startsWithDigit(tokens[0]):
		pick = 0
	case len(tokens) >= 3 && unitDesignators[strings.ToLower(strings.TrimSuffix(tokens[0], "."))] &&
		startsWithDigit(tokens[1]) && startsWithDigit(tokens[2]):
		pick = 2
	case len(tokens) >= 2 && startsWithDigit(tokens[len(tokens)-1]) && len(tokens[len(tokens)-1]) <= 6:
		pick = len(tokens) - 1
	}
	if pick < 0 {
		return "", strings.Join(tokens, " ")
	}
	number = strings.ToLower(strings.TrimRight(tokens[pick], ".;:"))
	rest = strings.Join(append(tokens[:pick:pick], tokens[pick+1:]...), " ")
	return number, rest
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

func isPOBox(tokens []string) bool {
	first := strings.ToLower(strings.ReplaceAll(tokens[0], ".", ""))
	switch first {
	case "po", "gpo", "pobox", "box", "postfach", "bp":
		return true
	}
	return false
}

// Postcode returns the canonical form of a postal code for country (ISO
// 3166-1 alpha-2, any case): upper case with the spacing the country's post
// uses (GB "SW1A 1AA", CA "K1A 0B1", NL "1234 AB", US "12345" or
// "12345-6789"); purely numeric codes keep their digits only. A value that
// does not fit its country's pattern is kept upper-cased with spaces
// collapsed rather than discarded, so a typo still compares by edit distance.
func Postcode(raw, country string) string {
	generic := strings.Join(strings.Fields(strings.ToUpper(raw)), " ")
	compact := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1
		}
		return r
	}, generic)
	digitsOnly := compact != "" && strings.IndexFunc(compact, func(r rune) bool { return r < '0' || r > '9' }) < 0

	switch strings.ToUpper(strings.TrimSpace(country)) {
	case "AU", "NZ", "DK", "NO", "AT", "BE", "CH", "HU", "ZA", "PH", "LU", "SI", "BG":
		if digitsOnly && len(compact) == 4 {
			return compact
		}
	case "DE", "FR", "IT", "ES", "FI", "MX", "HR", "EE", "MY", "TH", "TR", "UA":
		if digitsOnly && len(compact) == 5 {
			return compact
		}
	case "US":
		if digitsOnly && len(compact) == 5 {
			return compact
		}
		if digitsOnly && len(compact) == 9 {
			return compact[:5] + "-" + compact[5:]
		}
	case "GB", "UK":
		if len(compact) >= 5 && len(compact) <= 7 && isAlnumASCII(compact) {
			return compact[:len(compact)-3] + " " + compact[len(compact)-3:]
		}
	case "CA":
		if len(compact) == 6 && isAlnumASCII(compact) {
			return compact[:3] + " " + compact[3:]
		}
	case "NL":
		if len(compact) == 6 && isAlnumASCII(compact) && startsWithDigit(compact) {
			return compact[:4] + " " + compact[4:]
		}
	case "IE":
		if len(compact) == 7 && isAlnumASCII(compact) {
			return compact[:3] + " " + compact[3:]
		}
	}
	return generic
}

func isAlnumASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
