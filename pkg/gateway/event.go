package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"
)

// event is what the gateway reads of a body: enough to key, dedupe and
// check trust. Everything else (types, fields, amounts) is ingest's to
// validate, so that a malformed event becomes a kick-out with its raw bytes
// rather than vanishing at the edge.
type event struct {
	EventID   string
	ContactID string
	// Problem, when set, is why the event goes to Kafka unmapped.
	Problem string
}

// key keeps one contact's events in one partition, in order; an event
// without a usable contact id (ingest kicks it out) is keyed by its id.
func (e event) key() string {
	switch {
	case e.ContactID != "":
		return e.ContactID
	case e.EventID != "":
		return e.EventID
	}
	return "unreadable"
}

const maxEventIDBytes = 256

// parseEvent checks the authenticated body against the source's binding.
// Messages name fields, never their values.
func parseEvent(body []byte, src *boundSource) (event, *rejection) {
	bad := func(code, msg string) (event, *rejection) {
		return event{}, &rejection{http.StatusBadRequest, code, msg}
	}
	// Decoded as ingest decodes it (a map: exact keys, the last of a
	// repeated key wins), so the gateway checks the very values ingest reads.
	if !utf8.Valid(body) {
		return bad("invalid_json", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return bad("invalid_json", "the body is not a JSON object")
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return bad("invalid_json", "the body has data after its JSON object")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return bad("invalid_json", "the body is not a JSON object")
	}
	var ev event
	id, ok := obj["event_id"].(string)
	if !ok || strings.TrimSpace(id) == "" || len(id) > maxEventIDBytes {
		return bad("invalid_event_id", "event_id must be a non-empty string of at most 256 bytes")
	}
	ev.EventID = strings.TrimSpace(id)
	switch sys := obj["system"].(type) {
	case nil: // ingest takes the system from the topic
	case string:
		if s := strings.TrimSpace(sys); s != "" && s != src.System {
			return bad("system_mismatch", "system names another system than this source's")
		}
	default:
		return bad("system_mismatch", "system must be a string naming this source's system")
	}
	switch o := obj["origin"].(type) {
	case nil:
	case string:
		if o := strings.TrimSpace(o); o != "" && !src.origins[o] {
			return bad("origin_not_allowed", "this source may not claim that origin")
		}
	default:
		return bad("origin_not_allowed", "origin must be a string")
	}
	if c, ok := obj["contact"].(map[string]any); ok {
		switch id := c["id"].(type) {
		case string:
			ev.ContactID = strings.TrimSpace(id)
		case json.Number:
			ev.ContactID = id.String()
		}
	}
	return ev, nil
}
