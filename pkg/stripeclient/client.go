// Package stripeclient is the applier's adapter for Stripe's API: it
// implements apply.Platform by creating and updating Stripe customers
// (POST /v1/customers, POST /v1/customers/{id}, form-encoded), with an
// Idempotency-Key per sink record, and sorts Stripe's answers into the
// applier's outcomes.
package stripeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/stripe"
)

// The client is the applier's Platform.
var _ apply.Platform = (*Client)(nil)

// DefaultURL is Stripe's API.
const DefaultURL = "https://api.stripe.com"

// Client writes sink records to Stripe customers.
type Client struct {
	base      string
	key       string
	keyPrefix string
	http      *http.Client
	now       func() time.Time
}

// New returns a client of the Stripe API at baseURL (DefaultURL, or
// stripe-mock's in tests) with a secret or restricted API key (it needs
// write access to customers). hc may be nil: the applier bounds each call.
func New(baseURL, apiKey string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("stripe URL %q: want http(s)://host[:port]", baseURL)
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, fmt.Errorf("stripe: the API key is empty")
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: strings.TrimSpace(apiKey),
		keyPrefix: stripe.DefaultSyncKeyPrefix, http: hc, now: time.Now}, nil
}

// IdempotencyKey is the key of a sink record's write. Its prefix marks the
// write as the sync's own in the events it causes (pkg/stripe reads them as
// origin sync), so the change is not sent back.
func (c *Client) IdempotencyKey(rec contact.SinkRecord) string { return c.keyPrefix + rec.EventID }

// Write makes the change of rec in Stripe (apply.Platform).
func (c *Client) Write(ctx context.Context, rec contact.SinkRecord) error {
	switch {
	case rec.Entity == contact.EntityGift:
		return &apply.Rejected{Code: "unsupported", Message: "Stripe takes no gifts from the sync (payments are made in Stripe): leave it out of the gifts' destinations"}
	case rec.Op == contact.SinkCreate:
		_, err := c.call(ctx, http.MethodPost, "/v1/customers", c.IdempotencyKey(rec), customerForm(rec, true, nameParts{}))
		return err
	case rec.Op == contact.SinkUpdate:
		if !strings.HasPrefix(rec.TargetRecordID, "cus_") {
			return &apply.Rejected{Code: "not_a_customer", Message: "the record is not a Stripe customer (a guest payment's donor has none to update)"}
		}
		path := "/v1/customers/" + url.PathEscape(rec.TargetRecordID)
		var current nameParts
		if needsCurrentName(rec) {
			var err error
			if current, err = c.currentName(ctx, path); err != nil {
				return err
			}
		}
		form := customerForm(rec, false, current)
		if len(form) == 0 {
			return nil // nothing Stripe keeps
		}
		_, err := c.call(ctx, http.MethodPost, path, c.IdempotencyKey(rec), form)
		return err
	}
	return &apply.Rejected{Message: fmt.Sprintf("unknown operation %q on %q", rec.Op, rec.Entity)}
}

type nameParts struct{ given, family string }

// currentName reads the customer's name as the mapping splits it, for an
// update that changes only one part of Stripe's single name.
func (c *Client) currentName(ctx context.Context, path string) (nameParts, error) {
	body, err := c.call(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nameParts{}, err
	}
	var cus struct {
		Name     *string           `json:"name"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(body, &cus); err != nil {
		return nameParts{}, fmt.Errorf("GET customer: unreadable answer: %w", err) // transient
	}
	name := ""
	if cus.Name != nil {
		name = *cus.Name
	}
	g, f := stripe.SplitName(name, cus.Metadata)
	return nameParts{g, f}, nil
}

// stripeError is Stripe's error body.
type stripeError struct {
	Error struct {
		Type  string `json:"type"`
		Code  string `json:"code"`
		Param string `json:"param"`
	} `json:"error"`
}

// call makes one request and sorts Stripe's answer into the applier's
// outcomes (docs.stripe.com/error-handling, /rate-limits):
//   - Stripe-Should-Retry: true: transient (or throttled on a 429), false:
//     rejected, whatever the status; without it the status decides:
//   - 429: throttled, after Retry-After (1s without one);
//   - 5xx, 409 (a concurrent request with the same idempotency key), 424:
//     transient, retried with backoff;
//   - 401, 403: transient: a wrong or too restricted API key is fixed in
//     the configuration, not in the records, so they wait (the circuit
//     breaker holds them) instead of all becoming kick-outs;
//   - any other 4xx: rejected, with Stripe's error type, code and param
//     (Stripe's message is left out: it may quote the value sent).
func (c *Client) call(ctx context.Context, method, path, key string, form url.Values) ([]byte, error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := apply.NewRequest(ctx, method, c.base+path, rd, "application/x-www-form-urlencoded", key)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, out, err := apply.Exchange(c.http, req, "stripe "+method+" "+path)
	if err != nil {
		return nil, err
	}
	st := resp.StatusCode
	if st >= 200 && st < 300 {
		return out, nil
	}
	transient := func() error { return fmt.Errorf("stripe %s %s: answered %d", method, path, st) }
	switch resp.Header.Get("Stripe-Should-Retry") {
	case "true":
		if st == http.StatusTooManyRequests {
			return nil, apply.ThrottledBy(resp.Header, c.now())
		}
		return nil, transient()
	case "false":
		return nil, rejected(st, out)
	}
	switch {
	case st == http.StatusTooManyRequests:
		return nil, apply.ThrottledBy(resp.Header, c.now())
	case st >= 500, st == http.StatusConflict, st == http.StatusFailedDependency,
		st == http.StatusUnauthorized, st == http.StatusForbidden, st == http.StatusRequestTimeout:
		return nil, transient()
	}
	return nil, rejected(st, out)
}

func rejected(status int, body []byte) *apply.Rejected {
	var e stripeError
	_ = json.Unmarshal(body, &e)
	r := &apply.Rejected{Status: status, Code: e.Error.Code}
	if r.Code == "" {
		r.Code = e.Error.Type
	}
	var parts []string
	if e.Error.Type != "" {
		parts = append(parts, e.Error.Type)
	}
	if e.Error.Param != "" {
		parts = append(parts, "param "+e.Error.Param)
	}
	r.Message = strings.Join(parts, ", ")
	return r
}
