package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Kick-out reasons raised by the rules.
const (
	// ReasonDelete: deletes are never propagated automatically; a person
	// decides (a deleted donor record may be a merge, a GDPR erasure or a
	// mistake, and each needs something else in the other systems).
	ReasonDelete = "rules.delete"
	// ReasonUnknownSystem: the change comes from a system the rules do not
	// declare, so nothing says where its fields may go.
	ReasonUnknownSystem = "rules.unknown_system"
	// ReasonBadOp: the change's operation is neither upsert nor delete.
	ReasonBadOp = "rules.op"
	// ReasonBadState: the stored golden state cannot be read.
	ReasonBadState = "rules.state"
	// ReasonGiftNoRecord: a gift for a donor the gift system does not know
	// and may not create. Kicked out so the gift is never lost; the rest of
	// the change is still applied.
	ReasonGiftNoRecord = "rules.gift_no_record"
)

// Actions in FieldDecision.
const (
	ActAccepted         = "accepted"           // became the golden value
	ActSent             = "sent"               // goes to the target
	ActHeld             = "held"               // waits for review; the golden value is unchanged
	ActUnchanged        = "unchanged"          // equal to the golden value: a no-op
	ActNotEdited        = "not_edited"         // the system reports what it reported before (a full CDC row): not an edit
	ActEcho             = "echo"               // the sync's own write coming back
	ActNotAllowed       = "not_allowed"        // the system may not change the field (or send gifts)
	ActOlder            = "older"              // loses to a newer value (latest)
	ActAuthority        = "authority"          // loses to the authority's value
	ActMostRestrictive  = "most_restrictive"   // an opt-in cannot undo an opt-out
	ActLinkKeep         = "link_keep"          // a newly linked record adds, never overwrites
	ActClearIgnored     = "clear_ignored"      // the rule ignores explicit clears
	ActNoEmptyOverwrite = "no_empty_overwrite" // an empty value is "not supplied"
	ActNoRule           = "no_rule"            // no rule governs the field
	ActOutOfScope       = "out_of_scope"       // the target does not sync this contact
	ActNoRecord         = "no_record"          // the target has no record and creates none
	ActKept             = "kept"               // the target's own value is left alone
	ActDuplicate        = "duplicate"          // the gift was sent on already
)

// RuleGifts is the Rule of gift decisions (their Field is empty).
const RuleGifts = "gifts"

// FieldDecision explains what happened to one field: with Target empty,
// to the golden value; otherwise for that target system.
type FieldDecision struct {
	// Kind is contact.AuditField (Field says which), AuditGift or
	// AuditLinks; Value is the id written back of the latter.
	Kind   string
	Value  string
	Field  contact.Field
	Target string
	Action string
	Rule   string
	// Approved: the value was held for review before and is now accepted
	// (the approved change brought it back).
	Approved bool
}

// Result is the engine's answer for one change.
type Result struct {
	// State is the person's new serialised state (unchanged on a kick-out).
	State []byte
	// Sinks are the records for the target systems, in emit order: a
	// contact create comes before the gift that needs it.
	Sinks   []contact.SinkRecord
	Reviews []contact.ReviewItem
	// KickOutReason, when set, kicks the change out with KickOutError.
	KickOutReason string
	KickOutError  error
	// EchoSystems lists the system whose change was (partly) recognised as
	// the echo of the sync's own write.
	EchoSystems []string
	// Decisions say why each field went where, in a stable order.
	Decisions []FieldDecision
	// Trail is Decisions by field, with the golden values before and the
	// value proposed, for the audit topic (trail.go).
	Trail []contact.FieldAudit
}

