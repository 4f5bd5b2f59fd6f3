package review

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

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

// changeFromJSON reads an edited change, refusing unknown keys, fields
// (those fields does not declare; nil: the built-in ones), origins and
// operations, so a typo is caught here and not in the pipeline.
func changeFromJSON(text string, fields *contact.FieldSet) (contact.Change, error) {
	if fields == nil {
		fields = contact.BuiltIn()
	}
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
		if _, ok := fields.Lookup(contact.Field(name)); !ok {
			problems = append(problems, fmt.Sprintf("unknown field %q in values", name))
			continue
		}
		c.Values[contact.Field(name)] = v
	}
	for _, name := range cj.Cleared {
		if _, ok := fields.Lookup(contact.Field(name)); !ok {
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
