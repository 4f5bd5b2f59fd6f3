package stripe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The Stripe event types the sync reads. Every other type is acknowledged
// and ignored (Mapped.Ignored says why): Stripe sends whatever the
// endpoint subscribes to, and answering an error would only make it retry.
const (
	TypeCustomerCreated        = "customer.created"
	TypeCustomerUpdated        = "customer.updated"
	TypePaymentIntentSucceeded = "payment_intent.succeeded"
	TypeChargeSucceeded        = "charge.succeeded"
)

// DefaultSyncKeyPrefix starts every Idempotency-Key the sync's Stripe
// client sends. Stripe copies a request's key into the events it causes
// (request.idempotency_key), which is how the sync's own writes are told
// from everyone else's: their events get origin sync and are not sent
// back.
const DefaultSyncKeyPrefix = "contactsync-"

// GuestPrefix starts the contact id of a payment without a Stripe
// customer (a guest checkout): the payment's own id stands for the donor.
const GuestPrefix = "guest:"

// Metadata keys the mapping reads (and the sync's Stripe client writes).
const (
	MetaOfflineID  = "offline_id"
	MetaGivenName  = "given_name"
	MetaFamilyName = "family_name"
	// MetaReferenceSource is the system a customer the sync created came
	// from.
	MetaReferenceSource = "reference_source"
	MetaCampaign        = "campaign"
	MetaFund            = "fund"
)

// ErrEvent is the reason of every event the mapping cannot read; the
// wrapping error names the field, never its value.
var ErrEvent = errors.New("stripe_event_unreadable")

// Options configure Map.
type Options struct {
	// System is the online system the endpoint speaks for.
	System string
	// SyncKeyPrefix marks the sync's own writes (default
	// DefaultSyncKeyPrefix).
	SyncKeyPrefix string
}

// Mapped is one Stripe event as the sync reads it.
type Mapped struct {
	EventID    string // Stripe's event id (evt_...), also the online event's id
	StripeType string // the Stripe event type
	// Ignored, when set, says why the event carries nothing for the sync;
	// Event is then empty.
	Ignored string
	// ContactID is the Stripe customer (or guest:<payment>) the event is
	// about: the Kafka key.
	ContactID string
	// Event is the online event (README, "Inputs") as JSON.
	Event []byte
}

// The parts of a Stripe event the mapping reads. Unknown fields are
// ignored: Stripe adds fields without a new API version.
type envelope struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Type    string          `json:"type"`
	Created int64           `json:"created"`
	Request json.RawMessage `json:"request"`
	Data    struct {
		Object             json.RawMessage            `json:"object"`
		PreviousAttributes map[string]json.RawMessage `json:"previous_attributes"`
	} `json:"data"`
}

type address struct {
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	City       *string `json:"city"`
	State      *string `json:"state"`
	PostalCode *string `json:"postal_code"`
	Country    *string `json:"country"`
}

type customer struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Name     *string           `json:"name"`
	Email    *string           `json:"email"`
	Phone    *string           `json:"phone"`
	Address  *address          `json:"address"`
	Metadata map[string]string `json:"metadata"`
}

type paymentIntent struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountReceived int64             `json:"amount_received"`
	Currency       string            `json:"currency"`
	Customer       json.RawMessage   `json:"customer"`
	ReceiptEmail   *string           `json:"receipt_email"`
	Metadata       map[string]string `json:"metadata"`
}

type charge struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	Currency       string            `json:"currency"`
	Customer       json.RawMessage   `json:"customer"`
	PaymentIntent  json.RawMessage   `json:"payment_intent"`
	Metadata       map[string]string `json:"metadata"`
	BillingDetails struct {
		Name    *string  `json:"name"`
		Email   *string  `json:"email"`
		Phone   *string  `json:"phone"`
		Address *address `json:"address"`
	} `json:"billing_details"`
	PaymentMethodDetails struct {
		Type string `json:"type"`
	} `json:"payment_method_details"`
}

