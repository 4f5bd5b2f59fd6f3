package match

import (
	"math"

	"github.com/contactsync/contactsync/pkg/normalize"
)

// NullLevel is the level of a comparison when either record lacks the
// value. It contributes nothing to the match weight: a missing value is
// neutral evidence.
const NullLevel = -1

// Levels holds the level reached by each comparison for one pair of records,
// indexed like Comparisons(); NullLevel where a value is missing.
type Levels [numComparisons]int8

// levelDef is one graded outcome of a comparison, with the m and u
// probabilities used before any training (the base model).
type levelDef struct {
	label string
	m, u  float64
	// tf marks the exact-match level whose u is replaced by the value's
	// frequency in the index (term-frequency adjustment).
	tf bool
}

// comparison compares one attribute of two records into ordered levels: the
// first level whose condition holds wins, from the strongest agreement to
// "else".
type comparison struct {
	name string
	// group names comparisons that describe one fact (the address fields):
	// their weights add up to at most the model's group cap and down to at
	// least its group floor (see Model.GroupCaps, Model.GroupFloors).
	group  string
	levels []levelDef
	// level returns the index of the level the pair reaches, or NullLevel.
	level func(a, b *Record) int
	// tfValue is the value whose frequency adjusts the tf level.
	tfValue func(r *Record) string
}

// Comparison indexes, in model order.
const (
	cmpGiven = iota
	cmpFamily
	cmpDOB
	cmpEmail
	cmpPhone
	cmpHouseNumber
	cmpStreet
	cmpAddressLine2
	cmpLocality
	cmpRegion
	cmpPostcode
	cmpOrganisation
	cmpNationalID
	numComparisons
)

// Level indexes the code relies on: every comparison's exact level is its
// first; the others are named where the decision rules read them.
const (
	levelExact         = 0
	levelGivenNickname = 1
	levelGivenJW92     = 2
	levelGivenSwapped  = 3
	levelGivenJW88     = 4

	levelFamilyJW92 = 1
	levelFamilyJW88 = 2

	levelDOBDL1          = 1
	levelDOBDayMonthSwap = 2
	levelDOBDL2          = 3

	levelAddressSame         = 0
	levelAddressSameHouse    = 1
	levelAddressSimilar      = 2
	levelAddressPartial      = 3
	levelAddressNeighbour    = 4
	levelAddressPostcodeTown = 5
	levelAddressArea         = 6
	levelAddressElse         = 7
)

