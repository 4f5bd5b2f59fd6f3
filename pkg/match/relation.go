package match

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/contactsync/contactsync/pkg/normalize"
)

// Relation says why a candidate, whatever its score, is not the same person
// as the incoming record. The empty relation means nothing rules it out.
type Relation string

// Relations that rule a candidate out.
const (
	RelationNone Relation = ""
	// RelationHousehold: the same family name and home (address, email or
	// landline) but another given name or another date of birth: a spouse,
	// parent, child or sibling. Never linked; the household is recorded.
	RelationHousehold Relation = "household"
	// RelationOtherOrganisation: two organisations with unlike names.
	RelationOtherOrganisation Relation = "other_organisation"
	// RelationPersonOrganisation: one record is a person, the other an
	// organisation.
	RelationPersonOrganisation Relation = "person_organisation"
	// RelationNamesDisagree: the names rule the pair out (see namesDisagree).
	RelationNamesDisagree Relation = "names_disagree"
	// RelationOtherIdentifier: both records carry a personal identity
	// number (contact.NationalID) and the numbers differ by more than a
	// typo: two people, whatever else agrees.
	RelationOtherIdentifier Relation = "other_identifier"
)

// relate returns what rules the pair a, b out as one person, given their
// comparison levels, or RelationNone. A personal identity number on both
// records comes first (after the organisation rules): equal (or a typo
// apart) it overrides the household and name rules, different it rules the
// pair out unless it was evidently mis-keyed (see identifierMiskeyed).
func relate(a, b *Record, ps PairScore, strictHouseholds bool) Relation {
	lv, addr := ps.Levels, ps.Address
	aOrg, bOrg := a.IsOrganisation(), b.IsOrganisation()
	switch {
	case aOrg && bOrg:
		if lv[cmpOrganisation] != NullLevel && !organisationNamesFit(lv) {
			return RelationOtherOrganisation
		}
		return RelationNone
	case aOrg && hasPersonName(b), bOrg && hasPersonName(a):
		return RelationPersonOrganisation
	}
	switch lv[cmpNationalID] {
	case levelIDElse:
		if !identifierMiskeyed(a, b, lv) {
			return RelationOtherIdentifier
		}
	case levelExact, levelIDNear:
		// One identity number (or one typo of it) is one person: a
		// married name or another given name in use is no household
		// member, and no name disagreement rules the pair out.
		return RelationNone
	}
	if householdMembers(a, b, lv, addr, strictHouseholds) {
		return RelationHousehold
	}
	if sharedHomeOnly(a, b, lv, addr) {
		return RelationHousehold
	}
	if namesDisagree(lv, addr) {
		return RelationNamesDisagree
	}
	return RelationNone
}

// identifierMiskeyed reports whether two records whose identity numbers
// differ are still one person's, the number of one of them entered wrongly
// (another person's, or digits lost): their names fit (see namesFit) and
// their dates of birth are known and agree (equal, a typo or day and month
// swapped). Two people with different numbers rarely share names and a
// birthday; without a birthday on both sides, two namesakes at one address
// (a father and son) are told apart by their numbers alone.
func identifierMiskeyed(a, b *Record, lv Levels) bool {
	return namesFit(a, b, lv) && lv[cmpDOB] != NullLevel && !datesOfBirthDiffer(a, b, lv)
}

// sharedHomeOnly reports whether two records share a home (the same address,
// or one email or landline) while their given names differ (see
// givenNamesDiffer) and their known dates of birth differ (see
// datesOfBirthDiffer): two members of one household whose family name was
// mistyped or entered in the wrong field, which householdMembers (it needs
// one family name) misses. The home is one piece of evidence however many
// ways it is shared: a household address and a household email together
// would otherwise outweigh another given name and another birth date.
func sharedHomeOnly(a, b *Record, lv Levels, addr int8) bool {
	if !sharesHome(lv, addr) {
		return false
	}
	return givenNamesDiffer(a, b, lv) && datesOfBirthDiffer(a, b, lv)
}

// sharesHome reports whether two records share a home: the same address
// (or one a typo or a missing part away), or one email or phone.
func sharesHome(lv Levels, addr int8) bool {
	switch addr {
	case levelAddressSame, levelAddressSameHouse, levelAddressSimilar, levelAddressPartial:
		return true
	}
	return lv[cmpEmail] == levelExact || lv[cmpPhone] == levelExact
}

func hasPersonName(r *Record) bool { return r.Given != "" || r.Family != "" }

func organisationNamesFit(lv Levels) bool {
	l := lv[cmpOrganisation]
	return l == NullLevel || l == levelExact || l == 1
}

