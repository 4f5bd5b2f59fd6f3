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
	old := oldestIDs()
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

// oldestIDs maps each schema with earlier versions to its first id.
func oldestIDs() map[string]int {
	old := map[string]int{}
	for id, name := range schemas.LegacyIDs {
		if prev, ok := old[name]; !ok || id < prev {
			old[name] = id
		}
	}
	return old
}

// encodeLegacy encodes native with the earlier schema version id, in the
// wire format.
func encodeLegacy(t *testing.T, id int, native map[string]any) []byte {
	t.Helper()
	_, text, err := schemas.Legacy(id)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, id, nil)
	if b, err = oc.BinaryFromNative(b, native); err != nil {
		t.Fatal(err)
	}
	return b
}

// Matched changes and sink records written before they carried a household
// id (embedded ids 10 and 3) still decode, with none.
func TestRecordsWrittenBeforeHouseholdID(t *testing.T) {
	c := newCodec(t)
	in := sampleChange()
	m, err := c.DecodeMatched(encodeLegacy(t, 10, map[string]any{
		"change": changeToNative(in), "person_id": "p-1", "decision": "new", "score": 0.5, "explanation": "new(no_candidates)",
		"candidates": []any{}, "links": map[string]any{"offline": "OFF-1"},
	}))
	if err != nil {
		t.Fatalf("an old matched change no longer decodes: %v", err)
	}
	if !reflect.DeepEqual(m.Change, in) || m.Match.PersonID != "p-1" || m.Match.HouseholdID != "" || m.Links["offline"] != "OFF-1" {
		t.Fatalf("old matched change: %+v", m)
	}
	s, err := c.DecodeSink(encodeLegacy(t, 3, map[string]any{
		"event_id": "sk-1", "causation_id": "evt-1", "person_id": "p-1", "target_system": "offline", "entity": "contact",
		"op": "create", "target_record_id": nil, "reference_source": goavro.Union("string", "online"),
		"set": map[string]any{"family_name": "Adams"}, "clear": []any{}, "gift": nil, "links": map[string]any{},
		"source_ts": at, "reason": "create_missing",
	}))
	if err != nil {
		t.Fatalf("an old sink record no longer decodes: %v", err)
	}
	if s.PersonID != "p-1" || s.Set[contact.FamilyName] != "Adams" || s.HouseholdID != "" || s.ReferenceSource != "online" {
		t.Fatalf("old sink record: %+v", s)
	}
	// And the current ids are not the old ones: a new record says which it is.
	if c.SchemaID(schemas.MatchedChange) == 10 || c.SchemaID(schemas.SinkRecord) == 3 {
		t.Fatal("the current schema ids are still the ones without household_id")
	}
}
