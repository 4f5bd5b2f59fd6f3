package review

import (
	"fmt"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// origin.go, facts.go, payload.go and replayrecord.go hold the pure
// knowledge of what a kick-out contains: which format and system it came
// from (here), what it is indexed by, what it decodes to, and how it is put
// back on the replay topic. Nothing there talks to Redis or Kafka.

// Sources is the pipeline's topology as the review reads it: which
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

// Codec is the part of the pipeline's Avro codec the review uses.
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