// comparisons is the fixed comparison design; a Model supplies m and u for
// each level by name and label. The base m and u are rough, deliberately
// conservative figures for contact data, used for levels the training data
// cannot inform (no email or phone in FEBRL, say).
//
// The address fields (house number, street, second line, locality, region,
// postcode) keep their own comparisons, so that the fine evidence of a
// partly agreeing address is not lost, but they form one group: together
// they weigh at most the model's address cap and at least its floor, since
// a household shares all of them and a person who moved changes all of them.
// The graded address level (AddressLevel) is what the decision rules read.
var comparisons = [numComparisons]comparison{
	cmpGiven: {
		name: "given_name",
		levels: []levelDef{
			{"exact", 0.80, 0.005, true},
			{"nickname", 0.02, 0.0005, false},
			{"jw92", 0.06, 0.002, false},
			{"swapped", 0.01, 0.00005, false},
			{"jw88", 0.03, 0.003, false},
			{"jw70", 0.04, 0.05, false},
			{"else", 0.04, 0.9395, false},
		},
		level:   compareGiven,
		tfValue: func(r *Record) string { return r.Given },
	},
	cmpFamily: {
		name: "family_name",
		levels: []levelDef{
			{"exact", 0.85, 0.002, true},
			{"jw92", 0.07, 0.001, false},
			{"jw88", 0.02, 0.002, false},
			{"jw70", 0.03, 0.03, false},
			{"else", 0.03, 0.965, false},
		},
		level:   compareFamily,
		tfValue: func(r *Record) string { return r.Family },
	},
	cmpDOB: {
		name: "date_of_birth",
		levels: []levelDef{
			{"exact", 0.85, 0.0001, false},
			{"dl1", 0.07, 0.002, false},
			{"day_month_swapped", 0.01, 0.00002, false},
			{"dl2", 0.03, 0.02, false},
			{"else", 0.04, 0.97788, false},
		},
		level: compareDOB,
	},
	cmpEmail: {
		name: "email",
		levels: []levelDef{
			{"exact", 0.90, 0.00001, true},
			{"same_user", 0.02, 0.0001, false},
			// Similar addresses ("john.smith12@", "john.smith45@") mostly
			// repeat the names they are made of: no evidence of their own.
			{"jw88", 0.001, 0.001, false},
			{"else", 0.079, 0.99889, false},
		},
		level:   compareEmail,
		tfValue: func(r *Record) string { return r.EmailKey },
	},
	cmpPhone: {
		name: "phone",
		levels: []levelDef{
			{"exact", 0.85, 0.00001, true},
			{"same_last8", 0.03, 0.00002, false},
			{"dl1", 0.03, 0.0001, false},
			{"else", 0.09, 0.99987, false},
		},
		level:   comparePhone,
		tfValue: func(r *Record) string { return r.Phone },
	},
	cmpHouseNumber: {
		name:  "house_number",
		group: "address",
		levels: []levelDef{
			{"exact", 0.85, 0.01, false},
			{"dl1", 0.05, 0.05, false},
			{"else", 0.10, 0.94, false},
		},
		level: func(a, b *Record) int { return editLevels(a.HouseNumber, b.HouseNumber, 1) },
	},
	cmpStreet: {
		name:  "street",
		group: "address",
		levels: []levelDef{
			{"exact", 0.80, 0.001, false},
			{"jw92", 0.07, 0.002, false},
			{"lines_swapped", 0.02, 0.0005, false},
			{"jw80", 0.04, 0.02, false},
			{"else", 0.07, 0.9765, false},
		},
		level: compareStreet,
	},
	cmpAddressLine2: {
		name:  "address_line2",
		group: "address",
		levels: []levelDef{
			{"exact", 0.75, 0.005, false},
			{"jw90", 0.10, 0.01, false},
			{"else", 0.15, 0.985, false},
		},
		level: func(a, b *Record) int {
			if a.Street != b.Street && linesSwapped(a, b) {
				// Counted once, by the street comparison's lines_swapped level.
				return NullLevel
			}
			return similarityLevels(a.AddressLine2, b.AddressLine2, 0.90)
		},
	},
	cmpLocality: {
		name:  "locality",
		group: "address",
		levels: []levelDef{
			{"exact", 0.85, 0.002, false},
			{"jw90", 0.07, 0.003, false},
			{"else", 0.08, 0.995, false},
		},
		level: func(a, b *Record) int { return similarityLevels(a.Locality, b.Locality, 0.90) },
	},
	cmpRegion: {
		name:  "region",
		group: "address",
		levels: []levelDef{
			{"exact", 0.95, 0.25, false},
			{"else", 0.05, 0.75, false},
		},
		level: func(a, b *Record) int { return similarityLevels(a.Region, b.Region) },
	},
	cmpPostcode: {
		name:  "postcode",
		group: "address",
		levels: []levelDef{
			{"exact", 0.85, 0.001, false},
			{"dl1", 0.08, 0.02, false},
			{"else", 0.07, 0.979, false},
		},
		level: func(a, b *Record) int { return editLevels(a.Postcode, b.Postcode, 1) },
	},
	cmpOrganisation: {
		name: "organisation",
		levels: []levelDef{
			{"exact", 0.90, 0.0005, true},
			{"similar", 0.07, 0.001, false},
			{"else", 0.03, 0.9985, false},
		},
		level:   compareOrganisation,
		tfValue: func(r *Record) string { return r.Organisation },
	},
	cmpNationalID: {
		// A personal identity number is one person's: equal numbers are
		// near proof, one edit apart a typo, different numbers two people
		// (see relate).
		name: "national_id",
		levels: []levelDef{
			{"exact", 0.90, 0.000001, false},
			{"dl1", 0.05, 0.00001, false},
			{"else", 0.05, 0.999989, false},
		},
		level: compareNationalID,
	},
}

// Comparisons returns the names of the comparisons in model order.
func Comparisons() []string {
	out := make([]string, numComparisons)
	for i := range comparisons {
		out[i] = comparisons[i].name
	}
	return out
}

// Compare returns the level each comparison reaches for records a and b.
func Compare(a, b *Record) Levels {
	var lv Levels
	for i := range comparisons {
		lv[i] = int8(comparisons[i].level(a, b))
	}
	return lv
}

