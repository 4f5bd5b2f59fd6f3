// Package platformsim is the reference online platform contactsync ships
// for tests, the demo and as the contract of a platform adapter: an
// in-memory REST API for contacts and gifts with versions (ETag/If-Match)
// and idempotency keys, donor portal endpoints, signed webhooks to the
// gateway for every change, and faults (429, 500, 422, slowness) on demand.
// docs/platform-api.md documents the API.
package platformsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Options configures a Platform.
type Options struct {
	// System is the name the webhooks give as "system" (default "online").
	System string
	// GatewayURL receives the webhooks (e.g.
	// https://gateway.example.org/webhooks/platform); empty records them
	// without sending.
	GatewayURL string
	// Secrets sign the webhooks (one v1 per secret).
	Secrets [][]byte
	// Faults in force at the start.
	Faults Faults
	// HTTPClient sends webhooks (default: 10 s timeout).
	HTTPClient *http.Client
	// MaxAttempts per webhook (default 8) and the first retry wait
	// (default 200ms, doubling).
	MaxAttempts int
	RetryBase   time.Duration
	Now         func() time.Time
}

// Call is one request to the API, as the call log shows it.
type Call struct {
	Time           time.Time `json:"time"`
	Method         string    `json:"method"`
	Path           string    `json:"path"`
	Status         int       `json:"status"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Replayed       bool      `json:"replayed,omitempty"`
}

// Platform is the simulated platform.
type Platform struct {
	opts     Options
	instance string
	emit     *emitter
	mux      *http.ServeMux

	mu       sync.Mutex
	seq      int64
	contacts map[string]*Contact
	gifts    map[string]*Gift
	idem     map[string]idemEntry
	faults   Faults
	calls    []Call
}

type idemEntry struct {
	fingerprint string
	status      int
	etag        string
	body        []byte
}

// Headers of the API.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	// HeaderOrigin lets an API client say who it is acting for (admin,
	// api, import, sync); the webhook of the change carries it as origin.
	HeaderOrigin = "X-Change-Origin"
	maxBody      = 64 << 10
	maxIdemKey   = 255
)

// New returns a platform; call Run to deliver its webhooks.
func New(opts Options) (*Platform, error) {
	if opts.System == "" {
		opts.System = "online"
	}
	if opts.GatewayURL != "" && len(opts.Secrets) == 0 {
		return nil, errors.New("platform-sim: a gateway URL needs a webhook secret")
	}
	if err := opts.Faults.check(); err != nil {
		return nil, err
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	inst := make([]byte, 4)
	_, _ = rand.Read(inst)
	p := &Platform{
		opts: opts, instance: hex.EncodeToString(inst), mux: http.NewServeMux(),
		contacts: map[string]*Contact{}, gifts: map[string]*Gift{}, idem: map[string]idemEntry{}, faults: opts.Faults,
		emit: &emitter{url: opts.GatewayURL, secrets: opts.Secrets, client: opts.HTTPClient, now: opts.Now,
			maxAttempts: opts.MaxAttempts, retryBase: opts.RetryBase, wake: make(chan struct{}, 1)},
	}
	p.routes()
	return p, nil
}

// Run delivers webhooks until ctx ends.
func (p *Platform) Run(ctx context.Context) { p.emit.run(ctx) }

// Handler serves the API, the portal and the control endpoints.
func (p *Platform) Handler() http.Handler { return p.mux }

// Deliveries returns the webhooks so far, oldest first.
func (p *Platform) Deliveries() []Delivery { return p.emit.deliveries() }

// Calls returns the API calls so far, oldest first.
func (p *Platform) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// SetFaults replaces the faults in force.
func (p *Platform) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
	return nil
}

// Contact returns a copy of a contact.
func (p *Platform) Contact(id string) (Contact, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.contacts[id]
	if !ok {
		return Contact{}, false
	}
	return *c.clone(), true
}

func (p *Platform) routes() {
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request, body []byte) (int, any)) {
		p.mux.HandleFunc(pattern, p.apiCall(h))
	}
	api("POST /api/contacts", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.createContact(w, body, originOf(r, contact.OriginAPI), nil)
	})
	api("GET /api/contacts", p.findContacts)
	api("GET /api/contacts/{id}", p.getContact)
	api("PATCH /api/contacts/{id}", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.updateContact(w, r, body, originOf(r, contact.OriginAPI), nil, true)
	})
	api("POST /api/gifts", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.createGift(body, "", originOf(r, contact.OriginAPI))
	})
	api("GET /api/gifts/{id}", p.getGift)

	portal := func(pattern string, h func(w http.ResponseWriter, r *http.Request, body []byte) (int, any)) {
		p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, err := readBody(w, r)
			if err != nil {
				writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "body_too_large", Message: err.Error()})
				return
			}
			status, v := h(w, r, body)
			writeJSON(w, status, v)
		})
	}
	self := string(contact.OriginSelfService)
	portal("POST /portal/signup", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.createContact(w, body, self, portalForbidden)
	})
	portal("PATCH /portal/contacts/{id}", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.updateContact(w, r, body, self, portalForbidden, false)
	})
	portal("POST /portal/contacts/{id}/donations", func(w http.ResponseWriter, r *http.Request, body []byte) (int, any) {
		return p.createGift(body, r.PathValue("id"), self)
	})

	p.mux.HandleFunc("GET /control/faults", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		f := p.faults
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, f)
	})
	p.mux.HandleFunc("PUT /control/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		body, err := readBody(w, r)
		if err == nil {
			err = strictObject(body, &f)
		}
		if err == nil {
			err = p.SetFaults(f)
		}
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: "invalid_faults", Message: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, f)
	})
	p.mux.HandleFunc("DELETE /control/faults", func(w http.ResponseWriter, _ *http.Request) {
		_ = p.SetFaults(Faults{})
		writeJSON(w, http.StatusOK, Faults{})
	})
	p.mux.HandleFunc("GET /control/webhooks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"webhooks": p.Deliveries()})
	})
	p.mux.HandleFunc("GET /control/calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"calls": p.Calls()})
	})
	p.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Message: "see docs/platform-api.md"})
	})
}

type apiError struct {
	Error          string `json:"error"`
	Message        string `json:"message"`
	Field          string `json:"field,omitempty"`
	CurrentVersion int64  `json:"current_version,omitempty"`
}

// apiCall wraps an API handler with the faults, idempotency keys and the
// call log.
func (p *Platform) apiCall(h func(w http.ResponseWriter, r *http.Request, body []byte) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call := Call{Time: p.opts.Now().UTC(), Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get(HeaderIdempotencyKey)}
		status := p.serveAPI(w, r, h, &call)
		call.Status = status
		p.mu.Lock()
		p.calls = append(p.calls, call)
		p.mu.Unlock()
	}
}

func (p *Platform) serveAPI(w http.ResponseWriter, r *http.Request, h func(w http.ResponseWriter, r *http.Request, body []byte) (int, any), call *Call) int {
	p.mu.Lock()
	delay := time.Duration(p.faults.Delay)
	fault, faulty := p.faults.take()
	p.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return 499 // the client gave up; nothing was done
		case <-t.C:
		}
	}
	if faulty {
		if fault.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(fault.retryAfter.Round(time.Second)/time.Second))))
		}
		msg := map[int]string{429: "rate limited (injected)", 500: "internal error (injected)", 422: "validation failed (injected)"}[fault.status]
		writeJSON(w, fault.status, apiError{Error: "injected", Message: msg})
		return fault.status
	}
	body, err := readBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "body_too_large", Message: err.Error()})
		return http.StatusRequestEntityTooLarge
	}
	key := call.IdempotencyKey
	if key == "" || r.Method == http.MethodGet {
		status, v := h(w, r, body)
		writeJSON(w, status, v)
		return status
	}
	if len(key) > maxIdemKey {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_idempotency_key", Message: "at most 255 bytes"})
		return http.StatusBadRequest
	}
	sum := sha256.Sum256(body)
	fp := r.Method + " " + r.URL.Path + " " + hex.EncodeToString(sum[:])
	p.mu.Lock()
	prev, seen := p.idem[key]
	p.mu.Unlock()
	if seen {
		if prev.fingerprint != fp {
			writeJSON(w, http.StatusConflict, apiError{Error: "idempotency_key_reused", Message: "the key was used for another request"})
			return http.StatusConflict
		}
		call.Replayed = true
		w.Header().Set(HeaderReplayed, "true")
		if prev.etag != "" {
			w.Header().Set("ETag", prev.etag)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(prev.status)
		_, _ = w.Write(prev.body)
		return prev.status
	}
	status, v := h(w, r, body)
	out, _ := json.Marshal(v)
	if status >= 200 && status < 300 {
		// Only a request that took effect is remembered: a retry after a
		// 412 or 422 is a new attempt.
		p.mu.Lock()
		p.idem[key] = idemEntry{fingerprint: fp, status: status, etag: w.Header().Get("ETag"), body: out}
		p.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
	return status
}

// The idempotency check and the write are two steps; two concurrent
// requests with one key could both run. Adapters send one request per key
// at a time, as the contract says.

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("the body exceeds %d bytes", maxBody)
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func originOf(r *http.Request, def contact.Origin) string {
	switch o := contact.Origin(r.Header.Get(HeaderOrigin)); o {
	case contact.OriginAdmin, contact.OriginAPI, contact.OriginImport, contact.OriginSync, contact.OriginNCOA:
		return string(o)
	}
	return string(def)
}

func etag(c *Contact) string { return `"` + strconv.FormatInt(c.Version, 10) + `"` }

func validationFailed(err error) (int, any) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return http.StatusUnprocessableEntity, apiError{Error: "validation_failed", Message: ve.Problem, Field: ve.Field}
	}
	return http.StatusUnprocessableEntity, apiError{Error: "validation_failed", Message: err.Error()}
}

func notFound(what string) (int, any) {
	return http.StatusNotFound, apiError{Error: "not_found", Message: "no " + what + " with that id"}
}

// nextID returns a new id; the instance part keeps ids of a restarted
// simulator from reusing those the pipeline already knows. Under p.mu.
func (p *Platform) nextID(kind string) string {
	p.seq++
	return fmt.Sprintf("%s-%s-%06d", kind, p.instance, p.seq)
}

func (p *Platform) createContact(w http.ResponseWriter, body []byte, origin string, forbidden map[string]bool) (int, any) {
	now := p.opts.Now().UTC()
	c := &Contact{ExternalIDs: map[string]string{}, CreatedAt: now, UpdatedAt: now, Version: 1}
	if _, err := applyPatch(c, body, forbidden); err != nil {
		return validationFailed(err)
	}
	if c.ReferenceSource == "" {
		c.ReferenceSource = p.opts.System
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if status, v, taken := p.externalIDTaken(c); taken {
		return status, v
	}
	c.ID = p.nextID("c")
	p.contacts[c.ID] = c
	p.emitLocked("contact.created", origin, c, change{}, nil)
	w.Header().Set("ETag", etag(c))
	w.Header().Set("Location", "/api/contacts/"+c.ID)
	return http.StatusCreated, c.clone()
}

// externalIDTaken: an external id names one contact. Under p.mu.
func (p *Platform) externalIDTaken(c *Contact) (int, any, bool) {
	for _, o := range p.contacts {
		if o.ID == c.ID {
			continue
		}
		for k, v := range c.ExternalIDs {
			if o.ExternalIDs[k] == v {
				return http.StatusConflict, apiError{Error: "external_id_taken", Message: "another contact has this external id", Field: "external_ids." + k}, true
			}
		}
	}
	return 0, nil, false
}

func (p *Platform) updateContact(w http.ResponseWriter, r *http.Request, body []byte, origin string, forbidden map[string]bool, conditional bool) (int, any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, ok := p.contacts[r.PathValue("id")]
	if !ok {
		return notFound("contact")
	}
	if m := r.Header.Get("If-Match"); conditional && m != "" && m != "*" && m != etag(cur) {
		w.Header().Set("ETag", etag(cur))
		return http.StatusPreconditionFailed, apiError{Error: "version_mismatch", Message: "the contact changed since that version", CurrentVersion: cur.Version}
	}
	next := cur.clone()
	ch, err := applyPatch(next, body, forbidden)
	if err != nil {
		return validationFailed(err)
	}
	if status, v, taken := p.externalIDTaken(next); taken {
		return status, v
	}
	if ch.changed {
		// A write that changes nothing keeps the version and sends no
		// webhook, so an adapter's repeated write cannot start a loop.
		next.Version++
		next.UpdatedAt = p.opts.Now().UTC()
		p.contacts[next.ID] = next
		p.emitLocked("contact.updated", origin, next, ch, nil)
	}
	w.Header().Set("ETag", etag(p.contacts[next.ID]))
	return http.StatusOK, p.contacts[next.ID].clone()
}

func (p *Platform) getContact(w http.ResponseWriter, r *http.Request, _ []byte) (int, any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.contacts[r.PathValue("id")]
	if !ok {
		return notFound("contact")
	}
	w.Header().Set("ETag", etag(c))
	return http.StatusOK, c.clone()
}

// findContacts answers GET /api/contacts?external_id=<kind>:<value> (or
// every contact without a filter).
func (p *Platform) findContacts(_ http.ResponseWriter, r *http.Request, _ []byte) (int, any) {
	filter := r.URL.Query().Get("external_id")
	kind, value, hasFilter := strings.Cut(filter, ":")
	if filter != "" && (!hasFilter || kind == "" || value == "") {
		return http.StatusBadRequest, apiError{Error: "invalid_filter", Message: "external_id must be <kind>:<value>"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []*Contact{}
	for _, c := range p.contacts {
		if filter == "" || c.ExternalIDs[kind] == value {
			out = append(out, c.clone())
		}
	}
	sortContacts(out)
	return http.StatusOK, map[string]any{"contacts": out}
}

func (p *Platform) createGift(body []byte, contactID, origin string) (int, any) {
	var in giftInput
	if err := strictObject(body, &in); err != nil {
		return validationFailed(invalid("body", "must be a JSON object of the gift fields"))
	}
	if contactID != "" {
		if in.ContactID != "" && in.ContactID != contactID {
			return validationFailed(invalid("contact_id", "is given by the URL"))
		}
		in.ContactID = contactID
	}
	g, err := in.gift(p.opts.Now().UTC())
	if err != nil {
		return validationFailed(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.contacts[g.ContactID]
	if !ok {
		return validationFailed(invalid("contact_id", "no contact with that id"))
	}
	g.ID = p.nextID("g")
	p.gifts[g.ID] = &g
	p.emitLocked("gift.created", origin, c, change{}, &g)
	return http.StatusCreated, g
}

func (p *Platform) getGift(_ http.ResponseWriter, r *http.Request, _ []byte) (int, any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.gifts[r.PathValue("id")]
	if !ok {
		return notFound("gift")
	}
	return http.StatusOK, *g
}

// emitLocked queues the webhook of a change, under p.mu so that webhooks
// leave in the order of the changes.
func (p *Platform) emitLocked(kind, origin string, c *Contact, ch change, g *Gift) {
	id := p.nextID("evt")
	body := eventBody(id, kind, p.opts.System, origin, p.opts.Now(), contactObject(c, ch), g)
	p.emit.enqueue(&Delivery{EventID: id, Type: kind, ContactID: c.ID, Origin: origin, Body: body})
}
