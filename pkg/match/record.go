// Package match is the pure matching core: it turns contact values into a
// comparison Record, derives blocking keys, compares two records field by
// field into graded levels, scores them with a Fellegi-Sunter model and
// decides link / review / new for one incoming record against the persons an
// Index returns as candidates.
//
// The package holds no state of its own. The identity index (which keys point
// to which persons, with their member records and value frequencies) sits
// behind the Index interface: MemIndex for tests and evaluation, a Redis
// implementation in production.
package match

import (
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/normalize"
)

// Record is the comparison view of a contact: every field in the form the
// comparators and blocking keys use. An empty field is unknown and is
// neutral evidence. Records are stored with the persons in the index, so the
// JSON names are short and stable.
type Record struct {
	Given        string `json:"gn,omitempty"` // normalize.Name form
	Family       string `json:"fn,omitempty"` // normalize.Name form
	EmailKey     string `json:"em,omitempty"` // normalize.EmailMatchKey form
	Phone        string `json:"ph,omitempty"` // E.164
	HouseNumber  string `json:"hn,omitempty"` // lower case, as written ("12a", "3/12")
	Street       string `json:"st,omitempty"` // normalize.Street form of line 1 without the number
	AddressLine2 string `json:"a2,omitempty"` // normalize.Street form
	Locality     string `json:"lo,omitempty"` // normalize.Name form
	Region       string `json:"rg,omitempty"` // normalize.Name form
	Postcode     string `json:"pc,omitempty"` // normalize.Postcode form without spaces
	DOB          string `json:"db,omitempty"` // YYYYMMDD, or the digits of an impossible date
	// Organisation is the normalize.OrganisationName form of the
	// organisation field. A record with an organisation and no personal
	// name is an organisation (see IsOrganisation).
	Organisation string `json:"or,omitempty"`
	// NationalID holds fingerprints of the normalize.NationalID form of a
	// personal identity number, never the number (see
	// identifierFingerprint).
	NationalID string `json:"ni,omitempty"`
}

// IsOrganisation reports whether the record stands for an organisation: it
// names one and no person. A person's record may carry an organisation
// (an employer) and is still a person.
func (r *Record) IsOrganisation() bool {
	return r.Organisation != "" && r.Given == "" && r.Family == ""
}

// FromValues builds the comparison Record of a contact. Values are expected
// to have been through normalize.Canonical, but raw values work too: every
// normaliser is idempotent. Placeholder values (see Placeholder) and values
// that do not normalise (a malformed email or phone) are left empty, so they
// neither link nor separate people.
func FromValues(v contact.Values) Record {
	return fromValues(v, phoneOrEmpty)
}

// phoneOrEmpty is the Record form of a phone number: E.164, or "" when it
// does not parse.
func phoneOrEmpty(raw, country string) string {
	p, err := normalize.Phone(raw, country)
	if err != nil {
		return ""
	}
	return p
}

func fromValues(v contact.Values, phone func(raw, country string) string) Record {
	country := normalize.Country(v[contact.Country])
	var r Record
	r.Given = normalize.Name(v[contact.GivenName])
	r.Family = normalize.Name(v[contact.FamilyName])
	if e, err := normalize.Email(v[contact.Email]); err == nil {
		r.EmailKey = normalize.EmailMatchKey(e)
	}
	if raw := v[contact.Phone]; raw != "" {
		r.Phone = phone(raw, country)
	}
	number, rest := normalize.SplitHouseNumber(v[contact.AddressLine1])
	r.HouseNumber = number
	r.Street = normalize.Street(rest)
	r.AddressLine2 = normalize.Street(v[contact.AddressLine2])
	r.Locality = normalize.Name(v[contact.Locality])
	r.Region = normalize.Name(v[contact.Region])
	r.Postcode = strings.ReplaceAll(normalize.Postcode(v[contact.Postcode], country), " ", "")
	r.DOB = normalize.DateDigits(normalize.DateForRegion(v[contact.DateOfBirth], country))
	r.Organisation = normalize.OrganisationName(v[contact.Organisation])
	r.NationalID = identifierFingerprint(normalize.NationalID(v[contact.NationalID]))

	for _, f := range []struct {
		field contact.Field
		value *string
	}{
		{contact.GivenName, &r.Given}, {contact.FamilyName, &r.Family},
		{contact.Email, &r.EmailKey}, {contact.Phone, &r.Phone},
		{contact.DateOfBirth, &r.DOB},
	} {
		if Placeholder(f.field, *f.value) {
			*f.value = ""
		}
	}
	return r
}