// onlineEvent is the online event format ingest decodes. Contact is a map
// so that an explicit clear is written as null.
type onlineEvent struct {
	EventID    string         `json:"event_id"`
	Type       string         `json:"type"`
	System     string         `json:"system,omitempty"`
	OccurredAt string         `json:"occurred_at"`
	Origin     string         `json:"origin"`
	Contact    map[string]any `json:"contact"`
	Gift       *onlineGift    `json:"gift,omitempty"`
}

type onlineGift struct {
	ID            string `json:"id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Campaign      string `json:"campaign,omitempty"`
	Fund          string `json:"fund,omitempty"`
	PaymentMethod string `json:"payment_method,omitempty"`
}

const (
	maxIDBytes = 256
	maxAmount  = 1 << 53 // far above any payment; keeps amounts exact everywhere
)

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEvent, fmt.Sprintf(format, args...))
}

// Map reads one Stripe event (the verified webhook body) and returns the
// online event it stands for, or why it stands for none. An error means the
// body is not a Stripe event the mapping can read.
func Map(body []byte, opts Options) (Mapped, error) {
	if opts.SyncKeyPrefix == "" {
		opts.SyncKeyPrefix = DefaultSyncKeyPrefix
	}
	if !utf8.Valid(body) {
		return Mapped{}, bad("the body is not valid UTF-8")
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Mapped{}, bad("the body is not a Stripe event object (%s)", jsonProblem(err))
	}
	if env.Object != "event" {
		return Mapped{}, bad("object is not \"event\"")
	}
	if !cleanID(env.ID) {
		return Mapped{}, bad("id must be a non-empty id of at most %d bytes", maxIDBytes)
	}
	m := Mapped{EventID: env.ID, StripeType: env.Type}
	if env.Created <= 0 {
		return m, bad("created must be a positive Unix time")
	}
	ev := onlineEvent{
		EventID: env.ID, System: opts.System, Origin: "api",
		OccurredAt: time.Unix(env.Created, 0).UTC().Format(time.RFC3339),
	}
	if key := idempotencyKey(env.Request); key != "" && strings.HasPrefix(key, opts.SyncKeyPrefix) {
		ev.Origin = "sync"
	}
	var err error
	switch env.Type {
	case TypeCustomerCreated, TypeCustomerUpdated:
		ev.Type = "contact.updated"
		if env.Type == TypeCustomerCreated {
			ev.Type = "contact.created"
		}
		err = mapCustomer(&ev, env.Data.Object, env.Data.PreviousAttributes, env.Type == TypeCustomerCreated)
	case TypePaymentIntentSucceeded:
		ev.Type = "gift.created"
		m.Ignored, err = mapPaymentIntent(&ev, env.Data.Object)
	case TypeChargeSucceeded:
		ev.Type = "gift.created"
		m.Ignored, err = mapCharge(&ev, env.Data.Object)
	default:
		m.Ignored = "the sync does not read events of this type"
		return m, nil
	}
	if err != nil || m.Ignored != "" {
		return m, err
	}
	m.ContactID, _ = ev.Contact["id"].(string)
	if m.Event, err = json.Marshal(ev); err != nil {
		return m, bad("encode: %v", err)
	}
	return m, nil
}

// idempotencyKey reads request.idempotency_key; before API version
// 2017-05-25 request was the request id string alone.
func idempotencyKey(raw json.RawMessage) string {
	var r struct {
		IdempotencyKey *string `json:"idempotency_key"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &r) != nil || r.IdempotencyKey == nil {
		return ""
	}
	return *r.IdempotencyKey
}

