package avrocodec

import (
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// EncodeAudit encodes an AuditRecord.
func (c *Codec) EncodeAudit(a contact.Audit) ([]byte, error) {
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
	return c.encode(schemas.AuditRecord, map[string]any{
		"event_id":         a.EventID,
		"person_id":        a.PersonID,
		"source_system":    a.SourceSystem,
		"source_record_id": a.SourceRecordID,
		"origin":           string(a.Origin),
		"source_ts":        a.SourceTime,
		"match_decision":   string(a.MatchDecision),
		"kickout_reason":   optional(a.KickOutReason),
		"fields":           fields,
	})
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
