// Package ingest is the first stage: it decodes offline CDC events, online
// webhook events and replayed records, validates and canonicalises them, and
// emits one canonical ContactChange per change, keyed by system/record id.
// Anything it cannot read safely becomes a kick-out with the raw bytes.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// StageName is the stage's name in logs, metrics and kick-outs.
const StageName = pipeline.StageIngest

// Decoder turns one input record into canonical changes.
type Decoder func(r *kgo.Record) ([]contact.Change, error)

// Canonicalizer puts supplied values into canonical form (E.164 phones,
// lower-case email domains...) or says which field is unusable.
type Canonicalizer func(contact.Values) (contact.Values, error)

// Codec encodes the stage's outputs.
type Codec interface {
	pipeline.KickOutEncoder
	EncodeChange(contact.Change) ([]byte, error)
}

// Config wires the stage.
type Config struct {
	Topics pipeline.Topics
	// Formats maps an input topic to the format of its records. The replay
	// topic is not listed: its records say their format in a header.
	Formats map[string]string
	// Decoders maps a format to its decoder.
	Decoders  map[string]Decoder
	Canonical Canonicalizer
	// MaxReplays stops a record that keeps failing from cycling forever.
	MaxReplays int
	// Systems are the systems the rules know. A change from any other is
	// kicked out here (decode.ReasonSystem) rather than indexed by the
	// matcher and rejected by the router. Empty: not checked.
	Systems []string
	// KickOutMaxBytes caps the raw value kept in a kick-out (0: the
	// pipeline default).
	KickOutMaxBytes int
	// Fields are the fields a change may carry: the built-in ones and
	// the rules file's custom fields. Nil: the built-in ones.
	Fields *contact.FieldSet
}

// Stage is the ingest stage.
type Stage struct {
	cfg     Config
	codec   Codec
	metrics *pipeline.Metrics
}

// New returns the ingest stage.
func New(cfg Config, codec Codec, m *pipeline.Metrics) (*Stage, error) {
	if cfg.Canonical == nil {
		return nil, errors.New("ingest: no canonicalizer")
	}
	if cfg.MaxReplays == 0 {
		cfg.MaxReplays = 10
	}
	if cfg.Fields == nil {
		cfg.Fields = contact.BuiltIn()
	}
	for topic, format := range cfg.Formats {
		if cfg.Decoders[format] == nil {
			return nil, fmt.Errorf("ingest: topic %q has format %q with no decoder", topic, format)
		}
	}
	return &Stage{cfg: cfg, codec: codec, metrics: m}, nil
}

// InputTopics are the topics the stage consumes.
func (s *Stage) InputTopics() []string {
	topics := []string{s.cfg.Topics.Replay}
	for t := range s.cfg.Formats {
		topics = append(topics, t)
	}
	return topics
}

// Process implements stream.Processor.
func (s *Stage) Process(_ context.Context, batch []*kgo.Record) ([]*kgo.Record, error) {
	out := pipeline.NewOutput(StageName, s.cfg.Topics, s.codec, s.metrics, pipeline.WithKickOutMaxBytes(s.cfg.KickOutMaxBytes))
	for _, r := range batch {
		var records []*kgo.Record
		err := pipeline.Guard(func() error {
			var err error
			records, err = s.processRecord(r)
			return err
		})
		if err == nil {
			for _, rec := range records {
				out.Emit(rec)
			}
			continue
		}
		if kerr := out.KickOut(r, reasonOf(err), err, nil); kerr != nil {
			return nil, kerr
		}
	}
	return out.Records, nil
}

// processRecord returns the records to emit for r, or the error that kicks
// r out. A record is emitted whole or not at all, so a replay starts clean.
func (s *Stage) processRecord(r *kgo.Record) ([]*kgo.Record, error) {
	format, err := s.formatOf(r)
	if err != nil {
		return nil, err
	}
	replays := pipeline.ReplayCount(r)
	if replays > s.cfg.MaxReplays {
		return nil, &decode.Error{Reason: pipeline.ReasonReplayLimit,
			Err: fmt.Errorf("replayed %d times (limit %d)", replays, s.cfg.MaxReplays)}
	}
	changes, err := s.cfg.Decoders[format](r)
	if err != nil {
		return nil, err
	}
	var records []*kgo.Record
	for _, c := range changes {
		c.EventID = pipeline.EventIDForReplay(c.EventID, replays)
		vals, err := s.cfg.Canonical(c.Values)
		if err != nil {
			return nil, &decode.Error{Reason: pipeline.ReasonInvalidField, Err: err}
		}
		c.Values = vals
		if err := decode.ValidateFields(c, s.cfg.Fields); err != nil {
			return nil, err
		}
		if len(s.cfg.Systems) > 0 && !slices.Contains(s.cfg.Systems, c.SourceSystem) {
			// Validate has made the name short and printable.
			return nil, &decode.Error{Reason: decode.ReasonSystem, Err: fmt.Errorf("system %q is not in the rules", c.SourceSystem)}
		}
		val, err := s.codec.EncodeChange(c)
		if err != nil {
			return nil, fmt.Errorf("encode change: %w", err)
		}
		records = append(records, &kgo.Record{
			Topic:   s.cfg.Topics.Changes,
			Key:     []byte(c.SourceSystem + "/" + c.SourceRecordID),
			Value:   val,
			Headers: lineage(r, replays),
		})
	}
	return records, nil
}

func (s *Stage) formatOf(r *kgo.Record) (string, error) {
	if r.Topic == s.cfg.Topics.Replay {
		f, ok := pipeline.Header(r, pipeline.HeaderFormat)
		if !ok || s.cfg.Decoders[f] == nil {
			return "", &decode.Error{Reason: pipeline.ReasonUnknownFormat,
				Err: fmt.Errorf("replayed record has no known %s header (got %q)", pipeline.HeaderFormat, f)}
		}
		return f, nil
	}
	f, ok := s.cfg.Formats[r.Topic]
	if !ok {
		return "", &decode.Error{Reason: pipeline.ReasonUnknownTopic, Err: fmt.Errorf("no format for topic %q", r.Topic)}
	}
	return f, nil
}

// lineage carries replay headers forward so a record that fails again keeps
// its history.
func lineage(r *kgo.Record, replays int) []kgo.RecordHeader {
	if replays == 0 {
		return nil
	}
	hs := []kgo.RecordHeader{{Key: pipeline.HeaderReplayCount, Value: []byte(strconv.Itoa(replays))}}
	for _, k := range []string{pipeline.HeaderOriginalEventID, pipeline.HeaderKickOutID} {
		if v, ok := pipeline.Header(r, k); ok {
			hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	return hs
}

func reasonOf(err error) string {
	var de *decode.Error
	if errors.As(err, &de) && de.Reason != "" {
		return de.Reason
	}
	var pe *pipeline.PanicError
	if errors.As(err, &pe) {
		return pipeline.ReasonInternal
	}
	return "ingest.error"
}
