package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Kick-out reasons raised by the rules.
const (
	ReasonDelete        = "rules.delete"
	ReasonUnknownSystem = "rules.unknown_system"
	ReasonBadState      = "rules.state"
)

// Actions in FieldDecision.
const (
	ActSent            = "sent"             // the value goes to the target
	ActHeld            = "held"             // waits for review before the target
	ActAccepted        = "accepted"         // became the golden value
	ActUnchanged       = "unchanged"        // equal to the golden value: a no-op
	ActEcho            = "echo"             // the sync's own write coming back
	ActNotAllowed      = "not_allowed"      // the source may not change this field
	ActOlder           = "older"            // loses to a newer value (latest)
	ActAuthority       = "authority"        // loses to the authority's value
	ActMostRestrictive = "most_restrictive" // an opt-in cannot undo an opt-out
	ActLinkKeep        = "link_keep"        // first link: existing data is kept
	ActClearIgnored    = "clear_ignored"    // the rule ignores clears
	ActNoRule          = "no_rule"          // no rule governs the field
	ActOutOfScope      = "out_of_scope"     // the target does not sync this contact
	ActNoRecord        = "no_record"        // the target has no record and creates none
)

// FieldDecision explains what happened to one field for one target (Target
// empty: the decision about the golden value).
type FieldDecision struct {
	Field  contact.Field
	Target string
	Action string
	Rule   string
}

// Result is the engine's answer for one change.
type Result struct {
	State         []byte
	Sinks         []contact.SinkRecord
	Reviews       []contact.ReviewItem
	KickOutReason string
	KickOutError  error
	EchoSystems   []string
	Decisions     []FieldDecision
}

// State is a person's golden record as the router stores it.
type State struct {
	Version         int                      `json:"version"`
	ReferenceSource string                   `json:"reference_source,omitempty"`
	Golden          map[contact.Field]Golden `json:"golden,omitempty"`
	Systems         map[string]*SystemState  `json:"systems,omitempty"`
}

// Golden is the current best value of one field and where it came from.
type Golden struct {
	Value   string    `json:"value"` // "" with Cleared: explicitly emptied
	Cleared bool      `json:"cleared,omitempty"`
	System  string    `json:"system"`
	Time    time.Time `json:"time"`
	Version int       `json:"version"`
}

// SystemState is what contactsync knows about the person in one system.
type SystemState struct {
	RecordID      string `json:"record_id,omitempty"`
	PendingCreate bool   `json:"pending_create,omitempty"`
	// Known is what the system holds as far as we know: the last value it
	// reported or we sent it ("" = empty).
	Known map[contact.Field]string `json:"known,omitempty"`
	// Sent is what we last wrote to it: the same value coming back from it
	// is our own echo.
	Sent map[contact.Field]string `json:"sent,omitempty"`
}

// Engine applies a Config. It is stateless and safe for concurrent use.
type Engine struct {
	cfg *Config
}

// NewEngine returns an engine for cfg.
func NewEngine(cfg *Config) *Engine { return &Engine{cfg: cfg} }

// DecodeState reads a stored state (empty: a new person).
func DecodeState(b []byte) (*State, error) {
	st := &State{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("golden state: %w", err)
		}
	}
	if st.Golden == nil {
		st.Golden = map[contact.Field]Golden{}
	}
	if st.Systems == nil {
		st.Systems = map[string]*SystemState{}
	}
	return st, nil
}

func (s *State) system(name string) *SystemState {
	ss := s.Systems[name]
	if ss == nil {
		ss = &SystemState{}
		s.Systems[name] = ss
	}
	if ss.Known == nil {
		ss.Known = map[contact.Field]string{}
	}
	if ss.Sent == nil {
		ss.Sent = map[contact.Field]string{}
	}
	return ss
}

// incoming is one field of the change.
type incoming struct {
	field contact.Field
	value string
	clear bool
}