// State is a person's golden record as the router stores it (EncodeState;
// states written before the binary form are JSON, hence the tags).
type State struct {
	// Version counts accepted golden changes.
	Version int `json:"version"`
	// ReferenceSource is where the contact came from: the system of
	// record's value, or the system that created the person. Scope uses it.
	ReferenceSource string                   `json:"reference_source,omitempty"`
	Golden          map[contact.Field]Golden `json:"golden,omitempty"`
	Systems         map[string]*SystemState  `json:"systems,omitempty"`
	// Gifts are the gifts sent on ("system/gift id"), newest last, so a
	// gift that comes again is not recorded twice.
	Gifts []string `json:"gifts,omitempty"`
	// HouseholdID is the person's household: the latest non-empty one the
	// matcher gave a change of the person (contact.Match.HouseholdID). A
	// person is in one household at a time; a change without a family name
	// and full address (a partial update) leaves it as it is. Every sink
	// record of the person carries it.
	HouseholdID string `json:"household_id,omitempty"`
}

// Golden is the current best value of one field and where it came from.
type Golden struct {
	Value   string    `json:"value"` // "" with Cleared: explicitly emptied
	Cleared bool      `json:"cleared,omitempty"`
	System  string    `json:"system"`
	Time    time.Time `json:"time"`
	Version int       `json:"version"`
}

// SystemState is what the sync knows about the person in one system. An
// empty value stands for an empty or cleared field.
type SystemState struct {
	RecordID string `json:"record_id,omitempty"`
	// PendingCreate: we sent a create and have not seen the record yet.
	PendingCreate bool `json:"pending_create,omitempty"`
	// LastSeen is the last value the system reported. A full CDC row
	// repeats every column; a column equal to its last reported value was
	// not edited, even when the row is newer than the golden value. This is
	// what keeps a row written before our update landed (an offline
	// system that loads the sink topic in a nightly window) from reverting it.
	LastSeen map[contact.Field]string `json:"last_seen,omitempty"`
	// LastSent lists the values we wrote that have not come back yet,
	// oldest first: one of them coming back is our own echo.
	LastSent map[contact.Field][]string `json:"last_sent,omitempty"`
	// Holds is what the system holds as far as we know: what it reported or
	// what we wrote after that. A target is sent a field when it differs.
	Holds map[contact.Field]string `json:"holds,omitempty"`
	// Kept marks values the system holds that differ from the golden one
	// on purpose (a value it may not set, one held for review, its own
	// rendering of our write), with the golden version they were left at:
	// they are not overwritten until the golden value changes.
	Kept map[contact.Field]int `json:"kept,omitempty"`
	// Held are values from this system waiting for review. The approved
	// change brings the same value again; it must not be taken for a
	// repeat, and a repeat must not make a second review item.
	Held map[contact.Field]string `json:"held,omitempty"`
	// LinksSent are the record ids of the person's other records that this
	// system was last sent (with a contact record or a link-only update):
	// what its record is known to carry as external ids. Kept only for
	// the systems that get ids written back (see writeBack); absent in
	// states written before it existed, which writeBack allows for.
	LinksSent map[string]string `json:"links_sent,omitempty"`
}

// maxLastSent bounds the writes remembered per field; maxGifts the gifts
// remembered per person. Older ones have long come back or been recorded.
const (
	maxLastSent = 4
	maxGifts    = 100
)

// Engine applies a Config. It is stateless and safe for concurrent use.
type Engine struct {
	cfg *Config
}

// NewEngine returns an engine for cfg.
func NewEngine(cfg *Config) *Engine { return &Engine{cfg: cfg} }

func (s *State) system(name string) *SystemState {
	ss := s.Systems[name]
	if ss == nil {
		ss = &SystemState{}
		s.Systems[name] = ss
	}
	if ss.LastSeen == nil {
		ss.LastSeen = map[contact.Field]string{}
	}
	if ss.LastSent == nil {
		ss.LastSent = map[contact.Field][]string{}
	}
	if ss.Holds == nil {
		ss.Holds = map[contact.Field]string{}
	}
	if ss.Kept == nil {
		ss.Kept = map[contact.Field]int{}
	}
	if ss.Held == nil {
		ss.Held = map[contact.Field]string{}
	}
	return ss
}

