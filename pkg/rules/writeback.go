package rules

import (
	"fmt"
	"maps"

	"github.com/contactsync/contactsync/pkg/contact"
)

// The offline id written back: a record created online carries, once the
// system of record has its contact, the system of record's id (the
// platform's external_ids.offline), so that the two can always be joined
// again. Contact records carry the person's links anyway; what needs its
// own record is the moment the id becomes known without any field to send
// (the system of record's CDC of the contact we had it create, or an
// online record linked to an existing offline person with identical data).

// ActionLinks is the Reason prefix of a link-only update.
const ActionLinks = "links"

// wantsWriteBack reports whether t is told the system of record's id of
// its records: every system but the system of record itself (never write
// an id back to the system that owns it).
func (r *run) wantsWriteBack(t *System) bool { return t.Role != RoleSystemOfRecord }

// linksSent records that t was sent links (its own id left out).
func (r *run) linksSent(t *System, ts *SystemState, links map[string]string) {
	if !r.wantsWriteBack(t) {
		return
	}
	sent := maps.Clone(links)
	delete(sent, t.Name)
	ts.LinksSent = sent
}

// writeBack emits a link-only update to t (no fields, the person's links)
// when the system of record's id of the person is one t has not been sent
// and it became known with this change: the id itself is new, or t's own
// record is. Ids known before the change are left alone, so that states
// written before LinksSent existed cause no burst of updates when the
// release that keeps it starts (those records get the id with their next
// contact record, which carries every link).
//
// Scope does not apply: it limits which contacts' data a system receives,
// and the id adds no contact data to a record the system already has.
func (r *run) writeBack(t *System) {
	if !r.wantsWriteBack(t) {
		return
	}
	ts := r.st.Systems[t.Name]
	sor := r.cfg.sor
	links := r.st.links()
	id := links[sor]
	if ts == nil || ts.RecordID == "" || id == "" || ts.LinksSent[sor] == id {
		return // no record to write to (a create carries its links), no id, or sent
	}
	if r.linksBefore[sor] == id && r.linksBefore[t.Name] == ts.RecordID {
		return // known before this change: not this change's to send
	}
	rec := contact.SinkRecord{
		EventID:     "sk-" + digest(r.c.EventID, t.Name, ActionLinks),
		CausationID: r.c.EventID, PersonID: r.m.Match.PersonID, TargetSystem: t.Name, Entity: contact.EntityContact,
		Op: contact.SinkUpdate, TargetRecordID: ts.RecordID, Links: links, SourceTime: r.c.SourceTime,
		Reason: fmt.Sprintf("%s (%s id written back) from %s", ActionLinks, sor, r.src.Name),
	}
	r.res.Sinks = append(r.res.Sinks, rec)
	r.res.Decisions = append(r.res.Decisions, FieldDecision{Kind: contact.AuditLinks, Value: sor + ":" + id,
		Target: t.Name, Action: ActSent, Rule: ActionLinks})
	r.linksSent(t, ts, links)
}
