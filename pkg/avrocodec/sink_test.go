package avrocodec

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// The hand-written sink encoder gives goavro's bytes: exactly, where a map
// has at most one entry (goavro writes map entries in Go's random order), and
// otherwise the same length and the same decoded record. Its own bytes do
// not depend on map order.
func TestSinkEncodingIsGoavros(t *testing.T) {
	c := newCodec(t)
	rng := rand.New(rand.NewSource(15))
	str := func() string {
		b := make([]byte, rng.Intn(3)*rng.Intn(30))
		rng.Read(b)
		return string(b)
	}
	times := []time.Time{at, {}, time.Unix(-1, 999_999_999), time.Date(2262, 1, 1, 0, 0, 0, 1, time.FixedZone("", -3600))}
	for i := range 400 {
		s := contact.SinkRecord{EventID: str(), CausationID: str(), PersonID: str(), TargetSystem: str(), Entity: contact.Entity(str()),
			Op: contact.SinkOp(str()), TargetRecordID: str(), ReferenceSource: str(), SourceTime: times[i%len(times)].Add(time.Duration(rng.Int63n(1e12))),
			Reason: str(), HouseholdID: str()}
		for range rng.Intn(3) * rng.Intn(5) {
			if s.Set == nil {
				s.Set = contact.Values{}
			}
			s.Set[contact.Field(str())] = str()
		}
		for range rng.Intn(3) * rng.Intn(5) {
			s.Clear = append(s.Clear, contact.Field(str()))
		}
		for range rng.Intn(3) {
			if s.Links == nil {
				s.Links = map[string]string{}
			}
			s.Links[str()] = str()
		}
		if rng.Intn(2) == 0 {
			s.Gift = &contact.Gift{GiftID: str(), AmountMinor: rng.Int63() - rng.Int63(), Currency: str(), ReceivedAt: times[i%len(times)],
				Campaign: str(), Fund: str(), PaymentMethod: str()}
		}
		got, err := c.EncodeSink(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.encode(schemas.SinkRecord, sinkNative(s))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Set) <= 1 && len(s.Links) <= 1 && !bytes.Equal(got, want) {
			t.Fatalf("sink %+v:\n got %x\nwant %x", s, got, want)
		}
		if len(got) != len(want) {
			t.Fatalf("sink %+v: %d bytes, goavro %d", s, len(got), len(want))
		}
		fromGot, err := c.DecodeSink(got)
		if err != nil {
			t.Fatal(err)
		}
		fromWant, err := c.DecodeSink(want)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromGot, fromWant) {
			t.Fatalf("sink decodes as\n%+v\ngoavro's as\n%+v", fromGot, fromWant)
		}
		for range 3 {
			if again, _ := c.EncodeSink(s); !bytes.Equal(again, got) {
				t.Fatal("the same sink record encoded to other bytes")
			}
		}
	}
}
