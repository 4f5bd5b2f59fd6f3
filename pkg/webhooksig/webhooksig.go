// Package webhooksig holds the signature primitive that Stripe's webhook
// scheme and contactsync's own gateway scheme share: a lowercase hex
// HMAC-SHA256 of the timestamp as sent, a ".", and the raw body, compared
// in constant time against one or two secrets, then a tolerance window in
// both directions. The header layouts and error codes differ per scheme
// and stay with their packages (pkg/stripe, pkg/gateway); this package
// is pure.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// SchemeV1 is the item key of an HMAC-SHA256 signature in both schemes.
const SchemeV1 = "v1"

// MaxTimestampDigits bounds a timestamp: Unix seconds until the year 33658.
const MaxTimestampDigits = 12

// MAC returns the HMAC-SHA256, keyed with secret, of ts, ".", and body.
func MAC(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns MAC as lowercase hex, the form a v1 item carries.
func Sign(secret []byte, ts string, body []byte) string {
	return hex.EncodeToString(MAC(secret, ts, body))
}

// ParseUnix reads a timestamp as signed: Unix seconds, digits only (the
// canonical form is required because the value is signed as sent). It
// reports false for anything else.
func ParseUnix(s string) (time.Time, bool) {
	if s == "" || len(s) > MaxTimestampDigits {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// DecodeV1 reads the value of a v1 item: exactly 64 hex digits.
func DecodeV1(value string) ([]byte, bool) {
	if len(value) != 2*sha256.Size {
		return nil, false
	}
	m, err := hex.DecodeString(value)
	if err != nil {
		return nil, false
	}
	return m, true
}

// Result is the outcome of Check.
type Result int

// Outcomes of Check, in the order they are checked.
const (
	OK Result = iota
	Mismatch
	TooOld
	InFuture
)

// Check compares macs (the decoded v1 items) against the MAC of ts and body
// under each secret, then the age of t (ts parsed) at now against
// tolerance. The signature comes first, so that an unauthenticated client
// learns nothing about the window. The caller checks that secrets is not
// empty: with none, every request is a Mismatch.
func Check(secrets [][]byte, ts string, t time.Time, macs [][]byte, body []byte, now time.Time, tolerance time.Duration) Result {
	matched := false
	for _, s := range secrets {
		want := MAC(s, ts, body)
		for _, got := range macs {
			// Every pair is compared in constant time, so the timing does
			// not tell which secret or item matched.
			if hmac.Equal(want, got) {
				matched = true
			}
		}
	}
	if !matched {
		return Mismatch
	}
	switch age := now.Sub(t); {
	case age > tolerance:
		return TooOld
	case age < -tolerance:
		return InFuture
	}
	return OK
}