func compareGiven(a, b *Record) int {
	if a.Given == "" || b.Given == "" {
		return NullLevel
	}
	if a.Given == b.Given {
		return 0
	}
	if normalize.IsNickname(a.Given, b.Given) {
		return 1
	}
	jw := jaroWinkler(a.Given, b.Given)
	switch {
	case jw >= 0.92:
		return 2
	case swappedNames(a, b):
		return 3
	case jw >= 0.88:
		return 4
	case jw >= 0.70:
		return 5
	}
	return 6
}

func compareFamily(a, b *Record) int {
	if a.Family == "" || b.Family == "" {
		return NullLevel
	}
	if a.Family == b.Family {
		return 0
	}
	jw := jaroWinkler(a.Family, b.Family)
	switch {
	case jw >= 0.92:
		return 1
	case swappedNames(a, b):
		// The given-name comparison's "swapped" level already counts this
		// agreement; counting it here too would weigh one event twice.
		return NullLevel
	case jw >= 0.88:
		return 2
	case jw >= 0.70:
		return 3
	}
	return 4
}

// swappedNames reports whether the given and family names were entered the
// other way round in one of the records.
func swappedNames(a, b *Record) bool {
	if a.Given == "" || a.Family == "" || b.Given == "" || b.Family == "" {
		return false
	}
	return jaroWinkler(a.Given, b.Family) >= 0.92 && jaroWinkler(a.Family, b.Given) >= 0.92
}

func compareEmail(a, b *Record) int {
	if a.EmailKey == "" || b.EmailKey == "" {
		return NullLevel
	}
	if a.EmailKey == b.EmailKey {
		return 0
	}
	if emailUser(a.EmailKey) == emailUser(b.EmailKey) {
		return 1
	}
	if jaroWinkler(a.EmailKey, b.EmailKey) >= 0.88 {
		return 2
	}
	return 3
}

func emailUser(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '@' {
			return key[:i]
		}
	}
	return key
}

func comparePhone(a, b *Record) int {
	if a.Phone == "" || b.Phone == "" {
		return NullLevel
	}
	if a.Phone == b.Phone {
		return 0
	}
	// The same subscriber number under a different country code is usually
	// a number read in the wrong default region.
	if len(a.Phone) >= 9 && len(b.Phone) >= 9 && a.Phone[len(a.Phone)-8:] == b.Phone[len(b.Phone)-8:] {
		return 1
	}
	if osaDistance(a.Phone, b.Phone) <= 1 {
		return 2
	}
	return 3
}

// agreement grades one part of an address.
type agreement int8

const (
	partMissing agreement = iota // missing on one side or both
	partSame
	partNear // a typo apart
	partDiffers
)

// addressLevelLabels names the graded address levels (levelAddress*).
var addressLevelLabels = []string{
	"same_address", "same_house_and_street", "similar_address", "partial_address",
	"same_street_other_number", "same_postcode_and_town", "same_postcode_or_town", "else",
}

// AddressLevelLabel returns the label of a graded address level, "" for
// NullLevel.
func AddressLevelLabel(level int8) string {
	if level < 0 || int(level) >= len(addressLevelLabels) {
		return ""
	}
	return addressLevelLabels[level]
}

// addressLevelCap is the most the address fields may add, in bits, when
// the whole address reaches the graded level: an address that does not
// place both records in one house (the same street or town, another house
// number) is shared by neighbours, and its fields, each rare in a random
// pair, together say little more than "nearby". Levels that place both
// records in one house are bounded by the model's group cap only.
func addressLevelCap(level int8) float64 {
	switch level {
	case levelAddressNeighbour, levelAddressPostcodeTown, levelAddressArea:
		return neighbourAddressCap
	}
	return math.Inf(1)
}

// neighbourAddressCap bounds the weight of an address shared with
// neighbours (see addressLevelCap).
const neighbourAddressCap = 8

