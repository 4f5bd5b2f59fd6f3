// Package contact holds the canonical domain types that flow through the
// pipeline: a contact change from any source system, the gift it may carry,
// the record sent to a target system, and the kick-out kept for review.
//
// It imports only the standard library so that every pure package (normalise,
// match, rules) and every adapter (Avro, Kafka, Redis) can share it.
package contact

import (
	"slices"
	"time"
)

// Field is the canonical name of a contact attribute. Rules configs, Avro
// schemas and sink records all use these names.
type Field string

// The canonical contact fields. Consent flags hold "true" or "false".
const (
	GivenName    Field = "given_name"
	FamilyName   Field = "family_name"
	Organisation Field = "organisation"
	Email        Field = "email"
	Phone        Field = "phone"
	AddressLine1 Field = "address_line1"
	AddressLine2 Field = "address_line2"
	Locality     Field = "locality"
	Region       Field = "region"
	Postcode     Field = "postcode"
	Country      Field = "country"
	DateOfBirth  Field = "date_of_birth"
	DoNotEmail   Field = "do_not_email"
	DoNotMail    Field = "do_not_mail"
	DoNotPhone   Field = "do_not_phone"
	GivingTotal  Field = "giving_total"
	LastGiftDate Field = "last_gift_date"
	// The rest of the offline giving summary: the most recent gift's amount,
	// the highest gift's amount and date, and the first gift's date.
	LastGiftAmount    Field = "last_gift_amount"
	HighestGiftAmount Field = "highest_gift_amount"
	HighestGiftDate   Field = "highest_gift_date"
	FirstGiftDate     Field = "first_gift_date"
	// NationalID is a personal identity number the person gave (a tax
	// or national identity number for tax relief, a member or donor card
	// number). It is personal data: never logged, and the matcher keeps
	// only keyed fingerprints of it (match.Record.NationalID). It is not
	// one of Fields: a deployment that matches on it declares it as a
	// custom field, which reaches the matcher and, named in no rule, no
	// system.
	NationalID Field = "national_id"
)

// Kind says how a field's value is to be read.
type Kind int

// Field kinds.
const (
	Text    Kind = iota
	Bool         // "true" / "false"
	Date         // YYYY-MM-DD
	Decimal      // plain decimal string, e.g. "125.50"
	Enum         // one of FieldInfo.Allowed (custom fields only)
)

// FieldInfo describes one canonical field.
type FieldInfo struct {
	Name Field
	Kind Kind
	// Group names fields that must move together (an address is one unit:
	// mixing a street from one system with a postcode from another is wrong).
	Group string
	// Allowed lists the values of an Enum field, in declared spelling.
	Allowed []string
	// Custom marks a field declared in configuration (see FieldSet).
	Custom bool
}

// Fields lists every canonical field in schema order.
// These are the built-in fields only; a configuration's custom fields come
// after them in its FieldSet.
var Fields = []FieldInfo{
	{Name: GivenName, Kind: Text, Group: "name"},
	{Name: FamilyName, Kind: Text, Group: "name"},
	{Name: Organisation, Kind: Text},
	{Name: Email, Kind: Text},
	{Name: Phone, Kind: Text},
	{Name: AddressLine1, Kind: Text, Group: "address"},
	{Name: AddressLine2, Kind: Text, Group: "address"},
	{Name: Locality, Kind: Text, Group: "address"},
	{Name: Region, Kind: Text, Group: "address"},
	{Name: Postcode, Kind: Text, Group: "address"},
	{Name: Country, Kind: Text, Group: "address"},
	{Name: DateOfBirth, Kind: Date},
	{Name: DoNotEmail, Kind: Bool},
	{Name: DoNotMail, Kind: Bool},
	{Name: DoNotPhone, Kind: Bool},
	{Name: GivingTotal, Kind: Decimal},
	{Name: LastGiftDate, Kind: Date},
	{Name: LastGiftAmount, Kind: Decimal},
	{Name: HighestGiftAmount, Kind: Decimal},
	{Name: HighestGiftDate, Kind: Date},
	{Name: FirstGiftDate, Kind: Date},
}

// MatchOnlyFields are fields the matcher reads from labelled or exported
// files (match-eval, the baseline's export reader) that the pipeline does
// not carry yet: they are not in Fields, so no schema, rule or system sees
// them.
var MatchOnlyFields = []FieldInfo{
	{Name: NationalID, Kind: Text},
}

// Lookup returns the description of a built-in field name and whether it
// is one; FieldSet.Lookup knows a configuration's custom fields too.
func Lookup(name Field) (FieldInfo, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldInfo{}, false
}

// Origin says who made a change in its source system. It drives review
// (self-service edits) and echo suppression (the sync's own writes).
type Origin string

// Change origins.
const (
	OriginAdmin       Origin = "admin"
	OriginSelfService Origin = "self_service"
	OriginAPI         Origin = "api"
	OriginNCOA        Origin = "ncoa"
	OriginImport      Origin = "import"
	OriginSync        Origin = "sync"
	OriginUnknown     Origin = "unknown"
)

// KnownOrigin reports whether o is one of the defined origins.
func KnownOrigin(o Origin) bool {
	switch o {
	case OriginAdmin, OriginSelfService, OriginAPI, OriginNCOA, OriginImport, OriginSync, OriginUnknown:
		return true
	}
	return false
}

// Op is what happened to the source record.
type Op string

// Change operations. A snapshot row (Debezium op "r") is an upsert.
const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// Values maps a field to its supplied value. A field that is absent was not
// supplied by the source; it is different from an explicit clear (see
// Change.Cleared), so a blank form field never wipes good data.
type Values map[Field]string

