package decode

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
)

// OnlineConfig configures the online event decoder of one source (one
// input topic). The source, not the event, decides who speaks: an event
// body cannot choose its own system or a privileged origin.
type OnlineConfig struct {
	// System is the system the source is bound to. Every event of the
	// source is that system's; one whose "system" names another is
	// rejected (ReasonSystem).
	System string
	// TrustedOrigins lists the privileged origins (PrivilegedOrigins) the
	// source may claim. An event claiming one it is not trusted for is
	// rejected (ReasonOrigin): admin skips review, sync is dropped as an
	// echo of the sync's own write.
	TrustedOrigins []contact.Origin
	// Mapping names the event's keys; nil = the reference event format
	// (contact.DefaultMapping().Online).
	Mapping *contact.OnlineMapping
	// Fields are the fields the mapping may name and the custom fields
	// read from the custom fields object; nil = the built-in ones.
	Fields *contact.FieldSet
}

// PrivilegedOrigins are the origins a source must be trusted for: an admin
// change is not held for review, a sync change is taken for the sync's own
// write and never propagated.
var PrivilegedOrigins = []contact.Origin{contact.OriginAdmin, contact.OriginSync}

// Online decodes webhook events of online systems: contact.created,
// contact.updated and gift.created.
type Online struct {
	cfg OnlineConfig
	// The mapped keys of the contact object, its address and its consent,
	// each in field order so the first bad key reported is always the same.
	contactFields, addressFields, consentFields []jsonField
}

// NewOnline checks cfg.
func NewOnline(cfg OnlineConfig) (*Online, error) {
	if cfg.System == "" {
		return nil, errors.New("online decoder: system name is empty")
	}
	if err := CheckID("system name", cfg.System, MaxSystemLength); err != nil {
		return nil, fmt.Errorf("online decoder: %w", err)
	}
	for _, o := range cfg.TrustedOrigins {
		if !contact.KnownOrigin(o) {
			return nil, fmt.Errorf("online decoder: unknown trusted origin %q", o)
		}
	}
	cfg.TrustedOrigins = slices.Clone(cfg.TrustedOrigins)
	if cfg.Fields == nil {
		cfg.Fields = contact.BuiltIn()
	}
	m := contact.DefaultMapping()
	if cfg.Mapping != nil {
		m.Online = *cfg.Mapping
	}
	if err := (contact.Mapping{Offline: contact.DefaultMapping().Offline, Online: m.Online}).Check(cfg.Fields); err != nil {
		return nil, fmt.Errorf("online decoder: %w", err)
	}
	cfg.Mapping = &m.Online
	o := &Online{cfg: cfg}
	o.contactFields = keysInOrder(m.Online.Contact, cfg.Fields)
	o.addressFields = keysInOrder(m.Online.Address, cfg.Fields)
	o.consentFields = keysInOrder(m.Online.Consent, cfg.Fields)
	return o, nil
}

func keysInOrder(keys map[string]contact.Field, fs *contact.FieldSet) []jsonField {
	out := make([]jsonField, 0, len(keys))
	for k, f := range keys {
		info, _ := fs.Lookup(f)
		out = append(out, jsonField{key: k, field: f, info: info})
	}
	slices.SortFunc(out, func(a, b jsonField) int { return fs.Position(a.field) - fs.Position(b.field) })
	return out
}

// mayClaim reports whether the source may send changes of origin o.
func (o *Online) mayClaim(origin contact.Origin) bool {
	return !slices.Contains(PrivilegedOrigins, origin) || slices.Contains(o.cfg.TrustedOrigins, origin)
}

// jsonField maps one key of an online object to its canonical field.
// A key that is absent or "" was not supplied; JSON null is an explicit
// clear. Consent is stated positively online ("may email") and negatively
// offline ("do not email"); the canonical flags are the negative ones.
type jsonField struct {
	key   string
	field contact.Field
	info  contact.FieldInfo
}

