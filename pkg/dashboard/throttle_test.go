package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/review/reviewtest"
)

func throttledServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-of-ann"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Users = "ann:" + string(hash)
	srv, err := New(cfg, review.Deps{Store: reviewtest.New(), Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func login(srv *Server, client, user, pass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/api/me", nil)
	r.RemoteAddr = client + ":41000"
	r.SetBasicAuth(user, pass)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

// TestFailedLoginsAreThrottled: a client that keeps failing gets 429 with
// Retry-After, and its password is not checked (no bcrypt) until then.
func TestFailedLoginsAreThrottled(t *testing.T) {
	srv := throttledServer(t, Config{})
	var throttled *httptest.ResponseRecorder
	for i := 0; i < 50 && throttled == nil; i++ {
		if w := login(srv, "192.0.2.1", "ann", "wrong"); w.Code == http.StatusTooManyRequests {
			throttled = w
		} else if w.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d", i, w.Code)
		}
	}
	if throttled == nil {
		t.Fatal("50 failed logins from one client were never throttled")
	}
	if s, err := strconv.Atoi(throttled.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", throttled.Header().Get("Retry-After"))
	}
	if w := login(srv, "192.0.2.2", "ann", "pw-of-ann"); w.Code != http.StatusOK {
		t.Errorf("another client was refused: %d", w.Code)
	}
}

// TestFailedLoginsAreThrottledGlobally: failures spread over many clients
// are throttled too.
func TestFailedLoginsAreThrottledGlobally(t *testing.T) {
	srv := throttledServer(t, Config{})
	for i := 0; i < 1000; i++ {
		if w := login(srv, fmt.Sprintf("198.51.100.%d", i%250), fmt.Sprint("user", i), "wrong"); w.Code == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("1000 failed logins from 250 clients were never throttled")
}

// TestThrottleSparesBcryptAndKnownUsers: while a client is throttled no
// password of it is checked (even a right one), a user whose login is
// already verified keeps working, and successful logins do not count.
func TestThrottleSparesBcryptAndKnownUsers(t *testing.T) {
	srv := throttledServer(t, Config{LoginFailuresPerClient: 3, LoginFailuresGlobal: 6000})
	var checks int
	compare := srv.auth.compare
	srv.auth.compare = func(hash, pw []byte) error { checks++; return compare(hash, pw) }
	const client = "192.0.2.7"
	for i := range 5 { // successes give their token back
		if w := login(srv, client, "ann", "pw-of-ann"); w.Code != http.StatusOK {
			t.Fatalf("login %d: %d", i, w.Code)
		}
	}
	for i := range 3 {
		if w := login(srv, client, "ann", fmt.Sprint("guess", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d, want 401", i, w.Code)
		}
	}
	before := checks
	for _, pass := range []string{"guess-4", "guess-5"} {
		w := login(srv, client, "ann", pass)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("throttled login: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if checks != before {
		t.Errorf("%d passwords checked while throttled", checks-before)
	}
	if w := login(srv, client, "ann", "pw-of-ann"); w.Code != http.StatusOK {
		t.Errorf("a verified login was refused while its client is throttled: %d", w.Code)
	}
}

func TestLoginThrottleConfig(t *testing.T) {
	env := map[string]string{EnvLoginFailuresPerClient: "5", EnvLoginFailuresGlobal: " 120 "}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.LoginFailuresPerClient != 5 || cfg.LoginFailuresGlobal != 120 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	for _, bad := range []string{"0", "-1", "lots"} {
		env[EnvLoginFailuresGlobal] = bad
		if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s=%q accepted", EnvLoginFailuresGlobal, bad)
		}
	}
}