// Clone returns a copy of v.
func (v Values) Clone() Values {
	out := make(Values, len(v))
	for k, x := range v {
		out[k] = x
	}
	return out
}

// Gift is a donation or order attached to a change from the system where it
// was made. Amounts are in minor units (cents) to keep money exact.
//
// The JSON form is the one the dashboard API and the delivery staging table
// show.
type Gift struct {
	GiftID        string    `json:"gift_id"`
	AmountMinor   int64     `json:"amount_minor"`
	Currency      string    `json:"currency"`
	ReceivedAt    time.Time `json:"received_at"`
	Campaign      string    `json:"campaign,omitempty"`
	Fund          string    `json:"fund,omitempty"`
	PaymentMethod string    `json:"payment_method,omitempty"`
}

// Change is the canonical form of one change to one contact record in one
// system: what the ingest stage produces from CDC rows and webhooks.
type Change struct {
	// EventID is unique per source event and stable across redelivery, so
	// that processing the same event twice can be recognised.
	EventID         string
	SourceSystem    string
	SourceRecordID  string
	ReferenceSource string
	Origin          Origin
	Op              Op
	SourceTime      time.Time
	Values          Values
	// Cleared lists fields the source explicitly emptied, sorted.
	Cleared []Field
	Gift    *Gift
}

// IsCleared reports whether f was explicitly cleared by the change.
func (c *Change) IsCleared(f Field) bool { return slices.Contains(c.Cleared, f) }

// Decision is the outcome of matching a change to a person.
type Decision string

// Match decisions.
const (
	// DecisionKnown: the (system, record id) was already linked to a person.
	DecisionKnown Decision = "known"
	// DecisionLinked: a new record was linked to an existing person.
	DecisionLinked Decision = "linked"
	// DecisionNew: no existing person matched; a new one was created.
	DecisionNew Decision = "new"
	// DecisionAmbiguous: the evidence is between the thresholds, or points to
	// more than one person; a human must decide.
	DecisionAmbiguous Decision = "ambiguous"
	// DecisionIDConflict: the record carries the id of a known person (an
	// offline reference printed on an appeal) but its names are another
	// person's: the appeal was passed on. It is not linked on the id and
	// never overwrites the person the id names; a human decides.
	DecisionIDConflict Decision = "id_conflict"
)

// Match is the matcher's verdict with its explanation.
type Match struct {
	PersonID    string
	Decision    Decision
	Score       float64
	Explanation string
	// Candidates are the person ids that were considered, best first.
	Candidates []string
	// HouseholdID is the record's household id (match.HouseholdKey: a
	// hash of family name and home address, "hh-..."), "" when the record
	// lacks either. Two persons ruled out as members of one household
	// share it when they are recorded at one address under one family name.
	HouseholdID string
}

// Matched is a change resolved to a person, with the person's known record
// ids in every system (the crosswalk), so the router can stamp them.
type Matched struct {
	Change Change
	Match  Match
	// Links maps system name to the person's record id there.
	Links map[string]string
}

// SinkOp is what a target system must do.
type SinkOp string

// Sink operations.
const (
	SinkCreate SinkOp = "create"
	SinkUpdate SinkOp = "update"
)

// Entity is what a sink record is about.
type Entity string

// Sink entities.
const (
	EntityContact Entity = "contact"
	EntityGift    Entity = "gift"
)

// SinkRecord is one write for one target system: changed fields only.
type SinkRecord struct {
	// EventID is deterministic from the causing event, the target and the
	// entity, so a target can apply it idempotently.
	EventID        string
	CausationID    string
	PersonID       string
	TargetSystem   string
	Entity         Entity
	Op             SinkOp
	TargetRecordID string // empty on create
	// ReferenceSource is set on creates and gifts: the system the contact
	// or the gift came from.
	ReferenceSource string
	// Set holds the new values; Clear lists fields to empty in the target.
	Set   Values
	Clear []Field
	Gift  *Gift
	// Links are the person's record ids in other systems, e.g. the offline
	// id stamped on an online record before its first sync.
	Links      map[string]string
	SourceTime time.Time
	// Reason explains which rule produced the record.
	Reason string
	// HouseholdID is the person's household id (the latest the matcher
	// gave one of the person's records, Match.HouseholdID), "" when none.
	HouseholdID string
}

// Header is a Kafka record header kept with a kick-out.
type Header struct {
	Key   string
	Value []byte
}

// KickOut is a record that could not be processed safely. It keeps the raw
// input so nothing is lost and it can be fixed and replayed.
type KickOut struct {
	ID        string
	Reason    string // a stable code such as "decode.json" or "match.ambiguous"
	Stage     string
	Error     string
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	// Value is the raw input, cut to the configured cap when Truncated.
	Value []byte
	// ValueSize and ValueSHA256 (hex) describe the whole original value,
	// so a truncated one can still be identified and matched to its source.
	ValueSize   int64
	ValueSHA256 string
	// Truncated says Key, Value, Headers, Error or Explanation were cut so
	// that the kick-out fits in a Kafka record.
	Truncated   bool
	Headers     []Header
	EventID     string
	PersonID    string
	Explanation string
	FirstSeen   time.Time
	LastSeen    time.Time
	ReplayCount int
	// OriginalEventID is the event id of the first attempt when this is a
	// replayed record that failed again.
	OriginalEventID string
}

// ReviewItem is a change held for a person to approve before it reaches a
// target (e.g. a self-service name edit bound for the system of record).
type ReviewItem struct {
	ID           string
	PersonID     string
	TargetSystem string
	Reason       string
	// Proposed holds the held values; Current what the target has now.
	Proposed Values
	Current  Values
	Change   Change
	Created  time.Time
}
