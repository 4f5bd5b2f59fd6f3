package avrocodec

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

func TestAuditRoundTrip(t *testing.T) {
	c := newCodec(t)
	for _, in := range []contact.Audit{
		{EventID: "evt-1", PersonID: "p-1", SourceSystem: "online", SourceRecordID: "web-1", Origin: contact.OriginSelfService,
			SourceTime: at, MatchDecision: contact.DecisionKnown, Fields: []contact.FieldAudit{
				{Field: contact.GivenName, Old: "Anna", New: "Annie", Action: "held", Rule: "name", Policy: "review",
					Targets: []contact.TargetAudit{{System: "offline", Action: "held"}, {System: "online", Action: "kept"}}},
				{Field: contact.Organisation, Old: "ACME", NewCleared: true, Action: "accepted", Rule: "organisation", Policy: "latest", Approved: true},
				{Kind: contact.AuditGift, Rule: "gifts", Targets: []contact.TargetAudit{{System: "offline", Action: "sent"}}},
				{Kind: contact.AuditLinks, New: "offline:OFF-7", Rule: "links", Targets: []contact.TargetAudit{{System: "online", Action: "sent"}}},
			}},
		{EventID: "e", PersonID: "p", SourceSystem: "offline", SourceRecordID: "r", Origin: contact.OriginAdmin, SourceTime: at,
			KickOutReason: "rules.delete"},
	} {
		b, err := c.EncodeAudit(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.DecodeAudit(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	}
	// Another record's bytes are refused, not misread.
	b, err := c.EncodeReview(contact.ReviewItem{ID: "rv", Change: sampleChange(), Created: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeAudit(b); !errors.Is(err, ErrWrongSchema) {
		t.Fatalf("a review item decoded as an audit record: %v", err)
	}
}

// Audit records written before FieldDecision had its kind still decode:
// kind empty (a gift's entry is then the one with no field).
func TestAuditWrittenWithTheOldSchema(t *testing.T) {
	c := newCodec(t)
	_, text, err := schemas.Legacy(8)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, 8, nil)
	b, err = oc.BinaryFromNative(b, map[string]any{
		"event_id": "evt-old", "person_id": "p-1", "source_system": "online", "source_record_id": "web-1", "origin": "api",
		"source_ts": at, "match_decision": "known", "kickout_reason": nil,
		"fields": []any{map[string]any{"field": "", "old": "", "new": "", "new_cleared": false, "action": "", "rule": "gifts",
			"policy": "", "approved": false, "targets": []any{map[string]any{"system": "offline", "action": "sent"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.DecodeAudit(b)
	if err != nil {
		t.Fatalf("an old audit record no longer decodes: %v", err)
	}
	want := []contact.FieldAudit{{Rule: "gifts", Targets: []contact.TargetAudit{{System: "offline", Action: "sent"}}}}
	if a.EventID != "evt-old" || !reflect.DeepEqual(a.Fields, want) {
		t.Fatalf("old audit record decoded as %+v", a)
	}
}

// The hand-written encoder gives exactly goavro's bytes for the schema, for
// any audit record (odd times, empty and non-UTF-8 strings, many fields).
func TestAuditEncodingIsGoavros(t *testing.T) {
	c := newCodec(t)
	rng := rand.New(rand.NewSource(15))
	str := func() string {
		b := make([]byte, rng.Intn(3)*rng.Intn(40))
		rng.Read(b)
		return string(b)
	}
	times := []time.Time{at, {}, time.Unix(-1, 999_999_999), time.Date(2262, 1, 1, 0, 0, 0, 1, time.FixedZone("", -3600)), time.Unix(1e12, 5e8)}
	for i := range 300 {
		a := contact.Audit{EventID: str(), PersonID: str(), SourceSystem: str(), SourceRecordID: str(), Origin: contact.Origin(str()),
			SourceTime: times[i%len(times)].Add(time.Duration(rng.Int63n(1e12))), MatchDecision: contact.Decision(str()), KickOutReason: str()}
		for range rng.Intn(4) * rng.Intn(20) {
			f := contact.FieldAudit{Kind: str(), Field: contact.Field(str()), Old: str(), New: str(), NewCleared: rng.Intn(2) == 0,
				Action: str(), Rule: str(), Policy: str(), Approved: rng.Intn(2) == 0}
			for range rng.Intn(4) {
				f.Targets = append(f.Targets, contact.TargetAudit{System: str(), Action: str()})
			}
			a.Fields = append(a.Fields, f)
		}
		assertGoavroAudit(t, c, a)
	}
}

func assertGoavroAudit(t *testing.T, c *Codec, a contact.Audit) {
	t.Helper()
	got, err := c.EncodeAudit(a)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.encode(schemas.AuditRecord, auditNative(a))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("audit %+v:\n got %x\nwant %x", a, got, want)
	}
}

func FuzzAuditEncodingIsGoavros(f *testing.F) {
	f.Add("evt-1", "given_name", "Anna", "Annie", int64(1_700_000_000_123), "", true, 2)
	f.Fuzz(func(t *testing.T, event, field, old, new string, millis int64, reason string, cleared bool, n int) {
		c := newCodec(t)
		a := contact.Audit{EventID: event, SourceTime: time.UnixMilli(millis), KickOutReason: reason}
		for range n % 50 {
			a.Fields = append(a.Fields, contact.FieldAudit{Field: contact.Field(field), Old: old, New: new, NewCleared: cleared,
				Targets: []contact.TargetAudit{{System: old, Action: new}}})
		}
		assertGoavroAudit(t, c, a)
	})
}
