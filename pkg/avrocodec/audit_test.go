package avrocodec

import (
	"errors"
	"reflect"
	"testing"

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
