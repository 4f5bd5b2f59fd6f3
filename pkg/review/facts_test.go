package review

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestDefaultFacts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key, value string
		want       Facts
	}{
		{"online event", "web-7", `{"event_id":"evt-7","contact":{"id":"web-7","email":"a@b.org"}}`,
			Facts{RecordID: "web-7", EventID: "evt-7", Email: "a@b.org"}},
		{"debezium prefers after", `{"id":"OFF-1"}`, `{"before":{"email":"old@x.org"},"after":{"email":"new@x.org"}}`,
			Facts{RecordID: "OFF-1", Email: "new@x.org"}},
		{"debezium key with schema", `{"schema":{},"payload":{"id":1001}}`, `not json`,
			Facts{RecordID: "1001"}},
		{"binary key", "\x00\x01", "\x00", Facts{}},
	} {
		got := DefaultFacts(contact.KickOut{Key: []byte(tc.key), Value: []byte(tc.value)})
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
