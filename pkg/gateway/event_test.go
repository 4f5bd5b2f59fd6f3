package gateway

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/sampledata"
)

// FuzzParseEvent checks the trust contract against ingest's own decoder:
// whatever body the gateway lets through for a source bound to "online"
// that may claim only api and self_service, ingest (reading the source's
// topic as "online") decodes it, if at all, as a change of "online" with
// one of those origins (or none), never as another system or a trusted
// origin.
func FuzzParseEvent(f *testing.F) {
	f.Add(testBody("e1", "online", "api"))
	f.Add(testBody("e1", "offline", "api"))
	f.Add(testBody("e1", "", "sync"))
	f.Add([]byte(`{"event_id":"e","system":"offline","system":"online","origin":"api"}`))
	f.Add([]byte(`{"event_id":"e","System":"offline","origin":" admin "}`))
	f.Add([]byte("{\"event_id\":\"e\",\"system\":\"onl\xffine\"}"))
	f.Add(sampledata.OnlineEvent("g1", "gift.created", "online", "self_service", t0, sampledata.Contact{ID: "7"}, map[string]any{"id": "g", "amount": "5", "currency": "USD"}))
	src, err := NewSource("platform", "online", "t", []string{"api", "self_service"}, 1, 1, secretA)
	if err != nil {
		f.Fatal(err)
	}
	bound := &boundSource{Source: src}
	dec, err := decode.NewOnline(decode.OnlineConfig{System: "online"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, rej := parseEvent(body, bound)
		if rej != nil {
			if rej.status != 400 || rej.code == "" {
				t.Fatalf("rejection %+v", rej)
			}
			return
		}
		if ev.EventID == "" || ev.key() == "" {
			t.Fatalf("accepted without an event id or key: %+v", ev)
		}
		changes, err := dec.Decode(nil, body)
		if err != nil {
			return // ingest kicks it out, with the raw bytes
		}
		for _, c := range changes {
			if c.SourceSystem != "online" {
				t.Fatalf("gateway accepted a body ingest reads as system %q", c.SourceSystem)
			}
			switch c.Origin {
			case contact.OriginAPI, contact.OriginSelfService, contact.OriginUnknown:
			default:
				t.Fatalf("gateway accepted a body ingest reads as origin %q", c.Origin)
			}
			if c.EventID != ev.EventID {
				t.Fatalf("event id %q, ingest reads %q", ev.EventID, c.EventID)
			}
		}
	})
}
