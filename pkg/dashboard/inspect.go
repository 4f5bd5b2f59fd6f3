package dashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// This file holds the pure knowledge of what a kick-out contains: which
// format and system it came from, what it decodes to, and how it is put
// back on the replay topic. Nothing here talks to Redis or Kafka.

// Sources is the pipeline's topology as the dashboard reads it: which
// format (and which outside system) the records of each topic have.
type Sources struct {
	pipeline.Topology
}

func (s Sources) withDefaults() Sources {
	if len(s.Stages) == 0 {
		s.Topology = pipeline.DefaultTopology()
	}
	return s
}

// Codec is the part of the pipeline's Avro codec the dashboard uses.
type Codec interface {
	EncodeChange(contact.Change) ([]byte, error)
	DecodeChange([]byte) (contact.Change, error)
	DecodeMatched([]byte) (contact.Matched, error)
	EncodeSink(contact.SinkRecord) ([]byte, error)
	DecodeSink([]byte) (contact.SinkRecord, error)
}

// HeaderReviewID names the review item an approved change comes from.
const HeaderReviewID = "cs-review-id"

// origin is where a kick-out's record came from and how it goes back.
type origin struct {
	Format      string // a replayable pipeline.Format*; "" when unknown or not replayable
	System      string // the outside system of a source topic's record
	SourceTopic string // the input topic of the first attempt
	// NotReplayable says why the record cannot be replayed ("" when it can).
	NotReplayable string
}

func originOf(src Sources, ko contact.KickOut) origin {
	o := origin{SourceTopic: ko.Topic}
	in, _ := src.FormatOf(ko.Topic)
	o.Format, o.System = in.Format, in.System
	if in.Format == pipeline.FormatPerRecord {
		if st := header(ko.Headers, pipeline.HeaderSourceTopic); st != "" {
			o.SourceTopic = st
		}
		o.Format = header(ko.Headers, pipeline.HeaderFormat)
		if !pipeline.Replayable(o.Format) {
			// A replay without a usable format header: fall back to the
			// format of the topic it first came from.
			o.Format = ""
			if o.SourceTopic != ko.Topic {
				first := originOf(src, contact.KickOut{Topic: o.SourceTopic})
				o.Format, o.System = first.Format, first.System
			}
		}
	}
	if !pipeline.Replayable(o.Format) && o.Format != pipeline.FormatSink {
		o.Format = ""
		o.NotReplayable = fmt.Sprintf("records read from topic %q cannot be replayed: their format is not known", ko.Topic)
		if in.Format == pipeline.FormatKickOut || in.Format == pipeline.FormatReview {
			o.NotReplayable = "this is an unreadable kick-out or review record of the collector itself; it cannot be replayed"
		}
	}
	return o
}

func isJSONFormat(f string) bool {
	spec, ok := pipeline.Spec(f)
	return ok && spec.Encoding == pipeline.EncodingJSON
}