// Decode decodes one event into one change; a gift event's change carries
// its donor's contact values too, so the gift and the donor are matched
// together. The key is not needed: the event names its contact.
func (o *Online) Decode(_, value []byte) ([]contact.Change, error) {
	ev, err := parseObject(value)
	if err != nil {
		return nil, err
	}
	kind, isString := ev["type"].(string)
	if !isString && ev["type"] != nil {
		return nil, errorf(ReasonEvent, "type is %s, not a string", typeName(ev["type"]))
	}
	switch kind {
	case "contact.created", "contact.updated", "gift.created":
	case "":
		return nil, errorf(ReasonEvent, "event has no type")
	default:
		return nil, errorf(ReasonEvent, "unknown event type %s", token(kind))
	}
	c := contact.Change{Op: contact.OpUpsert, Origin: contact.OriginUnknown, SourceSystem: o.cfg.System}
	if c.EventID, err = optString(ev, "", "event_id"); err != nil {
		return nil, err
	}
	if c.EventID == "" {
		return nil, errorf(ReasonEventID, "event has no event_id")
	}
	sys, err := optString(ev, "", "system")
	if err != nil {
		return nil, err
	}
	if sys != "" && sys != o.cfg.System {
		return nil, errorf(ReasonSystem, "event names system %s, but its source is bound to %s", token(sys), token(o.cfg.System))
	}
	origin, err := optString(ev, "", "origin")
	if err != nil {
		return nil, err
	}
	if origin != "" {
		c.Origin = contact.Origin(origin)
		if !contact.KnownOrigin(c.Origin) {
			return nil, errorf(ReasonOrigin, "unknown origin %s", token(origin))
		}
		if !o.mayClaim(c.Origin) {
			return nil, errorf(ReasonOrigin, "origin %s is not accepted from this source (not trusted for it)", token(origin))
		}
	}
	at, err := optString(ev, "", "occurred_at")
	if err != nil {
		return nil, err
	}
	if at == "" {
		return nil, errorf(ReasonTime, "event has no occurred_at")
	}
	if c.SourceTime, err = parseTime(at); err != nil {
		return nil, errorf(ReasonTime, "occurred_at: %v", err)
	}

	person, ok := ev["contact"].(map[string]any)
	if !ok {
		return nil, errorf(ReasonEvent, "event has no contact object")
	}
	id, ok, wrong := idString(person["id"])
	if wrong {
		return nil, errorf(ReasonField, "contact.id: %s, not an id", typeName(person["id"]))
	}
	if !ok {
		return nil, errorf(ReasonMissingID, "contact has no id")
	}
	c.SourceRecordID = id
	if c.ReferenceSource, err = optString(person, "contact.", "reference_source"); err != nil {
		return nil, err
	}
	if err := readText(person, o.contactFields, &c, "contact."); err != nil {
		return nil, err
	}
	if addr, present := person["address"]; present && addr != nil {
		m, ok := addr.(map[string]any)
		if !ok {
			return nil, errorf(ReasonField, "contact.address: %s, not an object", typeName(addr))
		}
		if err := readText(m, o.addressFields, &c, "contact.address."); err != nil {
			return nil, err
		}
	} else if present { // "address": null clears the whole address
		for _, f := range o.addressFields {
			c.Cleared = append(c.Cleared, f.field)
		}
	}
	if consent, present := person["consent"]; present && consent != nil {
		m, ok := consent.(map[string]any)
		if !ok {
			return nil, errorf(ReasonField, "contact.consent: %s, not an object", typeName(consent))
		}
		for _, f := range o.consentFields {
			v := m[f.key]
			if v == nil {
				// Consent is given or withdrawn, never cleared: the
				// offline flags cannot be NULL, and an unknown consent
				// must not become permission.
				continue
			}
			mayContact, ok := v.(bool)
			if !ok {
				return nil, errorf(ReasonField, "contact.consent.%s: %s, not a boolean", f.key, typeName(v))
			}
			setValue(&c, f.field, fmt.Sprint(!mayContact))
		}
	}
	if err := o.readCustom(person, &c); err != nil {
		return nil, err
	}
	sortFields(c.Cleared, o.cfg.Fields)

	if kind == "gift.created" {
		gm, ok := ev["gift"].(map[string]any)
		if !ok {
			return nil, errorf(ReasonEvent, "gift.created without a gift object")
		}
		if c.Gift, err = readGift(gm, c); err != nil {
			return nil, err
		}
	}
	// Decoded is not yet valid: a text in a date field, a year 0.
	if err := ValidateFields(c, o.cfg.Fields); err != nil {
		return nil, err
	}
	return []contact.Change{c}, nil
}

// optString reads an optional string; absent, null and blank are all "".
// A value of another JSON type is an error naming path+key.
func optString(m map[string]any, path, key string) (string, error) {
	v := m[key]
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errorf(ReasonField, "%s%s: %s, not a string", path, key, typeName(v))
	}
	return strings.TrimSpace(s), nil
}

// readText reads text fields: absent or blank is not supplied, null is a
// clear, anything else must be a string.
func readText(m map[string]any, fields []jsonField, c *contact.Change, path string) error {
	for _, f := range fields {
		v, present := m[f.key]
		switch {
		case !present:
		case v == nil:
			c.Cleared = append(c.Cleared, f.field)
		default:
			if f.info.Custom {
				if err := setCustom(c, f.info, v, path+f.key); err != nil {
					return err
				}
				continue
			}
			s, ok := v.(string)
			if !ok {
				return errorf(ReasonField, "%s%s: %s, not a string", path, f.key, typeName(v))
			}
			if s = strings.TrimSpace(s); s != "" {
				setValue(c, f.field, s)
			}
		}
	}
	return nil
}

