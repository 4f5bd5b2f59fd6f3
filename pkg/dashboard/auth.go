package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword returns the bcrypt hash of a dashboard user's password, as
// CONTACTSYNC_DASHBOARD_USERS holds it ("name:hash").
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password too short: use at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// GenerateLogin makes a random password for name and returns it with the
// CONTACTSYNC_DASHBOARD_USERS entry ("name:bcrypthash") that accepts it: for
// `make demo` and first setups. Show the password once; only its hash is kept.
func GenerateLogin(name string) (usersEntry, password string, err error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate password: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(b)
	hash, err := HashPassword(password)
	if err != nil {
		return "", "", err
	}
	return name + ":" + hash, password, nil
}

// TokenSHA256 returns the hex SHA-256 of an API token, as
// CONTACTSYNC_DASHBOARD_TOKEN_SHA256 holds it.
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// parseUsers reads "name:bcrypthash,name2:bcrypthash".
func parseUsers(s string) (map[string][]byte, error) {
	users := map[string][]byte{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, hash, ok := strings.Cut(entry, ":")
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("dashboard users: entry %d is not name:bcrypthash", len(users)+1)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("dashboard users: the hash of %q is not a bcrypt hash: %w", name, err)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("dashboard users: %q is listed twice", name)
		}
		users[name] = []byte(hash)
	}
	return users, nil
}

// authenticator checks basic auth against bcrypt hashes and bearer tokens
// against a SHA-256, and names who is asking (the audit's "who").
type authenticator struct {
	users     map[string][]byte
	tokenSum  []byte // nil: no token configured
	tokenName string
	// dummy is checked for unknown users, so a wrong name costs as long as
	// a wrong password and does not reveal which names exist.
	dummy []byte

	// throttle limits failed logins (nil: none); compare is bcrypt's
	// (tests count its calls).
	throttle *loginThrottle
	compare  func(hash, password []byte) error

	mu sync.Mutex
	// ok remembers recently verified credentials (by their SHA-256) so each
	// API call does not pay a bcrypt verification.
	ok map[[32]byte]time.Time
}

const authCacheTTL = 5 * time.Minute

func newAuthenticator(users map[string][]byte, tokenSHA256, tokenName string) (*authenticator, error) {
	a := &authenticator{users: users, tokenName: tokenName, ok: map[[32]byte]time.Time{},
		compare: bcrypt.CompareHashAndPassword}
	if tokenSHA256 != "" {
		sum, err := hex.DecodeString(strings.TrimSpace(tokenSHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, errors.New("dashboard token: not a hex SHA-256 (64 hex digits)")
		}
		a.tokenSum = sum
	}
	if len(a.users) == 0 && a.tokenSum == nil {
		return nil, errors.New("dashboard: no users and no token configured; refusing to serve without authentication")
	}
	if a.tokenName == "" {
		a.tokenName = "api-token"
	}
	// The dummy costs what the users' hashes cost, so timing tells nothing.
	cost := bcrypt.MinCost
	for _, h := range users {
		if c, err := bcrypt.Cost(h); err == nil && c > cost {
			cost = c
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), cost)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	a.dummy = dummy
	return a, nil
}

// who returns the authenticated name of r, or "" when r is not
// authenticated (or its client is throttled).
func (a *authenticator) who(r *http.Request) string {
	name, _ := a.check(r)
	return name
}

// check returns the authenticated name of r, or "" when r is not
// authenticated; retryAfter > 0 says the client failed too many logins and
// its credentials were not even checked.
func (a *authenticator) check(r *http.Request) (name string, retryAfter time.Duration) {
	if h := r.Header.Get("Authorization"); a.tokenSum != nil && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		att, wait := a.begin(r)
		if wait > 0 {
			return "", wait
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
		ok := subtle.ConstantTimeCompare(sum[:], a.tokenSum) == 1
		att.done(ok)
		if ok {
			return a.tokenName, 0
		}
		return "", 0
	}
	name, pass, ok := r.BasicAuth()
	if !ok || len(a.users) == 0 {
		return "", 0
	}
	key := sha256.Sum256([]byte(name + "\x00" + pass))
	now := time.Now()
	a.mu.Lock()
	until, cached := a.ok[key]
	a.mu.Unlock()
	if cached && now.Before(until) {
		return name, 0
	}
	// Only now does the check cost a bcrypt verification: throttle it.
	att, wait := a.begin(r)
	if wait > 0 {
		return "", wait
	}
	if !a.verify(name, pass) {
		att.done(false)
		return "", 0
	}
	att.done(true)
	a.mu.Lock()
	if len(a.ok) > 1000 { // bounded: a flood of logins cannot grow it
		clear(a.ok)
	}
	a.ok[key] = now.Add(authCacheTTL)
	a.mu.Unlock()
	return name, 0
}

// begin starts a login attempt under the throttle (none: not throttled).
func (a *authenticator) begin(r *http.Request) (*attempt, time.Duration) {
	if a.throttle == nil {
		return &attempt{}, 0
	}
	return a.throttle.begin(clientAddr(r))
}

// verify checks a password against the user's bcrypt hash; an unknown
// name costs as much as a known one.
func (a *authenticator) verify(name, pass string) bool {
	hash, known := a.users[name]
	if !known {
		_ = a.compare(a.dummy, []byte(pass))
		return false
	}
	return a.compare(hash, []byte(pass)) == nil
}

// sameOrigin rejects a state-changing request a browser may have sent on
// another site's behalf: it must carry X-Requested-With (a header no form
// or cross-site request without CORS can set, and this server allows no
// CORS), and its Origin, when present, must be this host.
func sameOrigin(r *http.Request) error {
	if r.Header.Get("X-Requested-With") == "" {
		return errors.New("missing X-Requested-With header")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errors.New("cross-origin request refused")
		}
	}
	return nil
}
