package rules

import (
	"slices"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Policies in the trail besides the conflict policies.
const (
	PolicyReview = "review" // held for a person's approval
	PolicyEcho   = "echo"   // the sync's own write coming back
)

// trail groups the decisions of one change by field, in the order of
// their first decision, with the golden value before the change (before)
// and the value the change proposed (or, for a field it did not carry, the
// golden value after it: what a target was sent).
func trail(cfg *Config, c contact.Change, before, after map[contact.Field]Golden, decisions []FieldDecision) []contact.FieldAudit {
	type entry struct {
		kind  string
		field contact.Field
	}
	var out []contact.FieldAudit
	index := map[entry]int{}
	for _, d := range decisions {
		i, ok := index[entry{d.Kind, d.Field}]
		if !ok {
			i = len(out)
			index[entry{d.Kind, d.Field}] = i
			fa := contact.FieldAudit{Kind: d.Kind, Field: d.Field, Rule: d.Rule}
			if d.Kind == contact.AuditLinks {
				fa.New = d.Value
			}
			if d.Kind == contact.AuditField {
				fa.Old = before[d.Field].Value
				switch v, supplied := c.Values[d.Field]; {
				case supplied:
					fa.New = v
				case c.IsCleared(d.Field):
					fa.NewCleared = true
				default:
					g := after[d.Field]
					fa.New, fa.NewCleared = g.Value, g.Cleared
				}
			}
			out = append(out, fa)
		}
		fa := &out[i]
		if d.Target == "" {
			fa.Action, fa.Rule, fa.Approved = d.Action, d.Rule, d.Approved
			continue
		}
		t := contact.TargetAudit{System: d.Target, Action: d.Action}
		if !slices.Contains(fa.Targets, t) {
			fa.Targets = append(fa.Targets, t)
		}
		if fa.Rule == "" {
			fa.Rule = d.Rule
		}
	}
	for i := range out {
		out[i].Policy = policy(cfg, out[i])
	}
	return out
}

// policy names what decided a field: review or echo, else the conflict
// policy of its rule (gifts and fields without a rule have none).
func policy(cfg *Config, fa contact.FieldAudit) string {
	switch {
	case fa.Action == ActHeld:
		return PolicyReview
	case fa.Action == ActEcho:
		return PolicyEcho
	}
	if r := cfg.byField[fa.Field]; r != nil {
		return r.Conflict
	}
	return ""
}
