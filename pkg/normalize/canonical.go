package normalize

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Errors wrapped by FieldError.Err, one per kind of rejected value.
var (
	ErrDate    = errors.New("invalid date")
	ErrBool    = errors.New("invalid boolean")
	ErrDecimal = errors.New("invalid decimal")
)

// FieldError says that the value supplied for one field could not be
// canonicalised and was left out of Canonical's result. Ingest decides
// whether that drops the field or kicks the whole change out. It never holds
// the offending value, so it can be logged without leaking personal data.
type FieldError struct {
	Field contact.Field
	// Reason is a stable code for counting and routing: "email", "phone",
	// "date", "bool" or "decimal".
	Reason string
	Err    error
}

func (e FieldError) Error() string {
	return fmt.Sprintf("field %s: %v", e.Field, e.Err)
}

func (e FieldError) Unwrap() error { return e.Err }

// countryNames maps country names commonly typed into forms to their ISO
// 3166-1 alpha-2 code.
var countryNames = map[string]string{
	"australia": "AU", "new zealand": "NZ", "aotearoa": "NZ",
	"united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB",
	"scotland": "GB", "wales": "GB", "northern ireland": "GB",
	"united states": "US", "united states of america": "US", "usa": "US", "us": "US",
	"canada": "CA", "ireland": "IE", "germany": "DE", "deutschland": "DE",
	"france": "FR", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
	"spain": "ES", "italy": "IT", "switzerland": "CH", "austria": "AT",
	"belgium": "BE", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
	"south africa": "ZA", "india": "IN", "singapore": "SG", "japan": "JP", "china": "CN",
}

var decimalPattern = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Canonical returns the canonical form of the supplied values, as the
// ingest stage stores and forwards them:
//
//   - every value is trimmed, Unicode NFC-normalised and its inner runs of
//     white space collapsed; a value that is then empty counts as not
//     supplied and is left out (a blank form field never wipes good data);
//   - country becomes an upper-case ISO 3166-1 alpha-2 code where recognised;
//   - email is Email's form; phone is E.164, read in the contact's own
//     country when it has one, else in defaultRegion;
//   - dates become YYYY-MM-DD, consent flags "true"/"false", giving_total a
//     plain decimal; postcode gets its country's canonical spacing.
//
// Names and address lines keep their case: they are shown to people and
// written to target systems. A value that cannot be canonicalised is left out
// of the result and reported as a FieldError, in field order.
func Canonical(values contact.Values, defaultRegion string) (contact.Values, []FieldError) {
	return canonical(values, defaultRegion, Phone)
}

func canonical(values contact.Values, defaultRegion string, phone func(raw, region string) (string, error)) (contact.Values, []FieldError) {
	out := make(contact.Values, len(values))
	var errs []FieldError
	for field, raw := range values {
		if v := cleanText(raw); v != "" {
			out[field] = v
		}
	}
	if c, ok := out[contact.Country]; ok {
		out[contact.Country] = Country(c)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if c := out[contact.Country]; len(c) == 2 {
		region = c
	}

	for _, info := range contact.Fields {
		v, ok := out[info.Name]
		if !ok {
			continue
		}
		canon, reason, err := canonicalValue(info, v, region, phone)
		if err != nil {
			delete(out, info.Name)
			errs = append(errs, FieldError{Field: info.Name, Reason: reason, Err: err})
			continue
		}
		out[info.Name] = canon
	}
	return out, errs
}

func canonicalValue(info contact.FieldInfo, v, region string, phone func(raw, region string) (string, error)) (canon, reason string, err error) {
	switch info.Name {
	case contact.Email:
		e, err := Email(v)
		return e, "email", err
	case contact.Phone:
		p, err := phone(v, region)
		return p, "phone", err
	case contact.Postcode:
		return Postcode(v, region), "", nil
	}
	switch info.Kind {
	case contact.Date:
		d := DateForRegion(v, region)
		if len(d) != len("2006-01-02") || d[4] != '-' {
			return "", "date", ErrDate
		}
		return d, "", nil
	case contact.Bool:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1", "on":
			return "true", "", nil
		case "false", "f", "no", "n", "0", "off":
			return "false", "", nil
		}
		return "", "bool", ErrBool
	case contact.Decimal:
		d := strings.NewReplacer(",", "", "$", "", "€", "", "£", "", " ", "").Replace(v)
		if !decimalPattern.MatchString(d) {
			return "", "decimal", ErrDecimal
		}
		return d, "", nil
	}
	return v, "", nil
}

// Country returns the ISO 3166-1 alpha-2 code for a country code or a
// commonly used country name, upper-cased; an unrecognised value is returned
// trimmed and upper-cased.
func Country(raw string) string {
	s := cleanText(raw)
	if code, ok := countryNames[strings.ToLower(s)]; ok {
		return code
	}
	return strings.ToUpper(s)
}

// cleanText trims a value, puts it in NFC (so the same accented text typed on
// two systems compares byte-equal) and collapses inner white space.
func cleanText(raw string) string {
	return strings.Join(strings.Fields(norm.NFC.String(raw)), " ")
}
