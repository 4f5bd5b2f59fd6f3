package dashboard

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default login throttle (CONTACTSYNC_DASHBOARD_LOGIN_FAILURES_PER_CLIENT,
// CONTACTSYNC_DASHBOARD_LOGIN_FAILURES_GLOBAL): per minute.
const (
	DefaultLoginFailuresPerClient = 10
	DefaultLoginFailuresGlobal    = 300
)

// maxThrottledClients bounds the per-client table: a flood from many
// addresses cannot grow it without end (the global limit still holds).
const maxThrottledClients = 10_000

// loginThrottle limits failed logins per client address and over all
// clients, so guessing passwords is slow and bogus logins cannot keep the
// CPU busy with bcrypt: a login that may fail costs a token before it is
// checked, and a successful one gives it back.
type loginThrottle struct {
	perClient rate.Limit
	burst     int
	global    *rate.Limiter
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// newLoginThrottle allows perClient failed logins a minute from one client
// (in a burst of as many) and global a minute from all (bursts of a tenth).
func newLoginThrottle(perClient, global int) *loginThrottle {
	if perClient <= 0 {
		perClient = DefaultLoginFailuresPerClient
	}
	if global <= 0 {
		global = DefaultLoginFailuresGlobal
	}
	return &loginThrottle{
		perClient: rate.Limit(float64(perClient) / 60),
		burst:     perClient,
		global:    rate.NewLimiter(rate.Limit(float64(global)/60), max(1, global/10)),
		now:       time.Now,
		clients:   map[string]*rate.Limiter{},
	}
}

// attempt is a login being checked; done says how it ended.
type attempt struct {
	reservations []*rate.Reservation
	at           time.Time
}

// begin takes a token for a login from client, or says how long the client
// must wait (no token is taken then).
func (t *loginThrottle) begin(client string) (*attempt, time.Duration) {
	now := t.now()
	a := &attempt{at: now}
	for _, lim := range []*rate.Limiter{t.client(client, now), t.global} {
		r := lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now)
			a.done(true)
			return nil, max(d, time.Second)
		}
		a.reservations = append(a.reservations, r)
	}
	return a, 0
}

// done ends the attempt: a successful login returns its tokens.
func (a *attempt) done(ok bool) {
	if !ok {
		return
	}
	for _, r := range a.reservations {
		r.CancelAt(a.at)
	}
}

func (t *loginThrottle) client(addr string, now time.Time) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim, ok := t.clients[addr]
	if ok {
		return lim
	}
	if len(t.clients) >= maxThrottledClients {
		// Forget clients whose bucket filled up again: they lose nothing.
		for k, l := range t.clients {
			if l.TokensAt(now) >= float64(t.burst) {
				delete(t.clients, k)
			}
		}
		if len(t.clients) >= maxThrottledClients {
			clear(t.clients)
		}
	}
	lim = rate.NewLimiter(t.perClient, t.burst)
	t.clients[addr] = lim
	return lim
}

// clientAddr is who the throttle counts a request against: the peer's IP
// address (behind a reverse proxy, the proxy's; the global limit still
// holds).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
