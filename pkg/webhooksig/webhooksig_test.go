package webhooksig

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	body := []byte(`{"id":"e1"}`)
	now := time.Unix(1764765600, 0)
	a, b := []byte("secret-a"), []byte("secret-b")
	sig := func(secret []byte, ts string) []byte { return MAC(secret, ts, body) }
	tests := []struct {
		name    string
		secrets [][]byte
		ts      string
		macs    [][]byte
		want    Result
	}{
		{"match", [][]byte{a}, "1764765600", [][]byte{sig(a, "1764765600")}, OK},
		{"second secret", [][]byte{a, b}, "1764765600", [][]byte{sig(b, "1764765600")}, OK},
		{"second item", [][]byte{a}, "1764765600", [][]byte{sig(b, "1764765600"), sig(a, "1764765600")}, OK},
		{"wrong secret", [][]byte{a}, "1764765600", [][]byte{sig(b, "1764765600")}, Mismatch},
		{"no secrets", nil, "1764765600", [][]byte{sig(a, "1764765600")}, Mismatch},
		{"too old", [][]byte{a}, "1764765000", [][]byte{sig(a, "1764765000")}, TooOld},
		{"in future", [][]byte{a}, "1764766200", [][]byte{sig(a, "1764766200")}, InFuture},
		{"edge of window", [][]byte{a}, "1764765300", [][]byte{sig(a, "1764765300")}, OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, ok := ParseUnix(tc.ts)
			if !ok {
				t.Fatalf("ParseUnix(%q) failed", tc.ts)
			}
			if got := Check(tc.secrets, tc.ts, ts, tc.macs, body, now, 5*time.Minute); got != tc.want {
				t.Errorf("Check = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseUnix(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"1764765600", true}, {"0", true}, {"", false}, {"+1", false}, {"-1", false},
		{" 1", false}, {"1.5", false}, {"1234567890123", false}, {"999999999999", true},
	} {
		if _, ok := ParseUnix(tc.in); ok != tc.ok {
			t.Errorf("ParseUnix(%q) ok = %v, want %v", tc.in, ok, tc.ok)
		}
	}
}

func TestDecodeV1(t *testing.T) {
	good := Sign([]byte("k"), "1", nil)
	if _, ok := DecodeV1(good); !ok {
		t.Errorf("DecodeV1(%q) failed", good)
	}
	for _, bad := range []string{"", "abc", good[:62], good + "00", "zz" + good[2:]} {
		if _, ok := DecodeV1(bad); ok {
			t.Errorf("DecodeV1(%q) accepted", bad)
		}
	}
}