// links returns every known record id of the person.
func (s *State) links() map[string]string {
	out := map[string]string{}
	for name, ss := range s.Systems {
		if ss.RecordID != "" {
			out[name] = ss.RecordID
		}
	}
	return out
}

// incoming is one field of a change: a value, or an explicit clear.
type incoming struct {
	field contact.Field
	value string // "" when clear
	clear bool
}

// run is the application of one change.
type run struct {
	cfg *Config
	st  *State
	m   contact.Matched
	c   contact.Change
	src *System
	ss  *SystemState
	res Result
	// echoed: some field was recognised as our echo.
	echoed bool
	// only, when set, limits the targets to the source and these fields
	// (an echo may only correct what it just showed to be outdated).
	only map[contact.Field]bool
	// held: per review target, the values held for review.
	held      map[string]contact.Values
	heldRules []string
	gift      *contact.Gift
	giftKey   string
	// linksBefore are the person's record ids before this change.
	linksBefore map[string]string
}

// Apply decides what a matched change means for every system. The same
// state and change always give the same result, byte for byte; applying a
// change again to the state it produced emits nothing.
func (e *Engine) Apply(state []byte, m contact.Matched) (Result, error) {
	c := m.Change
	st, err := DecodeState(state)
	if err != nil {
		return Result{State: state, KickOutReason: ReasonBadState, KickOutError: err}, nil
	}
	src, ok := e.cfg.system(c.SourceSystem)
	if !ok {
		return Result{State: state, KickOutReason: ReasonUnknownSystem,
			KickOutError: fmt.Errorf("system %q is not in the rules (systems: %s)", c.SourceSystem, strings.Join(e.cfg.Systems(), ", "))}, nil
	}
	switch c.Op {
	case contact.OpUpsert, "":
	case contact.OpDelete:
		return Result{State: state, KickOutReason: ReasonDelete,
			KickOutError: fmt.Errorf("%s deleted record %s: deletes are never propagated automatically; decide by hand", c.SourceSystem, c.SourceRecordID)}, nil
	default:
		return Result{State: state, KickOutReason: ReasonBadOp, KickOutError: fmt.Errorf("unknown operation %q", c.Op)}, nil
	}
	r := &run{cfg: e.cfg, st: st, m: m, c: c, src: src, held: map[string]contact.Values{}, linksBefore: st.links()}
	before := maps.Clone(st.Golden)
	r.ss = st.system(src.Name)
	r.learnRecords()
	if m.Match.HouseholdID != "" {
		st.HouseholdID = m.Match.HouseholdID
	}
	ins := r.incoming()
	if c.Origin == contact.OriginSync {
		r.ownWrite(ins)
	} else {
		r.change(ins)
		r.checkGift()
	}
	for i := range e.cfg.systems {
		t := &e.cfg.systems[i]
		if r.only != nil && t.Name != src.Name {
			continue
		}
		r.target(t)
		r.review(t)
	}
	// Ids are written back even for an echo (r.only): the system of
	// record's own write of a new contact is how its id becomes known.
	for i := range e.cfg.systems {
		r.writeBack(&e.cfg.systems[i])
	}
	if r.echoed {
		r.res.EchoSystems = []string{src.Name}
	}
	for i := range r.res.Sinks {
		r.res.Sinks[i].HouseholdID = st.HouseholdID
	}
	r.res.State = EncodeState(st)
	r.res.Trail = trail(e.cfg, c, before, st.Golden, r.res.Decisions)
	return r.res, nil
}

func (r *run) decide(f contact.Field, target, action, rule string) {
	r.res.Decisions = append(r.res.Decisions, FieldDecision{Field: f, Target: target, Action: action, Rule: rule})
}

// decideGift records what target got of the change's gift.
func (r *run) decideGift(target, action string) {
	r.res.Decisions = append(r.res.Decisions, FieldDecision{Kind: contact.AuditGift, Target: target, Action: action, Rule: RuleGifts})
}

