package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/ingest"
)

// jsonCodec stands in for Avro: the stage only needs round trips.
type jsonCodec struct{}

func (jsonCodec) EncodeKickOut(k contact.KickOut) ([]byte, error) { return json.Marshal(k) }
func (jsonCodec) EncodeChange(c contact.Change) ([]byte, error)   { return json.Marshal(c) }

// testFormat's records are a JSON list of changes; a value "panic" panics
// the decoder, "bad" fails it with decode.json.
const testFormat = "test-json"

func decodeTest(r *kgo.Record) ([]contact.Change, error) {
	switch string(r.Value) {
	case "panic":
		panic("decoder bug")
	case "bad":
		return nil, &decode.Error{Reason: decode.ReasonJSON, Err: errors.New("not JSON")}
	}
	var cs []contact.Change
	if err := json.Unmarshal(r.Value, &cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// canonical upper-cases given names and rejects the phone "invalid".
func canonical(v contact.Values) (contact.Values, error) {
	out := v.Clone()
	if g, ok := out[contact.GivenName]; ok {
		out[contact.GivenName] = strings.ToUpper(g)
	}
	if out[contact.Phone] == "invalid" {
		return nil, errors.New("phone: not a phone number")
	}
	return out, nil
}

var topics = pipeline.DefaultTopics()

func newStage(t *testing.T) *ingest.Stage {
	t.Helper()
	st, err := ingest.New(ingest.Config{
		Topics:    topics,
		Formats:   map[string]string{"in": testFormat},
		Decoders:  map[string]ingest.Decoder{testFormat: decodeTest},
		Canonical: canonical,
	}, jsonCodec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func validChange(id string) contact.Change {
	return contact.Change{EventID: "ev-" + id, SourceSystem: "online", SourceRecordID: id, Origin: contact.OriginSelfService,
		Op: contact.OpUpsert, SourceTime: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Values: contact.Values{contact.GivenName: "ann"}}
}

func record(t *testing.T, topic string, offset int64, changes ...contact.Change) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(changes)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Offset: offset, Value: b}
}

func process(t *testing.T, st *ingest.Stage, batch ...*kgo.Record) []*kgo.Record {
	t.Helper()
	out, err := st.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kickOutOf(t *testing.T, r *kgo.Record) contact.KickOut {
	t.Helper()
	if r.Topic != topics.KickOuts {
		t.Fatalf("record on %s, want a kick-out", r.Topic)
	}
	var ko contact.KickOut
	if err := json.Unmarshal(r.Value, &ko); err != nil {
		t.Fatal(err)
	}
	return ko
}

func TestIngestEmitsCanonicalChanges(t *testing.T) {
	st := newStage(t)
	got := st.InputTopics()
	if len(got) != 2 || got[0] != topics.Replay || got[1] != "in" {
		t.Errorf("input topics %v", got)
	}
	out := process(t, st, record(t, "in", 1, validChange("w1"), validChange("w2")))
	if len(out) != 2 {
		t.Fatalf("%d records, want 2", len(out))
	}
	for i, id := range []string{"w1", "w2"} {
		r := out[i]
		var c contact.Change
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatal(err)
		}
		if r.Topic != topics.Changes || string(r.Key) != "online/"+id || r.Headers != nil ||
			c.EventID != "ev-"+id || c.Values[contact.GivenName] != "ANN" {
			t.Errorf("change %d: %s key %s headers %v value %+v", i, r.Topic, r.Key, r.Headers, c)
		}
	}
}

func TestIngestKicksOutWhatItCannotRead(t *testing.T) {
	noEventID := validChange("w3")
	noEventID.EventID = ""
	badPhone := validChange("w4")
	badPhone.Values[contact.Phone] = "invalid"
	replayNoFormat := record(t, topics.Replay, 7, validChange("w5"))
	tests := []struct {
		name   string
		in     *kgo.Record
		reason string
	}{
		{"decoder error", &kgo.Record{Topic: "in", Value: []byte("bad")}, decode.ReasonJSON},
		{"decoder panic", &kgo.Record{Topic: "in", Value: []byte("panic")}, pipeline.ReasonInternal},
		{"unknown topic", record(t, "elsewhere", 1, validChange("w1")), pipeline.ReasonUnknownTopic},
		{"invalid change", record(t, "in", 2, noEventID), decode.ReasonEventID},
		{"field canonicalisation fails", record(t, "in", 3, badPhone), pipeline.ReasonInvalidField},
		// A record is emitted whole or not at all.
		{"second change invalid", record(t, "in", 4, validChange("w1"), noEventID), decode.ReasonEventID},
		{"replay without format", replayNoFormat, pipeline.ReasonUnknownFormat},
	}
	st := newStage(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := process(t, st, tt.in)
			if len(out) != 1 {
				t.Fatalf("%d records, want one kick-out", len(out))
			}
			ko := kickOutOf(t, out[0])
			if ko.Reason != tt.reason || ko.Stage != ingest.StageName || ko.Topic != tt.in.Topic || ko.Offset != tt.in.Offset ||
				string(ko.Value) != string(tt.in.Value) {
				t.Errorf("kick-out %+v, want reason %s with the input's position and bytes", ko, tt.reason)
			}
		})
	}
	// A bad record does not stop the ones around it.
	out := process(t, st, record(t, "in", 10, validChange("w1")), &kgo.Record{Topic: "in", Offset: 11, Value: []byte("panic")},
		record(t, "in", 12, validChange("w2")))
	if len(out) != 3 || out[0].Topic != topics.Changes || out[1].Topic != topics.KickOuts || out[2].Topic != topics.Changes {
		t.Errorf("batch around a panicking record: %d records", len(out))
	}
}

