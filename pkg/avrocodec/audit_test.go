package avrocodec

import (
	"errors"
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

func TestAuditRoundTrip(t *testing.T) {
	c := newCodec(t)
	for _, in := range []contact.Audit{
		{EventID: "evt-1", PersonID: "p-1", SourceSystem: "online", SourceRecordID: "web-1", Origin: contact.OriginSelfService,
			SourceTime: at, MatchDecision: contact.DecisionKnown, Fields: []contact.FieldAudit{
				{Field: contact.GivenName, Old: "Anna", New: "Annie", Action: "held", Rule: "name", Policy: "review",
					Targets: []contact.TargetAudit{{System: "offline", Action: "held"}, {System: "online", Action: "kept"}}},
				{Field: contact.Organisation, Old: "ACME", NewCleared: true, Action: "accepted", Rule: "organisation", Policy: "latest", Approved: true},
				{Action: "", Rule: "gifts", Targets: []contact.TargetAudit{{System: "offline", Action: "sent"}}},
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