// learnRecords takes the person's record ids from the crosswalk and the
// change, and the reference source from the system of record (or from
// the first system that tells us one).
func (r *run) learnRecords() {
	for _, sys := range sortedKeys(r.m.Links) {
		if _, ok := r.cfg.system(sys); ok && r.m.Links[sys] != "" {
			ts := r.st.system(sys)
			ts.RecordID, ts.PendingCreate = r.m.Links[sys], false
		}
	}
	if r.c.SourceRecordID != "" {
		r.ss.RecordID = r.c.SourceRecordID
	}
	r.ss.PendingCreate = false // a change from the system: the record exists
	if r.c.ReferenceSource != "" && (r.src.Role == RoleSystemOfRecord || r.st.ReferenceSource == "") {
		r.st.ReferenceSource = r.c.ReferenceSource
	}
}

// incoming lists the change's supplied and cleared fields in schema order.
// An empty value is "not supplied" and never overwrites anything. A change
// that supplies (or clears) a unit's key field replaces the whole unit:
// the unit fields it leaves out are cleared. A change that supplies other
// unit fields without the key corrects those fields only.
func (r *run) incoming() []incoming {
	c := r.c
	var out []incoming
	for _, info := range r.cfg.fields.All() {
		f := info.Name
		rule := r.cfg.byField[f]
		v, supplied := c.Values[f]
		switch {
		case supplied && v != "":
			out = append(out, incoming{field: f, value: v})
		case c.IsCleared(f):
			out = append(out, incoming{field: f, clear: true})
		case rule != nil && rule.Unit && r.replacesUnit(rule):
			out = append(out, incoming{field: f, clear: true})
		case supplied:
			r.decide(f, "", ActNoEmptyOverwrite, ruleName(rule))
		}
	}
	return out
}

func (r *run) replacesUnit(rule *Rule) bool {
	key := rule.Fields[0]
	return r.c.Values[key] != "" || r.c.IsCleared(key)
}

func ruleName(r *Rule) string {
	if r == nil {
		return ""
	}
	return r.Name
}

// goldenVersion is the version of f's golden value (0: none).
func (r *run) goldenVersion(f contact.Field) int { return r.st.Golden[f].Version }

// ownWrite handles a change made by the sync itself (origin sync): our
// write coming back. It tells us what the system holds now and is never
// propagated. The one thing it may cause is a correction of the same
// system: when a write of ours lands after the system's own newer edit
// (an offline loader running hours later), the newer value is sent again.
func (r *run) ownWrite(ins []incoming) {
	ss := r.ss
	r.echoed = true
	r.only = map[contact.Field]bool{}
	for _, in := range ins {
		f, v := in.field, in.value
		switch i := slices.Index(ss.LastSent[f], v); {
		case i >= 0:
			r.confirm(f, i)
			r.only[f] = true
		case hasValue(ss.LastSeen, f, v):
			// a column the write did not touch, as it was
		default:
			// a value we did not send: the system's rendering of our write
			// (or a default it filled in). Kept as the system's own.
			ss.LastSeen[f], ss.Holds[f] = v, v
			delete(ss.LastSent, f)
			ss.Kept[f] = r.goldenVersion(f)
		}
		r.decide(f, "", ActEcho, "origin "+string(contact.OriginSync))
	}
}

// confirm records that the i-th value of f we sent has come back.
func (r *run) confirm(f contact.Field, i int) {
	ss := r.ss
	v := ss.LastSent[f][i]
	ss.LastSeen[f] = v
	if rest := ss.LastSent[f][i+1:]; len(rest) > 0 {
		ss.LastSent[f] = slices.Clone(rest) // a later write is still on its way
	} else {
		delete(ss.LastSent, f)
		ss.Holds[f] = v
	}
}