// compareAddress grades the whole address as one fact (the decision rules
// read it; the score weighs the address fields, capped as a group): house
// number, street (with the second line when the lines are swapped) and the
// area (postcode or locality; either agreeing places both records in one
// area). The region is left out: it only repeats what postcode and town say.
func compareAddress(a, b *Record) int {
	number := houseNumberAgreement(a.HouseNumber, b.HouseNumber)
	street := streetAgreement(a, b)
	postcode := editAgreement(a.Postcode, b.Postcode)
	locality := partMissing
	if a.Locality != "" && b.Locality != "" {
		switch {
		case a.Locality == b.Locality:
			locality = partSame
		case jaroWinkler(a.Locality, b.Locality) >= 0.90:
			locality = partNear
		default:
			locality = partDiffers
		}
	}
	if number == partMissing && street == partMissing && postcode == partMissing && locality == partMissing {
		return NullLevel
	}
	area := partMissing
	switch {
	case postcode == partSame || locality == partSame:
		area = partSame
	case postcode == partNear || locality == partNear:
		area = partNear
	case postcode == partDiffers || locality == partDiffers:
		area = partDiffers
	}
	streetAgrees := street == partSame || street == partNear
	switch {
	case area == partDiffers:
		// Another postcode and another town: the same street name
		// elsewhere is another address.
		return levelAddressElse
	case number == partSame && street == partSame && (postcode == partSame || postcode == partMissing) &&
		(locality == partSame || locality == partMissing):
		return levelAddressSame
	case number == partSame && street == partSame && area != partNear:
		return levelAddressSameHouse
	case (number == partSame || number == partNear) && streetAgrees:
		return levelAddressSimilar
	case area != partMissing && buildingAgrees(a, b) && (streetAgrees || number == partSame):
		// The same house or building name on the second line, in the
		// same street (another number: a typo in it) or at the same
		// number (a typo in the street).
		return levelAddressSimilar
	case area != partMissing && (streetAgrees && number == partMissing ||
		(number == partSame || number == partNear) && street == partMissing):
		return levelAddressPartial
	case streetAgrees && area != partMissing:
		return levelAddressNeighbour
	case postcode == partSame && locality == partSame:
		return levelAddressPostcodeTown
	case area != partMissing:
		return levelAddressArea
	case street == partMissing && number != partDiffers:
		// Only a house number (or nothing) to compare: no evidence.
		return NullLevel
	}
	return levelAddressElse
}

// houseNumberAgreement grades two house numbers. Short numbers one digit
// apart ("3" and "7", "12" and "13", "2" and "12") are the house next door
// far more often than a typo; swapped digits, or one digit off in a longer
// number, are typos.
func houseNumberAgreement(a, b string) agreement {
	ag := editAgreement(a, b)
	if ag == partNear && !transposed(a, b) && min(len(a), len(b)) < 3 {
		return partDiffers
	}
	return ag
}

// transposed reports whether a and b differ only by two adjacent
// characters swapped.
func transposed(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i+1 < len(a); i++ {
		if a[i] != b[i] {
			return a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
		}
	}
	return false
}

// buildingAgrees reports whether both records carry a second address line
// (a house or building name) and it is the same or a typo apart, while the
// lines are not swapped (then it is the street, compared as such).
func buildingAgrees(a, b *Record) bool {
	if a.AddressLine2 == "" || b.AddressLine2 == "" || linesSwapped(a, b) {
		return false
	}
	return a.AddressLine2 == b.AddressLine2 || jaroWinkler(a.AddressLine2, b.AddressLine2) >= 0.90
}

func editAgreement(a, b string) agreement {
	switch {
	case a == "" || b == "":
		return partMissing
	case a == b:
		return partSame
	case osaDistance(a, b) <= 1:
		return partNear
	}
	return partDiffers
}

func streetAgreement(a, b *Record) agreement {
	if a.Street == "" || b.Street == "" {
		// A street moved wholly into line 2 on one side still counts.
		if linesSwapped(a, b) {
			return partNear
		}
		if a.Street == "" && b.Street == "" && a.AddressLine2 != "" && a.AddressLine2 == b.AddressLine2 {
			return partSame // only the second line (a building, an estate) on both
		}
		return partMissing
	}
	switch {
	case a.Street == b.Street:
		return partSame
	case jaroWinkler(a.Street, b.Street) >= 0.92, linesSwapped(a, b):
		return partNear
	}
	return partDiffers
}

// compareDOB grades two dates of birth (YYYYMMDD): equal, one edit apart,
// day and month swapped (a date read in the other convention), two edits,
// else.
func compareDOB(a, b *Record) int {
	if a.DOB == "" || b.DOB == "" {
		return NullLevel
	}
	if a.DOB == b.DOB {
		return levelExact
	}
	d := osaDistance(a.DOB, b.DOB)
	switch {
	case d == 1:
		return levelDOBDL1
	case dayMonthSwapped(a.DOB, b.DOB):
		return levelDOBDayMonthSwap
	case d == 2:
		return levelDOBDL2
	}
	return levelDOBDL2 + 1
}

