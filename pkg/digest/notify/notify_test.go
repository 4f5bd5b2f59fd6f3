package notify_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/digest"
	"github.com/contactsync/contactsync/pkg/digest/notify"
)

var msg = digest.Message{Subject: "contactsync: 3 kick-outs on 2026-12-02, 1 review pending",
	Text: "contactsync daily digest for 2026-12-02 (UTC)\n\n3 kick-outs ...\nné = naïve\n"}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWebhook(t *testing.T) {
	var got struct {
		contentType string
		body        map[string]string
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.contentType = r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&got.body); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/broken" {
			http.Error(w, "invalid_token", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(hook.Close)
	ctx := testContext(t)

	if err := notify.Webhook(ctx, hook.Client(), hook.URL+"/services/T0/B0/secret", msg); err != nil {
		t.Fatal(err)
	}
	if got.contentType != "application/json" || len(got.body) != 1 || got.body["text"] != msg.Subject+"\n\n"+msg.Text {
		t.Fatalf("webhook got %q %v", got.contentType, got.body)
	}

	err := notify.Webhook(ctx, hook.Client(), hook.URL+"/broken", msg)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("refused webhook: %v", err)
	}
	// A failure to connect never shows the URL, which is the secret.
	dead := hook.URL + "/services/T0/B0/top-secret"
	hook.Close()
	err = notify.Webhook(ctx, http.DefaultClient, dead, msg)
	if err == nil || strings.Contains(err.Error(), "top-secret") {
		t.Fatalf("unreachable webhook: %v", err)
	}
}

// smtpServer is a tiny SMTP server for one test: it records what it is
// sent, offers STARTTLS when given a certificate and AUTH PLAIN when given
// a password.
type smtpServer struct {
	addr     string
	tls      *tls.Config
	password string

	mu       sync.Mutex
	from     string
	rcpt     []string
	data     string
	authed   string
	startTLS bool
}

func newSMTPServer(t *testing.T, tlsConf *tls.Config, password string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), tls: tlsConf, password: password}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	rd, w := bufio.NewReader(c), io.Writer(c)
	say := func(line string) { _, _ = io.WriteString(w, line+"\r\n") }
	say("220 test ESMTP")
	secure := false
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			ext := []string{"250-test", "250-8BITMIME"}
			if s.tls != nil && !secure {
				ext = append(ext, "250-STARTTLS")
			}
			if s.password != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext[len(ext)-1] = "250 " + ext[len(ext)-1][4:]
			say(strings.Join(ext, "\r\n"))
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			secure = true
			s.mu.Lock()
			s.startTLS = true
			s.mu.Unlock()
			rd, w = bufio.NewReader(tc), tc
		case "AUTH":
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "AUTH PLAIN "))
			parts := strings.Split(string(b), "\x00")
			if len(parts) != 3 || parts[2] != s.password {
				say("535 authentication failed")
				continue
			}
			s.mu.Lock()
			s.authed = parts[1]
			s.mu.Unlock()
			say("235 ok")
		case "MAIL":
			s.mu.Lock()
			s.from = line
			s.mu.Unlock()
			say("250 ok")
		case "RCPT":
			s.mu.Lock()
			s.rcpt = append(s.rcpt, line)
			s.mu.Unlock()
			say("250 ok")
		case "DATA":
			say("354 end with .")
			var b strings.Builder
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.data = b.String()
			s.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestMailPlain(t *testing.T) {
	srv := newSMTPServer(t, nil, "")
	cfg := notify.SMTPConfig{Addr: srv.addr, From: "contactsync@example.org", To: []string{"data@example.org", "ops@example.org"}}
	if err := notify.Mail(testContext(t), cfg, msg); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.from != "MAIL FROM:<contactsync@example.org> BODY=8BITMIME" && srv.from != "MAIL FROM:<contactsync@example.org>" {
		t.Errorf("from: %q", srv.from)
	}
	if len(srv.rcpt) != 2 || !strings.Contains(srv.rcpt[1], "ops@example.org") {
		t.Errorf("recipients: %q", srv.rcpt)
	}
	head, body, ok := strings.Cut(srv.data, "\r\n\r\n")
	if !ok || !strings.Contains(head, "Subject: "+msg.Subject+"\r\n") || !strings.Contains(head, "To: data@example.org, ops@example.org") ||
		!strings.Contains(head, "Content-Type: text/plain; charset=utf-8") {
		t.Fatalf("message head:\n%s", head)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(text), "\r\n", "\n"); got != msg.Text {
		t.Errorf("body %q, want %q", got, msg.Text)
	}
	if srv.startTLS || srv.authed != "" {
		t.Errorf("STARTTLS %v, auth %q on a server that offers neither", srv.startTLS, srv.authed)
	}
}

// STARTTLS is used when offered, and the password goes only over TLS.
func TestMailStartTLSAndAuth(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate (valid for 127.0.0.1)
	t.Cleanup(ts.Close)
	srv := newSMTPServer(t, &tls.Config{Certificates: ts.TLS.Certificates}, "hunter2")
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	cfg := notify.SMTPConfig{Addr: srv.addr, From: "cs@example.org", To: []string{"data@example.org"},
		Username: "digest", Password: "hunter2", TLS: &tls.Config{RootCAs: roots}}
	if err := notify.Mail(testContext(t), cfg, msg); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	if !srv.startTLS || srv.authed != "digest" || !strings.Contains(srv.data, "Subject: ") {
		t.Errorf("STARTTLS %v, authenticated as %q, data %d bytes", srv.startTLS, srv.authed, len(srv.data))
	}
	srv.mu.Unlock()

	cfg.Password = "wrong"
	if err := notify.Mail(testContext(t), cfg, msg); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v", err)
	}
	// An untrusted certificate stops the conversation before the password.
	cfg.Password, cfg.TLS = "hunter2", nil
	if err := notify.Mail(testContext(t), cfg, msg); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := notify.ConfigFromEnv(env(notify.EnvSMTPAddr, "mail.example.org:587", notify.EnvSMTPFrom, "cs@example.org",
		notify.EnvSMTPTo, "a@example.org, b@example.org", notify.EnvSMTPPasswordFile, pwFile,
		notify.EnvWebhookURL, "https://hooks.example.org/T/B/x"))
	if err != nil || c.SMTP.Password != "from-file" || len(c.SMTP.To) != 2 || c.SMTP.To[1] != "b@example.org" || !c.Enabled() {
		t.Fatalf("config %+v, %v", c, err)
	}
	if c, err := notify.ConfigFromEnv(env()); err != nil || c.Enabled() {
		t.Errorf("empty config: %+v %v", c, err)
	}
	for name, bad := range map[string]func(string) string{
		"webhook not a URL":      env(notify.EnvWebhookURL, "hooks.example.org/secret-part"),
		"smtp without to":        env(notify.EnvSMTPAddr, "mail:25", notify.EnvSMTPFrom, "cs@example.org"),
		"smtp addr without port": env(notify.EnvSMTPAddr, "mail", notify.EnvSMTPFrom, "x@y", notify.EnvSMTPTo, "z@y"),
		"both passwords":         env(notify.EnvSMTPPassword, "a", notify.EnvSMTPPasswordFile, pwFile),
		"missing password file":  env(notify.EnvSMTPPasswordFile, filepath.Join(t.TempDir(), "none")),
	} {
		_, err := notify.ConfigFromEnv(bad)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret-part") {
			t.Errorf("%s: the error shows the webhook URL: %v", name, err)
		}
	}
}
