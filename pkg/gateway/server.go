package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server serves the webhook handler over HTTP, or HTTPS when given a
// certificate, and drains in-flight requests on shutdown.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	drain time.Duration
}

// ServerOptions configures a Server.
type ServerOptions struct {
	Addr            string
	TLSCert, TLSKey string        // PEM files; both or neither
	Drain           time.Duration // how long in-flight requests may finish on shutdown
	// WriteTimeout bounds a whole request; it must exceed the produce
	// timeout, or a slow broker would cut the 503 short.
	WriteTimeout time.Duration
}

// NewServer listens on opts.Addr (":0" picks a port); the certificate is
// loaded now, so a bad file stops the start, and again whenever its files
// change.
func NewServer(h http.Handler, opts ServerOptions) (*Server, error) {
	var tlsCfg *tls.Config
	if opts.TLSCert != "" || opts.TLSKey != "" {
		certs, err := newCertReloader(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, err
		}
		tlsCfg = &tls.Config{GetCertificate: certs.getCertificate, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("gateway listen %s: %w", opts.Addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return &Server{
		ln:    ln,
		drain: opts.Drain,
		srv: &http.Server{
			Handler:           h,
			TLSConfig:         tlsCfg,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       90 * time.Second,
			MaxHeaderBytes:    64 << 10,
		},
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then stops accepting and waits up to the drain
// time for in-flight requests, each of which still gets Kafka's answer.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.drain)
	defer cancel()
	if err := s.srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway drain: %w", err)
	}
	return nil
}
