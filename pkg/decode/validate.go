package decode

import (
	"regexp"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

var (
	decimalRE  = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks that a change is complete and every value has its field's
// kind. It is the contract between ingest and the later stages.
func Validate(c contact.Change) error {
	switch {
	case c.EventID == "":
		return errorf(ReasonEventID, "event id is empty")
	case c.SourceSystem == "":
		return errorf(ReasonSourceSyst, "source system is empty")
	case c.SourceRecordID == "":
		return errorf(ReasonMissingID, "record id is empty")
	case c.Op != contact.OpUpsert && c.Op != contact.OpDelete:
		return errorf(ReasonOp, "unknown operation %q", c.Op)
	case !contact.KnownOrigin(c.Origin):
		return errorf(ReasonOrigin, "unknown origin %q", c.Origin)
	case c.SourceTime.IsZero() || c.SourceTime.Year() < 1970 || c.SourceTime.Year() > 2200:
		return errorf(ReasonTime, "source time missing or out of range")
	}
	for f, v := range c.Values {
		info, ok := contact.Lookup(f)
		if !ok {
			return errorf(ReasonField, "%s: unknown field", f)
		}
		if !validKind(info.Kind, v) {
			return errorf(ReasonField, "%s: not a %s value", f, kindName(info.Kind))
		}
	}
	for _, f := range c.Cleared {
		if _, ok := contact.Lookup(f); !ok {
			return errorf(ReasonField, "%s: unknown field cleared", f)
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
			return errorf(ReasonGift, "currency must be an ISO 4217 code")
		case g.ReceivedAt.IsZero():
			return errorf(ReasonGift, "received time is missing")
		}
	}
	return nil
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
	return true
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
