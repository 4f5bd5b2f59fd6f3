package decode

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contactsync/contactsync/pkg/contact"
)

func validChange() contact.Change {
	return contact.Change{EventID: "e", SourceSystem: "online", SourceRecordID: "r", Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at,
		Gift: &contact.Gift{GiftID: "g", AmountMinor: 1, Currency: "USD", ReceivedAt: at}}
}

// Ids become Kafka keys, Redis keys and log fields: no control or format
// characters, and a bounded length.
func TestValidateIDs(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name   string
		mutate func(*contact.Change)
		reason string
	}{
		{"record id with key separators is fine", func(c *contact.Change) { c.SourceRecordID = "a{b}:c/d" }, ""},
		{"record id at the limit", func(c *contact.Change) { c.SourceRecordID = long(MaxRecordIDLength) }, ""},
		{"record id over the limit", func(c *contact.Change) { c.SourceRecordID = long(MaxRecordIDLength + 1) }, ReasonID},
		{"record id with a newline", func(c *contact.Change) { c.SourceRecordID = "web\n1" }, ReasonID},
		{"record id with a NUL", func(c *contact.Change) { c.SourceRecordID = "web\x001" }, ReasonID},
		{"record id with DEL", func(c *contact.Change) { c.SourceRecordID = "web\x7f" }, ReasonID},
		{"record id with a C1 control", func(c *contact.Change) { c.SourceRecordID = "web\u0085" }, ReasonID},
		{"record id with a bidi override", func(c *contact.Change) { c.SourceRecordID = "web\u202e1" }, ReasonID},
		{"record id with a line separator", func(c *contact.Change) { c.SourceRecordID = "web\u20281" }, ReasonID},
		{"record id broken UTF-8", func(c *contact.Change) { c.SourceRecordID = "web\xff" }, ReasonID},
		{"event id at the limit", func(c *contact.Change) { c.EventID = long(MaxEventIDLength) }, ""},
		{"event id over the limit", func(c *contact.Change) { c.EventID = long(MaxEventIDLength + 1) }, ReasonID},
		{"event id with a tab", func(c *contact.Change) { c.EventID = "e\t1" }, ReasonID},
		{"system over the limit", func(c *contact.Change) { c.SourceSystem = long(MaxSystemLength + 1) }, ReasonID},
		{"system with a newline", func(c *contact.Change) { c.SourceSystem = "online\n" }, ReasonID},
		{"gift id with a control", func(c *contact.Change) { c.Gift.GiftID = "g\x1b[31m" }, ReasonID},
		{"gift id over the limit", func(c *contact.Change) { c.Gift.GiftID = long(MaxRecordIDLength + 1) }, ReasonID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validChange()
			g := *c.Gift
			c.Gift = &g
			tc.mutate(&c)
			err := Validate(c)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
		})
	}
}

// Every text field has a documented maximum length: a 1 MB name is a
// kick-out, not a quadratic comparison in the matcher.
func TestValidateFieldLimits(t *testing.T) {
	for _, f := range contact.Fields {
		limit, ok := FieldLimits[f.Name]
		if !ok {
			t.Errorf("field %s has no length limit", f.Name)
			continue
		}
		if f.Kind != contact.Text {
			continue
		}
		for _, tc := range []struct {
			value  string
			reason string
		}{
			{strings.Repeat("é", limit), ""},
			{strings.Repeat("é", limit+1), ReasonField},
			{strings.Repeat("a", 1<<20), ReasonField},
		} {
			c := validChange()
			c.Values = contact.Values{f.Name: tc.value}
			err := Validate(c)
			if r := reasonOf(err); r != tc.reason {
				t.Errorf("%s of %d characters: reason %q (%v), want %q", f.Name, utf8.RuneCountInString(tc.value), r, err, tc.reason)
			}
			if err != nil && !strings.Contains(err.Error(), string(f.Name)) {
				t.Errorf("%s: error %q does not name the field", f.Name, err)
			}
		}
	}
	huge := validChange()
	huge.Values = contact.Values{contact.GivingTotal: strings.Repeat("9", 1000)}
	if r := reasonOf(Validate(huge)); r != ReasonField {
		t.Errorf("a 1000-digit giving total: reason %q, want %q", r, ReasonField)
	}
	ref := validChange()
	ref.ReferenceSource = strings.Repeat("r", MaxSystemLength+1)
	if r := reasonOf(Validate(ref)); r != ReasonField {
		t.Errorf("a long reference source: reason %q, want %q", r, ReasonField)
	}
	camp := validChange()
	camp.Gift.Campaign = strings.Repeat("c", MaxGiftTextLength+1)
	if r := reasonOf(Validate(camp)); r != ReasonGift {
		t.Errorf("a long campaign: reason %q, want %q", r, ReasonGift)
	}
}

