package avrocodec

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

var at = time.Date(2026, 11, 2, 9, 30, 15, 123_000_000, time.UTC)

func sampleChange() contact.Change {
	return contact.Change{
		EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-0001", ReferenceSource: "online",
		Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: at,
		Values: contact.Values{contact.GivenName: "Anna", contact.Email: "anna@example.org", contact.DoNotEmail: "true", contact.DoNotMail: "false",
			"appeal_code": "XMAS26", "gift_aid": "true", "lifetime_value": "1250.00"},
		Cleared: []contact.Field{contact.AddressLine2},
		Gift:    &contact.Gift{GiftID: "g-1", AmountMinor: 1250, Currency: "USD", ReceivedAt: at, Campaign: "winter"},
	}
}

func newCodec(t *testing.T) *Codec {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t)
	t.Run("change", func(t *testing.T) {
		for _, in := range []contact.Change{sampleChange(), {EventID: "e", SourceSystem: "s", SourceRecordID: "r", Origin: contact.OriginAdmin, Op: contact.OpDelete, SourceTime: at}} {
			b, err := c.EncodeChange(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.DecodeChange(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
			}
		}
	})
	t.Run("matched", func(t *testing.T) {
		in := contact.Matched{Change: sampleChange(),
			Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionLinked, Score: 17.5, Explanation: "email=exact", Candidates: []string{"p-1", "p-2"},
				HouseholdID: "hh-0123456789abcdef01234567"},
			Links: map[string]string{"offline": "OFF-1", "online": "web-0001"}}
		b, err := c.EncodeMatched(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.DecodeMatched(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	})
	t.Run("sink", func(t *testing.T) {
		in := contact.SinkRecord{EventID: "s-1", CausationID: "evt-1", PersonID: "p-1", TargetSystem: "offline",
			Entity: contact.EntityContact, Op: contact.SinkCreate, ReferenceSource: "online",
			Set: contact.Values{contact.FamilyName: "Adams"}, Clear: []contact.Field{contact.Phone},
			Gift: sampleChange().Gift, Links: map[string]string{"online": "web-1"}, SourceTime: at, Reason: "name: latest",
			HouseholdID: "hh-0123456789abcdef01234567"}
		b, err := c.EncodeSink(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.DecodeSink(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	})
	t.Run("kickout", func(t *testing.T) {
		in := contact.KickOut{ID: "ko-1", Reason: "decode.json", Stage: "ingest", Error: "unexpected end", Topic: "t",
			Partition: 2, Offset: 99, Key: []byte("k"), Value: []byte{0, 1, 2}, Headers: []contact.Header{{Key: "h", Value: []byte("v")}},
			EventID: "e", PersonID: "p", Explanation: "x", FirstSeen: at, LastSeen: at.Add(time.Hour), ReplayCount: 2, OriginalEventID: "o"}
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
	})
	t.Run("review", func(t *testing.T) {
		in := contact.ReviewItem{ID: "rv-1", PersonID: "p-1", TargetSystem: "offline", Reason: "self_service name",
			Proposed: contact.Values{contact.FamilyName: "Adams-Smythe"}, Current: contact.Values{contact.FamilyName: "Adams"},
			Change: sampleChange(), Created: at}
		b, err := c.EncodeReview(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.DecodeReview(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	})
}

func TestWireFormat(t *testing.T) {
	c := newCodec(t)
	b, err := c.EncodeChange(sampleChange())
	if err != nil {
		t.Fatal(err)
	}
	if id := schemas.EmbeddedIDs[schemas.ContactChange]; b[0] != 0 || int(b[4]) != id || b[1]|b[2]|b[3] != 0 {
		t.Fatalf("want magic 0 and schema id %d, got % x", id, b[:5])
	}
	if _, err := c.DecodeMatched(b); !errors.Is(err, ErrWrongSchema) {
		t.Fatalf("decoding a change as matched: got %v, want ErrWrongSchema", err)
	}
	for _, bad := range [][]byte{nil, {1, 2}, {0, 0, 0, 0, 1}, append(append([]byte{}, b...), 7)} {
		if _, err := c.DecodeChange(bad); err == nil {
			t.Fatalf("decoding % x: want an error", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	c, err := New()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := c.EncodeChange(sampleChange())
	ko, _ := c.EncodeKickOut(contact.KickOut{ID: "k", FirstSeen: at, LastSeen: at})
	f.Add(good)
	f.Add(ko)
	f.Add([]byte{0, 0, 0, 0, 2, 0})
	for _, rec := range lyingRecords(f, c) {
		f.Add(rec.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Anything may come in from a topic; nothing may panic.
		_, _ = c.DecodeChange(b)
		_, _ = c.DecodeMatched(b)
		_, _ = c.DecodeSink(b)
		_, _ = c.DecodeKickOut(b)
		_, _ = c.DecodeReview(b)
		// The length check refuses only what goavro refuses too: it never
		// costs a valid record.
		id, body, err := c.header.DecodeID(b)
		name, ok := c.names[id]
		if err != nil || !ok {
			return
		}
		if c.bounds[name].check(body) != nil {
			if _, _, err := c.codecs[name].NativeFromBinary(body); err == nil {
				t.Fatalf("%s: the length check refuses % x, which goavro decodes", name, body)
			}
		}
	})
}
