package stripe

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyRejections(t *testing.T) {
	secret, other := []byte("whsec_currentSecretOfTheEndpoint"), []byte("whsec_previousSecretOfTheEndpoint")
	body := []byte(`{"id":"evt_1","object":"event"}`)
	now := time.Unix(1764765600, 0)
	good := SignHeader(now, body, secret)
	v1 := good[strings.Index(good, "v1="):]
	tests := []struct {
		name    string
		secrets [][]byte
		header  string
		body    []byte
		now     time.Time
		want    error
	}{
		{"valid", [][]byte{secret}, good, body, now, nil},
		{"valid at the edge of the window", [][]byte{secret}, good, body, now.Add(DefaultTolerance), nil},
		{"rotation: old secret configured second", [][]byte{other, secret}, good, body, now, nil},
		{"rotation: two v1, one matches", [][]byte{secret}, SignHeader(now, body, other, secret), body, now, nil},
		{"v0 and unknown items are ignored", [][]byte{secret}, good + ",v0=abc,scheme9=x", body, now, nil},
		{"spaces around items", [][]byte{secret}, "t=1764765600, " + v1, body, now, nil},
		{"no secrets", nil, good, body, now, ErrNoSecrets},
		{"missing header", [][]byte{secret}, "", body, now, ErrNoHeader},
		{"blank header", [][]byte{secret}, "   ", body, now, ErrNoHeader},
		{"item without =", [][]byte{secret}, "t=1764765600,v1", body, now, ErrBadHeader},
		{"empty key", [][]byte{secret}, "t=1764765600,=abc," + v1, body, now, ErrBadHeader},
		{"too many items", [][]byte{secret}, good + strings.Repeat(",v0=x", maxItems), body, now, ErrBadHeader},
		{"oversized header", [][]byte{secret}, good + ",x=" + strings.Repeat("a", maxHeaderBytes), body, now, ErrBadHeader},
		{"no timestamp", [][]byte{secret}, v1, body, now, ErrNoTimestamp},
		{"timestamp not digits", [][]byte{secret}, "t=-1764765600," + v1, body, now, ErrBadTimestamp},
		{"timestamp empty", [][]byte{secret}, "t=," + v1, body, now, ErrBadTimestamp},
		{"timestamp too long", [][]byte{secret}, "t=1764765600000000," + v1, body, now, ErrBadTimestamp},
		{"two timestamps", [][]byte{secret}, good + ",t=1764765601", body, now, ErrBadTimestamp},
		{"no v1", [][]byte{secret}, "t=1764765600,v0=" + strings.Repeat("a", 64), body, now, ErrNoV1},
		{"v1 not hex", [][]byte{secret}, "t=1764765600,v1=" + strings.Repeat("z", 64), body, now, ErrNoV1},
		{"v1 too short", [][]byte{secret}, "t=1764765600,v1=abcd", body, now, ErrNoV1},
		{"wrong secret", [][]byte{other}, good, body, now, ErrMismatch},
		{"body changed", [][]byte{secret}, good, []byte(`{"id":"evt_2","object":"event"}`), now, ErrMismatch},
		{"timestamp changed (signed as sent)", [][]byte{secret}, "t=1764765601," + v1, body, now, ErrMismatch},
		{"timestamp with leading zero (signed as sent)", [][]byte{secret}, "t=01764765600," + v1, body, now, ErrMismatch},
		{"replay after the window", [][]byte{secret}, good, body, now.Add(DefaultTolerance + time.Second), ErrTimestampTooOld},
		{"from the future", [][]byte{secret}, good, body, now.Add(-DefaultTolerance - time.Second), ErrTimestampInFuture},
		{"a stale forgery is a mismatch, not a replay", [][]byte{other}, good, body, now.Add(time.Hour), ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secrets, tc.header, tc.body, tc.now, DefaultTolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && err != ErrNoSecrets && Messages[err] == "" {
				t.Fatalf("no message for %v", err)
			}
		})
	}
}

// FuzzParseHeader: any header parses or fails with a known reason, never
// panics; a parsed header has a timestamp and 32-byte signatures, and
// what SignHeader writes parses back.
func FuzzParseHeader(f *testing.F) {
	f.Add("t=1764765600,v1=" + strings.Repeat("ab", 32))
	f.Add("t=1764765600,v1=" + strings.Repeat("ab", 32) + ",v0=" + strings.Repeat("cd", 32))
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Add("t=1=2,v1==")
	f.Fuzz(func(t *testing.T, h string) {
		got, err := ParseHeader(h)
		if err != nil {
			if Messages[err] == "" {
				t.Fatalf("unknown reason %v", err)
			}
			return
		}
		if got.Timestamp == "" || len(got.V1) == 0 {
			t.Fatalf("parsed without timestamp or v1: %+v", got)
		}
		for _, m := range got.V1 {
			if len(m) != 32 {
				t.Fatalf("signature of %d bytes", len(m))
			}
		}
		back, err := ParseHeader(SignHeader(got.Time, []byte(h), []byte("k")))
		if err != nil || !back.Time.Equal(got.Time) {
			t.Fatalf("SignHeader does not round-trip: %v", err)
		}
	})
}
