package review

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

var testSources = Sources{}.withDefaults()

func TestOriginOf(t *testing.T) {
	tp := testSources.Topics
	hdr := func(kv ...string) []contact.Header {
		var hs []contact.Header
		for i := 0; i+1 < len(kv); i += 2 {
			hs = append(hs, contact.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name       string
		ko         contact.KickOut
		format     string
		source     string
		replayable bool
	}{
		{"offline cdc", contact.KickOut{Topic: tp.OfflineCDC}, pipeline.FormatDebezium, tp.OfflineCDC, true},
		{"online event", contact.KickOut{Topic: tp.OnlineEvents}, pipeline.FormatOnline, tp.OnlineEvents, true},
		{"matcher", contact.KickOut{Topic: tp.Changes}, pipeline.FormatChange, tp.Changes, true},
		{"router", contact.KickOut{Topic: tp.Matched}, pipeline.FormatMatched, tp.Matched, true},
		{"replay keeps its format and first topic", contact.KickOut{Topic: tp.Replay,
			Headers: hdr(pipeline.HeaderFormat, pipeline.FormatOnline, pipeline.HeaderSourceTopic, tp.OnlineEvents)},
			pipeline.FormatOnline, tp.OnlineEvents, true},
		{"replay without format falls back to its first topic", contact.KickOut{Topic: tp.Replay,
			Headers: hdr(pipeline.HeaderSourceTopic, tp.OfflineCDC)}, pipeline.FormatDebezium, tp.OfflineCDC, true},
		{"replay of nothing known", contact.KickOut{Topic: tp.Replay, Headers: hdr(pipeline.HeaderFormat, "csv")}, "", tp.Replay, false},
		{"a target's refused write", contact.KickOut{Topic: tp.Sink("online")}, pipeline.FormatSink, tp.Sink("online"), true},
		{"collector's own", contact.KickOut{Topic: tp.KickOuts}, "", tp.KickOuts, false},
		{"unknown topic", contact.KickOut{Topic: "elsewhere"}, "", "elsewhere", false},
	} {
		o := originOf(testSources, tc.ko)
		if o.Format != tc.format || o.SourceTopic != tc.source || (o.NotReplayable == "") != tc.replayable {
			t.Errorf("%s: got %+v", tc.name, o)
		}
	}
}

func TestReplayRecordLineage(t *testing.T) {
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	tp := testSources.Topics
	// The second failure of a record first seen on the online topic.
	ko := contact.KickOut{ID: "ko-2", Topic: tp.Replay, Key: []byte("web-1"), Value: []byte(`{"a":1}`),
		ReplayCount: 1, OriginalEventID: "evt-1", EventID: "evt-1~r1",
		Headers: []contact.Header{{Key: pipeline.HeaderFormat, Value: []byte(pipeline.FormatOnline)},
			{Key: pipeline.HeaderSourceTopic, Value: []byte(tp.OnlineEvents)}}}
	rec, info, err := replayRecord(testSources, codec, nil, ko, Facts{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{pipeline.HeaderFormat: pipeline.FormatOnline, pipeline.HeaderReplayCount: "2",
		pipeline.HeaderOriginalEventID: "evt-1", pipeline.HeaderKickOutID: "ko-2", pipeline.HeaderSourceTopic: tp.OnlineEvents}
	for k, v := range want {
		if got, _ := pipeline.Header(rec, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if rec.Topic != tp.Replay || string(rec.Key) != "web-1" || string(rec.Value) != `{"a":1}` || info.Count != 2 || info.Edited {
		t.Errorf("record %+v info %+v", rec, info)
	}
	// An edit that is not JSON is refused.
	bad := `{"a":`
	if _, _, err := replayRecord(testSources, codec, nil, ko, Facts{}, &bad); err == nil {
		t.Error("invalid JSON edit accepted")
	}
	// Without any event id, the lineage still names the kick-out.
	first := contact.KickOut{ID: "ko-1", Topic: tp.OnlineEvents, Value: []byte(`{`)}
	rec, _, err = replayRecord(testSources, codec, nil, first, Facts{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pipeline.Header(rec, pipeline.HeaderOriginalEventID); got != "ko-1" {
		t.Errorf("original event id without any = %q", got)
	}
	// A matched change replays as its change, from the first attempt's id.
	ch := contact.Change{EventID: "evt-9~r1", SourceSystem: "online", SourceRecordID: "web-9", Origin: contact.OriginAPI,
		Op: contact.OpUpsert, SourceTime: time.Unix(1, 0).UTC(), Values: contact.Values{contact.Email: "a@b.org"}}
	val, err := codec.EncodeMatched(contact.Matched{Change: ch, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}})
	if err != nil {
		t.Fatal(err)
	}
	routed := contact.KickOut{ID: "ko-9", Topic: tp.Matched, Value: val, ReplayCount: 1, OriginalEventID: "evt-9", EventID: "evt-9~r1"}
	rec, info, err = replayRecord(testSources, codec, nil, routed, Facts{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeChange(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.EventID != "evt-9" || string(rec.Key) != "online/web-9" || info.Format != pipeline.FormatChange {
		t.Errorf("replayed matched change %+v key %s info %+v", got, rec.Key, info)
	}
}

// A write the platform refused goes back on its sink topic with an event
// id of its own (its idempotency key) and its lineage.
func TestReplayRecordOfARefusedWrite(t *testing.T) {
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	sink := testSources.Topics.Sink("online")
	sr := contact.SinkRecord{EventID: "sink-1~r1", PersonID: "p-1", TargetSystem: "online", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: "c-1", Set: contact.Values{contact.Email: "a@b.org"}}
	val, err := codec.EncodeSink(sr)
	if err != nil {
		t.Fatal(err)
	}
	ko := contact.KickOut{ID: "ko-5", Reason: "apply.rejected", Stage: "apply", Topic: sink, Key: []byte("p-1"), Value: val,
		EventID: "sink-1~r1", OriginalEventID: "sink-1", ReplayCount: 1}
	rec, info, err := replayRecord(testSources, codec, nil, ko, Facts{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeSink(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Topic != sink || info.Topic != sink || string(rec.Key) != "p-1" || got.EventID != "sink-1~r2" || got.Set[contact.Email] != "a@b.org" {
		t.Errorf("replayed %+v on %s key %s, info %+v", got, rec.Topic, rec.Key, info)
	}
	if n, _ := pipeline.Header(rec, pipeline.HeaderReplayCount); n != "2" {
		t.Errorf("replay count header %q", n)
	}
	edit := `{}`
	if _, _, err := replayRecord(testSources, codec, nil, ko, Facts{}, &edit); err == nil {
		t.Error("an edited refused write was accepted")
	}
}

func TestChangeJSONRoundTripAndValidation(t *testing.T) {
	c := contact.Change{EventID: "e", SourceSystem: "online", SourceRecordID: "r", Origin: contact.OriginAPI, Op: contact.OpUpsert,
		SourceTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Values:     contact.Values{contact.Email: "a@b.org"}, Cleared: []contact.Field{contact.Phone},
		Gift: &contact.Gift{GiftID: "g", AmountMinor: 500, Currency: "USD", ReceivedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}
	text := mustIndent(t, changeToJSON(c))
	back, err := changeFromJSON(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Values[contact.Email] != "a@b.org" || back.Cleared[0] != contact.Phone || back.Gift.AmountMinor != 500 ||
		!back.SourceTime.Equal(c.SourceTime) {
		t.Fatalf("round trip: %+v", back)
	}
	for _, tc := range []struct{ name, edit, want string }{
		{"unknown key", `{"source_system":"s","source_record_id":"r","origin":"api","op":"upsert","colour":"red"}`, "unknown field"},
		{"unknown field", `{"source_system":"s","source_record_id":"r","origin":"api","op":"upsert","values":{"nick":"x"}}`, `"nick"`},
		{"bad origin", `{"source_system":"s","source_record_id":"r","origin":"robot","op":"upsert"}`, "origin"},
		{"bad op", `{"source_system":"s","source_record_id":"r","origin":"api","op":"merge"}`, "op"},
		{"no record", `{"origin":"api","op":"upsert"}`, "source_record_id"},
		{"trailing text", `{"source_system":"s","source_record_id":"r","origin":"api","op":"upsert"} x`, "after"},
	} {
		if _, err := changeFromJSON(tc.edit, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func mustIndent(t *testing.T, v ChangeJSON) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApprovedChangeSendsOnlyTheHeldFields(t *testing.T) {
	it := contact.ReviewItem{ID: "rv", Proposed: contact.Values{contact.FamilyName: "Smythe", contact.AddressLine2: ""},
		Change: contact.Change{EventID: "evt-3", SourceSystem: "online", SourceRecordID: "web-3", Origin: contact.OriginSelfService,
			Op: contact.OpUpsert, Values: contact.Values{contact.FamilyName: "Smythe", contact.Email: "x@y.org"},
			Gift: &contact.Gift{GiftID: "g"}}}
	c := approvedChange(it)
	if c.EventID != "evt-3~approved" || c.Origin != contact.OriginAdmin || len(c.Values) != 1 ||
		c.Values[contact.FamilyName] != "Smythe" || len(c.Cleared) != 1 || c.Cleared[0] != contact.AddressLine2 || c.Gift != nil {
		t.Fatalf("approved change %+v", c)
	}
	if it.Change.Origin != contact.OriginSelfService || len(it.Change.Values) != 2 {
		t.Fatal("approvedChange changed the review item")
	}
}

func TestFacts(t *testing.T) {
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	tp := testSources.Topics
	facts := FactsReader(testSources, codec)
	online := facts(contact.KickOut{Topic: tp.OnlineEvents, Key: []byte("k"),
		Value: []byte(`{"event_id":"e1","system":"shop","contact":{"id":"web-5","email":"A@B.org"}}`)})
	if online != (Facts{System: "shop", RecordID: "web-5", EventID: "e1", Email: "A@B.org"}) {
		t.Errorf("online facts %+v", online)
	}
	deb := facts(contact.KickOut{Topic: tp.OfflineCDC, Key: []byte(`{"id":"OFF-1"}`),
		Value: []byte(`{"before":null,"after":{"id":"OFF-1","email":"c@d.org"}}`)})
	if deb != (Facts{System: "offline", RecordID: "OFF-1", Email: "c@d.org"}) {
		t.Errorf("debezium facts %+v", deb)
	}
	val, _ := codec.EncodeChange(contact.Change{EventID: "e2", SourceSystem: "online", SourceRecordID: "web-6",
		Origin: contact.OriginAPI, Op: contact.OpUpsert, Values: contact.Values{contact.Email: "e@f.org"}})
	ch := facts(contact.KickOut{Topic: tp.Changes, Value: val})
	if ch != (Facts{System: "online", RecordID: "web-6", EventID: "e2", Email: "e@f.org"}) {
		t.Errorf("change facts %+v", ch)
	}
	if garbled := facts(contact.KickOut{Topic: tp.Changes, Value: []byte{0, 1}}); garbled.System != "" {
		t.Errorf("garbled Avro facts %+v", garbled)
	}
}

func TestPayloadOf(t *testing.T) {
	if p := payloadOf([]byte("héllo")); p.Text == nil || *p.Text != "héllo" || p.Base64 != "" || p.Bytes != 6 {
		t.Errorf("text payload %+v", p)
	}
	if p := payloadOf([]byte{0, 0xff}); p.Text != nil || p.Base64 != "AP8=" {
		t.Errorf("binary payload %+v", p)
	}
}

func TestReasonHelp(t *testing.T) {
	if !strings.Contains(ReasonHelp(pipeline.ReasonInvalidField), "Fix & resubmit") {
		t.Error("validate.field help does not say what to do")
	}
	if ReasonHelp("decode.xml") != reasonHelp["decode.*"] {
		t.Error("an unknown decode reason does not get the decode family's help")
	}
	if ReasonHelp("whatever") == "" {
		t.Error("no help for an unknown reason")
	}
}