func hasValue(m map[contact.Field]string, f contact.Field, v string) bool {
	x, ok := m[f]
	return ok && x == v
}

// change applies a change made by a person or a program in its system.
func (r *run) change(ins []incoming) {
	byRule := map[*Rule][]incoming{}
	for _, in := range ins {
		rule := r.cfg.byField[in.field]
		if rule == nil {
			r.decide(in.field, "", ActNoRule, "")
			continue
		}
		byRule[rule] = append(byRule[rule], in)
	}
	for i := range r.cfg.rules {
		rule := &r.cfg.rules[i]
		list := byRule[rule]
		var edits []incoming
		for _, in := range list {
			if r.edited(rule, in) {
				edits = append(edits, in)
			}
		}
		switch {
		case len(edits) == 0:
		case rule.Unit:
			// the unit moves as one: take all of it as the change has it
			var unit []incoming
			for _, in := range list {
				if !(in.clear && rule.Clear == ClearIgnore) {
					unit = append(unit, in)
				}
			}
			r.apply(rule, unit, edits)
		default:
			for _, in := range edits {
				r.apply(rule, []incoming{in}, edits)
			}
		}
	}
}

// edited classifies one incoming field, updates what we know the system
// holds, and reports whether it is an edit the rule may take.
func (r *run) edited(rule *Rule, in incoming) bool {
	ss, f, v := r.ss, in.field, in.value
	if i := slices.Index(ss.LastSent[f], v); i >= 0 {
		r.confirm(f, i)
		r.echoed = true
		r.decide(f, "", ActEcho, rule.Name)
		return false
	}
	if hasValue(ss.LastSeen, f, v) && !hasValue(ss.Held, f, v) {
		r.decide(f, "", ActNotEdited, rule.Name)
		return false
	}
	ss.LastSeen[f], ss.Holds[f] = v, v
	switch {
	case !slices.Contains(rule.From, r.src.Name):
		ss.Kept[f] = r.goldenVersion(f)
		r.decide(f, "", ActNotAllowed, rule.Name)
		return false
	case in.clear && rule.Clear == ClearIgnore:
		ss.Kept[f] = r.goldenVersion(f)
		r.decide(f, "", ActClearIgnored, rule.Name)
		return false
	}
	return true
}

// apply decides one edit (one field, or a whole unit) against the golden
// state: a no-op, a lost conflict, held for review, or accepted. edits are
// the fields the system changed (the others of a unit have their decision).
func (r *run) apply(rule *Rule, ins, edits []incoming) {
	var diff []incoming
	for _, in := range ins {
		g, has := r.st.Golden[in.field]
		if (has && g.Value == in.value && g.Cleared == in.clear) || (!has && in.clear) {
			if slices.Contains(edits, in) {
				r.decide(in.field, "", ActUnchanged, rule.Name) // nothing new: not even worth a review
			}
			continue
		}
		diff = append(diff, in)
	}
	if len(diff) == 0 {
		return
	}
	if action := r.conflict(rule, diff); action != "" {
		for _, in := range diff {
			r.decide(in.field, "", action, rule.Name)
		}
		return
	}
	if rv := rule.Review; rv != nil && rv.From == r.src.Name && slices.Contains(rv.Origins, r.c.Origin) {
		r.hold(rule, rv, ins, diff)
		return
	}
	r.st.Version++
	for _, in := range diff {
		r.st.Golden[in.field] = Golden{Value: in.value, Cleared: in.clear, System: r.src.Name, Time: r.c.SourceTime.UTC(), Version: r.st.Version}
		approved := hasValue(r.ss.Held, in.field, in.value)
		delete(r.ss.Held, in.field)
		delete(r.ss.Kept, in.field)
		r.decide(in.field, "", ActAccepted, rule.Name)
		r.res.Decisions[len(r.res.Decisions)-1].Approved = approved
	}
}

