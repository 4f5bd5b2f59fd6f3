package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/contactsync/contactsync/pkg/review"
)

func TestParseUsersAndAuthenticate(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-of-ann"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"ann", "ann:", ":x", "ann:notbcrypt", "ann:" + string(hash) + ",ann:" + string(hash)} {
		if _, err := parseUsers(bad); err == nil {
			t.Errorf("parseUsers(%q) accepted", bad)
		}
	}
	users, err := parseUsers(" ann:" + string(hash) + " , ")
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuthenticator(users, TokenSHA256("tok"), "")
	if err != nil {
		t.Fatal(err)
	}
	req := func(set func(r *http.Request)) string {
		r := httptest.NewRequest("GET", "/api/me", nil)
		set(r)
		return a.who(r)
	}
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
		want string
	}{
		{"basic", func(r *http.Request) { r.SetBasicAuth("ann", "pw-of-ann") }, "ann"},
		{"basic again (cached)", func(r *http.Request) { r.SetBasicAuth("ann", "pw-of-ann") }, "ann"},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("ann", "pw-of-bob") }, ""},
		{"unknown user", func(r *http.Request) { r.SetBasicAuth("bob", "pw-of-ann") }, ""},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }, "api-token"},
		{"token lower-case scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer tok") }, "api-token"},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok2") }, ""},
		{"nothing", func(*http.Request) {}, ""},
	} {
		if got := req(tc.set); got != tc.want {
			t.Errorf("%s: who = %q, want %q", tc.name, got, tc.want)
		}
	}
	entry, pw, err := GenerateLogin("demo")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := parseUsers(entry)
	if err != nil || bcrypt.CompareHashAndPassword(demo["demo"], []byte(pw)) != nil || len(pw) < 16 {
		t.Fatalf("GenerateLogin: %q %v", entry, err)
	}
	if _, err := newAuthenticator(nil, "", ""); err == nil {
		t.Error("an authenticator without users or token was built")
	}
	if _, err := newAuthenticator(nil, "abc", ""); err == nil {
		t.Error("a malformed token hash was accepted")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		name        string
		xrw, origin string
		ok          bool
	}{
		{"header, no origin", "x", "", true},
		{"header, same origin", "x", "http://dash.example:8080", true},
		{"no header", "", "", false},
		{"other origin", "x", "https://evil.example", false},
	} {
		r := httptest.NewRequest("POST", "http://dash.example:8080/api/replay", nil)
		if tc.xrw != "" {
			r.Header.Set("X-Requested-With", tc.xrw)
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if err := sameOrigin(r); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestFilterFromQueryAndTimeBounds(t *testing.T) {
	f, err := filterFromQuery(url.Values{"status": {"open"}, "reason": {"validate.field"}, "q": {" web-1 "},
		"from": {"2026-05-01"}, "to": {"2026-05-03"}, "offset": {"50"}, "limit": {"25"}})
	if err != nil {
		t.Fatal(err)
	}
	want := review.Filter{Status: "open", Reason: "validate.field", Query: "web-1",
		From: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC), Offset: 50, Limit: 25}
	if f != want {
		t.Fatalf("filter %+v, want %+v", f, want)
	}
	for _, bad := range []url.Values{{"status": {"lost"}}, {"from": {"yesterday"}}, {"limit": {"-1"}}} {
		if _, err := filterFromQuery(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if got, _ := parseTimeBound("2026-05-01T10:00:00+02:00", true); !got.Equal(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("RFC 3339 bound = %v", got)
	}
}
