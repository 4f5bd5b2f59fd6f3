// Package obs holds the process-wide observability plumbing: one zap logger
// and one Prometheus registry, built once in main and injected everywhere,
// and the admin HTTP server that exposes them.
package obs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a JSON production logger at the given level
// ("debug", "info", "warn", "error"), or a console logger when console is set.
func NewLogger(level string, console bool) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	cfg := zap.NewProductionConfig()
	if console {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	log, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return log, nil
}

// NewRegistry returns a registry with the Go and process collectors and
// contactsync_build_info.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newBuildInfo())
	return reg
}

// ReadyCheck is one condition of readiness (a dependency answers, a
// consumer has joined its group): Check returns why it is not met.
type ReadyCheck struct {
	Name  string
	Check func(context.Context) error
}

// readyTimeout bounds one /readyz answer: the checks run at once, and a
// dependency that does not answer by then is not ready.
const readyTimeout = 2 * time.Second

// Admin serves /metrics, /healthz (liveness: the process serves HTTP) and
// /readyz (readiness: every check passes).
type Admin struct {
	srv   *http.Server
	ln    net.Listener
	log   *zap.Logger
	ready []ReadyCheck
}

// NewAdmin listens on addr (e.g. "127.0.0.1:9100"; ":0" picks a port) and
// returns the server, not yet serving. extra handlers are mounted as given.
func NewAdmin(addr string, reg *prometheus.Registry, log *zap.Logger, ready []ReadyCheck, extra map[string]http.Handler) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	a := &Admin{ln: ln, log: log, ready: ready}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", a.serveReady)
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	a.srv = NewHTTPServer(mux, adminTimeouts)
	return a, nil
}

// Addr is the address the admin server listens on.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// serveReady answers 200 when every check passes, else 503 with one line
// per failed check (its name and error; errors of the clients carry no
// credentials).
func (a *Admin) serveReady(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
	defer cancel()
	failed := make([]error, len(a.ready))
	var wg sync.WaitGroup
	for i, c := range a.ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Check(ctx); err != nil {
				failed[i] = fmt.Errorf("%s: %w", c.Name, err)
			}
		}()
	}
	wg.Wait()
	var b strings.Builder
	for _, err := range failed {
		if err != nil {
			b.WriteString(err.Error() + "\n")
		}
	}
	if b.Len() > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + b.String()))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Run serves until ctx ends, then shuts down gracefully.
func (a *Admin) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin shutdown: %w", err)
	}
	return nil
}

// ProfileHandlers are the runtime profiles (net/http/pprof) under
// /debug/pprof/, for the admin server of a process run with profiling on.
// They are off by default: a CPU profile costs while it runs, and the
// listing shows the command line.
func ProfileHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
		"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
	}
}
