package contact

import "time"

// Audit is what the router decided for one event of one person: the record
// the audit topic keeps, keyed by person id, so that "why did this field
// change?" can be answered later (`contactsync history`).
type Audit struct {
	EventID        string
	PersonID       string
	SourceSystem   string
	SourceRecordID string
	Origin         Origin
	SourceTime     time.Time
	// MatchDecision is how the change was matched to the person.
	MatchDecision Decision
	// KickOutReason is set when the event was kicked out instead.
	KickOutReason string
	// Fields are the decisions, one per field, in schema order.
	Fields []FieldAudit
}

// Kinds of audit entries (FieldAudit.Kind).
const (
	// AuditField is a field decision; also a gift's entry in audit
	// records written before kinds existed (then Field is empty).
	AuditField = ""
	// AuditGift is a gift sent to target systems.
	AuditGift = "gift"
	// AuditLinks is the system of record's id written back to a record
	// (a link-only update); New is "<system>:<id>".
	AuditLinks = "links"
)

// FieldAudit is the decision about one field of one event, or an entry of
// another kind (a gift, an id written back).
type FieldAudit struct {
	// Kind is AuditField, AuditGift or AuditLinks.
	Kind string
	// Field is empty for the other kinds.
	Field Field
	// Old is the golden value before the event ("" when none or cleared).
	Old string
	// New is the value the event proposed, or for a field only re-sent
	// (not in the event) the golden value sent; NewCleared marks an
	// explicit clear.
	New        string
	NewCleared bool
	// Action is what happened to the golden value (rules' Act* codes:
	// accepted, held, echo, unchanged, older, ...); empty when the event
	// did not touch the golden value but a target was sent the field.
	Action string
	// Rule is the field rule that decided; Policy the conflict policy
	// that did ("review" when held, "echo" for the sync's own write).
	Rule   string
	Policy string
	// Approved: a value held for review earlier, now accepted.
	Approved bool
	// Targets says what each target system got.
	Targets []TargetAudit
}

// TargetAudit is what one target system got of a field: Action is "sent",
// "held" (a review item), or why not (kept, out_of_scope, no_record).
type TargetAudit struct {
	System string
	Action string
}