// Apply decides what a matched change means for every system. The same
// state and change always give the same result.
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
	if c.Op == contact.OpDelete {
		return Result{State: state, KickOutReason: ReasonDelete,
			KickOutError: fmt.Errorf("%s deleted record %s: deletes are never propagated automatically; decide by hand", c.SourceSystem, c.SourceRecordID)}, nil
	}
	var res Result
	decide := func(f contact.Field, target, action, rule string) {
		res.Decisions = append(res.Decisions, FieldDecision{Field: f, Target: target, Action: action, Rule: rule})
	}

	// What the crosswalk knows, and the record the change comes from.
	for _, sys := range sortedKeys(m.Links) {
		if _, ok := e.cfg.system(sys); ok && m.Links[sys] != "" {
			st.system(sys).RecordID = m.Links[sys]
		}
	}
	from := st.system(src.Name)
	from.RecordID, from.PendingCreate = c.SourceRecordID, false
	if c.ReferenceSource != "" && (src.Role == RoleSystemOfRecord || st.ReferenceSource == "") {
		st.ReferenceSource = c.ReferenceSource
	}

	ins := e.incoming(c)
	if c.Origin == contact.OriginSync {
		// Our own write coming back: it tells us what the system holds now,
		// and nothing else.
		for _, in := range ins {
			from.Known[in.field] = in.value
			decide(in.field, "", ActEcho, "origin sync")
		}
		res.EchoSystems = []string{src.Name}
		return e.finish(st, res)
	}

	linking := m.Match.Decision == contact.DecisionLinked
	held := map[string]contact.Values{} // review target -> held values
	var heldRules []string
	echo := false
	for _, in := range ins {
		r := e.cfg.byField[in.field]
		sent, wasSent := from.Sent[in.field]
		from.Known[in.field] = in.value
		switch {
		case r == nil:
			decide(in.field, "", ActNoRule, "")
			continue
		case wasSent && sent == in.value:
			echo = true
			decide(in.field, "", ActEcho, r.Name)
			continue
		case !slices.Contains(r.From, src.Name):
			decide(in.field, "", ActNotAllowed, r.Name)
			continue
		case in.clear && r.Clear == "ignore":
			decide(in.field, "", ActClearIgnored, r.Name)
			continue
		}
		g, has := st.Golden[in.field]
		if (has && g.Value == in.value && g.Cleared == in.clear) || (!has && in.clear) {
			decide(in.field, "", ActUnchanged, r.Name) // nothing new: not even worth a review
			continue
		}
		if rv := r.Review; rv != nil && rv.From == src.Name && slices.Contains(rv.Origins, c.Origin) {
			for _, t := range rv.To {
				if held[t] == nil {
					held[t] = contact.Values{}
				}
				held[t][in.field] = in.value
			}
			if !slices.Contains(heldRules, r.Name) {
				heldRules = append(heldRules, r.Name)
			}
			decide(in.field, "", ActHeld, r.Name)
			continue
		}
		if action := e.conflict(r, g, has, in, c, src.Name, linking, st); action != "" {
			decide(in.field, "", action, r.Name)
			continue
		}
		st.Version++
		st.Golden[in.field] = Golden{Value: in.value, Cleared: in.clear, System: src.Name, Time: c.SourceTime.UTC(), Version: st.Version}
		decide(in.field, "", ActAccepted, r.Name)
	}
	if echo {
		res.EchoSystems = []string{src.Name}
	}

	// The source gets golden values back only where its own value lost a
	// conflict (or it lacks them): never a field it may not change, a held
	// one, or its own echo.
	keepSource := map[contact.Field]bool{}
	for _, d := range res.Decisions {
		switch d.Action {
		case ActNotAllowed, ActHeld, ActEcho, ActClearIgnored, ActNoRule:
			keepSource[d.Field] = true
		}
	}
	for _, t := range e.cfg.systems {
		var skip map[contact.Field]bool
		if t.Name == src.Name {
			skip = keepSource
		}
		e.target(st, &t, c, m.Match.PersonID, skip, &res, decide)
		if vals := held[t.Name]; len(vals) > 0 {
			cur := contact.Values{}
			for f := range vals {
				cur[f] = st.Golden[f].Value
			}
			res.Reviews = append(res.Reviews, contact.ReviewItem{
				ID:           "rv-" + digest(c.EventID, t.Name),
				PersonID:     m.Match.PersonID,
				TargetSystem: t.Name,
				Reason:       fmt.Sprintf("%s change of %s from %s needs approval", c.Origin, strings.Join(heldRules, ", "), src.Name),
				Proposed:     vals,
				Current:      cur,
				Change:       c,
				Created:      c.SourceTime,
			})
		}
	}
	return e.finish(st, res)
}

// incoming lists the change's supplied and cleared fields in schema order.
// A unit rule (an address) takes the whole unit from a change that supplies
// any part of it: the parts it leaves out are cleared.
func (e *Engine) incoming(c contact.Change) []incoming {
	units := map[string]bool{}
	for f := range c.Values {
		if r := e.cfg.byField[f]; r != nil && r.Unit {
			units[r.Name] = true
		}
	}
	var out []incoming
	for _, info := range contact.Fields {
		f := info.Name
		if v, ok := c.Values[f]; ok {
			out = append(out, incoming{field: f, value: v})
			continue
		}
		r := e.cfg.byField[f]
		if c.IsCleared(f) || (r != nil && units[r.Name]) {
			out = append(out, incoming{field: f, clear: true})
		}
	}
	return out
}

