package baseline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// history keeps, instead of every person's golden state, the changes that
// made it: a person's state is the rules applied to them in order, and
// rules.Engine.Apply gives the same state for the same state and change,
// byte for byte. A golden state is a few KiB of JSON; a change is its
// values packed in the arena. Most persons are touched once or twice (an
// offline record, then perhaps its online one), so replaying costs one or
// two applies where it is needed, and nothing is kept for the persons no
// later record touches.
type history struct {
	events []event
	// first and last are each person's first and last event (by the
	// index's person number), -1: none.
	first, last []int32
	systems     []string
	systemIdx   map[string]uint8
	refs        []string
	refIdx      map[string]uint16
	fields      []contact.Field
	fieldIdx    map[contact.Field]uint16
}

// event is one change routed to a person: no pointers, 40 bytes.
type event struct {
	values span  // the canonical values, packed
	time   int64 // the change time, Unix nanoseconds (UTC)
	// slot is the index's slot of the record as this change gave it: its
	// id, and the household id the matcher gave it (a hash of its
	// record).
	slot     int32
	next     int32 // the person's next event, -1: none
	ref      uint16
	system   uint8
	decision uint8 // index into decisions
}

// decisions are the match decisions a routed change can have.
var decisions = []contact.Decision{contact.DecisionNew, contact.DecisionLinked, contact.DecisionKnown,
	contact.DecisionAmbiguous, contact.DecisionIDConflict}

func newHistory() *history {
	return &history{systemIdx: map[string]uint8{}, refIdx: map[string]uint16{}, fieldIdx: map[contact.Field]uint16{}}
}

func (h *history) intern(s string, idx map[string]uint16, list *[]string) (uint16, error) {
	if i, ok := idx[s]; ok {
		return i, nil
	}
	if len(*list) >= 1<<16-1 {
		return 0, fmt.Errorf("baseline: more than %d distinct reference sources", 1<<16-1)
	}
	i := uint16(len(*list))
	*list = append(*list, s)
	idx[s] = i
	return i, nil
}

// add records a change routed to person p with the match decision it had;
// slot is the index's slot of its record.
func (h *history) add(a *arena, p, slot int32, c contact.Change, d contact.Decision) error {
	decision := slices.Index(decisions, d)
	if decision < 0 {
		return fmt.Errorf("baseline: routed a %q decision", d)
	}
	sys, ok := h.systemIdx[c.SourceSystem]
	if !ok {
		if len(h.systems) >= 255 {
			return fmt.Errorf("baseline: more than 255 systems")
		}
		sys = uint8(len(h.systems))
		h.systems = append(h.systems, c.SourceSystem)
		h.systemIdx[c.SourceSystem] = sys
	}
	ref, err := h.intern(c.ReferenceSource, h.refIdx, &h.refs)
	if err != nil {
		return err
	}
	packed, err := h.pack(c.Values)
	if err != nil {
		return err
	}
	for int(p) >= len(h.first) {
		h.first, h.last = append(h.first, -1), append(h.last, -1)
	}
	e := int32(len(h.events))
	h.events = append(h.events, event{
		values: a.span(packed), time: c.SourceTime.UnixNano(), slot: slot, next: -1,
		ref: ref, system: sys, decision: uint8(decision),
	})
	if h.last[p] >= 0 {
		h.events[h.last[p]].next = e
	} else {
		h.first[p] = e
	}
	h.last[p] = e
	return nil
}

// pack writes values as (field number, length, value) triples in field
// order.
func (h *history) pack(v contact.Values) (string, error) {
	var b []byte
	for _, f := range sortedValueFields(v) {
		i, ok := h.fieldIdx[f]
		if !ok {
			if len(h.fields) >= 1<<16-1 {
				return "", fmt.Errorf("baseline: more than %d distinct fields", 1<<16-1)
			}
			i = uint16(len(h.fields))
			h.fields = append(h.fields, f)
			h.fieldIdx[f] = i
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = binary.AppendUvarint(b, uint64(len(v[f])))
		b = append(b, v[f]...)
	}
	return string(b), nil
}

func (h *history) unpack(s string) contact.Values {
	v := contact.Values{}
	r := bytes.NewReader([]byte(s))
	for r.Len() > 0 {
		i, _ := binary.ReadUvarint(r)
		n, _ := binary.ReadUvarint(r)
		start := len(s) - r.Len()
		v[h.fields[i]] = s[start : start+int(n)]
		_, _ = r.Seek(int64(n), 1)
	}
	return v
}

// change rebuilds the change of event e, as the run made it.
func (h *history) change(x *index, e *event) contact.Change {
	system := h.systems[e.system]
	_, id := splitIndexID(x.recordID(e.slot))
	values := h.unpack(x.arena.spanStr(e.values))
	return contact.Change{
		EventID: EventID(system, id, values), SourceSystem: system, SourceRecordID: id, ReferenceSource: h.refs[e.ref],
		Origin: contact.OriginImport, Op: contact.OpUpsert, SourceTime: time.Unix(0, e.time).UTC(), Values: values,
	}
}

// sortedValueFields returns the fields of v in a stable order.
func sortedValueFields(v contact.Values) []contact.Field {
	out := make([]contact.Field, 0, len(v))
	for f := range v {
		out = append(out, f)
	}
	// Insertion sort: a record has a dozen fields.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
