package avrocodec

import (
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// Changes, matched changes and review items written before ContactFields
// had its custom map (on the topics, and review items in Redis) still
// decode, with no custom values.
func TestChangesWrittenBeforeCustomFields(t *testing.T) {
	c := newCodec(t)
	old := map[string]int{}
	for id, name := range schemas.LegacyIDs {
		old[name] = id
	}
	encodeOld := func(t *testing.T, name string, native map[string]any) []byte {
		t.Helper()
		_, text, err := schemas.Legacy(old[name])
		if err != nil {
			t.Fatal(err)
		}
		oc, err := goavro.NewCodec(text)
		if err != nil {
			t.Fatal(err)
		}
		var h sr.ConfluentHeader
		b, _ := h.AppendEncode(nil, old[name], nil)
		if b, err = oc.BinaryFromNative(b, native); err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := sampleChange()
	for f := range in.Values {
		if _, builtin := contact.Lookup(f); !builtin {
			delete(in.Values, f)
		}
	}
	native := changeToNative(in)
	delete(native["values"].(map[string]any), "custom")

	got, err := c.DecodeChange(encodeOld(t, schemas.ContactChange, native))
	if err != nil {
		t.Fatalf("an old change no longer decodes: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("old change decoded as\n%+v\nwant\n%+v", got, in)
	}
	m, err := c.DecodeMatched(encodeOld(t, schemas.MatchedChange, map[string]any{
		"change": native, "person_id": "p-1", "decision": "known", "score": 1.0, "explanation": "",
		"candidates": []any{}, "links": map[string]any{},
	}))
	if err != nil || !reflect.DeepEqual(m.Change, in) || m.Match.PersonID != "p-1" {
		t.Fatalf("old matched change: %+v, %v", m, err)
	}
	rv, err := c.DecodeReview(encodeOld(t, schemas.ReviewItem, map[string]any{
		"id": "rv-1", "person_id": "p-1", "target_system": "offline", "reason": "self_service",
		"proposed": map[string]any{}, "current": map[string]any{}, "change": native, "created": at,
	}))
	if err != nil || !reflect.DeepEqual(rv.Change, in) {
		t.Fatalf("old review item: %+v, %v", rv, err)
	}
}