func header(hs []contact.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// FormatLabel is how a format is named to a person.
func FormatLabel(format string) string {
	switch format {
	case pipeline.FormatDebezium:
		return "Offline database change (Debezium JSON)"
	case pipeline.FormatOnline:
		return "Online event (JSON)"
	case pipeline.FormatChange:
		return "Canonical contact change (Avro)"
	case pipeline.FormatMatched:
		return "Matched contact change (Avro)"
	}
	return "Unknown format"
}

// decodeChange reads the canonical change of an Avro kick-out.
func decodeChange(codec Codec, format string, value []byte) (contact.Change, *contact.Match, error) {
	switch format {
	case pipeline.FormatChange:
		c, err := codec.DecodeChange(value)
		return c, nil, err
	case pipeline.FormatMatched:
		m, err := codec.DecodeMatched(value)
		if err != nil {
			return contact.Change{}, nil, err
		}
		return m.Change, &m.Match, nil
	}
	return contact.Change{}, nil, fmt.Errorf("format %q is not Avro", format)
}

// Facts returns the function the kick-out store indexes kick-outs with:
// system, record id, person id, event id and email, read from the raw
// record when it can be read. Give it to redisstore.NewQueue with
// redisstore.WithFacts.
func Facts(src Sources, codec Codec) func(contact.KickOut) redisstore.KickOutFacts {
	src = src.withDefaults()
	return func(ko contact.KickOut) redisstore.KickOutFacts { return factsOf(src, codec, ko) }
}

func factsOf(src Sources, codec Codec, ko contact.KickOut) redisstore.KickOutFacts {
	f := redisstore.DefaultKickOutFacts(ko)
	o := originOf(src, ko)
	switch o.Format {
	case pipeline.FormatDebezium:
		f.System = o.System
		if id := debeziumRecordID(ko.Value); id != "" && f.RecordID == "" {
			f.RecordID = id
		}
	case pipeline.FormatOnline:
		f.System = o.System
		var ev struct {
			System  string `json:"system"`
			Contact struct {
				ID any `json:"id"`
			} `json:"contact"`
		}
		if json.Unmarshal(ko.Value, &ev) == nil {
			if ev.System != "" {
				f.System = ev.System
			}
			if id := jsonID(ev.Contact.ID); id != "" {
				f.RecordID = id
			}
		}
	case pipeline.FormatChange, pipeline.FormatMatched:
		if codec == nil {
			break
		}
		c, m, err := decodeChange(codec, o.Format, ko.Value)
		if err != nil {
			break
		}
		f.System, f.RecordID, f.Email = c.SourceSystem, c.SourceRecordID, c.Values[contact.Email]
		if f.EventID == "" {
			f.EventID = c.EventID
		}
		if m != nil && f.PersonID == "" {
			f.PersonID = m.PersonID
		}
	}
	return f
}

func debeziumRecordID(value []byte) string {
	var env map[string]any
	if json.Unmarshal(value, &env) != nil {
		return ""
	}
	if p, ok := env["payload"].(map[string]any); ok {
		env = p
	}
	for _, side := range []string{"after", "before"} {
		if row, ok := env[side].(map[string]any); ok {
			if id := jsonID(row["id"]); id != "" {
				return id
			}
		}
	}
	return ""
}

func jsonID(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// Payload is raw bytes as shown to a person: text when they are UTF-8,
// else base64.
type Payload struct {
	Text   *string `json:"text,omitempty"`
	Base64 string  `json:"base64,omitempty"`
	Bytes  int     `json:"bytes"`
}

func payloadOf(b []byte) Payload {
	p := Payload{Bytes: len(b)}
	if utf8.Valid(b) && !bytes.ContainsRune(b, 0) {
		s := string(b)
		p.Text = &s
	} else {
		p.Base64 = base64.StdEncoding.EncodeToString(b)
	}
	return p
}

// ChangeJSON is the canonical change as JSON: what the record view shows
// for Avro kick-outs and what a person edits to fix one.
type ChangeJSON struct {
	EventID         string            `json:"event_id"`
	SourceSystem    string            `json:"source_system"`
	SourceRecordID  string            `json:"source_record_id"`
	ReferenceSource string            `json:"reference_source,omitempty"`
	Origin          string            `json:"origin"`
	Op              string            `json:"op"`
	SourceTime      time.Time         `json:"source_time"`
	Values          map[string]string `json:"values"`
	Cleared         []string          `json:"cleared,omitempty"`
	Gift            *GiftJSON         `json:"gift,omitempty"`
}

// GiftJSON is a gift in ChangeJSON.
type GiftJSON = contact.Gift

func changeToJSON(c contact.Change) ChangeJSON {
	out := ChangeJSON{EventID: c.EventID, SourceSystem: c.SourceSystem, SourceRecordID: c.SourceRecordID,
		ReferenceSource: c.ReferenceSource, Origin: string(c.Origin), Op: string(c.Op), SourceTime: c.SourceTime.UTC(),
		Values: map[string]string{}}
	for f, v := range c.Values {
		out.Values[string(f)] = v
	}
	for _, f := range c.Cleared {
		out.Cleared = append(out.Cleared, string(f))
	}
	if g := c.Gift; g != nil {
		utc := *g
		utc.ReceivedAt = g.ReceivedAt.UTC()
		out.Gift = &utc
	}
	return out
}

// changeFromJSON reads an edited change, refusing unknown keys, fields,
// origins and operations, so a typo is caught here and not in the pipeline.
func changeFromJSON(text string) (contact.Change, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var cj ChangeJSON
	if err := dec.Decode(&cj); err != nil {
		return contact.Change{}, fmt.Errorf("edited change is not valid: %w", err)
	}
	if dec.More() {
		return contact.Change{}, errors.New("edited change is not valid: text after the JSON object")
	}
	c := contact.Change{EventID: cj.EventID, SourceSystem: cj.SourceSystem, SourceRecordID: cj.SourceRecordID,
		ReferenceSource: cj.ReferenceSource, Origin: contact.Origin(cj.Origin), Op: contact.Op(cj.Op),
		SourceTime: cj.SourceTime, Values: contact.Values{}}
	var problems []string
	if c.SourceSystem == "" || c.SourceRecordID == "" {
		problems = append(problems, "source_system and source_record_id are required")
	}
	if !contact.KnownOrigin(c.Origin) {
		problems = append(problems, fmt.Sprintf("origin %q is not one of admin, self_service, api, ncoa, import, sync, unknown", cj.Origin))
	}
	if c.Op != contact.OpUpsert && c.Op != contact.OpDelete {
		problems = append(problems, fmt.Sprintf("op %q is not upsert or delete", cj.Op))
	}
	for name, v := range cj.Values {
		if _, ok := contact.Lookup(contact.Field(name)); !ok {
			problems = append(problems, fmt.Sprintf("unknown field %q in values", name))
			continue
		}
		c.Values[contact.Field(name)] = v
	}
	for _, name := range cj.Cleared {
		if _, ok := contact.Lookup(contact.Field(name)); !ok {
			problems = append(problems, fmt.Sprintf("unknown field %q in cleared", name))
			continue
		}
		c.Cleared = append(c.Cleared, contact.Field(name))
	}
	slices.Sort(c.Cleared)
	if g := cj.Gift; g != nil {
		c.Gift = &contact.Gift{GiftID: g.GiftID, AmountMinor: g.AmountMinor, Currency: g.Currency,
			ReceivedAt: g.ReceivedAt, Campaign: g.Campaign, Fund: g.Fund, PaymentMethod: g.PaymentMethod}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return contact.Change{}, fmt.Errorf("edited change is not valid: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// MatchJSON is the matcher's verdict of a matched kick-out.
type MatchJSON struct {
	PersonID    string   `json:"person_id"`
	Decision    string   `json:"decision"`
	Score       float64  `json:"score"`
	Explanation string   `json:"explanation,omitempty"`
	Candidates  []string `json:"candidates,omitempty"`
}

// Decoded is what the record view shows of a kick-out's value.
type Decoded struct {
	Format      string          `json:"format"`
	FormatLabel string          `json:"format_label"`
	JSON        json.RawMessage `json:"json,omitempty"`
	JSONError   string          `json:"json_error,omitempty"`
	Changes     []ChangeJSON    `json:"changes,omitempty"`
	DecodeError string          `json:"decode_error,omitempty"`
	Match       *MatchJSON      `json:"match,omitempty"`
}

// DecodeFunc decodes a JSON input record the way ingest does, so the record
// view can show the canonical change, or the decoder's error.
type DecodeFunc func(format string, r *kgo.Record) ([]contact.Change, error)

func decodedOf(codec Codec, decode DecodeFunc, o origin, ko contact.KickOut) Decoded {
	d := Decoded{Format: o.Format, FormatLabel: FormatLabel(o.Format)}
	switch {
	case isJSONFormat(o.Format):
		pretty, err := prettyJSON(ko.Value)
		if err != nil {
			d.JSONError = err.Error()
		} else {
			d.JSON = pretty
		}
		if decode != nil {
			changes, err := decode(o.Format, kickOutRecord(ko))
			if err != nil {
				d.DecodeError = err.Error()
			}
			for _, c := range changes {
				d.Changes = append(d.Changes, changeToJSON(c))
			}
		}
	case o.Format == pipeline.FormatChange || o.Format == pipeline.FormatMatched:
		c, m, err := decodeChange(codec, o.Format, ko.Value)
		if err != nil {
			d.DecodeError = err.Error()
			break
		}
		d.Changes = []ChangeJSON{changeToJSON(c)}
		if m != nil {
			d.Match = &MatchJSON{PersonID: m.PersonID, Decision: string(m.Decision), Score: m.Score,
				Explanation: m.Explanation, Candidates: m.Candidates}
		}
	}
	return d
}

func kickOutRecord(ko contact.KickOut) *kgo.Record {
	r := &kgo.Record{Topic: ko.Topic, Partition: ko.Partition, Offset: ko.Offset, Key: ko.Key, Value: ko.Value,
		Timestamp: ko.FirstSeen}
	for _, h := range ko.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

func prettyJSON(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// EditKind says what the edit box of a kick-out holds.
const (
	EditRawJSON    = "json"        // the input record's own JSON
	EditChangeJSON = "change-json" // the canonical change as ChangeJSON
)

// editableOf returns the text a person edits to fix a kick-out: the input
// JSON (indented when it parses, as it is when it does not, so a
// truncated record can be completed), or the canonical change as JSON.
func editableOf(codec Codec, o origin, ko contact.KickOut) (kind, text string) {
	switch {
	case isJSONFormat(o.Format):
		if pretty, err := prettyJSON(ko.Value); err == nil {
			return EditRawJSON, string(pretty)
		}
		return EditRawJSON, string(ko.Value)
	case o.Format == pipeline.FormatChange || o.Format == pipeline.FormatMatched:
		c, _, err := decodeChange(codec, o.Format, ko.Value)
		if err != nil {
			return "", ""
		}
		c.EventID = originalEventID(ko, c.EventID)
		b, _ := json.MarshalIndent(changeToJSON(c), "", "  ")
		return EditChangeJSON, string(b)
	}
	return "", ""
}

// originalEventID is the event id of a kick-out's first attempt: from the
// lineage header when it is a replay, else the event id it failed with.
func originalEventID(ko contact.KickOut, fallback string) string {
	switch {
	case ko.OriginalEventID != "":
		return ko.OriginalEventID
	case ko.EventID != "":
		return ko.EventID
	}
	return fallback
}

// replayRecord builds the record that puts a kick-out back on the replay
// topic, with its lineage headers. edited, when not nil, replaces the
// payload (input JSON, or ChangeJSON for Avro kick-outs).
func replayRecord(src Sources, codec Codec, ko contact.KickOut, facts redisstore.KickOutFacts, edited *string) (*kgo.Record, redisstore.ReplayInfo, error) {
	o := originOf(src, ko)
	if o.NotReplayable != "" {
		return nil, redisstore.ReplayInfo{}, errors.New(o.NotReplayable)
	}
	info := redisstore.ReplayInfo{Count: ko.ReplayCount + 1, Topic: src.Topics.Replay, Format: o.Format}
	rec := &kgo.Record{Topic: src.Topics.Replay, Key: ko.Key}
	orig := originalEventID(ko, facts.EventID)
	switch {
	case o.Format == pipeline.FormatSink:
		// A write the target refused (a loader's or applier's kick-out)
		// goes back on its own sink topic, under an event id of its own:
		// a platform that remembers the refused idempotency key would
		// otherwise answer the refusal again.
		if edited != nil {
			return nil, info, errors.New("a refused write is replayed as it was: fix the data where it comes from, or the target")
		}
		sr, err := codec.DecodeSink(ko.Value)
		if err != nil {
			return nil, info, fmt.Errorf("the kick-out's sink record cannot be read: %w", err)
		}
		if orig == "" {
			orig = sr.EventID
		}
		sr.EventID = pipeline.EventIDForReplay(orig, info.Count)
		if rec.Value, err = codec.EncodeSink(sr); err != nil {
			return nil, info, fmt.Errorf("encode sink record: %w", err)
		}
		rec.Topic, info.Topic = ko.Topic, ko.Topic
	case isJSONFormat(o.Format):
		rec.Value = ko.Value
		if edited != nil {
			text := strings.TrimSpace(*edited)
			var probe any
			if err := json.Unmarshal([]byte(text), &probe); err != nil {
				return nil, info, fmt.Errorf("the edited payload is not valid JSON: %w", err)
			}
			rec.Value = []byte(text)
			info.Edited, info.Value = true, rec.Value
		}
	default:
		var c contact.Change
		if edited != nil {
			var err error
			if c, err = changeFromJSON(*edited); err != nil {
				return nil, info, err
			}
			info.Edited = true
		} else {
			var err error
			if c, _, err = decodeChange(codec, o.Format, ko.Value); err != nil {
				return nil, info, fmt.Errorf("the kick-out's change cannot be read: %w", err)
			}
			// Ingest appends the replay count to the event id: start from
			// the first attempt's id so ids read evt~r2, not evt~r1~r2.
			c.EventID = originalEventID(ko, c.EventID)
		}
		if orig == "" {
			orig = c.EventID
		}
		val, err := codec.EncodeChange(c)
		if err != nil {
			return nil, info, fmt.Errorf("encode change: %w", err)
		}
		rec.Value = val
		rec.Key = []byte(c.SourceSystem + "/" + c.SourceRecordID)
		if info.Edited {
			b, _ := json.Marshal(changeToJSON(c))
			info.Value = b
		}
		info.Format = pipeline.FormatChange
	}
	if orig == "" {
		orig = ko.ID // nothing better is known: the kick-out still names the attempt
	}
	info.OriginalEventID = orig
	rec.Headers = []kgo.RecordHeader{
		{Key: pipeline.HeaderFormat, Value: []byte(info.Format)},
		{Key: pipeline.HeaderReplayCount, Value: []byte(strconv.Itoa(info.Count))},
		{Key: pipeline.HeaderOriginalEventID, Value: []byte(orig)},
		{Key: pipeline.HeaderKickOutID, Value: []byte(ko.ID)},
		{Key: pipeline.HeaderSourceTopic, Value: []byte(o.SourceTopic)},
	}
	return rec, info, nil
}

// approvedChange is the change an approved review item sends on: only the
// held fields, made by an admin (a person approved it), with its own
// event id so the router does not take it for the held original.
func approvedChange(it contact.ReviewItem) contact.Change {
	c := it.Change
	c.EventID = it.Change.EventID + "~approved"
	c.Origin = contact.OriginAdmin
	c.Op = contact.OpUpsert
	c.Values = contact.Values{}
	c.Cleared = nil
	c.Gift = nil
	for f, v := range it.Proposed {
		if v == "" {
			c.Cleared = append(c.Cleared, f)
			continue
		}
		c.Values[f] = v
	}
	slices.Sort(c.Cleared)
	return c
}

func approveRecord(topics pipeline.Topics, codec Codec, it contact.ReviewItem) (*kgo.Record, contact.Change, error) {
	c := approvedChange(it)
	val, err := codec.EncodeChange(c)
	if err != nil {
		return nil, c, fmt.Errorf("encode approved change: %w", err)
	}
	return &kgo.Record{
		Topic: topics.Replay,
		Key:   []byte(c.SourceSystem + "/" + c.SourceRecordID),
		Value: val,
		Headers: []kgo.RecordHeader{
			{Key: pipeline.HeaderFormat, Value: []byte(pipeline.FormatChange)},
			{Key: pipeline.HeaderOriginalEventID, Value: []byte(it.Change.EventID)},
			{Key: HeaderReviewID, Value: []byte(it.ID)},
			{Key: pipeline.HeaderSourceTopic, Value: []byte(topics.Review)},
		},
	}, c, nil
}

// ReasonHelp explains a kick-out reason code to a data manager: what went
// wrong and what to do. Unknown codes get the help of their family.
func ReasonHelp(reason string) string {
	if h, ok := reasonHelp[reason]; ok {
		return h
	}
	family, _, _ := strings.Cut(reason, ".")
	if h, ok := reasonHelp[family+".*"]; ok {
		return h
	}
	return "The pipeline could not process this record safely. Read the error, fix the data or the rules, then replay."
}

var reasonHelp = map[string]string{
	pipeline.ReasonInvalidField: "A value is not usable (for example an email address or phone number that cannot be right). " +
		"Correct the value in the payload and press Fix & resubmit, or fix it in the source system.",
	pipeline.ReasonMatchAmbiguous: "The record looks like more than one existing person, or the evidence is not strong enough " +
		"to link it safely. Check the candidates in the explanation, merge or correct the people in the system of record, then replay.",
	pipeline.ReasonAvro: "An internal record could not be read (wrong schema or corrupt bytes). This usually needs a developer.",
	pipeline.ReasonUnknownFormat: "A replayed record did not say its format. Replay the original kick-out from the dashboard, " +
		"which sets the format.",
	pipeline.ReasonUnknownTopic: "The record arrived on a topic the pipeline has no decoder for. Check the topic configuration.",
	pipeline.ReasonReplayLimit:  "This record was replayed too often and keeps failing. Fix the cause before replaying it again.",
	pipeline.ReasonInternal:     "The pipeline hit an internal error on this record. Report it to a developer; replay it after the fix.",
	"ingest.error":              "The record could not be turned into a contact change. Read the error, correct the payload, then replay.",
	"decode.*": "The record could not be read: it is not valid JSON, or a required part is missing. Complete or correct " +
		"the payload and press Fix & resubmit.",
	"validate.*": "A value failed validation. Correct it in the payload and press Fix & resubmit.",
	"rules.*":    "The field rules refused this change. Check the rules configuration; replay after the rule or data fix.",
	"route.*":    "The change could not be routed to its target systems. Check the rules configuration, then replay.",
	"match.*":    "The record could not be matched to a person safely. Check the explanation, then replay after fixing the data.",
}
