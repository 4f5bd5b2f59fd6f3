// Package decode turns outside input into canonical contact changes: the
// offline system's Debezium change events and the online systems' webhook
// events. It does not normalise values (package normalize does); it reads
// them exactly, tells an explicit clear from a value that was not supplied,
// and rejects what it cannot read with a stable reason code, so that the
// record becomes a kick-out instead of a guess.
//
// Decoders are immutable once built and safe for concurrent use.
package decode

import "fmt"

// Reason codes of decode and validation errors. They are the kick-out
// reasons that operators count, search and replay by, so they never change.
const (
	ReasonJSON      = "decode.json"     // not JSON, truncated, or not UTF-8
	ReasonEnvelope  = "decode.envelope" // JSON, but not a usable Debezium envelope
	ReasonEvent     = "decode.event"    // JSON, but not a usable online event
	ReasonMissingID = "validate.missing_id"
	ReasonEventID   = "validate.event_id"
	ReasonSystem    = "validate.system" // no system, one not in the rules, or not the one the source is bound to
	ReasonID        = "validate.id"     // an id with control characters, broken UTF-8, or too long
	ReasonTime      = "validate.time"
	ReasonField     = "validate.field"
	ReasonGift      = "validate.gift"
	ReasonOrigin    = "validate.origin"
	ReasonOp        = "validate.op"
)

// Error is a decode or validation failure with a stable kick-out reason.
// Messages name fields but never carry their values: they reach logs, and
// the values are personal data.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// token quotes an enumerated input value (an op, an event type, an origin)
// for an error message when it looks like one (short, lower-case);
// anything else, which might be personal data put in the wrong place, is
// withheld.
func token(s string) string {
	if !enumLike(s) {
		return "(withheld)"
	}
	return fmt.Sprintf("%q", s)
}

// fieldName is token for a field name, unquoted as field names are
// everywhere else in messages.
func fieldName(f string) string {
	if !enumLike(f) {
		return "(withheld)"
	}
	return f
}

func enumLike(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