func dayMonthSwapped(a, b string) bool {
	return len(a) == 8 && len(b) == 8 && a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6]
}

// compareOrganisation compares the organisation names of two organisation
// records (see Record.IsOrganisation); for persons the organisation field
// (an employer, say) is not evidence of identity and weighs nothing.
func compareOrganisation(a, b *Record) int {
	if !a.IsOrganisation() || !b.IsOrganisation() {
		return NullLevel
	}
	if a.Organisation == b.Organisation {
		return levelExact
	}
	if jaroWinkler(a.Organisation, b.Organisation) >= 0.92 {
		return 1
	}
	return 2
}

// linesSwapped reports whether one record's street line is the other's
// second address line: forms and systems disagree on which line holds the
// street and which the building or estate name.
func linesSwapped(a, b *Record) bool {
	return a.Street != "" && b.AddressLine2 != "" && jaroWinkler(a.Street, b.AddressLine2) >= 0.92 ||
		b.Street != "" && a.AddressLine2 != "" && jaroWinkler(b.Street, a.AddressLine2) >= 0.92
}

func compareStreet(a, b *Record) int {
	if a.Street == "" || b.Street == "" {
		// A street moved wholly into line 2 on one side still counts.
		if linesSwapped(a, b) {
			return 2
		}
		return NullLevel
	}
	if a.Street == b.Street {
		return 0
	}
	jw := jaroWinkler(a.Street, b.Street)
	switch {
	case jw >= 0.92:
		return 1
	case linesSwapped(a, b):
		return 2
	case jw >= 0.80:
		return 3
	}
	return 4
}

// editLevels grades two values by optimal-string-alignment distance: exact,
// then one level per distance up to maxDist, then else.
func editLevels(a, b string, maxDist int) int {
	if a == "" || b == "" {
		return NullLevel
	}
	if a == b {
		return 0
	}
	d := osaDistance(a, b)
	if d <= maxDist {
		return d
	}
	return maxDist + 1
}

// similarityLevels grades two values: exact, then one level per Jaro-Winkler
// threshold (descending), then else.
func similarityLevels(a, b string, thresholds ...float64) int {
	if a == "" || b == "" {
		return NullLevel
	}
	if a == b {
		return 0
	}
	if len(thresholds) > 0 {
		jw := jaroWinkler(a, b)
		for i, t := range thresholds {
			if jw >= t {
				return i + 1
			}
		}
	}
	return len(thresholds) + 1
}

// maxCompareRunes bounds the work of one fuzzy comparison. Jaro-Winkler and
// OSA are quadratic in the length of their inputs (a 120,000-character name
// took seconds), so they look at the first maxCompareRunes runes of each
// value only. Ingest caps field lengths as well; this bound holds whatever
// reaches the matcher. No real name, street, email, phone, postcode or date
// comes near it, so no real decision changes; two longer values that agree
// on their first maxCompareRunes runes and differ later reach the strongest
// fuzzy level, never "exact" (equality is checked on the whole values).
const maxCompareRunes = 256

// clipForCompare returns the first maxCompareRunes runes of s, cut on a
// rune boundary. It reads no further than that, however long s is.
func clipForCompare(s string) string {
	n := 0
	for i := range s {
		if n == maxCompareRunes {
			return s[:i]
		}
		n++
	}
	return s
}

// jaroWinkler is the Jaro-Winkler similarity (prefix scale 0.1, up to four
// prefix characters) of adrg/strutil, which matches the reference values,
// of the values' first maxCompareRunes runes.
func jaroWinkler(a, b string) float64 {
	return jaroWinklerClipped(clipForCompare(a), clipForCompare(b))
}

// osaDistance is the optimal string alignment distance (restricted
// Damerau-Levenshtein, as hbollon/go-edlib defines it) of the values' first
// maxCompareRunes runes: insertions, deletions, substitutions and
// transpositions of adjacent runes, no substring edited twice. It counts a
// swapped pair of digits in a date ("19560409" / "19560490") as one edit.
func osaDistance(a, b string) int {
	return osaClipped(clipForCompare(a), clipForCompare(b))
}
