package gateway

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	secretA = []byte("whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	secretB = []byte("whsec_bbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	t0      = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
)

func TestVerify(t *testing.T) {
	body := []byte(`{"event_id":"e1"}`)
	ts := strconv.FormatInt(t0.Unix(), 10)
	sigA := "v1=" + Sign(secretA, ts, body)
	sigB := "v1=" + Sign(secretB, ts, body)
	for _, tc := range []struct {
		name     string
		secrets  [][]byte
		ts, sig  string
		body     []byte
		now      time.Time
		want     error
		wantNone bool
	}{
		{name: "valid", secrets: [][]byte{secretA}, ts: ts, sig: sigA, wantNone: true},
		{name: "second secret matches (rotation)", secrets: [][]byte{secretB, secretA}, ts: ts, sig: sigA, wantNone: true},
		{name: "sender signs with both secrets", secrets: [][]byte{secretB}, ts: ts, sig: sigA + ", " + sigB, wantNone: true},
		{name: "unknown scheme ignored", secrets: [][]byte{secretA}, ts: ts, sig: "v0=abc," + sigA, wantNone: true},
		{name: "edge of window in the past", secrets: [][]byte{secretA}, ts: ts, sig: sigA, now: t0.Add(5 * time.Minute), wantNone: true},
		{name: "edge of window in the future", secrets: [][]byte{secretA}, ts: ts, sig: sigA, now: t0.Add(-5 * time.Minute), wantNone: true},
		{name: "too old", secrets: [][]byte{secretA}, ts: ts, sig: sigA, now: t0.Add(5*time.Minute + time.Second), want: ErrTimestampTooOld},
		{name: "in the future", secrets: [][]byte{secretA}, ts: ts, sig: sigA, now: t0.Add(-5*time.Minute - time.Second), want: ErrTimestampInFuture},
		{name: "other secret", secrets: [][]byte{secretB}, ts: ts, sig: sigA, want: ErrSignatureMismatch},
		{name: "body changed", secrets: [][]byte{secretA}, ts: ts, sig: sigA, body: []byte(`{"event_id":"e2"}`), want: ErrSignatureMismatch},
		{name: "timestamp changed", secrets: [][]byte{secretA}, ts: strconv.FormatInt(t0.Unix()+1, 10), sig: sigA, want: ErrSignatureMismatch},
		{name: "timestamp with leading zero is signed as sent", secrets: [][]byte{secretA}, ts: "0" + ts, sig: sigA, want: ErrSignatureMismatch},
		{name: "no timestamp", secrets: [][]byte{secretA}, sig: sigA, want: ErrNoTimestamp},
		{name: "signed timestamp", secrets: [][]byte{secretA}, ts: "+" + ts, sig: sigA, want: ErrBadTimestamp},
		{name: "fractional timestamp", secrets: [][]byte{secretA}, ts: ts + ".5", sig: sigA, want: ErrBadTimestamp},
		{name: "huge timestamp", secrets: [][]byte{secretA}, ts: strings.Repeat("9", 30), sig: sigA, want: ErrBadTimestamp},
		{name: "no signature", secrets: [][]byte{secretA}, ts: ts, want: ErrNoSignature},
		{name: "signature without scheme", secrets: [][]byte{secretA}, ts: ts, sig: Sign(secretA, ts, body), want: ErrBadSignature},
		{name: "signature short", secrets: [][]byte{secretA}, ts: ts, sig: sigA[:len(sigA)-2], want: ErrBadSignature},
		{name: "signature not hex", secrets: [][]byte{secretA}, ts: ts, sig: "v1=" + strings.Repeat("zz", 32), want: ErrBadSignature},
		{name: "only other schemes", secrets: [][]byte{secretA}, ts: ts, sig: "v0=" + Sign(secretA, ts, body), want: ErrBadSignature},
		{name: "too many items", secrets: [][]byte{secretA}, ts: ts, sig: strings.Repeat("v0=x,", 8) + sigA, want: ErrBadSignature},
		{name: "uppercase hex accepted", secrets: [][]byte{secretA}, ts: ts, sig: "v1=" + strings.ToUpper(Sign(secretA, ts, body)), wantNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body
			if b == nil {
				b = body
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			err := Verify(tc.secrets, tc.ts, tc.sig, b, now, 5*time.Minute)
			if tc.wantNone {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignatureHeaderRoundTrip(t *testing.T) {
	body := []byte(`{"x":1}`)
	ts, sig := SignatureHeader(t0, body, secretA, secretB)
	if strings.Count(sig, "v1=") != 2 {
		t.Fatalf("header %q: want two v1 items", sig)
	}
	for _, s := range [][]byte{secretA, secretB} {
		if err := Verify([][]byte{s}, ts, sig, body, t0, time.Minute); err != nil {
			t.Fatalf("Verify with one of the two secrets: %v", err)
		}
	}
}

// FuzzVerify: whatever the headers and body, Verify never panics, only
// returns its documented reasons, and accepts a request only if it carries
// a correct v1 of the body (which a fuzzer cannot forge), while a correctly
// signed request of the same body is always accepted.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(t0.Unix(), 10)
	f.Add(ts, "v1="+Sign(secretA, ts, []byte("{}")), []byte("{}"))
	f.Add("", "", []byte(nil))
	f.Add("1764763200", "v1=00,v0=11, v1=", []byte(`{"event_id":"e"}`))
	f.Add("-1", "=,=,=", []byte("\xff"))
	f.Add("99999999999999999999", "v1="+strings.Repeat("a", 64), []byte("x"))
	known := map[error]bool{}
	for e := range signatureErrorMessage {
		known[e] = true
	}
	f.Fuzz(func(t *testing.T, tsHeader, sigHeader string, body []byte) {
		err := Verify([][]byte{secretA}, tsHeader, sigHeader, body, t0, 5*time.Minute)
		if err != nil && !known[err] {
			t.Fatalf("undocumented error %v", err)
		}
		if err == nil {
			good := Sign(secretA, tsHeader, body)
			if !strings.Contains(strings.ToLower(sigHeader), good) {
				t.Fatalf("accepted without the correct MAC: ts %q sig %q", tsHeader, sigHeader)
			}
		}
		if _, perr := ParseTimestamp(tsHeader); perr == nil {
			signed := "v1=" + Sign(secretA, tsHeader, body)
			err := Verify([][]byte{secretA}, tsHeader, signed, body, t0, 5*time.Minute)
			if err != nil && err != ErrTimestampTooOld && err != ErrTimestampInFuture {
				t.Fatalf("correctly signed request refused: %v", err)
			}
		}
		if macs, perr := ParseSignatures(sigHeader); perr == nil && len(macs) == 0 {
			t.Fatal("ParseSignatures returned no MACs and no error")
		}
	})
}