// householdMembers reports whether a and b are two people of one household:
// they share a family name (or a typo of it) and a home (the same address,
// or one email or landline), and their given names differ (not a nickname,
// swap, typo or initial of each other) while their dates of birth do not
// agree (unknown or different): spouses, parents and children. No amount of
// shared address, email or phone makes them one person.
//
// Twins (other given name, same date of birth) and a parent and child of
// one name (same given name, other date of birth) are told apart only when
// they also carry different personal emails or phones, unless strict is
// set: then another given name or another known date of birth alone rules
// the pair out. Strict is not the default because whole-value errors (a
// given name or a date of birth replaced by another in data entry) look
// exactly like twins and namesakes; on FEBRL, whose generator makes them,
// strict households lose about 7% of the true links.
func householdMembers(a, b *Record, lv Levels, addr int8, strict bool) bool {
	family := lv[cmpFamily] == levelExact || lv[cmpFamily] == levelFamilyJW92 || lv[cmpGiven] == levelGivenSwapped
	otherMember := otherNameDiffers(a, b) || swappedHouseholdNames(a, b, lv, strict)
	if !family && !otherMember {
		return false
	}
	if !sharesHome(lv, addr) {
		return false
	}
	givenDiffers, dobDiffers := givenNamesDiffer(a, b, lv) || otherMember, datesOfBirthDiffer(a, b, lv)
	dobAgrees := lv[cmpDOB] != NullLevel && !dobDiffers
	switch {
	case strict:
		return givenDiffers || dobDiffers
	case givenDiffers && !dobAgrees:
		return true
	case givenDiffers || dobDiffers:
		return personalIdentifiersDiffer(lv)
	}
	return false
}

// personalIdentifiersDiffer reports whether both records carry an email or
// a phone and none of them is shared.
func personalIdentifiersDiffer(lv Levels) bool {
	email, phone := lv[cmpEmail], lv[cmpPhone]
	if email == levelExact || phone == levelExact {
		return false
	}
	return email != NullLevel || phone != NullLevel
}

// swappedHouseholdNames reports whether two records share the given name and
// differ in the family name because both were entered the other way round:
// two members of one household, "Rodriguez Melissa" and "Rodriguez
// Elizabeth". It takes other dates of birth, other personal emails or
// phones, or two "family" names that are known given names (or strict
// households); a changed or mistyped family name of one person keeps the
// date of birth and is rarely a given name.
func swappedHouseholdNames(a, b *Record, lv Levels, strict bool) bool {
	if a.Given == "" || a.Given != b.Given || a.Family == "" || b.Family == "" ||
		lv[cmpFamily] != int8(len(comparisons[cmpFamily].levels)-1) {
		return false
	}
	if normalize.IsNickname(a.Family, b.Family) {
		return false
	}
	return strict || datesOfBirthDiffer(a, b, lv) || personalIdentifiersDiffer(lv) ||
		normalize.IsKnownGivenName(a.Family) && normalize.IsKnownGivenName(b.Family)
}

// otherNameDiffers reports whether one record's names were entered the other
// way round and the two share the family name but not the given name. Two
// records that share the given name and differ in the family name are not
// taken for two members of one household: that is far more often one
// person whose family name was changed or mistyped than two households'
// records both entered the other way round.
func otherNameDiffers(a, b *Record) bool {
	if a.Given == "" || a.Family == "" || b.Given == "" || b.Family == "" {
		return false
	}
	alike := func(x, y string) bool { return x == y || jaroWinkler(x, y) >= 0.92 }
	differ := func(x, y string) bool {
		return !alike(x, y) && jaroWinkler(x, y) < 0.88 && !normalize.IsNickname(x, y) &&
			!isInitialOf(x, y) && !isInitialOf(y, x)
	}
	return alike(a.Given, b.Family) && differ(a.Family, b.Given) ||
		alike(a.Family, b.Given) && differ(a.Given, b.Family)
}

// givenNamesDiffer reports whether two known given names are different names,
// not variants of one: below the Jaro-Winkler typo levels, not nicknames,
// not an initial of the other, and not a typo of the other (see
// givenNameTypo).
func givenNamesDiffer(a, b *Record, lv Levels) bool {
	l := lv[cmpGiven]
	if l == NullLevel || l <= levelGivenJW88 {
		return false
	}
	return !isInitialOf(a.Given, b.Given) && !isInitialOf(b.Given, a.Given) && !givenNameTypo(a.Given, b.Given)
}

