package platformsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Address is a contact's postal address.
type Address struct {
	Line1    string `json:"line1,omitempty"`
	Line2    string `json:"line2,omitempty"`
	City     string `json:"city,omitempty"`
	Region   string `json:"region,omitempty"`
	Postcode string `json:"postcode,omitempty"`
	Country  string `json:"country,omitempty"`
}

// Consent says whether the donor may be contacted by a channel; nil is
// unknown.
type Consent struct {
	Email *bool `json:"email"`
	Post  *bool `json:"post"`
	Phone *bool `json:"phone"`
}

// Contact is a donor record of the platform.
type Contact struct {
	ID           string            `json:"id"`
	Version      int64             `json:"version"`
	FirstName    string            `json:"first_name,omitempty"`
	LastName     string            `json:"last_name,omitempty"`
	Organisation string            `json:"organisation,omitempty"`
	Email        string            `json:"email,omitempty"`
	Phone        string            `json:"phone,omitempty"`
	DateOfBirth  string            `json:"date_of_birth,omitempty"`
	Address      *Address          `json:"address,omitempty"`
	Consent      Consent           `json:"consent"`
	ExternalIDs  map[string]string `json:"external_ids,omitempty"`
	// CustomFields are the organisation's own fields, by name, as text.
	CustomFields    map[string]string `json:"custom_fields,omitempty"`
	ReferenceSource string            `json:"reference_source,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// Gift is a donation.
type Gift struct {
	ID            string    `json:"id"`
	ContactID     string    `json:"contact_id"`
	Amount        string    `json:"amount"`
	Currency      string    `json:"currency"`
	Campaign      string    `json:"campaign,omitempty"`
	Fund          string    `json:"fund,omitempty"`
	PaymentMethod string    `json:"payment_method,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
}

func (c *Contact) clone() *Contact {
	d := *c
	if c.Address != nil {
		a := *c.Address
		d.Address = &a
	}
	d.ExternalIDs = make(map[string]string, len(c.ExternalIDs))
	for k, v := range c.ExternalIDs {
		d.ExternalIDs[k] = v
	}
	if c.CustomFields != nil {
		d.CustomFields = make(map[string]string, len(c.CustomFields))
		for k, v := range c.CustomFields {
			d.CustomFields[k] = v
		}
	}
	return &d
}