// placeholderNames are what forms and data entry put in a name field when
// the name is unknown. Matching on them would link strangers.
var placeholderNames = map[string]bool{
	"unknown": true, "unk": true, "none": true, "na": true, "n a": true, "null": true,
	"nil": true, "test": true, "testing": true, "anonymous": true, "anon": true,
	"no name": true, "noname": true, "not known": true, "not provided": true,
	"not applicable": true, "x": true, "xx": true, "xxx": true, "tbc": true, "tba": true,
	"donor": true, "anonymous donor": true, "friend": true, "guest": true,
	"customer": true, "supporter": true,
}

// placeholderDOBs are default or epoch dates that systems fill in when the
// date of birth is unknown (Unix and Excel epochs, "first of 1900" ...).
var placeholderDOBs = map[string]bool{
	"19000101": true, "19010101": true, "19700101": true, "18991231": true,
	"18991230": true, "18000101": true, "00010101": true, "99991231": true,
}

// placeholderEmailLocals and placeholderEmailDomains mark addresses typed to
// get past a mandatory email field.
var placeholderEmailLocals = map[string]bool{
	"noemail": true, "no-email": true, "no_email": true, "none": true, "noreply": true,
	"no-reply": true, "donotreply": true, "do-not-reply": true, "test": true,
	"unknown": true, "nobody": true, "null": true, "na": true, "noone": true,
	"nomail": true, "no": true, "x": true, "xxx": true,
}

var placeholderEmailDomains = map[string]bool{
	"example.com": true, "example.org": true, "example.net": true, "test.com": true,
	"noemail.com": true, "none.com": true, "nomail.com": true, "invalid.com": true,
}

// fakeNumberTails are digit runs that fill a mandatory phone field.
var fakeNumberTails = map[string]bool{
	"1234567": true, "2345678": true, "3456789": true, "4567890": true,
	"0123456": true, "9876543": true, "7654321": true,
}

// Placeholder reports whether a value, in its Record form, is a known
// stand-in for "unknown" (a 1900-01-01 birth date, noemail@..., +61000000000,
// "Unknown") that many unrelated people share. Such values must never link
// two people, so FromValues drops them. Values shared by many people without
// being on these lists are caught by the index's per-key cap instead.
func Placeholder(field contact.Field, value string) bool {
	if value == "" {
		return false
	}
	switch field {
	case contact.GivenName, contact.FamilyName:
		return placeholderNames[value]
	case contact.DateOfBirth:
		return placeholderDOBs[value]
	case contact.Email:
		at := strings.LastIndexByte(value, '@')
		if at < 0 {
			return true
		}
		domain := value[at+1:]
		for _, suffix := range []string{".invalid", ".test", ".example", ".localhost"} {
			if strings.HasSuffix(domain, suffix) {
				return true
			}
		}
		return placeholderEmailLocals[value[:at]] || placeholderEmailDomains[domain]
	case contact.Phone:
		digits := strings.TrimPrefix(value, "+")
		if len(digits) < 7 {
			return true
		}
		tail := digits[len(digits)-7:]
		if strings.Count(tail, tail[:1]) == len(tail) || fakeNumberTails[tail] {
			return true
		}
		// North American 555-0100..0199 numbers are reserved for fiction.
		return len(digits) == 11 && digits[0] == '1' && digits[4:8] == "5550" && digits[8] == '1'
	}
	return false
}