// givenNameTypo reports whether two given names are one edit apart (a
// letter replaced, added, dropped or two swapped) and at least one of them
// is not a known given name: "ben" and "bwn", "rachel" and "racxe". Short
// names one edit apart fall below the Jaro-Winkler typo levels, yet a
// household does not name a member with a misspelling of another's name;
// two known names one edit apart ("john" and "joan", "mark" and "mary")
// are two names.
func givenNameTypo(a, b string) bool {
	if a == "" || b == "" || a == b || osaDistance(a, b) != 1 {
		return false
	}
	return !normalize.IsKnownGivenName(a) || !normalize.IsKnownGivenName(b)
}

// isInitialOf reports whether short is the initial of name ("j" and "john").
func isInitialOf(short, name string) bool {
	return len(short) == 1 && len(name) > 0 && name[0] == short[0]
}

// datesOfBirthDiffer reports whether two known dates of birth are different
// dates, not one date with a typo or with day and month swapped: more than
// two edits apart, or two edits apart in different years (a parent and a
// child born on the same day of the year).
func datesOfBirthDiffer(a, b *Record, lv Levels) bool {
	switch lv[cmpDOB] {
	case NullLevel, levelExact, levelDOBDL1, levelDOBDayMonthSwap:
		return false
	case levelDOBDL2:
		return yearOf(a.DOB) != yearOf(b.DOB)
	}
	return true
}

func yearOf(dob string) int {
	if len(dob) < 4 {
		return -1
	}
	y, err := strconv.Atoi(dob[:4])
	if err != nil {
		return -1
	}
	return y
}

// namesFit reports whether the names of two records can be one person's:
// each known name pair equal, a nickname, a typo, an initial or swapped.
// An offline id carried by an online record links only when the names fit;
// otherwise the id was passed on (a forwarded appeal).
func namesFit(a, b *Record, lv Levels) bool {
	if a.IsOrganisation() || b.IsOrganisation() {
		return a.IsOrganisation() && b.IsOrganisation() && organisationNamesFit(lv)
	}
	given := lv[cmpGiven] == NullLevel || lv[cmpGiven] <= levelGivenJW88 ||
		isInitialOf(a.Given, b.Given) || isInitialOf(b.Given, a.Given)
	family := lv[cmpFamily] == NullLevel || lv[cmpFamily] <= levelFamilyJW88
	return given && family
}

// namesDisagree reports whether the names rule a pair out whatever the rest
// says: both names present and unlike with no shared birthday (a record
// whose names were both garbled in entry still shares its birthday; a
// household member rarely does), or one name unlike while their emails or
// phones differ, with nothing else that identifies a person (a birthday
// equal or a typo away, the same address). Address evidence alone does not
// tell a namesake down the road from a duplicate.
func namesDisagree(lv Levels, addr int8) bool {
	unlike := func(c int) bool { return int(lv[c]) == len(comparisons[c].levels)-1 }
	exact := func(c int) bool { return lv[c] == levelExact }
	if unlike(cmpGiven) && unlike(cmpFamily) {
		return !exact(cmpDOB)
	}
	// Where both records carry an email or phone and they differ, a name
	// that is unlike too needs something else that identifies the person.
	identifiersDiffer := (lv[cmpEmail] != NullLevel && !exact(cmpEmail)) ||
		(lv[cmpPhone] != NullLevel && !exact(cmpPhone))
	if (unlike(cmpGiven) || unlike(cmpFamily)) && identifiersDiffer && !exact(cmpEmail) && !exact(cmpPhone) {
		sameHome := addr == levelAddressSame || addr == levelAddressSameHouse
		birthday := lv[cmpDOB] != NullLevel && !unlike(cmpDOB) // equal or a typo away
		return !birthday && !sameHome
	}
	return false
}

// moved reports whether a linked pair lives at different addresses: the
// street (and maybe the town) changed, while names and date of birth, or a
// personal email or mobile, identify the person.
func moved(addr int8) bool {
	return addr >= levelAddressPostcodeTown
}

// HouseholdKey returns the household key of a person record: a hash of its
// family name and home address (house number, street, and postcode or
// town), "hh-" and 24 hex digits, or "" when any of these is missing or the
// record is an organisation. Members of one household recorded alike share
// it; it carries no personal data.
func HouseholdKey(r Record) string {
	if r.IsOrganisation() || r.Family == "" || r.HouseNumber == "" || r.Street == "" {
		return ""
	}
	area := r.Postcode
	if area == "" {
		area = r.Locality
	}
	if area == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("household\x00" + r.Family + "\x00" + r.HouseNumber + "\x00" + r.Street + "\x00" + area))
	return "hh-" + hex.EncodeToString(sum[:12])
}