func TestOnlineSourceBinding(t *testing.T) {
	event := func(system, origin string) []byte {
		return []byte(fmt.Sprintf(`{"event_id":"e","type":"contact.updated","system":%q,"origin":%q,"occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, system, origin))
	}
	plain := newOnline(t)
	trusted, err := NewOnline(OnlineConfig{System: "online", TrustedOrigins: []contact.Origin{contact.OriginSync}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		dec    *Online
		value  []byte
		reason string
		system string
	}{
		{"own system named", plain, event("online", "api"), "", "online"},
		{"no system named", plain, event("", "api"), "", "online"},
		{"posing as the system of record", plain, event("offline", "api"), ReasonSystem, ""},
		{"posing as another online system", plain, event("shop", "self_service"), ReasonSystem, ""},
		{"system named in another case", plain, event("Online", "api"), ReasonSystem, ""},
		{"admin from an untrusted source", plain, event("online", "admin"), ReasonOrigin, ""},
		{"sync from an untrusted source", plain, event("online", "sync"), ReasonOrigin, ""},
		{"sync from a source trusted for it", trusted, event("online", "sync"), "", "online"},
		{"admin from a source trusted only for sync", trusted, event("online", "admin"), ReasonOrigin, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.dec.Decode(nil, tc.value)
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
			if err == nil && got[0].SourceSystem != tc.system {
				t.Fatalf("system %q, want %q", got[0].SourceSystem, tc.system)
			}
		})
	}
	if _, err := NewOnline(OnlineConfig{System: "online", TrustedOrigins: []contact.Origin{"robot"}}); err == nil {
		t.Error("an unknown trusted origin is accepted")
	}
	if _, err := NewOnline(OnlineConfig{System: "on\nline"}); err == nil {
		t.Error("a system name with a newline is accepted")
	}
}

func TestHostileJSON(t *testing.T) {
	o := newOnline(t)
	nest := func(depth int) string {
		return `{"event_id":"e","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"},"x":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
	}
	name := func(escaped string) string {
		return `{"event_id":"e","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w","first_name":"` + escaped + `"}}`
	}
	for _, tc := range []struct {
		name, value, reason string
	}{
		{"nesting at the limit", nest(MaxJSONDepth - 1), ""},
		{"deep nesting", nest(MaxJSONDepth + 1), ReasonJSON},
		{"very deep nesting", nest(100000), ReasonJSON},
		{"brackets inside strings do not count", name(strings.Repeat("[", 90)), ""},
		{"surrogate pair", name(`Ann\ud83d\ude00`), ""},
		{"escaped backslash before u", name(`Ann\\ud800`), ""},
		{"lone high surrogate", name(`Ann\ud800`), ReasonJSON},
		{"lone low surrogate", name(`Ann\udc00x`), ReasonJSON},
		{"high surrogate then a letter escape", name(`Ann\ud800\u0041`), ReasonJSON},
		{"lone surrogate in an id", `{"event_id":"e\udfff","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"}}`, ReasonJSON},
		{"invalid UTF-8", name("Ann\xed\xa0\x80"), ReasonJSON},
		{"id escaped newline", `{"event_id":"e","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w\n1"}}`, ReasonID},
		{"huge number id", `{"event_id":"e","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":` + strings.Repeat("9", 5000) + `}}`, ReasonID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := o.Decode(nil, []byte(tc.value))
			if r := reasonOf(err); r != tc.reason {
				t.Fatalf("reason %q (%v), want %q", r, err, tc.reason)
			}
		})
	}
}
