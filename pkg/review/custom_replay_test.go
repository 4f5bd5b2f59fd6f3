package review_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/review/reviewtest"
)

// Fix & resubmit through the service: Deps.Fields lets an edited change of
// an Avro kick-out carry the declared custom fields; without them, or for
// a name nobody declared, the edit is refused as invalid.
func TestFixAndResubmitCustomFields(t *testing.T) {
	fields, err := contact.NewFieldSet(contact.FieldInfo{Name: "appeal_code", Kind: contact.Text})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	src := review.Sources{Topology: pipeline.DefaultTopology()}
	ch := contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1", Origin: contact.OriginAPI,
		Op: contact.OpUpsert, SourceTime: time.Unix(1, 0).UTC(), Values: contact.Values{contact.Email: "a@b.org"}}
	val, err := codec.EncodeMatched(contact.Matched{Change: ch, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}})
	if err != nil {
		t.Fatal(err)
	}
	const head = `{"event_id":"evt-1","source_system":"online","source_record_id":"web-1","origin":"api","op":"upsert",` +
		`"source_time":"1970-01-01T00:00:01Z",`
	for _, tc := range []struct {
		name    string
		fields  *contact.FieldSet
		edit    string
		wantErr error
	}{
		{"declared custom field", fields, head + `"values":{"email":"a@b.org","appeal_code":"XMAS26"}}`, nil},
		{"undeclared custom field", fields, head + `"values":{"solicit_code":"OK"}}`, review.ErrInvalid},
		{"no field set configured", nil, head + `"values":{"appeal_code":"XMAS26"}}`, review.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := reviewtest.New()
			if err := store.SaveKickOuts(ctx, []contact.KickOut{{ID: "ko-1", Stage: "router", Reason: "route.failed",
				Topic: src.Topics.Matched, Key: []byte("p-1"), Value: val, EventID: "evt-1", FirstSeen: t0}}); err != nil {
				t.Fatal(err)
			}
			producer := &fakeProducer{}
			svc, err := review.NewService(review.Deps{Store: store, Producer: producer, Codec: codec, Sources: src, Fields: tc.fields})
			if err != nil {
				t.Fatal(err)
			}
			edit := tc.edit
			_, err = svc.Replay(ctx, "ko-1", "ann", &edit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("replay: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if len(producer.sent) != 0 {
					t.Errorf("a refused edit was sent: %d records", len(producer.sent))
				}
				return
			}
			if len(producer.sent) != 1 {
				t.Fatalf("sent %d records, want 1", len(producer.sent))
			}
			c, err := codec.DecodeChange(producer.sent[0].Value) // a replay re-enters as a change
			if err != nil {
				t.Fatal(err)
			}
			if c.Values["appeal_code"] != "XMAS26" || c.Values[contact.Email] != "a@b.org" {
				t.Errorf("replayed change values %v, want the email and the appeal code", c.Values)
			}
		})
	}
}