// currencyExponent is the number of minor-unit digits of the ISO 4217
// currencies that do not have the usual two.
var currencyExponent = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

func readGift(m map[string]any, c contact.Change) (*contact.Gift, error) {
	g := &contact.Gift{}
	id, ok, _ := idString(m["id"])
	if !ok {
		return nil, errorf(ReasonGift, "gift has no usable id")
	}
	g.GiftID = id
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"currency", &g.Currency}, {"campaign", &g.Campaign}, {"fund", &g.Fund}, {"payment_method", &g.PaymentMethod}} {
		if *f.dst, err = optString(m, "gift.", f.key); err != nil {
			return nil, err
		}
	}
	received, err := optString(m, "gift.", "received_at")
	if err != nil {
		return nil, err
	}
	g.ReceivedAt = c.SourceTime
	if received != "" {
		if g.ReceivedAt, err = parseTime(received); err != nil {
			return nil, errorf(ReasonGift, "received_at: %v", err)
		}
	}
	g.Currency = strings.ToUpper(g.Currency)
	if !currencyRE.MatchString(g.Currency) {
		return nil, errorf(ReasonGift, "currency must be a 3-letter ISO 4217 code")
	}
	var amount string
	switch v := m["amount"].(type) {
	case string:
		amount = strings.TrimSpace(v)
	case json.Number: // exact: the decoder keeps numbers as written
		amount = v.String()
	case nil:
		return nil, errorf(ReasonGift, "gift has no amount")
	default:
		return nil, errorf(ReasonGift, "amount: %s, not a decimal", typeName(v))
	}
	exp, ok := currencyExponent[g.Currency]
	if !ok {
		exp = 2
	}
	if g.AmountMinor, err = minorUnits(amount, exp); err != nil {
		return nil, errorf(ReasonGift, "amount: %v", err)
	}
	if g.AmountMinor <= 0 {
		return nil, errorf(ReasonGift, "amount must be positive")
	}
	return g, nil
}

// minorUnits converts a decimal amount to integer minor units exactly,
// refusing more decimals than the currency has: money is never rounded.
func minorUnits(amount string, exponent int) (int64, error) {
	if len(amount) > 40 || !decimalRE.MatchString(amount) {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	r, ok := new(big.Rat).SetString(amount)
	if !ok {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exponent)), nil)))
	if !r.IsInt() {
		return 0, fmt.Errorf("more than %d decimals", exponent)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("out of range")
	}
	return r.Num().Int64(), nil
}

func setValue(c *contact.Change, f contact.Field, v string) {
	if c.Values == nil {
		c.Values = contact.Values{}
	}
	c.Values[f] = v
}

// readCustom reads the contact's custom fields object (by default
// "custom_fields"): each declared custom field by its own name, absent or
// blank not supplied, null a clear. Keys that name no declared custom field
// are not synced and ignored, as other unmapped keys are.
func (o *Online) readCustom(person map[string]any, c *contact.Change) error {
	key := o.cfg.Mapping.CustomObject
	raw, present := person[key]
	if !present || raw == nil || key == "" {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return errorf(ReasonField, "contact.%s: %s, not an object", key, typeName(raw))
	}
	for _, f := range o.cfg.Fields.Custom() {
		v, present := m[string(f.Name)]
		switch {
		case !present:
		case v == nil:
			if _, mapped := c.Values[f.Name]; !mapped && !c.IsCleared(f.Name) {
				c.Cleared = append(c.Cleared, f.Name)
			}
		default:
			if err := setCustom(c, f, v, "contact."+key+"."+string(f.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setCustom reads one custom field's JSON value (a string, or a boolean or
// number where its type takes one) into its canonical form.
func setCustom(c *contact.Change, f contact.FieldInfo, v any, path string) error {
	var raw string
	switch x := v.(type) {
	case string:
		raw = x
	case bool:
		if f.Kind != contact.Bool {
			return errorf(ReasonField, "%s: a boolean, not a %s value", path, f.Kind)
		}
		raw = fmt.Sprint(x)
	case json.Number:
		if f.Kind != contact.Decimal && f.Kind != contact.Text {
			return errorf(ReasonField, "%s: a number, not a %s value", path, f.Kind)
		}
		raw = x.String()
	default:
		return errorf(ReasonField, "%s: %s, not a %s value", path, typeName(v), f.Kind)
	}
	s, err := contact.ParseCustomValue(f, raw)
	if err != nil {
		return errorf(ReasonField, "%s: %v", path, err)
	}
	if s != "" {
		setValue(c, f.Name, s)
	}
	return nil
}
