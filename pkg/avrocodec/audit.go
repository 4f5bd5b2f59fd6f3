package avrocodec

import (
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// EncodeAudit encodes an AuditRecord. The router writes one per event, the
// largest of its outputs: it is written straight to Avro's binary form
// (auditNative and goavro gave the same bytes, and still do in the tests)
// instead of through a map per field, which cost a fifth of the router's
// allocations.
func (c *Codec) EncodeAudit(a contact.Audit) ([]byte, error) {
	b, err := c.header.AppendEncode(make([]byte, 0, 256+128*len(a.Fields)), c.ids[schemas.AuditRecord], nil)
	if err != nil {
		return nil, err
	}
	b = avroString(b, a.EventID)
	b = avroString(b, a.PersonID)
	b = avroString(b, a.SourceSystem)
	b = avroString(b, a.SourceRecordID)
	b = avroString(b, string(a.Origin))
	b = avroTimestampMillis(b, a.SourceTime)
	b = avroString(b, string(a.MatchDecision))
	b = avroOptionalString(b, a.KickOutReason)
	b = avroArray(b, a.Fields, func(b []byte, f contact.FieldAudit) []byte {
		b = avroString(b, f.Kind)
		b = avroString(b, string(f.Field))
		b = avroString(b, f.Old)
		b = avroString(b, f.New)
		b = avroBool(b, f.NewCleared)
		b = avroString(b, f.Action)
		b = avroString(b, f.Rule)
		b = avroString(b, f.Policy)
		b = avroBool(b, f.Approved)
		return avroArray(b, f.Targets, func(b []byte, t contact.TargetAudit) []byte {
			return avroString(avroString(b, t.System), t.Action)
		})
	})
	return b, nil
}

// auditNative is an AuditRecord as goavro's native form.
func auditNative(a contact.Audit) map[string]any {
	fields := make([]any, len(a.Fields))
	for i, f := range a.Fields {
		targets := make([]any, len(f.Targets))
		for j, t := range f.Targets {
			targets[j] = map[string]any{"system": t.System, "action": t.Action}
		}
		fields[i] = map[string]any{
			"kind":        f.Kind,
			"field":       string(f.Field),
			"old":         f.Old,
			"new":         f.New,
			"new_cleared": f.NewCleared,
			"action":      f.Action,
			"rule":        f.Rule,
			"policy":      f.Policy,
			"approved":    f.Approved,
			"targets":     targets,
		}
	}
	return map[string]any{
		"event_id":         a.EventID,
		"person_id":        a.PersonID,
		"source_system":    a.SourceSystem,
		"source_record_id": a.SourceRecordID,
		"origin":           string(a.Origin),
		"source_ts":        a.SourceTime,
		"match_decision":   string(a.MatchDecision),
		"kickout_reason":   optional(a.KickOutReason),
		"fields":           fields,
	}
}

// DecodeAudit decodes an AuditRecord.
func (c *Codec) DecodeAudit(b []byte) (contact.Audit, error) {
	n, err := c.decode(schemas.AuditRecord, b)
	if err != nil {
		return contact.Audit{}, err
	}
	r := reader{m: n}
	a := contact.Audit{
		EventID:        r.str("event_id"),
		PersonID:       r.str("person_id"),
		SourceSystem:   r.str("source_system"),
		SourceRecordID: r.str("source_record_id"),
		Origin:         contact.Origin(r.str("origin")),
		SourceTime:     r.time("source_ts"),
		MatchDecision:  contact.Decision(r.str("match_decision")),
		KickOutReason:  r.optStr("kickout_reason"),
	}
	for _, x := range r.list("fields") {
		fr := reader{m: asRecord(x)}
		fa := contact.FieldAudit{
			Kind:   fr.str("kind"),
			Field:  contact.Field(fr.str("field")),
			Old:    fr.str("old"),
			New:    fr.str("new"),
			Action: fr.str("action"),
			Rule:   fr.str("rule"),
			Policy: fr.str("policy"),
		}
		fa.NewCleared, _ = fr.m["new_cleared"].(bool)
		fa.Approved, _ = fr.m["approved"].(bool)
		for _, y := range fr.list("targets") {
			tr := reader{m: asRecord(y)}
			fa.Targets = append(fa.Targets, contact.TargetAudit{System: tr.str("system"), Action: tr.str("action")})
			if tr.err != nil && fr.err == nil {
				fr.err = tr.err
			}
		}
		if fr.err != nil && r.err == nil {
			r.err = fr.err
		}
		a.Fields = append(a.Fields, fa)
	}
	return a, r.err
}
