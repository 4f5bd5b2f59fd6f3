// Package decode turns outside input into canonical contact changes: the
// offline system's Debezium change events and the online systems' webhook
// events. It does not normalise values (package normalize does); it reads
// them exactly, tells an explicit clear from a value that was not supplied,
// and rejects what it cannot read with a stable reason code, so that the
// record becomes a kick-out instead of a guess.
package decode

import "fmt"

// Reason codes of decode and validation errors (the kick-out reasons).
const (
	ReasonJSON       = "decode.json"     // not JSON, or truncated
	ReasonEnvelope   = "decode.envelope" // JSON, but not a usable Debezium envelope
	ReasonEvent      = "decode.event"    // JSON, but not a usable online event
	ReasonMissingID  = "validate.missing_id"
	ReasonEventID    = "validate.event_id"
	ReasonTime       = "validate.time"
	ReasonField      = "validate.field"
	ReasonGift       = "validate.gift"
	ReasonOrigin     = "validate.origin"
	ReasonOp         = "validate.op"
	ReasonSourceSyst = "validate.system"
)

// Error is a decode or validation failure with a stable kick-out reason.
// Messages name fields but never carry their values: they reach logs.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}
