// Package pipeline holds what the four stages share: topic names, the
// topology (topology.go), record headers, and the construction of kick-outs.
// Each stage lives in its own sub-package and is a stream.Processor.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Topics names every topic of the pipeline. Defaults are in DefaultTopics;
// which stage reads and writes which is the Topology's business.
type Topics struct {
	OfflineCDC   string // Debezium change events from the offline system of record
	OnlineEvents string // webhook events (contacts, gifts) from online systems
	Replay       string // fixed or replayed records, re-entering at ingest
	Changes      string // canonical ContactChange, keyed by system/record id
	Matched      string // MatchedChange, keyed by person id
	KickOuts     string // KickOut records for review and replay
	Review       string // ReviewItem records held for a person's decision
	Audit        string // AuditRecord per routed event, keyed by person id
	SinkPrefix   string // one sink topic per target system: SinkPrefix + system
}

// DefaultTopics returns the documented default topic names.
func DefaultTopics() Topics {
	return Topics{
		OfflineCDC:   "contactsync.offline.cdc",
		OnlineEvents: "contactsync.online.events",
		Replay:       "contactsync.replay",
		Changes:      "contactsync.changes",
		Matched:      "contactsync.matched",
		KickOuts:     "contactsync.kickouts",
		Review:       "contactsync.review",
		Audit:        "contactsync.audit",
		SinkPrefix:   "contactsync.sink.",
	}
}

// Sink returns the sink topic of a target system.
func (t Topics) Sink(system string) string { return t.SinkPrefix + system }

// Record headers set or read by the stages.
const (
	// HeaderFormat tells ingest how to decode a replayed record:
	// FormatDebezium, FormatOnline or FormatChange.
	HeaderFormat = "cs-format"
	// HeaderReplayCount counts how often a record was replayed.
	HeaderReplayCount = "cs-replay-count"
	// HeaderOriginalEventID is the event id of the first attempt.
	HeaderOriginalEventID = "cs-original-event-id"
	// HeaderKickOutID is the kick-out a replay comes from.
	HeaderKickOutID = "cs-kickout-id"
	// HeaderSourceTopic is the topic the kicked-out record was read from.
	HeaderSourceTopic = "cs-source-topic"
	// HeaderSchema names the Avro schema of the value.
	HeaderSchema = "cs-schema"
)

// Header returns the value of the first header called key.
func Header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// ReplayCount reads HeaderReplayCount (0 when absent or malformed).
func ReplayCount(r *kgo.Record) int {
	v, ok := Header(r, HeaderReplayCount)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Kick-out reason codes raised by the stages themselves (decoders and the
// rules engine bring their own).
const (
	ReasonInternal       = "internal.panic"
	ReasonAvro           = "decode.avro"
	ReasonUnknownTopic   = "route.unknown_topic"
	ReasonUnknownFormat  = "decode.unknown_format"
	ReasonInvalidField   = "validate.field"
	ReasonMatchAmbiguous = "match.ambiguous"
	// ReasonMatchPendingDecision: a later event of a record kicked out as
	// match.ambiguous, held until a person decides that kick-out.
	ReasonMatchPendingDecision = "match.pending_decision"
	ReasonReplayLimit          = "replay.limit"
)

// KickOutFrom builds the kick-out of input record r that failed in stage
// for reason, fitted to DefaultKickOutMaxBytes. Its id is derived from the
// input position and the stage, so redoing a batch after a crash yields the
// same kick-out, not a second one.
func KickOutFrom(stage, reason string, err error, r *kgo.Record) contact.KickOut {
	return FitKickOut(kickOutFrom(stage, reason, err, r), DefaultKickOutMaxBytes)
}

func kickOutFrom(stage, reason string, err error, r *kgo.Record) contact.KickOut {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", stage, r.Topic, r.Partition, r.Offset)))
	headers := make([]contact.Header, 0, len(r.Headers))
	for _, h := range r.Headers {
		headers = append(headers, contact.Header{Key: h.Key, Value: h.Value})
	}
	ko := contact.KickOut{
		ID:          "ko-" + hex.EncodeToString(sum[:10]),
		Reason:      reason,
		Stage:       stage,
		Error:       errorText(err),
		Topic:       r.Topic,
		Partition:   r.Partition,
		Offset:      r.Offset,
		Key:         r.Key,
		Value:       r.Value,
		Headers:     headers,
		FirstSeen:   r.Timestamp,
		LastSeen:    r.Timestamp,
		ReplayCount: ReplayCount(r),
	}
	if orig, ok := Header(r, HeaderOriginalEventID); ok {
		ko.OriginalEventID = orig
	}
	return ko
}

// Kick-out size limits. A kick-out must always fit in one Kafka record
// (franz-go's default batch limit is 1,000,012 bytes, the broker's default
// message.max.bytes 1,048,588): one that does not can never be produced,
// and its stage would redo the batch forever.
const (
	// DefaultKickOutMaxBytes is the default cap of a kick-out's raw value.
	DefaultKickOutMaxBytes = 256 << 10
	// MaxKickOutMaxBytes is the largest cap that still leaves room for the
	// key, headers and text below in a record.
	MaxKickOutMaxBytes = 768 << 10
	// kickOutKeyBytes, kickOutHeaderBytes and kickOutTextBytes bound the
	// key, all headers together, and the error and explanation texts.
	kickOutKeyBytes    = 16 << 10
	kickOutHeaderBytes = 32 << 10
	kickOutTextBytes   = 16 << 10
)

// FitKickOut records the size and SHA-256 of the kick-out's value (once: a
// kick-out fitted again keeps its original's) and cuts the value to
// maxValue bytes, and the key, headers and texts to their fixed bounds,
// setting Truncated when anything was cut. The cut is at a byte, not a
// character: the raw value is bytes, and a record too big to keep whole
// cannot be replayed as it is anyway.
func FitKickOut(ko contact.KickOut, maxValue int) contact.KickOut {
	if maxValue <= 0 || maxValue > MaxKickOutMaxBytes {
		maxValue = DefaultKickOutMaxBytes
	}
	if ko.ValueSHA256 == "" {
		sum := sha256.Sum256(ko.Value)
		ko.ValueSize, ko.ValueSHA256 = int64(len(ko.Value)), hex.EncodeToString(sum[:])
	}
	cut := func(b []byte, n int) []byte {
		if len(b) <= n {
			return b
		}
		ko.Truncated = true
		return b[:n:n]
	}
	ko.Value = cut(ko.Value, maxValue)
	ko.Key = cut(ko.Key, kickOutKeyBytes)
	ko.Error = validPrefix(cut([]byte(ko.Error), kickOutTextBytes))
	ko.Explanation = validPrefix(cut([]byte(ko.Explanation), kickOutTextBytes))
	budget := kickOutHeaderBytes
	for i, h := range ko.Headers {
		budget -= len(h.Key) + len(h.Value)
		if budget < 0 {
			ko.Headers, ko.Truncated = ko.Headers[:i:i], true
			break
		}
	}
	return ko
}

// validPrefix drops a character cut in half at the end of a text.
func validPrefix(b []byte) string {
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return string(b)
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

// EventIDForReplay gives a replayed event its own id, so that a decision
// remembered for the failed attempt is not taken for the replay's.
func EventIDForReplay(eventID string, replayCount int) string {
	if replayCount <= 0 {
		return eventID
	}
	return fmt.Sprintf("%s~r%d", eventID, replayCount)
}
