package normalize

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrPhone is wrapped by every error Phone returns.
var ErrPhone = errors.New("invalid phone number")

// Phone returns a phone number in E.164 form (+61298765432). A number
// without a leading + or international prefix is read as a national number
// of defaultRegion (an ISO 3166-1 alpha-2 code such as "AU"; "" accepts only
// international numbers). Extensions are dropped.
//
// A number is accepted when its length is possible for its country, even if
// the numbering-plan metadata does not (yet) list its range: rejecting a real
// number because the metadata lags a plan change loses data, while the
// length check still catches junk. The error wraps ErrPhone and never
// contains the number.
func Phone(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrPhone)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	num, err := parsePhone(s, region)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPhone, err)
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("%w: not a possible number for its country", ErrPhone)
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	// Some junk (all zeros, say) parses to an E.164 string that reads back as
	// a different number; such a value is not a usable identifier.
	again, err := parsePhone(e164, "")
	if err != nil || phonenumbers.Format(again, phonenumbers.E164) != e164 {
		return "", fmt.Errorf("%w: does not round-trip through E.164", ErrPhone)
	}
	return e164, nil
}

// parsePhone shields callers from panics inside the third-party parser: a
// normaliser fed arbitrary input must return an error, never crash a stage.
func parsePhone(s, region string) (num *phonenumbers.PhoneNumber, err error) {
	defer func() {
		if p := recover(); p != nil {
			num, err = nil, fmt.Errorf("parser failure: %v", p)
		}
	}()
	return phonenumbers.Parse(s, region)
}
