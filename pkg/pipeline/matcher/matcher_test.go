package matcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// jsonCodec stands in for Avro: the stage only needs round trips.
type jsonCodec struct{}

func (jsonCodec) EncodeKickOut(k contact.KickOut) ([]byte, error) { return json.Marshal(k) }
func (jsonCodec) EncodeMatched(m contact.Matched) ([]byte, error) { return json.Marshal(m) }
func (jsonCodec) DecodeChange(b []byte) (c contact.Change, err error) {
	return c, json.Unmarshal(b, &c)
}

// fakeResolver answers from a table by record id: a person, "ambiguous",
// "panic" (the resolver panics on any batch holding the record) or "fail".
type fakeResolver struct {
	answers map[string]string
	calls   int
}

func (r *fakeResolver) Resolve(_ context.Context, changes []contact.Change) ([]matcher.Resolution, error) {
	r.calls++
	out := make([]matcher.Resolution, len(changes))
	for i, c := range changes {
		switch a := r.answers[c.SourceRecordID]; a {
		case "panic":
			panic("resolver bug on record " + c.SourceRecordID)
		case "fail":
			return nil, errors.New("index down")
		case "ambiguous":
			out[i].Match = contact.Match{Decision: contact.DecisionAmbiguous, Candidates: []string{"p-1", "p-2"},
				Score: 0.7, Explanation: "ambiguous(multiple_persons)"}
		case "held":
			out[i].Match = contact.Match{Decision: contact.DecisionAmbiguous, Explanation: "ambiguous(pending_decision) awaiting=ev-0"}
			out[i].Awaiting = "ev-0"
		default:
			out[i] = matcher.Resolution{Match: contact.Match{PersonID: a, Decision: contact.DecisionLinked},
				Links: map[string]string{c.SourceSystem: c.SourceRecordID}}
		}
	}
	return out, nil
}

func changeRecord(t *testing.T, id string, offset int64) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(contact.Change{EventID: "ev-" + id, SourceSystem: "online", SourceRecordID: id, Op: contact.OpUpsert})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "changes", Partition: 2, Offset: offset, Key: []byte("online/" + id), Value: b,
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
}

func kickOutOf(t *testing.T, r *kgo.Record) contact.KickOut {
	t.Helper()
	var ko contact.KickOut
	if err := json.Unmarshal(r.Value, &ko); err != nil {
		t.Fatal(err)
	}
	return ko
}

func TestMatcherStage(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	topics := pipeline.DefaultTopics()
	res := &fakeResolver{answers: map[string]string{"w1": "p-1", "w2": "ambiguous", "w3": "p-3", "w4": "held"}}
	st := matcher.New(topics, jsonCodec{}, res, nil)
	if got := st.InputTopics(); len(got) != 1 || got[0] != topics.Changes {
		t.Errorf("input topics %v", got)
	}
	bad := &kgo.Record{Topic: "changes", Offset: 9, Value: []byte("{not json")}
	out, err := st.Process(ctx, []*kgo.Record{changeRecord(t, "w1", 1), bad, changeRecord(t, "w2", 2), changeRecord(t, "w3", 3), changeRecord(t, "w4", 4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 5 || res.calls != 1 {
		t.Fatalf("%d records after %d resolver calls, want 5 and 1 (one call per batch)", len(out), res.calls)
	}
	// Kick-outs first (the undecodable record), then in input order.
	if out[0].Topic != topics.KickOuts || kickOutOf(t, out[0]).Reason != pipeline.ReasonAvro {
		t.Errorf("undecodable record: %s %s", out[0].Topic, out[0].Value)
	}
	if out[1].Topic != topics.Matched || string(out[1].Key) != "p-1" || len(out[1].Headers) != 1 {
		t.Errorf("matched record: %s key %s headers %v", out[1].Topic, out[1].Key, out[1].Headers)
	}
	var m contact.Matched
	if err := json.Unmarshal(out[1].Value, &m); err != nil || m.Change.SourceRecordID != "w1" || m.Match.PersonID != "p-1" || m.Links["online"] != "w1" {
		t.Errorf("matched change %+v (%v)", m, err)
	}
	ko := kickOutOf(t, out[2])
	if out[2].Topic != topics.KickOuts || ko.Reason != pipeline.ReasonMatchAmbiguous || ko.EventID != "ev-w2" ||
		ko.Explanation != "ambiguous(multiple_persons) || candidates: p-1 p-2" || !strings.Contains(ko.Error, "matches 2 persons") {
		t.Errorf("ambiguous record: %s %+v", out[2].Topic, ko)
	}
	if string(out[3].Key) != "p-3" {
		t.Errorf("third record keyed %s", out[3].Key)
	}
	// A record awaiting a decision: held, naming the event to decide.
	ko = kickOutOf(t, out[4])
	if out[4].Topic != topics.KickOuts || ko.Reason != pipeline.ReasonMatchPendingDecision || ko.EventID != "ev-w4" ||
		!strings.Contains(ko.Error, "ev-0") || !strings.Contains(ko.Explanation, "awaiting=ev-0") {
		t.Errorf("held record: %s %+v", out[4].Topic, ko)
	}
}

// A failing resolver fails the batch (it is redone); a panicking one must
// not: the record that panics becomes a kick-out and the others go on,
// instead of the batch being redone forever.
func TestMatcherStageResolverFailures(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	topics := pipeline.DefaultTopics()
	st := matcher.New(topics, jsonCodec{}, &fakeResolver{answers: map[string]string{"w1": "p-1", "w2": "fail"}}, nil)
	if _, err := st.Process(ctx, []*kgo.Record{changeRecord(t, "w1", 1), changeRecord(t, "w2", 2)}); err == nil {
		t.Error("a batch whose resolver failed went through")
	}

	st = matcher.New(topics, jsonCodec{}, &fakeResolver{answers: map[string]string{"w1": "p-1", "w2": "panic", "w3": "p-3"}}, nil)
	var out []*kgo.Record
	err := pipeline.Guard(func() error {
		var err error
		out, err = st.Process(ctx, []*kgo.Record{changeRecord(t, "w1", 1), changeRecord(t, "w2", 2), changeRecord(t, "w3", 3)})
		return err
	})
	if err != nil {
		t.Fatalf("a record that panics the resolver failed the batch: %v", err)
	}
	var matched, kickOuts []string
	for _, r := range out {
		switch r.Topic {
		case topics.Matched:
			matched = append(matched, string(r.Key))
		case topics.KickOuts:
			ko := kickOutOf(t, r)
			if ko.Reason != pipeline.ReasonInternal || ko.Offset != 2 || ko.EventID != "ev-w2" {
				t.Errorf("kick-out of the panicking record: %+v", ko)
			}
			kickOuts = append(kickOuts, ko.ID)
		}
	}
	if strings.Join(matched, ",") != "p-1,p-3" || len(kickOuts) != 1 {
		t.Errorf("matched %v, %d kick-outs; want p-1,p-3 and 1", matched, len(kickOuts))
	}
}
