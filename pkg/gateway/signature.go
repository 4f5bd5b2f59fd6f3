package gateway

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/webhooksig"
)

// The signature scheme (like Stripe's, in two headers):
//
//	X-Contactsync-Timestamp: 1764765600              (Unix seconds, digits only)
//	X-Contactsync-Signature: v1=<hex>[, v1=<hex>...]
//
// where <hex> is the lowercase hex HMAC-SHA256, keyed with the source's
// secret, of the timestamp header exactly as sent, a ".", and the raw body.
// A sender rotating its secret may send one v1 per secret; the gateway
// accepts a request when any v1 matches any of the source's (up to two)
// secrets. Items of other schemes are ignored, so a scheme can be added
// without breaking old receivers.
const (
	HeaderTimestamp = "X-Contactsync-Timestamp"
	HeaderSignature = "X-Contactsync-Signature"
	schemeV1        = webhooksig.SchemeV1
)

// Limits that keep parsing cheap whatever a client sends.
const (
	maxSignatureItems = 8
)

// Reasons a request fails authentication; each is a stable error code.
var (
	ErrNoTimestamp        = errors.New("timestamp_missing")
	ErrBadTimestamp       = errors.New("timestamp_malformed")
	ErrTimestampTooOld    = errors.New("timestamp_too_old")
	ErrTimestampInFuture  = errors.New("timestamp_in_future")
	ErrNoSignature        = errors.New("signature_missing")
	ErrBadSignature       = errors.New("signature_malformed")
	ErrSignatureMismatch  = errors.New("signature_mismatch")
	errNoSecrets          = errors.New("no secrets configured")
	signatureErrorMessage = map[error]string{
		ErrNoTimestamp:       "the " + HeaderTimestamp + " header is missing",
		ErrBadTimestamp:      "the " + HeaderTimestamp + " header must be Unix seconds (digits only)",
		ErrTimestampTooOld:   "the timestamp is older than the tolerance window (replayed or delayed request)",
		ErrTimestampInFuture: "the timestamp is further in the future than the tolerance window (sender clock skew)",
		ErrNoSignature:       "the " + HeaderSignature + " header is missing",
		ErrBadSignature:      "the " + HeaderSignature + " header must be v1=<64 hex digits>, comma-separated",
		ErrSignatureMismatch: "no v1 signature matches a secret of this source",
	}
)

// Sign returns the v1 signature of body sent at timestamp ts (the
// X-Contactsync-Timestamp value) under secret, without the "v1=" prefix.
func Sign(secret []byte, ts string, body []byte) string {
	return webhooksig.Sign(secret, ts, body)
}

// SignatureHeader returns the X-Contactsync-Timestamp and
// X-Contactsync-Signature values for body sent at t, one v1 per secret.
func SignatureHeader(t time.Time, body []byte, secrets ...[]byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(t.Unix(), 10)
	items := make([]string, len(secrets))
	for i, s := range secrets {
		items[i] = schemeV1 + "=" + Sign(s, timestamp, body)
	}
	return timestamp, strings.Join(items, ", ")
}

// ParseTimestamp reads a timestamp header: Unix seconds, digits only. The
// canonical form is required because the header is signed as sent.
func ParseTimestamp(h string) (time.Time, error) {
	if h == "" {
		return time.Time{}, ErrNoTimestamp
	}
	t, ok := webhooksig.ParseUnix(h)
	if !ok {
		return time.Time{}, ErrBadTimestamp
	}
	return t, nil
}

// ParseSignatures reads a signature header into its v1 MACs. Items of other
// schemes are skipped; a header without any v1, with a malformed item, or
// with more than a handful of items is malformed.
func ParseSignatures(h string) ([][]byte, error) {
	if strings.TrimSpace(h) == "" {
		return nil, ErrNoSignature
	}
	items := strings.Split(h, ",")
	if len(items) > maxSignatureItems {
		return nil, ErrBadSignature
	}
	var macs [][]byte
	for _, item := range items {
		scheme, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || scheme == "" {
			return nil, ErrBadSignature
		}
		if scheme != schemeV1 {
			continue
		}
		m, ok := webhooksig.DecodeV1(value)
		if !ok {
			return nil, ErrBadSignature
		}
		macs = append(macs, m)
	}
	if len(macs) == 0 {
		return nil, ErrBadSignature
	}
	return macs, nil
}

// Verify checks a request's timestamp and signature headers against body
// and the source's secrets at time now: the signature first, so that an
// unauthenticated client learns nothing about the window, then the window
// in both directions (tolerance). It returns one of the Err* reasons.
func Verify(secrets [][]byte, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secrets) == 0 {
		return errNoSecrets
	}
	ts, err := ParseTimestamp(timestampHeader)
	if err != nil {
		return err
	}
	macs, err := ParseSignatures(signatureHeader)
	if err != nil {
		return err
	}
	switch webhooksig.Check(secrets, timestampHeader, ts, macs, body, now, tolerance) {
	case webhooksig.Mismatch:
		return ErrSignatureMismatch
	case webhooksig.TooOld:
		return ErrTimestampTooOld
	case webhooksig.InFuture:
		return ErrTimestampInFuture
	}
	return nil
}
