package decode

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/contact"
)

var (
	// decimalRE is a plain decimal: no exponent, no grouping, no "+", no
	// bare point, so that every system reads it the same way.
	decimalRE  = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks that a change is complete and every value has its field's
// kind. It is the contract between ingest and the later stages: whatever
// passes it can be matched, stored and written without further checks.
func Validate(c contact.Change) error {
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
	for _, f := range contact.Fields { // in field order: the same change always fails the same way
		v, ok := c.Values[f.Name]
		if ok && !validKind(f.Kind, v) {
			return errorf(ReasonField, "%s: not a %s value", f.Name, kindName(f.Kind))
		}
	}
	for f := range c.Values {
		if _, ok := contact.Lookup(f); !ok {
			return errorf(ReasonField, "%s: unknown field", fieldName(string(f)))
		}
	}
	for _, f := range c.Cleared {
		if _, ok := contact.Lookup(f); !ok {
			return errorf(ReasonField, "%s: unknown field cleared", fieldName(string(f)))
		}
		if _, both := c.Values[f]; both {
			return errorf(ReasonField, "%s: both set and cleared", f)
		}
	}
	if g := c.Gift; g != nil {
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
