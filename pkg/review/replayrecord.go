package review

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

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
// payload (input JSON, or ChangeJSON for Avro kick-outs, whose fields
// must be among fields).
func replayRecord(src Sources, codec Codec, fields *contact.FieldSet, ko contact.KickOut, facts Facts, edited *string) (*kgo.Record, ReplayInfo, error) {
	o := originOf(src, ko)
	if o.NotReplayable != "" {
		return nil, ReplayInfo{}, errors.New(o.NotReplayable)
	}
	info := ReplayInfo{Count: ko.ReplayCount + 1, Topic: src.Topics.Replay, Format: o.Format}
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
			if c, err = changeFromJSON(*edited, fields); err != nil {
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
