package router

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func memoRecords() []*kgo.Record {
	return []*kgo.Record{
		{Topic: "sink.offline", Key: []byte("p-1"), Value: []byte{0, 0, 0, 0, 3, 'a'}},
		{Topic: "sink.offline", Key: []byte("p-1"), Value: []byte("gift")},
		{Topic: "review", Key: []byte("rv-9"), Value: []byte{}},
		{Topic: "kickouts", Key: nil, Value: nil, Headers: []kgo.RecordHeader{{Key: "reason", Value: []byte("x")}, {Key: "empty", Value: nil}}},
		{Topic: "audit", Key: []byte{}, Value: []byte("audit")},
	}
}

func TestMemoRoundTrip(t *testing.T) {
	for name, recs := range map[string][]*kgo.Record{"none": {}, "several": memoRecords()} {
		t.Run(name, func(t *testing.T) {
			b := encodeMemo("matched/3/42", recs)
			got, input, err := decodeMemo(b)
			if err != nil {
				t.Fatal(err)
			}
			if input != "matched/3/42" {
				t.Errorf("input %q", input)
			}
			if !reflect.DeepEqual(got, recs) {
				t.Errorf("records differ after a round trip:\n got %+v\nwant %+v", got, recs)
			}
		})
	}
}

// Memos written before the binary form (JSON) are still read: a redo
// across an upgrade re-emits them.
func TestJSONMemoIsStillRead(t *testing.T) {
	old := `{"in":"matched/0/7","out":[{"t":"sink.offline","k":"cC0x","v":"AAAAAAM="},{"t":"audit","k":"cC0x","v":"YXVkaXQ=","h":[{"Key":"h","Value":"dg=="}]}]}`
	recs, input, err := decodeMemo([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	want := []*kgo.Record{
		{Topic: "sink.offline", Key: []byte("p-1"), Value: []byte{0, 0, 0, 0, 3}},
		{Topic: "audit", Key: []byte("p-1"), Value: []byte("audit"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}},
	}
	if input != "matched/0/7" || !reflect.DeepEqual(recs, want) {
		t.Errorf("old memo read as %q %+v", input, recs)
	}
}

// The binary memo is smaller than the JSON one it replaces.
func TestMemoIsSmallerThanJSON(t *testing.T) {
	recs := memoRecords()
	var m jsonMemo
	m.Input = "matched/3/42"
	for _, r := range recs {
		m.Records = append(m.Records, struct {
			Topic   string             `json:"t"`
			Key     []byte             `json:"k,omitempty"`
			Value   []byte             `json:"v,omitempty"`
			Headers []kgo.RecordHeader `json:"h,omitempty"`
		}{r.Topic, r.Key, r.Value, r.Headers})
	}
	old, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if b := encodeMemo(m.Input, recs); len(b)*2 > len(old) {
		t.Errorf("binary memo %d bytes, JSON %d", len(b), len(old))
	}
}

func TestCorruptMemoIsAnError(t *testing.T) {
	full := encodeMemo("matched/3/42", memoRecords())
	for n := 0; n < len(full); n++ {
		if _, _, err := decodeMemo(full[:n]); err == nil {
			t.Fatalf("memo cut at %d of %d bytes decoded without error", n, len(full))
		}
	}
	if _, _, err := decodeMemo(append(bytes.Clone(full), 0)); err == nil {
		t.Error("memo with a trailing byte decoded without error")
	}
}

func FuzzDecodeMemo(f *testing.F) {
	f.Add(encodeMemo("matched/3/42", memoRecords()))
	f.Add(encodeMemo("", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 && b[0] == '{' {
			return // the JSON form is encoding/json's
		}
		recs, input, err := decodeMemo(b)
		if err != nil {
			return
		}
		again, input2, err := decodeMemo(encodeMemo(input, recs))
		if err != nil || input2 != input || !reflect.DeepEqual(again, recs) {
			t.Fatalf("a decoded memo does not survive another round: %v", err)
		}
	})
}
