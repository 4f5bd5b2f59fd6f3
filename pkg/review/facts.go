package review

import (
	"bytes"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// idColumn is the id column the facts read from a raw Debezium key or row.
const idColumn = "id"

// FactsReader returns the function a store indexes kick-outs with: system,
// record id, person id, event id and email, read from the raw record when
// its format is known and it can be read.
func FactsReader(src Sources, codec Codec) func(contact.KickOut) Facts {
	src = src.withDefaults()
	return func(ko contact.KickOut) Facts { return factsOf(src, codec, ko) }
}

func factsOf(src Sources, codec Codec, ko contact.KickOut) Facts {
	f := DefaultFacts(ko)
	o := originOf(src, ko)
	switch o.Format {
	case pipeline.FormatDebezium:
		f.System = o.System
		if id, ok := decode.DebeziumRecordID(ko.Value, idColumn); ok && f.RecordID == "" {
			f.RecordID = id
		}
	case pipeline.FormatOnline:
		f.System = o.System
		id, system, ok := decode.OnlineRecordID(ko.Value)
		if system != "" {
			f.System = system
		}
		if ok {
			f.RecordID = id
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

// DefaultFacts reads what it can without knowing the record's format: the
// ids the stage set, the record id of a JSON or plain-text key, and the
// "email" and "event_id" of a JSON value.
func DefaultFacts(ko contact.KickOut) Facts {
	f := Facts{PersonID: ko.PersonID, EventID: ko.EventID, RecordID: keyRecordID(ko.Key)}
	f.Email = decode.FindEmail(ko.Value)
	if f.EventID == "" {
		f.EventID = decode.FindString(ko.Value, "event_id")
	}
	return f
}

// keyRecordID is the record id a key names: the id of a JSON key, or the
// key itself when it is text a person could type.
func keyRecordID(key []byte) string {
	if id, ok := decode.KeyRecordID(key, idColumn); ok {
		return id
	}
	if bytes.HasPrefix(bytes.TrimSpace(key), []byte("{")) {
		return "" // a JSON key without an id
	}
	for _, r := range string(key) {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return "" // binary, not an id a person could type
		}
	}
	return string(key)
}
