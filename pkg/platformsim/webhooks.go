package platformsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/gateway"
)

// Delivery is one webhook and how its delivery went.
type Delivery struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	ContactID  string          `json:"contact_id"`
	Origin     string          `json:"origin"`
	Status     string          `json:"status"` // pending, delivered, rejected (4xx), failed (gave up), disabled (no gateway URL)
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	Body       json.RawMessage `json:"body"`
}

// Delivery states.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusRejected  = "rejected"
	StatusFailed    = "failed"
	StatusDisabled  = "disabled"
)

// contactObject is the contact as the online event format has it: every
// value the platform holds, and null for what this change cleared (an
// absent key is "not supplied", so an unchanged empty field stays absent).
func contactObject(c *Contact, ch change) map[string]any {
	m := map[string]any{"id": c.ID}
	for _, kv := range []struct{ k, v string }{
		{"reference_source", c.ReferenceSource}, {"first_name", c.FirstName}, {"last_name", c.LastName},
		{"organisation", c.Organisation}, {"email", c.Email}, {"phone", c.Phone}, {"date_of_birth", c.DateOfBirth},
	} {
		if kv.v != "" {
			m[kv.k] = kv.v
		}
	}
	addr := map[string]any{}
	if a := c.Address; a != nil {
		for _, kv := range []struct{ k, v string }{
			{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City}, {"region", a.Region}, {"postcode", a.Postcode}, {"country", a.Country},
		} {
			if kv.v != "" {
				addr[kv.k] = kv.v
			}
		}
	}
	custom := map[string]any{}
	for k, v := range c.CustomFields {
		custom[k] = v
	}
	for _, f := range ch.cleared {
		switch {
		case strings.HasPrefix(f, "custom_fields."):
			custom[strings.TrimPrefix(f, "custom_fields.")] = nil
		case f == "address":
			m["address"] = nil
		case len(f) > len("address.") && f[:len("address.")] == "address.":
			addr[f[len("address."):]] = nil
		default:
			m[f] = nil
		}
	}
	if len(addr) > 0 {
		m["address"] = addr
	}
	consent := map[string]any{}
	for _, kv := range []struct {
		k string
		v *bool
	}{{"email", c.Consent.Email}, {"post", c.Consent.Post}, {"phone", c.Consent.Phone}} {
		if kv.v != nil {
			consent[kv.k] = *kv.v
		}
	}
	if len(consent) > 0 {
		m["consent"] = consent
	}
	if len(c.ExternalIDs) > 0 {
		m["external_ids"] = c.ExternalIDs
	}
	if len(custom) > 0 {
		m["custom_fields"] = custom
	}
	return m
}

func eventBody(eventID, kind, system, origin string, at time.Time, contact map[string]any, gift *Gift) []byte {
	ev := map[string]any{
		"event_id": eventID, "type": kind, "system": system, "origin": origin,
		"occurred_at": at.UTC().Format(time.RFC3339Nano), "contact": contact,
	}
	if gift != nil {
		g := map[string]any{"id": gift.ID, "amount": gift.Amount, "currency": gift.Currency, "received_at": gift.ReceivedAt.UTC().Format(time.RFC3339Nano)}
		for k, v := range map[string]string{"campaign": gift.Campaign, "fund": gift.Fund, "payment_method": gift.PaymentMethod} {
			if v != "" {
				g[k] = v
			}
		}
		ev["gift"] = g
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // maps of strings, bools and nils always marshal
	}
	return b
}

// emitter delivers webhooks one at a time, in the order of the changes
// (a later change of a contact never overtakes an earlier one), retrying
// 429s, 5xx and network errors with exponential backoff (honouring
// Retry-After) up to maxAttempts; a 4xx other than 429 is not retried.
type emitter struct {
	url         string
	secrets     [][]byte
	client      *http.Client
	now         func() time.Time
	maxAttempts int
	retryBase   time.Duration

	mu      sync.Mutex
	all     []*Delivery
	pending []*Delivery
	wake    chan struct{}
}

func (e *emitter) enqueue(d *Delivery) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, d)
	if e.url == "" {
		d.Status = StatusDisabled
		return
	}
	d.Status = StatusPending
	e.pending = append(e.pending, d)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *emitter) deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Delivery, len(e.all))
	for i, d := range e.all {
		out[i] = *d
	}
	return out
}

// run delivers until ctx ends.
func (e *emitter) run(ctx context.Context) {
	for {
		e.mu.Lock()
		var d *Delivery
		if len(e.pending) > 0 {
			d = e.pending[0]
		}
		e.mu.Unlock()
		if d == nil {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				continue
			}
		}
		wait, done := e.attempt(ctx, d)
		if done {
			e.mu.Lock()
			e.pending = e.pending[1:]
			e.mu.Unlock()
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// attempt sends d once; done is false when it should be tried again after
// wait.
func (e *emitter) attempt(ctx context.Context, d *Delivery) (wait time.Duration, done bool) {
	status, retryAfter, err := e.send(ctx, d.Body)
	e.mu.Lock()
	defer e.mu.Unlock()
	d.Attempts++
	d.LastStatus, d.LastError = status, ""
	if err != nil {
		d.LastError = err.Error()
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		d.Status = StatusDelivered
		return 0, true
	case err == nil && status != http.StatusTooManyRequests && status < 500:
		d.Status = StatusRejected
		return 0, true
	case d.Attempts >= e.maxAttempts:
		d.Status = StatusFailed
		return 0, true
	}
	wait = e.retryBase << min(d.Attempts-1, 10)
	if retryAfter > wait {
		wait = min(retryAfter, time.Minute)
	}
	return wait, false
}

func (e *emitter) send(ctx context.Context, body []byte) (status int, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook request: %w", err)
	}
	ts, sig := gateway.SignatureHeader(e.now(), body, e.secrets...)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(gateway.HeaderTimestamp, ts)
	req.Header.Set(gateway.HeaderSignature, sig)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook delivery: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}
