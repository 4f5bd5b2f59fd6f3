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
	ReasonReplayLimit    = "replay.limit"
)

// KickOutFrom builds the kick-out of input record r that failed in stage
// for reason. Its id is derived from the input position and the stage, so
// redoing a batch after a crash yields the same kick-out, not a second one.
func KickOutFrom(stage, reason string, err error, r *kgo.Record) contact.KickOut {
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
