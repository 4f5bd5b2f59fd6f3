package avrocodec

import (
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

func TestKickOutTruncationFields(t *testing.T) {
	c := newCodec(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	in := contact.KickOut{ID: "ko-1", Reason: "validate.field", Stage: "ingest", Topic: "t", Value: []byte("abc"),
		ValueSize: 1 << 20, ValueSHA256: "00ff", Truncated: true, FirstSeen: at, LastSeen: at}
	b, err := c.EncodeKickOut(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DecodeKickOut(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
}

// Kick-outs written before value_size, value_sha256 and truncated existed
// (on the topic, and in Redis for their retention) still decode.
func TestKickOutWrittenWithTheOldSchema(t *testing.T) {
	c := newCodec(t)
	var old int
	for id, name := range schemas.LegacyIDs {
		if name == schemas.KickOut {
			old = id
		}
	}
	_, text, err := schemas.Legacy(old)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, old, nil)
	b, err = oc.BinaryFromNative(b, map[string]any{
		"id": "ko-old", "reason": "decode.json", "stage": "ingest", "error": "truncated JSON", "topic": "t",
		"partition": int32(1), "offset": int64(7), "key": nil, "value": map[string]any{"bytes": []byte("{")},
		"headers": []any{}, "event_id": nil, "person_id": nil, "explanation": nil,
		"first_seen": at, "last_seen": at, "replay_count": int32(0), "original_event_id": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	ko, err := c.DecodeKickOut(b)
	if err != nil {
		t.Fatalf("an old kick-out no longer decodes: %v", err)
	}
	if ko.ID != "ko-old" || string(ko.Value) != "{" || ko.ValueSize != 1 || ko.Truncated || ko.Offset != 7 {
		t.Fatalf("old kick-out decoded as %+v", ko)
	}
}
