// Package platformclient is the applier's adapter for the reference online
// platform's REST API (docs/platform-api.md): it implements apply.Platform.
// An adapter for another platform implements the same port with that
// platform's calls.
package platformclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/apply"
	"github.com/contactsync/contactsync/pkg/contact"
)

// OriginSync is the X-Change-Origin of every write: the platform's webhook
// of the change carries it, so the pipeline knows the change for the
// sync's own echo and does not send it back.
const OriginSync = "sync"

// Client writes sink records to the platform at BaseURL.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the platform at baseURL (e.g.
// http://127.0.0.1:8091). hc may be nil (a client without its own timeout:
// the applier bounds each call).
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("platform URL %q: want http(s)://host[:port]", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: hc}, nil
}

// Write makes the change of rec on the platform (apply.Platform).
func (c *Client) Write(ctx context.Context, rec contact.SinkRecord) error {
	switch {
	case rec.Entity == contact.EntityGift:
		return c.writeGift(ctx, rec)
	case rec.Op == contact.SinkCreate:
		return c.createContact(ctx, rec)
	case rec.Op == contact.SinkUpdate:
		if rec.TargetRecordID == "" {
			return &apply.Rejected{Message: "update without the platform's record id"}
		}
		_, err := c.call(ctx, http.MethodPatch, "/api/contacts/"+url.PathEscape(rec.TargetRecordID), rec.EventID, patchOf(rec, false))
		return err
	}
	return &apply.Rejected{Message: fmt.Sprintf("unknown operation %q on %q", rec.Op, rec.Entity)}
}

// createContact creates the contact. A contact that already carries the
// record's offline id (created by an earlier write whose answer was lost
// with its idempotency memory) is updated instead of doubled.
func (c *Client) createContact(ctx context.Context, rec contact.SinkRecord) error {
	_, err := c.call(ctx, http.MethodPost, "/api/contacts", rec.EventID, patchOf(rec, true))
	var rej *apply.Rejected
	if !errors.As(err, &rej) || rej.Code != "external_id_taken" || rec.Links["offline"] == "" {
		return err
	}
	body, err := c.call(ctx, http.MethodGet, "/api/contacts?external_id="+url.QueryEscape("offline:"+rec.Links["offline"]), "", nil)
	if err != nil {
		return err
	}
	var found struct {
		Contacts []struct {
			ID string `json:"id"`
		} `json:"contacts"`
	}
	if err := json.Unmarshal(body, &found); err != nil || len(found.Contacts) != 1 {
		return rej
	}
	_, err = c.call(ctx, http.MethodPatch, "/api/contacts/"+url.PathEscape(found.Contacts[0].ID), rec.EventID, patchOf(rec, false))
	return err
}

func (c *Client) writeGift(ctx context.Context, rec contact.SinkRecord) error {
	g := rec.Gift
	if g == nil || rec.TargetRecordID == "" {
		return &apply.Rejected{Message: "gift without its gift or the donor's platform record id"}
	}
	body := map[string]any{
		"contact_id": rec.TargetRecordID, "amount": Amount(g.AmountMinor, g.Currency), "currency": g.Currency,
	}
	for k, v := range map[string]string{"campaign": g.Campaign, "fund": g.Fund, "payment_method": g.PaymentMethod} {
		if v != "" {
			body[k] = v
		}
	}
	if !g.ReceivedAt.IsZero() {
		body["received_at"] = g.ReceivedAt.UTC().Format(time.RFC3339)
	}
	_, err := c.call(ctx, http.MethodPost, "/api/gifts", rec.EventID, body)
	return err
}

// apiError is the platform's error body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// call makes one request and sorts its answer into the applier's outcomes.
func (c *Client) call(ctx context.Context, method, path, key string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &apply.Rejected{Message: "encode request: " + err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := apply.NewRequest(ctx, method, c.base+path, rd, "application/json", key)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Change-Origin", OriginSync)
	resp, out, err := apply.Exchange(c.http, req, method+" "+path)
	if err != nil {
		return nil, err
	}
	switch st := resp.StatusCode; {
	case st >= 200 && st < 300:
		return out, nil
	case st == http.StatusTooManyRequests:
		return nil, apply.ThrottledBy(resp.Header, time.Now())
	case st >= 500 || st == http.StatusRequestTimeout || st == http.StatusPreconditionFailed:
		// 412: the record changed under a conditional write; retry.
		return nil, fmt.Errorf("%s %s: platform answered %d", method, path, st)
	default:
		var e apiError
		_ = json.Unmarshal(out, &e)
		msg := e.Message
		if e.Field != "" && !strings.Contains(msg, e.Field) {
			msg = e.Field + ": " + msg
		}
		return nil, &apply.Rejected{Status: st, Code: e.Error, Message: msg}
	}
}