// hold keeps the edit out of the golden state and proposes it to the
// review targets. The same values held again (a redelivery, or a later
// event repeating them) make no second review item. A unit is proposed
// whole (its unchanged values too): the approved change replaces the unit,
// and a field it left out would be cleared.
func (r *run) hold(rule *Rule, rv *Review, ins, diff []incoming) {
	again := true
	for _, in := range diff {
		if !hasValue(r.ss.Held, in.field, in.value) {
			again = false
		}
	}
	for _, in := range diff {
		r.ss.Held[in.field] = in.value
		r.ss.Kept[in.field] = r.goldenVersion(in.field)
		r.decide(in.field, "", ActHeld, rule.Name)
		if again {
			continue
		}
		for _, t := range rv.To {
			if r.held[t] == nil {
				r.held[t] = contact.Values{}
			}
			r.held[t][in.field] = in.value
		}
	}
	if !again && rule.Unit {
		for _, in := range ins {
			if in.clear {
				continue // left out of the approved change, it is cleared all the same
			}
			for _, t := range rv.To {
				r.held[t][in.field] = in.value
			}
		}
	}
	if !again && !slices.Contains(r.heldRules, rule.Name) {
		r.heldRules = append(r.heldRules, rule.Name)
	}
}

// conflict returns the action that keeps the golden value, or "" when the
// edit wins. A unit is decided as a whole against all its golden fields.
//
// No policy lets an older change overwrite a newer value of the same
// standing: changes are replayed (a topic consumed again, a kick-out
// replayed by hand) and arrive late, and the golden value must not depend
// on the order they arrive in. At an exact tie of source time, arrival (the
// source's own log order) decides.
func (r *run) conflict(rule *Rule, diff []incoming) string {
	src, t := r.src.Name, r.c.SourceTime.UTC()
	if rule.Conflict == MostRestrictive {
		in := diff[0] // flags are never a unit
		g, has := r.st.Golden[in.field]
		if in.value == "true" {
			// An opt-out always wins, except over an explicit re-opt-in
			// made after it in a system allowed to take one.
			if has && slices.Contains(rule.OptInFrom, g.System) && g.Time.After(t) {
				return ActOlder
			}
			return ""
		}
		// "false" or a clear: withdrawing an opt-out is accepted only from
		// the systems in opt_in_from (e.g. the one where the person opts in
		// again themselves), and only if it is not older than the opt-out.
		if has && g.Value == "true" && (!slices.Contains(rule.OptInFrom, src) || t.Before(g.Time)) {
			return ActMostRestrictive
		}
		// Between "false" and a clear, the newer wins.
		if has && g.Value != "true" && t.Before(g.Time) {
			return ActOlder
		}
		return ""
	}
	fields := []contact.Field{diff[0].field}
	if rule.Unit {
		fields = rule.Fields
	}
	var gs []Golden
	for _, f := range fields {
		if g, ok := r.st.Golden[f]; ok {
			gs = append(gs, g)
		}
	}
	if r.m.Match.Decision == contact.DecisionLinked && r.personHas(fields, gs) {
		// A record just matched to an existing person adds what the person
		// lacks and overwrites nothing: a typo in a web form must not
		// rename a donor of twenty years.
		return ActLinkKeep
	}
	for _, g := range gs {
		switch rule.Conflict {
		case Authority:
			// The authority's value outranks every other, whenever it was
			// set: a value another system set after it would have been
			// refused had the changes come in time order. Between values
			// of the same standing the newer wins.
			switch fromAuthority := src == rule.Authority; {
			case g.System == rule.Authority && !fromAuthority:
				return ActAuthority
			case (g.System == rule.Authority) == fromAuthority && t.Before(g.Time):
				return ActOlder
			}
		case Latest:
			if t.Before(g.Time) {
				return ActOlder
			}
			if t.Equal(g.Time) && g.System == rule.Authority && src != rule.Authority {
				return ActAuthority
			}
		}
	}
	return ""
}