func mapCustomer(ev *onlineEvent, raw json.RawMessage, previous map[string]json.RawMessage, created bool) error {
	var c customer
	if err := decodeObject(raw, &c); err != nil {
		return err
	}
	if c.Object != "customer" {
		return bad("data.object.object is not \"customer\"")
	}
	if !cleanID(c.ID) {
		return bad("data.object.id must be a non-empty id of at most %d bytes", maxIDBytes)
	}
	_, changed := previous["name"]
	contactOut := map[string]any{"id": c.ID}
	if rs := strings.TrimSpace(c.Metadata[MetaReferenceSource]); rs != "" {
		contactOut["reference_source"] = rs
	}
	given, family, confirmed := splitName(str(c.Name), c.Metadata)
	switch {
	case (given != "" || family != "") && !created && !changed && !confirmed:
		// An unchanged name is left out unless the sync's metadata says
		// how it splits: a guessed split ("Anna van der" + "Berg") must not
		// overwrite the donor's names on every unrelated update.
	case given != "" || family != "":
		putText(contactOut, "first_name", given, changed)
		putText(contactOut, "last_name", family, changed)
	case changed: // the name was removed
		contactOut["first_name"], contactOut["last_name"] = nil, nil
	}
	_, changed = previous["email"]
	putText(contactOut, "email", str(c.Email), changed)
	_, changed = previous["phone"]
	putText(contactOut, "phone", str(c.Phone), changed)
	_, changed = previous["address"]
	putAddress(contactOut, c.Address, changed)
	ev.Contact = contactOut
	return nil
}

// putText sets key to v; an empty v is a clear when the event says the
// field changed (Stripe's previous_attributes), and not supplied otherwise:
// a customer without a phone must not empty the donor's phone offline on
// every update.
func putText(out map[string]any, key, v string, changed bool) {
	switch {
	case v != "":
		out[key] = v
	case changed:
		out[key] = nil
	}
}

func putAddress(out map[string]any, a *address, changed bool) {
	if a == nil || a.empty() {
		if changed {
			out["address"] = nil
		}
		return
	}
	m := map[string]any{}
	for _, f := range []struct {
		key string
		v   *string
	}{{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City}, {"region", a.State}, {"postcode", a.PostalCode}, {"country", a.Country}} {
		// The address is one unit: the fields it leaves empty are empty.
		putText(m, f.key, str(f.v), changed)
	}
	out["address"] = m
}

func (a *address) empty() bool {
	for _, v := range []*string{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country} {
		if str(v) != "" {
			return false
		}
	}
	return true
}

// SplitName turns Stripe's one name into given and family name. The
// sync's client writes both into metadata too; they are used while they
// still make up the name (an edit of the name in Stripe wins). Otherwise
// the last word is the family name, the words before it the given names.
func SplitName(name string, metadata map[string]string) (given, family string) {
	given, family, _ = splitName(name, metadata)
	return given, family
}

// splitName is SplitName, and whether the metadata confirmed the split.
func splitName(name string, metadata map[string]string) (given, family string, confirmed bool) {
	words := strings.Fields(name)
	g, f := strings.Fields(metadata[MetaGivenName]), strings.Fields(metadata[MetaFamilyName])
	if len(words) > 0 && len(g)+len(f) > 0 && strings.Join(words, " ") == strings.Join(append(g, f...), " ") {
		return strings.Join(g, " "), strings.Join(f, " "), true
	}
	switch len(words) {
	case 0:
		return "", "", false
	case 1:
		return "", words[0], false
	}
	return strings.Join(words[:len(words)-1], " "), words[len(words)-1], false
}

// JoinName is the Stripe name of a given and a family name.
func JoinName(given, family string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(given+" "+family), " "))
}

// mapPaymentIntent maps a succeeded PaymentIntent of a customer. One of a
// guest is left to its charge.succeeded, which has the billing details; so
// each payment is one gift whichever events the endpoint subscribes to.
func mapPaymentIntent(ev *onlineEvent, raw json.RawMessage) (string, error) {
	var p paymentIntent
	if err := decodeObject(raw, &p); err != nil {
		return "", err
	}
	if p.Object != "payment_intent" {
		return "", bad("data.object.object is not \"payment_intent\"")
	}
	if !cleanID(p.ID) {
		return "", bad("data.object.id must be a non-empty id of at most %d bytes", maxIDBytes)
	}
	cus, err := refID(p.Customer, "data.object.customer")
	if err != nil {
		return "", err
	}
	if cus == "" {
		return "a payment without a customer is read from its charge.succeeded (billing details)", nil
	}
	amount := p.AmountReceived
	if amount == 0 {
		amount = p.Amount
	}
	g, err := gift(p.ID, amount, p.Currency, p.Metadata, "")
	if err != nil {
		return "", err
	}
	ev.Contact, ev.Gift = map[string]any{"id": cus}, g
	return "", nil
}

