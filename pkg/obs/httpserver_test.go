package obs

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestAdminServerHasTimeouts: the admin server bounds every phase of a
// connection, not only the headers.
func TestAdminServerHasTimeouts(t *testing.T) {
	a, err := NewAdmin("127.0.0.1:0", prometheus.NewRegistry(), zap.NewNop(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.ln.Close()
	got := HTTPTimeouts{ReadHeader: a.srv.ReadHeaderTimeout, Read: a.srv.ReadTimeout, Write: a.srv.WriteTimeout,
		Idle: a.srv.IdleTimeout}
	if got != adminTimeouts || got.ReadHeader <= 0 || got.Read <= 0 || got.Write <= 0 || got.Idle <= 0 {
		t.Fatalf("admin server timeouts %+v, want %+v", got, adminTimeouts)
	}
}

// TestHTTPServerDropsSlowAndIdleClients: a client that stops in the middle
// of its headers, or idles after a request, loses its connection.
func TestHTTPServerDropsSlowAndIdleClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		HTTPTimeouts{ReadHeader: 200 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 200 * time.Millisecond})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	closedWithin := func(c net.Conn, r *bufio.Reader, limit time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(limit))
		_, err := io.Copy(io.Discard, r)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(slow, bufio.NewReader(slow), 5*time.Second) {
		t.Error("a client stuck in its headers kept the connection")
	}

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(idle)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !closedWithin(idle, r, 5*time.Second) {
		t.Error("an idle keep-alive connection was kept")
	}
}