// personHas reports whether the person already has one of the fields: a
// golden value, or a value another system holds (even one that system may
// not set, like the offline copy of the online login email).
func (r *run) personHas(fields []contact.Field, gs []Golden) bool {
	for _, g := range gs {
		if !g.Cleared {
			return true
		}
	}
	for _, name := range r.cfg.Systems() {
		if name == r.src.Name {
			continue
		}
		if ss := r.st.Systems[name]; ss != nil {
			for _, f := range fields {
				if ss.Holds[f] != "" {
					return true
				}
			}
		}
	}
	return false
}

// checkGift decides whether the change's gift goes on.
func (r *run) checkGift() {
	g := r.c.Gift
	if g == nil {
		return
	}
	gifts := r.cfg.gifts
	if gifts.To == "" || !slices.Contains(gifts.From, r.src.Name) {
		r.decideGift(gifts.To, ActNotAllowed)
		return
	}
	if g.GiftID != "" {
		r.giftKey = r.src.Name + "/" + g.GiftID
		if slices.Contains(r.st.Gifts, r.giftKey) {
			r.decideGift(gifts.To, ActDuplicate)
			return
		}
	}
	cp := *g
	r.gift = &cp
}

// target emits what system t must receive: the fields whose golden value
// differs from what t holds, where the rules let them flow to t and the
// contact is in t's scope; then the gift, when t records gifts.
func (r *run) target(t *System) {
	ts := r.st.system(t.Name)
	inScope := len(t.Scope.ReferenceSource) == 0 || slices.Contains(t.Scope.ReferenceSource, r.st.ReferenceSource)
	set, clear := contact.Values{}, []contact.Field(nil)
	var fields []contact.Field
	var reasons []string
	for _, info := range r.cfg.fields.All() {
		f := info.Name
		g, ok := r.st.Golden[f]
		rule := r.cfg.byField[f]
		if !ok || rule == nil || !slices.Contains(rule.To, t.Name) || (r.only != nil && !r.only[f]) {
			continue
		}
		if ts.Holds[f] == g.Value {
			delete(ts.Kept, f) // the target agrees now
			continue
		}
		if k, kept := ts.Kept[f]; kept && k >= g.Version {
			r.decide(f, t.Name, ActKept, rule.Name)
			continue
		}
		if !inScope {
			r.decide(f, t.Name, ActOutOfScope, rule.Name)
			continue
		}
		if g.Cleared {
			clear = append(clear, f)
		} else {
			set[f] = g.Value
		}
		fields = append(fields, f)
		if !slices.Contains(reasons, rule.Name) {
			reasons = append(reasons, rule.Name)
		}
	}
	gift := r.gift != nil && r.cfg.gifts.To == t.Name
	if len(fields) == 0 && !gift {
		return
	}
	rec := contact.SinkRecord{
		CausationID: r.c.EventID, PersonID: r.m.Match.PersonID, TargetSystem: t.Name, Entity: contact.EntityContact,
		SourceTime: r.c.SourceTime,
	}
	switch {
	case ts.RecordID != "":
		rec.Op, rec.TargetRecordID = contact.SinkUpdate, ts.RecordID
	case ts.PendingCreate:
		rec.Op = contact.SinkUpdate // created, not seen yet: the target finds it by its links
	case t.CreateMissing && inScope:
		rec.Op, rec.ReferenceSource = contact.SinkCreate, r.src.Name
		if r.st.ReferenceSource == "" {
			r.st.ReferenceSource = r.src.Name
		}
		ts.PendingCreate = true
		reasons = append([]string{"create_missing"}, reasons...)
	default:
		for _, f := range fields {
			r.decide(f, t.Name, ActNoRecord, r.cfg.byField[f].Name)
		}
		if gift {
			r.decideGift(t.Name, ActNoRecord)
			r.res.KickOutReason = ReasonGiftNoRecord
			r.res.KickOutError = fmt.Errorf("gift %s for a donor %s does not know and may not create (create_missing is off or the contact is out of its scope)", r.gift.GiftID, t.Name)
		}
		return
	}
	rec.Links = r.st.links()
	if len(fields) > 0 || rec.Op == contact.SinkCreate {
		r.linksSent(t, ts, rec.Links)
		if len(set) > 0 {
			rec.Set = set
		}
		rec.Clear = clear
		rec.EventID = "sk-" + digest(r.c.EventID, t.Name, string(contact.EntityContact))
		rec.Reason = fmt.Sprintf("%s from %s", strings.Join(reasons, ", "), r.src.Name)
		r.res.Sinks = append(r.res.Sinks, rec)
		for _, f := range fields {
			v := set[f] // "" for a clear
			ts.Holds[f] = v
			ts.LastSent[f] = appendSent(ts.LastSent[f], v)
			delete(ts.Kept, f)
			r.decide(f, t.Name, ActSent, r.cfg.byField[f].Name)
		}
	}
	if gift {
		r.sendGift(t, ts, rec.Links)
	}
}

