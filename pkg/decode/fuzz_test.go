package decode

import (
	"errors"
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Outside input may be anything: a decoder either returns a typed *Error or
// changes that pass Validate, never panics, and gives the same answer for
// the same bytes (a redelivered record must decode to the same event).
func FuzzDebezium(f *testing.F) {
	for _, tc := range debeziumCases {
		f.Add([]byte(tc.key), []byte(tc.value))
	}
	for _, tc := range capturedCases { // the real connector's records
		key, value := capturedRecord(f, tc.file)
		f.Add(key, value)
	}
	d := newDebezium(f)
	f.Fuzz(func(t *testing.T, key, value []byte) {
		changes, err := d.Decode(key, value, "cdc", 0, 1)
		check(t, changes, err)
		if err == nil && len(changes) > 1 {
			t.Fatalf("%d changes from one event", len(changes))
		}
		again, err2 := d.Decode(key, value, "cdc", 0, 1)
		if !reflect.DeepEqual(changes, again) || reasonOf(err) != reasonOf(err2) {
			t.Fatalf("two decodes differ: %+v, %v vs %+v, %v", changes, err, again, err2)
		}
	})
}

func FuzzOnline(f *testing.F) {
	for _, tc := range onlineCases {
		f.Add([]byte(tc.value))
	}
	o := newOnline(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		changes, err := o.Decode(nil, value)
		check(t, changes, err)
		if err == nil && len(changes) != 1 {
			t.Fatalf("%d changes from one event", len(changes))
		}
		again, err2 := o.Decode(nil, value)
		if !reflect.DeepEqual(changes, again) || reasonOf(err) != reasonOf(err2) {
			t.Fatalf("two decodes differ: %+v, %v vs %+v, %v", changes, err, again, err2)
		}
	})
}

func check(t *testing.T, changes []contact.Change, err error) {
	t.Helper()
	if err != nil {
		var de *Error
		if !errors.As(err, &de) || de.Reason == "" {
			t.Fatalf("untyped error: %v", err)
		}
		if changes != nil {
			t.Fatalf("changes with an error: %v", err)
		}
		return
	}
	for _, c := range changes {
		if verr := Validate(c); verr != nil {
			t.Fatalf("decoded change does not validate: %v", verr)
		}
	}
}
