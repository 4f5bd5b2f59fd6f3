// Package stripe reads Stripe's webhooks: it verifies their
// Stripe-Signature header and maps the events the sync cares about onto
// contactsync's online event format. It is pure (no I/O): the gateway
// calls it for sources of kind stripe.
package stripe

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/webhooksig"
)

// Stripe's signature scheme (docs.stripe.com/webhooks, "verify manually"):
//
//	Stripe-Signature: t=1764765600,v1=<hex>[,v1=<hex>...][,v0=<hex>]
//
// where each v1 is the lowercase hex HMAC-SHA256, keyed with the endpoint's
// signing secret (the whole "whsec_..." string), of the t value as sent, a
// ".", and the raw body. While a secret is rolled Stripe sends one v1 per
// live secret; v0 (test mode, an older scheme) and unknown items are
// ignored.
const (
	HeaderSignature = "Stripe-Signature"
	schemeV1        = webhooksig.SchemeV1
	// DefaultTolerance is the accepted age of a signature, as Stripe's
	// libraries default it.
	DefaultTolerance = 5 * time.Minute
)

// Limits that keep parsing cheap whatever a client sends.
const (
	maxHeaderBytes = 4096
	maxItems       = 16
)

// Reasons a request fails verification; each is a stable error code.
var (
	ErrNoHeader          = errors.New("stripe_signature_missing")
	ErrBadHeader         = errors.New("stripe_signature_malformed")
	ErrNoTimestamp       = errors.New("stripe_timestamp_missing")
	ErrBadTimestamp      = errors.New("stripe_timestamp_malformed")
	ErrNoV1              = errors.New("stripe_signature_no_v1")
	ErrTimestampTooOld   = errors.New("stripe_timestamp_too_old")
	ErrTimestampInFuture = errors.New("stripe_timestamp_in_future")
	ErrMismatch          = errors.New("stripe_signature_mismatch")
	ErrNoSecrets         = errors.New("no secrets configured")
)

// Messages of the Err* reasons, safe to send back: they never quote the
// request.
var Messages = map[error]string{
	ErrNoHeader:          "the " + HeaderSignature + " header is missing",
	ErrBadHeader:         "the " + HeaderSignature + " header must be comma-separated key=value items",
	ErrNoTimestamp:       "the " + HeaderSignature + " header has no t= item",
	ErrBadTimestamp:      "the t= item must be one Unix time in seconds (digits only)",
	ErrNoV1:              "the " + HeaderSignature + " header has no v1=<64 hex digits> item",
	ErrTimestampTooOld:   "the timestamp is older than the tolerance window (replayed or delayed request)",
	ErrTimestampInFuture: "the timestamp is further in the future than the tolerance window (sender clock skew)",
	ErrMismatch:          "no v1 signature matches a signing secret of this endpoint",
}

// Header is a parsed Stripe-Signature header.
type Header struct {
	// Timestamp is the t item exactly as sent: it is signed as sent.
	Timestamp string
	Time      time.Time
	// V1 are the decoded v1 signatures.
	V1 [][]byte
}

// ParseHeader reads a Stripe-Signature header. It needs exactly one t and
// at least one well-formed v1; other schemes are skipped.
func ParseHeader(h string) (Header, error) {
	var out Header
	if strings.TrimSpace(h) == "" {
		return out, ErrNoHeader
	}
	if len(h) > maxHeaderBytes {
		return out, ErrBadHeader
	}
	items := strings.Split(h, ",")
	if len(items) > maxItems {
		return out, ErrBadHeader
	}
	seenT := false
	for _, item := range items {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || key == "" {
			return Header{}, ErrBadHeader
		}
		switch key {
		case "t":
			if seenT {
				return Header{}, ErrBadTimestamp
			}
			seenT = true
			ts, ok := webhooksig.ParseUnix(value)
			if !ok {
				return Header{}, ErrBadTimestamp
			}
			out.Timestamp, out.Time = value, ts
		case schemeV1:
			m, ok := webhooksig.DecodeV1(value)
			if !ok {
				return Header{}, ErrNoV1
			}
			out.V1 = append(out.V1, m)
		}
	}
	if !seenT {
		return Header{}, ErrNoTimestamp
	}
	if len(out.V1) == 0 {
		return Header{}, ErrNoV1
	}
	return out, nil
}

// Verify checks a Stripe-Signature header against body and the endpoint's
// signing secrets (one, or two while a secret is rolled) at time now: the
// signature first, so that an unauthenticated client learns nothing about
// the window, then the timestamp in both directions. It returns nil or one
// of the Err* reasons.
func Verify(secrets [][]byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secrets) == 0 {
		return ErrNoSecrets
	}
	h, err := ParseHeader(header)
	if err != nil {
		return err
	}
	switch webhooksig.Check(secrets, h.Timestamp, h.Time, h.V1, body, now, tolerance) {
	case webhooksig.Mismatch:
		return ErrMismatch
	case webhooksig.TooOld:
		return ErrTimestampTooOld
	case webhooksig.InFuture:
		return ErrTimestampInFuture
	}
	return nil
}

// SignHeader returns the Stripe-Signature value Stripe would send for body
// at t, one v1 per secret: for tests, fixtures and simulators.
func SignHeader(t time.Time, body []byte, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	items := []string{"t=" + ts}
	for _, s := range secrets {
		items = append(items, schemeV1+"="+webhooksig.Sign(s, ts, body))
	}
	return strings.Join(items, ",")
}
