// Package routertest holds the router stage's test doubles shared by the
// router's own tests and the Redis state store's: a JSON codec standing in
// for Avro, an engine that counts changes per person, the real rules engine
// behind the router's port, and a matched input record.
package routertest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/rules"
)

// JSONCodec stands in for Avro: the router only needs round trips.
type JSONCodec struct{}

func (JSONCodec) EncodeKickOut(k contact.KickOut) ([]byte, error)   { return json.Marshal(k) }
func (JSONCodec) EncodeSink(s contact.SinkRecord) ([]byte, error)   { return json.Marshal(s) }
func (JSONCodec) EncodeReview(r contact.ReviewItem) ([]byte, error) { return json.Marshal(r) }
func (JSONCodec) EncodeAudit(a contact.Audit) ([]byte, error)       { return json.Marshal(a) }

// DecodeMatched implements the router's codec port.
func (JSONCodec) DecodeMatched(b []byte) (m contact.Matched, err error) {
	return m, json.Unmarshal(b, &m)
}

// CountingEngine numbers each person's changes in its state and sends each
// change to the offline system with its number.
type CountingEngine struct{ Calls int }

// Apply implements the router's engine port.
func (e *CountingEngine) Apply(state []byte, m contact.Matched) (router.Verdict, error) {
	e.Calls++
	n := 0
	if len(state) > 0 {
		if err := json.Unmarshal(state, &n); err != nil {
			return router.Verdict{}, err
		}
	}
	n++
	next, _ := json.Marshal(n)
	return router.Verdict{State: next, Sinks: []contact.SinkRecord{{
		EventID: m.Change.EventID + "/offline", PersonID: m.Match.PersonID, TargetSystem: "offline",
		Entity: contact.EntityContact, Op: contact.SinkUpdate, Reason: fmt.Sprintf("change %d", n),
	}}}, nil
}

// RulesEngine runs the real (pure) rules engine behind the router's port.
type RulesEngine struct{ E *rules.Engine }

// Apply implements the router's engine port.
func (r RulesEngine) Apply(state []byte, m contact.Matched) (router.Verdict, error) {
	res, err := r.E.Apply(state, m)
	return router.Verdict{State: res.State, Sinks: res.Sinks, Reviews: res.Reviews, KickOutReason: res.KickOutReason,
		KickOutError: res.KickOutError, EchoSystems: res.EchoSystems, Fields: res.Trail}, err
}

// Matched is a JSON-encoded matched change of online record w1, known to
// person, as the router reads it from the matched topic.
func Matched(t testing.TB, person, event string, partition int32, offset int64) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(contact.Matched{
		Change: contact.Change{EventID: event, SourceSystem: "online", SourceRecordID: "w1"},
		Match:  contact.Match{PersonID: person, Decision: contact.DecisionKnown},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "matched", Partition: partition, Offset: offset, Key: []byte(person), Value: b}
}