// conflict returns the action that keeps the golden value, or "" when the
// incoming value wins.
func (e *Engine) conflict(r *Rule, g Golden, has bool, in incoming, c contact.Change, source string, linking bool, st *State) string {
	if r.Conflict == MostRestrictive {
		// "true" means do not contact: it always wins; withdrawing it is
		// accepted only from the systems named in opt_in_from.
		if has && g.Value == "true" && in.value != "true" && !slices.Contains(r.OptInFrom, source) {
			return ActMostRestrictive
		}
		return ""
	}
	if linking && (has || e.otherSystemHas(st, in.field, source)) {
		// A record that has just been matched to an existing person adds
		// what the person lacks and overwrites nothing: a typo in a web
		// form must not rename a donor of twenty years.
		return ActLinkKeep
	}
	if !has {
		return ""
	}
	switch r.Conflict {
	case Authority:
		if g.System == r.Authority && source != r.Authority {
			return ActAuthority
		}
	case Latest:
		t := c.SourceTime.UTC()
		if t.Before(g.Time) {
			return ActOlder
		}
		if t.Equal(g.Time) && g.System == r.Authority && source != r.Authority {
			return ActAuthority
		}
	}
	return ""
}

func (e *Engine) otherSystemHas(st *State, f contact.Field, source string) bool {
	for name, ss := range st.Systems {
		if name != source && ss.Known[f] != "" {
			return true
		}
	}
	return false
}

// target emits what system t must receive after the change.
func (e *Engine) target(st *State, t *System, c contact.Change, personID string, skip map[contact.Field]bool, res *Result, decide func(contact.Field, string, string, string)) {
	ts := st.system(t.Name)
	inScope := len(t.Scope.ReferenceSource) == 0 || slices.Contains(t.Scope.ReferenceSource, st.ReferenceSource)
	set, clear := contact.Values{}, []contact.Field(nil)
	var reasons []string
	for _, info := range contact.Fields {
		f := info.Name
		g, ok := st.Golden[f]
		r := e.cfg.byField[f]
		if !ok || r == nil || skip[f] || !slices.Contains(r.To, t.Name) || ts.Known[f] == g.Value {
			continue // not for this target, or the target has it already
		}
		if !inScope {
			decide(f, t.Name, ActOutOfScope, r.Name)
			continue
		}
		if g.Cleared {
			clear = append(clear, f)
		} else {
			set[f] = g.Value
		}
		if !slices.Contains(reasons, r.Name) {
			reasons = append(reasons, r.Name)
		}
		decide(f, t.Name, ActSent, r.Name)
	}
	gift := c.Gift != nil && e.cfg.gifts.To == t.Name && slices.Contains(e.cfg.gifts.From, c.SourceSystem) && t.Name != c.SourceSystem
	if len(set) == 0 && len(clear) == 0 && !gift {
		return
	}
	rec := contact.SinkRecord{
		CausationID: c.EventID, PersonID: personID, TargetSystem: t.Name, Entity: contact.EntityContact,
		Links: st.links(), SourceTime: c.SourceTime,
	}
	switch {
	case ts.RecordID != "":
		rec.Op, rec.TargetRecordID = contact.SinkUpdate, ts.RecordID
	case ts.PendingCreate:
		rec.Op = contact.SinkUpdate // created, not yet seen: the target resolves it by its links
	case t.CreateMissing && (inScope || gift):
		rec.Op, rec.ReferenceSource = contact.SinkCreate, c.SourceSystem
		if st.ReferenceSource == "" {
			st.ReferenceSource = c.SourceSystem
		}
		ts.PendingCreate = true
		reasons = append([]string{"create_missing"}, reasons...)
	default:
		for f := range set {
			decide(f, t.Name, ActNoRecord, e.cfg.byField[f].Name)
		}
		return
	}
	if len(set) > 0 || len(clear) > 0 || rec.Op == contact.SinkCreate {
		if len(set) > 0 {
			rec.Set = set
		}
		rec.Clear = clear
		rec.EventID = "sk-" + digest(c.EventID, t.Name, string(contact.EntityContact))
		rec.Reason = fmt.Sprintf("%s from %s", strings.Join(reasons, ", "), c.SourceSystem)
		res.Sinks = append(res.Sinks, rec)
		for f, v := range set {
			ts.Known[f], ts.Sent[f] = v, v
		}
		for _, f := range clear {
			ts.Known[f], ts.Sent[f] = "", ""
		}
	}
	if gift {
		g := *c.Gift
		res.Sinks = append(res.Sinks, contact.SinkRecord{
			EventID: "sk-" + digest(c.EventID, t.Name, string(contact.EntityGift)), CausationID: c.EventID,
			PersonID: personID, TargetSystem: t.Name, Entity: contact.EntityGift, Op: contact.SinkCreate,
			TargetRecordID: ts.RecordID, Gift: &g, Links: st.links(), SourceTime: c.SourceTime,
			Reason: fmt.Sprintf("gifts from %s", c.SourceSystem),
		})
	}
}

func (s *State) links() map[string]string {
	out := map[string]string{}
	for name, ss := range s.Systems {
		if ss.RecordID != "" {
			out[name] = ss.RecordID
		}
	}
	return out
}

func (e *Engine) finish(st *State, res Result) (Result, error) {
	b, err := json.Marshal(st) // maps marshal in key order: deterministic
	if err != nil {
		return Result{}, fmt.Errorf("encode golden state: %w", err)
	}
	res.State = b
	return res, nil
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