// ValidationError is a 422: the field and what is wrong, never the value.
type ValidationError struct{ Field, Problem string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Limits of the API's values.
const (
	maxTextLen       = 200
	maxExternalIDs   = 8
	maxExternalIDLen = 128
	maxCustomFields  = 64
)

var (
	externalKeyRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	customKeyRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`) // as the rules file names custom fields
	dateRE          = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	currencyRE      = regexp.MustCompile(`^[A-Z]{3}$`)
	amountRE        = regexp.MustCompile(`^\d{1,12}(\.\d{1,4})?$`)
	portalForbidden = map[string]bool{"external_ids": true, "reference_source": true}
)

// change is what one write did to a contact: the fields it cleared (for
// the webhook, which reports clears as null) and whether anything changed.
type change struct {
	cleared        []string // "phone", "address", "address.line2"
	consentCleared []string
	changed        bool
}

// applyPatch applies a JSON merge patch (RFC 7396 style: a key sets, null
// clears, an absent key keeps) to c. Unknown keys and bad values are
// validation errors; c is only changed when the whole patch is valid.
func applyPatch(c *Contact, body []byte, forbidden map[string]bool) (change, error) {
	var patch map[string]json.RawMessage
	if err := strictObject(body, &patch); err != nil {
		return change{}, invalid("body", "must be a JSON object")
	}
	next := c.clone()
	var ch change
	for key, raw := range patch {
		if forbidden[key] {
			return change{}, invalid(key, "cannot be changed here")
		}
		isNull := bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
		switch key {
		case "first_name", "last_name", "organisation", "email", "phone", "date_of_birth", "reference_source":
			dst := textField(next, key)
			if isNull {
				if *dst != "" {
					ch.cleared = append(ch.cleared, key)
				}
				*dst = ""
				continue
			}
			v, err := textValue(key, raw)
			if err != nil {
				return change{}, err
			}
			*dst = v
		case "address":
			if isNull {
				if next.Address != nil {
					ch.cleared = append(ch.cleared, "address")
				}
				next.Address = nil
				continue
			}
			var ap map[string]json.RawMessage
			if err := strictObject(raw, &ap); err != nil {
				return change{}, invalid("address", "must be an object or null")
			}
			if next.Address == nil {
				next.Address = &Address{}
			}
			for k, v := range ap {
				dst := addressField(next.Address, k)
				if dst == nil {
					return change{}, invalid("address."+k, "unknown field")
				}
				if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
					if *dst != "" {
						ch.cleared = append(ch.cleared, "address."+k)
					}
					*dst = ""
					continue
				}
				s, err := textValue("address."+k, v)
				if err != nil {
					return change{}, err
				}
				*dst = s
			}
			if *next.Address == (Address{}) {
				next.Address = nil
			}
		case "consent":
			var cp map[string]json.RawMessage
			if isNull || strictObject(raw, &cp) != nil {
				return change{}, invalid("consent", "must be an object of booleans")
			}
			for k, v := range cp {
				dst := consentField(&next.Consent, k)
				if dst == nil {
					return change{}, invalid("consent."+k, "unknown field")
				}
				if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
					if *dst != nil {
						ch.consentCleared = append(ch.consentCleared, k)
					}
					*dst = nil
					continue
				}
				var b bool
				if json.Unmarshal(v, &b) != nil {
					return change{}, invalid("consent."+k, "must be true, false or null")
				}
				*dst = &b
			}
		case "external_ids":
			var ep map[string]*string
			if isNull || strictObject(raw, &ep) != nil {
				return change{}, invalid("external_ids", "must be an object of strings")
			}
			for k, v := range ep {
				if !externalKeyRE.MatchString(k) {
					return change{}, invalid("external_ids", "keys must match %s", externalKeyRE)
				}
				if v == nil {
					delete(next.ExternalIDs, k)
					continue
				}
				s := strings.TrimSpace(*v)
				if s == "" || len(s) > maxExternalIDLen || !utf8.ValidString(s) {
					return change{}, invalid("external_ids."+k, "must be a non-empty string of at most %d bytes", maxExternalIDLen)
				}
				next.ExternalIDs[k] = s
			}
			if len(next.ExternalIDs) > maxExternalIDs {
				return change{}, invalid("external_ids", "at most %d", maxExternalIDs)
			}
		case "custom_fields":
			var cf map[string]*string
			if isNull || strictObject(raw, &cf) != nil {
				return change{}, invalid("custom_fields", "must be an object of strings")
			}
			for k, v := range cf {
				if !customKeyRE.MatchString(k) {
					return change{}, invalid("custom_fields", "keys must match %s", customKeyRE)
				}
				if v == nil || strings.TrimSpace(*v) == "" {
					if _, had := next.CustomFields[k]; had {
						ch.cleared = append(ch.cleared, "custom_fields."+k)
					}
					delete(next.CustomFields, k)
					continue
				}
				s := strings.TrimSpace(*v)
				if len(s) > maxTextLen || !utf8.ValidString(s) {
					return change{}, invalid("custom_fields."+k, "must be a string of at most %d bytes", maxTextLen)
				}
				if next.CustomFields == nil {
					next.CustomFields = map[string]string{}
				}
				next.CustomFields[k] = s
			}
			if len(next.CustomFields) > maxCustomFields {
				return change{}, invalid("custom_fields", "at most %d", maxCustomFields)
			}
			if len(next.CustomFields) == 0 {
				next.CustomFields = nil
			}
		default:
			return change{}, invalid(key, "unknown field")
		}
	}
	sort.Strings(ch.cleared)
	sort.Strings(ch.consentCleared)
	ch.changed = !sameContent(c, next)
	*c = *next
	return ch, nil
}

// strictObject decodes a JSON object (nothing after it) into dst.
func strictObject(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the object")
	}
	if b := bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("not an object")
	}
	return nil
}

func textValue(field string, raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", invalid(field, "must be a string or null")
	}
	s = strings.TrimSpace(s)
	if len(s) > maxTextLen || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return "", invalid(field, "must be one line of at most %d bytes", maxTextLen)
	}
	switch field {
	case "email":
		if a, err := mail.ParseAddress(s); s != "" && (err != nil || a.Address != s) {
			return "", invalid(field, "is not an email address")
		}
	case "date_of_birth":
		if _, err := time.Parse(time.DateOnly, s); s != "" && (!dateRE.MatchString(s) || err != nil) {
			return "", invalid(field, "must be a date YYYY-MM-DD")
		}
	}
	return s, nil
}

func textField(c *Contact, key string) *string {
	switch key {
	case "first_name":
		return &c.FirstName
	case "last_name":
		return &c.LastName
	case "organisation":
		return &c.Organisation
	case "email":
		return &c.Email
	case "phone":
		return &c.Phone
	case "date_of_birth":
		return &c.DateOfBirth
	case "reference_source":
		return &c.ReferenceSource
	}
	return nil
}

func addressField(a *Address, key string) *string {
	switch key {
	case "line1":
		return &a.Line1
	case "line2":
		return &a.Line2
	case "city":
		return &a.City
	case "region":
		return &a.Region
	case "postcode":
		return &a.Postcode
	case "country":
		return &a.Country
	}
	return nil
}

func consentField(c *Consent, key string) **bool {
	switch key {
	case "email":
		return &c.Email
	case "post":
		return &c.Post
	case "phone":
		return &c.Phone
	}
	return nil
}

// sameContent compares what a donor or an adapter can change.
func sameContent(a, b *Contact) bool {
	ja, _ := json.Marshal(contentOf(a))
	jb, _ := json.Marshal(contentOf(b))
	return bytes.Equal(ja, jb)
}

func contentOf(c *Contact) Contact {
	d := *c
	d.ID, d.Version, d.CreatedAt, d.UpdatedAt = "", 0, time.Time{}, time.Time{}
	return d
}

// giftInput is the body of a gift create.
type giftInput struct {
	ContactID     string `json:"contact_id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Campaign      string `json:"campaign"`
	Fund          string `json:"fund"`
	PaymentMethod string `json:"payment_method"`
	ReceivedAt    string `json:"received_at"`
}

func (in giftInput) gift(now time.Time) (Gift, error) {
	g := Gift{ContactID: in.ContactID, Amount: strings.TrimSpace(in.Amount), Currency: strings.ToUpper(strings.TrimSpace(in.Currency)),
		Campaign: in.Campaign, Fund: in.Fund, PaymentMethod: in.PaymentMethod, ReceivedAt: now}
	if !amountRE.MatchString(g.Amount) {
		return Gift{}, invalid("amount", "must be a positive decimal string like \"25.00\"")
	}
	if r, _ := new(big.Rat).SetString(g.Amount); r == nil || r.Sign() <= 0 {
		return Gift{}, invalid("amount", "must be positive")
	}
	if !currencyRE.MatchString(g.Currency) {
		return Gift{}, invalid("currency", "must be a 3-letter ISO 4217 code")
	}
	for f, v := range map[string]string{"campaign": g.Campaign, "fund": g.Fund, "payment_method": g.PaymentMethod} {
		if len(v) > maxTextLen || !utf8.ValidString(v) {
			return Gift{}, invalid(f, "must be at most %d bytes", maxTextLen)
		}
	}
	if in.ReceivedAt != "" {
		t, err := time.Parse(time.RFC3339, in.ReceivedAt)
		if err != nil {
			return Gift{}, invalid("received_at", "must be an RFC 3339 time")
		}
		g.ReceivedAt = t.UTC()
	}
	return g, nil
}

func sortContacts(cs []*Contact) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
}
