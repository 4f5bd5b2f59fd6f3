package obs

import (
	"net/http"
	"time"
)

// HTTPTimeouts bound how long one client may hold a connection: sending
// its headers (ReadHeader) and its whole request (Read), receiving the
// answer (Write), and idling between requests (Idle). Without them a slow
// or silent client keeps a connection and its goroutine for ever.
type HTTPTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// adminTimeouts are the admin server's: /metrics, /healthz and /readyz
// answer in well under a second.
var adminTimeouts = HTTPTimeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second,
	Write: 30 * time.Second, Idle: 2 * time.Minute}

// NewHTTPServer returns a server for h with the timeouts t.
func NewHTTPServer(h http.Handler, t HTTPTimeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle}
}
