// Package dashboard is the kick-out service's face: a JSON API and a web
// dashboard where a data manager sees why records were kicked out, fixes
// and replays them, and approves or rejects held changes; and the
// `contactsync kickouts` CLI that does the same from scripts. What those
// actions mean (statuses, transitions, replay, approval) is pkg/review's;
// this package is HTTP, authentication, the embedded assets and the CLI.
//
// The dashboard is plain HTML, CSS and JavaScript embedded in the binary
// (no CDN, no build step). Every route but /healthz needs authentication:
// HTTP basic auth against bcrypt hashes, or a bearer token checked against
// its SHA-256. The authenticated name is the "who" of the audit log.
// Serve it over TLS behind a reverse proxy; it speaks plain HTTP itself.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/review"
)

//go:embed assets
var assets embed.FS

// Config configures the HTTP server.
type Config struct {
	// Addr is where Run listens (default 127.0.0.1:8080).
	Addr string
	// Users is "name:bcrypthash,..." (see HashPassword).
	Users string
	// TokenSHA256 is the hex SHA-256 of a bearer token for scripts (see
	// TokenSHA256); TokenName is who it acts as in the audit log.
	TokenSHA256 string
	TokenName   string
	// TrimEvery is how often Run drops index entries past the retention
	// (default one minute).
	TrimEvery time.Duration
	// LoginFailuresPerClient and LoginFailuresGlobal are how many failed
	// logins a minute one client address and all clients together may
	// make before the server answers 429 without checking the password
	// (0: DefaultLoginFailuresPerClient, DefaultLoginFailuresGlobal).
	LoginFailuresPerClient int
	LoginFailuresGlobal    int
}

// Environment variables read by ConfigFromEnv.
const (
	EnvAddr        = "CONTACTSYNC_DASHBOARD_ADDR"
	EnvUsers       = "CONTACTSYNC_DASHBOARD_USERS"
	EnvTokenSHA256 = "CONTACTSYNC_DASHBOARD_TOKEN_SHA256"
	EnvTokenName   = "CONTACTSYNC_DASHBOARD_TOKEN_NAME"
	// EnvLoginFailuresPerClient and EnvLoginFailuresGlobal set the login
	// throttle (failed logins a minute).
	EnvLoginFailuresPerClient = "CONTACTSYNC_DASHBOARD_LOGIN_FAILURES_PER_CLIENT"
	EnvLoginFailuresGlobal    = "CONTACTSYNC_DASHBOARD_LOGIN_FAILURES_GLOBAL"
)

// timeouts are the dashboard server's: a client that sends its headers or
// request too slowly, or keeps a connection idle, loses it; WriteTimeout
// leaves room for a bulk replay of 1,000 records.
var timeouts = obs.HTTPTimeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second,
	Write: 5 * time.Minute, Idle: 2 * time.Minute}

// DefaultAddr is where the dashboard listens unless told otherwise:
// loopback, because TLS is a reverse proxy's job.
const DefaultAddr = "127.0.0.1:8080"

// ConfigFromEnv reads the dashboard's environment variables.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Addr: getenv(EnvAddr), Users: getenv(EnvUsers), TokenSHA256: getenv(EnvTokenSHA256),
		TokenName: getenv(EnvTokenName)}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{EnvLoginFailuresPerClient, &cfg.LoginFailuresPerClient}, {EnvLoginFailuresGlobal, &cfg.LoginFailuresGlobal}} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("%s=%q: not a positive number", v.name, s)
		}
		*v.dst = n
	}
	return cfg, nil
}

// Server serves the API and the dashboard.
type Server struct {
	cfg   Config
	svc   *review.Service
	auth  *authenticator
	log   *zap.Logger
	store interface {
		Trim(context.Context) (int64, error)
	}
	handler http.Handler
	people  People
}

// New builds the server; it refuses a configuration without any user or
// token.
func New(cfg Config, deps review.Deps, opts ...Option) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.TrimEvery <= 0 {
		cfg.TrimEvery = time.Minute
	}
	users, err := parseUsers(cfg.Users)
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(users, cfg.TokenSHA256, cfg.TokenName)
	if err != nil {
		return nil, err
	}
	svc, err := review.NewService(deps)
	if err != nil {
		return nil, err
	}
	auth.throttle = newLoginThrottle(cfg.LoginFailuresPerClient, cfg.LoginFailuresGlobal)
	log := deps.Log
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{cfg: cfg, svc: svc, auth: auth, log: log, store: deps.Store}
	for _, o := range opts {
		o(s)
	}
	s.handler = s.routes()
	return s, nil
}

// Service is the logic behind the server (tests and the CLI share it).
func (s *Server) Service() *review.Service { return s.svc }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Run listens on Config.Addr and serves until ctx ends, then shuts down
// gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dashboard listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, and trims the store's indexes
// periodically.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := obs.NewHTTPServer(s, timeouts)
	s.log.Info("dashboard serving", zap.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	tick := time.NewTicker(s.cfg.TrimEvery)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err := <-errc:
			return fmt.Errorf("dashboard server: %w", err)
		case <-tick.C:
			if _, err := s.store.Trim(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("trimming the kick-out store failed", zap.Error(err))
			}
		case <-ctx.Done():
			running = false
		}
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard shutdown: %w", err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", s.handleMe)
	api.HandleFunc("GET /api/summary", s.handleSummary)
	api.HandleFunc("GET /api/kickouts", s.handleList)
	api.HandleFunc("GET /api/kickouts/{id}", s.handleShow)
	api.HandleFunc("POST /api/kickouts/{id}/replay", s.handleReplay)
	api.HandleFunc("POST /api/kickouts/{id}/resolve", s.handleResolve)
	api.HandleFunc("POST /api/replay", s.handleReplayMany)
	api.HandleFunc("GET /api/reviews", s.handleReviews)
	api.HandleFunc("POST /api/reviews/{id}/approve", s.handleDecision(s.svc.Approve))
	api.HandleFunc("POST /api/reviews/{id}/reject", s.handleDecision(s.svc.Reject))
	api.HandleFunc("GET /api/audit", s.handleAudit)
	s.decisionRoutes(api)
	api.HandleFunc("GET /api/export/kickouts.csv", s.handleExportKickOuts)
	api.HandleFunc("GET /api/export/reviews.csv", s.handleExportReviews)
	api.HandleFunc("GET /api/people/{id}", s.handlePerson)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})

	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux.Handle("/api/", s.authenticated(api))
	mux.Handle("/", s.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	return securityHeaders(mux)
}

type ctxKey struct{}

// who is the authenticated name of a request that passed authenticated.
func who(r *http.Request) string { s, _ := r.Context().Value(ctxKey{}).(string); return s }

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, retryAfter := s.auth.check(r)
		if retryAfter > 0 {
			secs := int(math.Ceil(retryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins: try again in %d s", secs))
			return
		}
		if name == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="contactsync kick-outs", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := sameOrigin(r); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, name)))
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
