package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

// healthcheck exits 0 only on a 2xx answer of the path asked, and finds
// the admin server from CONTACTSYNC_ADMIN_ADDR, asking a wildcard listener
// on loopback.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			http.Error(w, "not ready\nredis: connection refused", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	port := addr[strings.LastIndex(addr, ":")+1:]
	tests := []struct {
		name     string
		env      string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"ready by default: not ready", addr, nil, cli.ExitFail, "503"},
		{"liveness", addr, []string{"--path", "/healthz"}, cli.ExitOK, "200 OK"},
		{"wildcard listener asked on loopback", "0.0.0.0:" + port, []string{"--path", "/healthz"}, cli.ExitOK, "127.0.0.1:" + port},
		{"--addr wins over the environment", "127.0.0.1:1", []string{"--addr", addr, "--path", "/healthz"}, cli.ExitOK, "200 OK"},
		{"--url", "", []string{"--url", srv.URL + "/healthz"}, cli.ExitOK, "200 OK"},
		{"unknown path", addr, []string{"--path", "/nope"}, cli.ExitFail, "404"},
		{"bad address", "no-port", nil, cli.ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"CONTACTSYNC_ADMIN_ADDR": tt.env}
			r := clitest.Run(t, func() *cobra.Command { return newRoot(func(k string) string { return env[k] }) },
				append([]string{"healthcheck"}, tt.args...)...)
			if r.Code != tt.wantCode || !strings.Contains(r.Stdout, tt.wantOut) {
				t.Errorf("exit %d, want %d; stdout %q lacks %q; stderr %q", r.Code, tt.wantCode, r.Stdout, tt.wantOut, r.Stderr)
			}
		})
	}
}