// mapCharge maps a succeeded charge: of a guest (its billing details are
// all the sync learns of the donor), or one made without a PaymentIntent
// (the legacy Charges API). A customer's charge of a PaymentIntent is that
// PaymentIntent's gift.
func mapCharge(ev *onlineEvent, raw json.RawMessage) (string, error) {
	var c charge
	if err := decodeObject(raw, &c); err != nil {
		return "", err
	}
	if c.Object != "charge" {
		return "", bad("data.object.object is not \"charge\"")
	}
	if !cleanID(c.ID) {
		return "", bad("data.object.id must be a non-empty id of at most %d bytes", maxIDBytes)
	}
	cus, err := refID(c.Customer, "data.object.customer")
	if err != nil {
		return "", err
	}
	pi, err := refID(c.PaymentIntent, "data.object.payment_intent")
	if err != nil {
		return "", err
	}
	if cus != "" && pi != "" {
		return "a customer's charge of a PaymentIntent is read from payment_intent.succeeded", nil
	}
	giftID := c.ID
	if pi != "" {
		giftID = pi
	}
	g, err := gift(giftID, c.Amount, c.Currency, c.Metadata, c.PaymentMethodDetails.Type)
	if err != nil {
		return "", err
	}
	contactOut := map[string]any{"id": cus}
	if cus == "" {
		contactOut["id"] = GuestPrefix + giftID
		b := c.BillingDetails
		given, family := SplitName(str(b.Name), nil)
		putText(contactOut, "first_name", given, false)
		putText(contactOut, "last_name", family, false)
		putText(contactOut, "email", str(b.Email), false)
		putText(contactOut, "phone", str(b.Phone), false)
		putAddress(contactOut, b.Address, false)
	}
	ev.Contact, ev.Gift = contactOut, g
	return "", nil
}

func gift(id string, amount int64, currency string, md map[string]string, method string) (*onlineGift, error) {
	cur := strings.ToUpper(strings.TrimSpace(currency))
	if len(cur) != 3 || strings.Trim(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return nil, bad("data.object.currency must be a 3-letter ISO code")
	}
	if amount <= 0 || amount > maxAmount {
		return nil, bad("data.object.amount must be a positive number of minor units")
	}
	return &onlineGift{ID: id, Amount: DecimalAmount(amount, cur), Currency: cur,
		Campaign: strings.TrimSpace(md[MetaCampaign]), Fund: strings.TrimSpace(md[MetaFund]), PaymentMethod: method}, nil
}

// refID reads an expandable reference: null, an id, or the expanded object
// with its id.
func refID(raw json.RawMessage, field string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var id string
	if raw[0] == '{' {
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return "", bad("%s: %s", field, jsonProblem(err))
		}
		id = obj.ID
	} else if err := json.Unmarshal(raw, &id); err != nil {
		return "", bad("%s must be an id or an object", field)
	}
	if !cleanID(id) {
		return "", bad("%s must be an id of at most %d bytes", field, maxIDBytes)
	}
	return id, nil
}

func decodeObject(raw json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 || raw[0] != '{' {
		return bad("data.object is not an object")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return bad("data.object: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem names what is wrong without quoting the input.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("%s has the wrong type (%s)", te.Field, te.Value)
	}
	return "invalid JSON"
}

// cleanID reports whether s is a usable id: not blank, bounded, no control
// characters.
func cleanID(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > maxIDBytes {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}
