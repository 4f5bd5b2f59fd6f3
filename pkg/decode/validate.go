package decode

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/contact"
)

var (
	// decimalRE is a plain decimal: no exponent, no grouping, no "+", no
	// bare point, so that every system reads it the same way.
	decimalRE  = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Length limits of ids, in bytes. Ids become Kafka keys, Redis keys and
// log fields; the event id is longer as it is often built from several
// parts (a Debezium event id holds the system, the position, the table and
// the record id).
const (
	MaxSystemLength   = 64
	MaxRecordIDLength = 256
	MaxEventIDLength  = 512
)

// MaxGiftTextLength bounds a gift's campaign, fund and payment method, in
// characters.
const MaxGiftTextLength = 200

// FieldLimits is the maximum length of each canonical field's value, in
// characters (Unicode code points). No real contact comes near them; they
// keep a hostile value from costing the matcher's quadratic comparators
// seconds and from filling every target system. README lists them.
var FieldLimits = map[contact.Field]int{
	contact.GivenName: 100, contact.FamilyName: 100, contact.Organisation: 200,
	contact.Email:        254, // RFC 5321's limit of a forward path
	contact.Phone:        40,
	contact.AddressLine1: 200, contact.AddressLine2: 200, contact.Locality: 100, contact.Region: 100,
	contact.Postcode: 20, contact.Country: 64,
	contact.DateOfBirth: 10, contact.LastGiftDate: 10, // YYYY-MM-DD
	contact.DoNotEmail: 5, contact.DoNotMail: 5, contact.DoNotPhone: 5, // "false"
	contact.GivingTotal:    40,
	contact.LastGiftAmount: 40, contact.HighestGiftAmount: 40,
	contact.HighestGiftDate: 10, contact.FirstGiftDate: 10,
}

// Validate checks that a change is complete and every value has its field's
// kind. It is the contract between ingest and the later stages: whatever
// passes it can be matched, stored and written without further checks. It
// knows the built-in fields only; ValidateFields knows custom ones too.
func Validate(c contact.Change) error { return ValidateFields(c, contact.BuiltIn()) }

// ValidateFields is Validate for the fields of fs: a custom field's value
// must be in the canonical form of its type (contact.ParseCustomValue).
func ValidateFields(c contact.Change, fs *contact.FieldSet) error {
	switch {
	case c.EventID == "":
		return errorf(ReasonEventID, "event id is empty")
	case c.SourceSystem == "":
		return errorf(ReasonSystem, "source system is empty")
	case c.SourceRecordID == "":
		return errorf(ReasonMissingID, "record id is empty")
	case c.Op != contact.OpUpsert && c.Op != contact.OpDelete:
		return errorf(ReasonOp, "unknown operation %s", token(string(c.Op)))
	case !contact.KnownOrigin(c.Origin):
		return errorf(ReasonOrigin, "unknown origin %s", token(string(c.Origin)))
	case !plausible(c.SourceTime):
		return errorf(ReasonTime, "source time missing or out of range")
	}
	for _, id := range []struct {
		what, v string
		max     int
	}{{"event id", c.EventID, MaxEventIDLength}, {"source system", c.SourceSystem, MaxSystemLength}, {"record id", c.SourceRecordID, MaxRecordIDLength}} {
		if err := CheckID(id.what, id.v, id.max); err != nil {
			return err
		}
	}
	if c.ReferenceSource != "" && (len(c.ReferenceSource) > MaxSystemLength || !cleanID(c.ReferenceSource)) {
		return errorf(ReasonField, "reference source: control characters or longer than %d bytes", MaxSystemLength)
	}
	for _, f := range fs.All() { // in field order: the same change always fails the same way
		v, ok := c.Values[f.Name]
		if !ok {
			continue
		}
		if f.Custom {
			if !contact.ValidCustomValue(f, v) {
				return errorf(ReasonField, "%s: not a %s value", f.Name, customKindName(f))
			}
			continue
		}
		// Length first: the kind checks below are not free on 1 MB.
		if max := FieldLimits[f.Name]; len(v) > max && utf8.RuneCountInString(v) > max {
			return errorf(ReasonField, "%s: longer than %d characters", f.Name, max)
		}
		if !validKind(f.Kind, v) {
			return errorf(ReasonField, "%s: not a %s value", f.Name, kindName(f.Kind))
		}
	}
	for f := range c.Values {
		if _, ok := fs.Lookup(f); !ok {
			return errorf(ReasonField, "%s: unknown field", fieldName(string(f)))
		}
	}
	for _, f := range c.Cleared {
		if _, ok := fs.Lookup(f); !ok {
			return errorf(ReasonField, "%s: unknown field cleared", fieldName(string(f)))
		}
		if _, both := c.Values[f]; both {
			return errorf(ReasonField, "%s: both set and cleared", f)
		}
	}
	if g := c.Gift; g != nil {
		if g.GiftID != "" {
			if err := CheckID("gift id", g.GiftID, MaxRecordIDLength); err != nil {
				return err
			}
		}
		for _, t := range []struct{ what, v string }{{"campaign", g.Campaign}, {"fund", g.Fund}, {"payment method", g.PaymentMethod}} {
			if len(t.v) > MaxGiftTextLength && utf8.RuneCountInString(t.v) > MaxGiftTextLength {
				return errorf(ReasonGift, "%s: longer than %d characters", t.what, MaxGiftTextLength)
			}
			if !utf8.ValidString(t.v) || strings.ContainsRune(t.v, 0) {
				return errorf(ReasonGift, "%s: not a text value", t.what)
			}
		}
		switch {
		case g.GiftID == "":
			return errorf(ReasonGift, "gift id is empty")
		case g.AmountMinor <= 0:
			return errorf(ReasonGift, "amount must be positive")
		case !currencyRE.MatchString(g.Currency):
			return errorf(ReasonGift, "currency must be a 3-letter upper-case ISO 4217 code")
		case !plausible(g.ReceivedAt):
			return errorf(ReasonGift, "received time missing or out of range")
		}
	}
	return nil
}

// CheckID rejects an id (what names it in the message) that is longer than
// max bytes, is not UTF-8, or holds a control, format or line-separator
// character: a newline or a bidi override in an id forges log lines and
// hides what an operator reads, and no source uses one in an id.
func CheckID(what, id string, max int) error {
	if len(id) > max {
		return errorf(ReasonID, "%s longer than %d bytes", what, max)
	}
	if !cleanID(id) {
		return errorf(ReasonID, "%s has control characters or is not UTF-8", what)
	}
	return nil
}

func cleanID(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// plausible rejects the zero time and dates no source can mean (a year 0
// from a bad default, a day count read as milliseconds).
func plausible(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1970 && t.Year() <= 2200
}

func validKind(k contact.Kind, v string) bool {
	switch k {
	case contact.Bool:
		return v == "true" || v == "false"
	case contact.Date:
		_, err := time.Parse(time.DateOnly, v)
		return err == nil
	case contact.Decimal:
		return decimalRE.MatchString(v)
	}
	// Text: an empty value would be "not supplied" dressed as a value, and
	// a NUL or broken UTF-8 cannot be stored by every target.
	return v != "" && utf8.ValidString(v) && !strings.ContainsRune(v, 0)
}

func kindName(k contact.Kind) string {
	switch k {
	case contact.Bool:
		return "boolean"
	case contact.Date:
		return "date (YYYY-MM-DD)"
	case contact.Decimal:
		return "decimal"
	}
	return "text"
}

func customKindName(f contact.FieldInfo) string {
	if f.Kind == contact.Enum {
		return "allowed " + string(f.Name)
	}
	return kindName(f.Kind)
}
