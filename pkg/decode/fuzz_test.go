package decode

import (
	"errors"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Outside input may be anything: a decoder either returns a typed *Error or
// changes that pass Validate, and never panics.
func FuzzDebezium(f *testing.F) {
	for _, s := range []string{
		`{"before":null,"after":{"id":"OFF-1","first_name":"Anna","do_not_email":false,"giving_total":"125.00","birth_date":19000,"updated_at":"2026-11-02T09:00:00Z"},"op":"r",` + pgSource + `}`,
		`{"schema":{"fields":[{"field":"after","fields":[{"field":"giving_total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}]}]},"payload":{"after":{"id":1,"giving_total":"MDk="},"op":"c","ts_ms":1}}`,
		`{"before":{"id":"1","phone":"x"},"after":{"id":"1","phone":null},"op":"u","ts_ms":5}`,
		`{"before":{"id":"1"},"after":null,"op":"d","ts_ms":5}`,
		``, `null`, `{`,
	} {
		f.Add([]byte(`{"id":"k"}`), []byte(s))
	}
	d := newDebezium(f)
	f.Fuzz(func(t *testing.T, key, value []byte) {
		changes, err := d.Decode(key, value, "cdc", 0, 1)
		check(t, changes, err)
	})
}

func FuzzOnline(f *testing.F) {
	for _, s := range []string{
		onlineEvent(`"contact":{"id":"web-1","first_name":"Anna","email":"a@example.org","address":{"line1":"1 High St"},"consent":{"email":true}},"gift":{"id":"g-1","amount":"12.50","currency":"USD"}`),
		`{"event_id":"e","type":"contact.updated","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":7,"address":null,"organisation":null}}`,
		`{"event_id":"e","type":"gift.created","occurred_at":"2026-11-02T09:00:00Z","contact":{"id":"w"},"gift":{"id":"g","amount":1.005,"currency":"KWD"}}`,
		`{`, `[]`,
	} {
		f.Add([]byte(s))
	}
	o := newOnline(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		changes, err := o.Decode(nil, value)
		check(t, changes, err)
	})
}

func check(t *testing.T, changes []contact.Change, err error) {
	t.Helper()
	if err != nil {
		var de *Error
		if !errors.As(err, &de) || de.Reason == "" {
			t.Fatalf("untyped error: %v", err)
		}
		return
	}
	for _, c := range changes {
		if verr := Validate(c); verr != nil {
			t.Fatalf("decoded change does not validate: %v", verr)
		}
	}
}