func appendSent(list []string, v string) []string {
	if n := len(list); n > 0 && list[n-1] == v {
		return list
	}
	list = append(list, v)
	if len(list) > maxLastSent {
		list = slices.Clone(list[len(list)-maxLastSent:])
	}
	return list
}

// sendGift emits the gift for target t, after the contact record (a create
// included) in the same result, so both go in order to one partition.
func (r *run) sendGift(t *System, ts *SystemState, links map[string]string) {
	g := r.gift
	id := digest(r.c.EventID, t.Name, string(contact.EntityGift))
	if g.GiftID != "" {
		// the same gift, whatever event brings it, is the same record
		id = digest(string(contact.EntityGift), r.src.Name, g.GiftID, t.Name)
	}
	r.res.Sinks = append(r.res.Sinks, contact.SinkRecord{
		EventID: "sk-" + id, CausationID: r.c.EventID, PersonID: r.m.Match.PersonID, TargetSystem: t.Name,
		Entity: contact.EntityGift, Op: contact.SinkCreate, TargetRecordID: ts.RecordID, ReferenceSource: r.src.Name, Gift: g,
		Links: links, SourceTime: r.c.SourceTime, Reason: fmt.Sprintf("%s from %s", RuleGifts, r.src.Name),
	})
	if r.giftKey != "" {
		r.st.Gifts = append(r.st.Gifts, r.giftKey)
		if len(r.st.Gifts) > maxGifts {
			r.st.Gifts = slices.Clone(r.st.Gifts[len(r.st.Gifts)-maxGifts:])
		}
	}
	r.decideGift(t.Name, ActSent)
}

// review emits the review item for target t, if the change holds values
// for it. Its id is deterministic, so a redelivery makes the same item.
func (r *run) review(t *System) {
	vals := r.held[t.Name]
	if len(vals) == 0 {
		return
	}
	ts := r.st.system(t.Name)
	cur := contact.Values{}
	for _, info := range r.cfg.fields.All() {
		if _, ok := vals[info.Name]; !ok {
			continue
		}
		cur[info.Name] = ts.Holds[info.Name]
		if _, held := r.ss.Held[info.Name]; held { // not a unit's unchanged field
			r.decide(info.Name, t.Name, ActHeld, r.cfg.byField[info.Name].Name)
		}
	}
	r.res.Reviews = append(r.res.Reviews, contact.ReviewItem{
		ID:           "rv-" + digest(r.c.EventID, t.Name),
		PersonID:     r.m.Match.PersonID,
		TargetSystem: t.Name,
		Reason:       fmt.Sprintf("%s change of %s from %s needs approval", r.c.Origin, strings.Join(r.heldRules, ", "), r.src.Name),
		Proposed:     vals,
		Current:      cur,
		Change:       r.c,
		Created:      r.c.SourceTime,
	})
}

func digest(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:10])
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
