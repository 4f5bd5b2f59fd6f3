// Package notify delivers a digest.Message: a Slack-compatible webhook
// and/or email over SMTP (STARTTLS when offered), standard library only.
// It is the digest's adapter to the outside world; building the message is
// pkg/digest's (pure).
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/digest"
)

// Environment variables of the delivery (ConfigFromEnv).
const (
	EnvWebhookURL   = "CONTACTSYNC_DIGEST_WEBHOOK_URL"
	EnvSMTPAddr     = "CONTACTSYNC_DIGEST_SMTP_ADDR"
	EnvSMTPFrom     = "CONTACTSYNC_DIGEST_SMTP_FROM"
	EnvSMTPTo       = "CONTACTSYNC_DIGEST_SMTP_TO"
	EnvSMTPUsername = "CONTACTSYNC_DIGEST_SMTP_USERNAME"
	EnvSMTPPassword = "CONTACTSYNC_DIGEST_SMTP_PASSWORD"
	// EnvSMTPPasswordFile names a file holding the password (a mounted
	// secret), instead of EnvSMTPPassword.
	EnvSMTPPasswordFile = "CONTACTSYNC_DIGEST_SMTP_PASSWORD_FILE"
	EnvDashboardURL     = "CONTACTSYNC_DIGEST_DASHBOARD_URL"
)

// Config says where digests go: a Slack-compatible webhook, email, or both.
type Config struct {
	WebhookURL   string
	SMTP         SMTPConfig
	DashboardURL string
}

// SMTPConfig is an SMTP relay; Addr "" means no email.
type SMTPConfig struct {
	Addr     string // host:port
	From     string
	To       []string
	Username string
	Password string
	// TLS overrides the STARTTLS client configuration (tests give their
	// certificate pool); nil verifies the server against the system roots.
	TLS *tls.Config
}

// ConfigFromEnv reads the delivery settings; a password file is read here.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{WebhookURL: strings.TrimSpace(getenv(EnvWebhookURL)), DashboardURL: strings.TrimSpace(getenv(EnvDashboardURL)),
		SMTP: SMTPConfig{Addr: strings.TrimSpace(getenv(EnvSMTPAddr)), From: strings.TrimSpace(getenv(EnvSMTPFrom)),
			Username: getenv(EnvSMTPUsername), Password: getenv(EnvSMTPPassword)}}
	for _, to := range strings.Split(getenv(EnvSMTPTo), ",") {
		if to = strings.TrimSpace(to); to != "" {
			c.SMTP.To = append(c.SMTP.To, to)
		}
	}
	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("%s is not an http(s) URL", EnvWebhookURL) // the URL is a secret: not echoed
		}
	}
	if f := getenv(EnvSMTPPasswordFile); f != "" {
		if c.SMTP.Password != "" {
			return c, fmt.Errorf("set %s or %s, not both", EnvSMTPPassword, EnvSMTPPasswordFile)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return c, fmt.Errorf("%s: %w", EnvSMTPPasswordFile, err)
		}
		c.SMTP.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.SMTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.SMTP.Addr); err != nil {
			return c, fmt.Errorf("%s=%q: want host:port", EnvSMTPAddr, c.SMTP.Addr)
		}
		if c.SMTP.From == "" || len(c.SMTP.To) == 0 {
			return c, fmt.Errorf("%s needs %s and %s", EnvSMTPAddr, EnvSMTPFrom, EnvSMTPTo)
		}
	}
	return c, nil
}

// Enabled says whether the configuration sends anywhere.
func (c Config) Enabled() bool { return c.WebhookURL != "" || c.SMTP.Addr != "" }

// Send delivers m to every configured destination, trying each even when
// another fails.
func Send(ctx context.Context, c Config, m digest.Message) error {
	if !c.Enabled() {
		return fmt.Errorf("no destination: set %s and/or %s", EnvWebhookURL, EnvSMTPAddr)
	}
	var errs []error
	if c.WebhookURL != "" {
		if err := Webhook(ctx, http.DefaultClient, c.WebhookURL, m); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SMTP.Addr != "" {
		if err := Mail(ctx, c.SMTP, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Webhook posts {"text": subject and text} to a Slack-compatible incoming
// webhook. Errors never carry the URL (it is the secret).
func Webhook(ctx context.Context, client *http.Client, webhookURL string, m digest.Message) error {
	body, err := json.Marshal(map[string]string{"text": m.Subject + "\n\n" + m.Text})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("digest webhook: bad URL")
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("digest webhook: %w", err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("digest webhook: %s: %s", res.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

// Mail sends m over SMTP: STARTTLS when the server offers it, and
// authentication (PLAIN, which net/smtp sends only over TLS or to
// localhost) when a username is set.
func Mail(ctx context.Context, c SMTPConfig, m digest.Message) error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("digest smtp: %w", err)
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("digest smtp: %w", err)
	}
	// One deadline for the whole conversation.
	deadline := time.Now().Add(time.Minute)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("digest smtp: %w", err)
	}
	defer cl.Close()
	if err := cl.Hello("localhost"); err != nil {
		return fmt.Errorf("digest smtp hello: %w", err)
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		tc := c.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tc = tc.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		if err := cl.StartTLS(tc); err != nil {
			return fmt.Errorf("digest smtp starttls: %w", err)
		}
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("digest smtp auth: %w", err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return fmt.Errorf("digest smtp from: %w", err)
	}
	for _, to := range c.To {
		if err := cl.Rcpt(to); err != nil {
			return fmt.Errorf("digest smtp to %s: %w", to, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("digest smtp data: %w", err)
	}
	if _, err := w.Write(mailBody(c.From, c.To, m, time.Now())); err != nil {
		return fmt.Errorf("digest smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("digest smtp data: %w", err)
	}
	return cl.Quit()
}

// mailBody is the message: plain text, quoted-printable, the subject
// encoded for any character.
func mailBody(from string, to []string, m digest.Message, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, strings.Join(to, ", "),
		mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