func TestIngestReplays(t *testing.T) {
	st, err := ingest.New(ingest.Config{
		Topics:     topics,
		Formats:    map[string]string{"in": testFormat},
		Decoders:   map[string]ingest.Decoder{testFormat: decodeTest},
		Canonical:  canonical,
		MaxReplays: 2,
	}, jsonCodec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(count string) *kgo.Record {
		r := record(t, topics.Replay, 5, validChange("w1"))
		r.Headers = []kgo.RecordHeader{
			{Key: pipeline.HeaderFormat, Value: []byte(testFormat)},
			{Key: pipeline.HeaderReplayCount, Value: []byte(count)},
			{Key: pipeline.HeaderOriginalEventID, Value: []byte("ev-w1")},
			{Key: pipeline.HeaderKickOutID, Value: []byte("ko-1")},
		}
		return r
	}
	out := process(t, st, replay("2"))
	if len(out) != 1 || out[0].Topic != topics.Changes {
		t.Fatalf("replay: %d records", len(out))
	}
	var c contact.Change
	if err := json.Unmarshal(out[0].Value, &c); err != nil {
		t.Fatal(err)
	}
	if c.EventID != pipeline.EventIDForReplay("ev-w1", 2) || c.EventID == "ev-w1" {
		t.Errorf("replayed event id %q", c.EventID)
	}
	headers := map[string]string{}
	for _, h := range out[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[pipeline.HeaderReplayCount] != "2" || headers[pipeline.HeaderOriginalEventID] != "ev-w1" || headers[pipeline.HeaderKickOutID] != "ko-1" {
		t.Errorf("lineage headers %v", headers)
	}
	out = process(t, st, replay("3"))
	if len(out) != 1 {
		t.Fatalf("replay over the limit: %d records", len(out))
	}
	if ko := kickOutOf(t, out[0]); ko.Reason != pipeline.ReasonReplayLimit || ko.ReplayCount != 3 || ko.OriginalEventID != "ev-w1" {
		t.Errorf("replay over the limit: %+v", ko)
	}
}

func TestIngestConfigErrors(t *testing.T) {
	if _, err := ingest.New(ingest.Config{Topics: topics}, jsonCodec{}, nil); err == nil {
		t.Error("a stage without canonicalizer was built")
	}
	if _, err := ingest.New(ingest.Config{Topics: topics, Canonical: canonical, Formats: map[string]string{"in": "nope"}}, jsonCodec{}, nil); err == nil {
		t.Error("a stage with a format without decoder was built")
	}
}
