// Package history answers "why did this field change?": it reads the audit
// topic the router writes (one record per routed event, keyed by person id),
// keeps one person's records and lists every field decision, oldest first,
// with where the value came from, the rule and policy that decided, and
// what each system got. `contactsync history` prints it; the dashboard's
// person page can show the same Entries.
//
// The package is pure apart from its Source port: the Kafka reader is an
// adapter (pkg/app), and tests feed records from memory.
package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Source reads the audit topic from its start to the end it saw when the
// read began, calling each for every record in offset order per partition
// (a person's records are on one partition, in the order they were
// decided).
type Source interface {
	Scan(ctx context.Context, each func(key, value []byte) error) error
}

// Decoder decodes an audit record.
type Decoder interface {
	DecodeAudit([]byte) (contact.Audit, error)
}

// Entry is one field decision of one event.
type Entry struct {
	Time           time.Time // the change's source time
	EventID        string
	PersonID       string
	SourceSystem   string
	SourceRecordID string
	Origin         contact.Origin
	// KickOutReason is set on an entry for an event that was kicked out.
	KickOutReason string
	contact.FieldAudit
}

// History is a person's field decisions, oldest first.
type History struct {
	PersonID string
	Entries  []Entry
	// Unreadable counts the person's audit records that could not be
	// decoded (they are left out, never fatal).
	Unreadable int
	// FirstError is the error of the first of them.
	FirstError error
}

// Read returns the history of personID from src.
func Read(ctx context.Context, src Source, dec Decoder, personID string) (History, error) {
	h := History{PersonID: personID}
	err := src.Scan(ctx, func(key, value []byte) error {
		if string(key) != personID {
			return nil // someone else's: not even decoded
		}
		a, err := dec.DecodeAudit(value)
		if err != nil {
			h.Unreadable++
			if h.FirstError == nil {
				h.FirstError = err
			}
			return nil
		}
		h.Entries = append(h.Entries, Entries(a)...)
		return nil
	})
	if err != nil {
		return History{}, fmt.Errorf("read the audit topic: %w", err)
	}
	return h, nil
}

// Entries flattens one audit record: one entry per field, or one for a
// kick-out that decided no field.
func Entries(a contact.Audit) []Entry {
	base := Entry{Time: a.SourceTime, EventID: a.EventID, PersonID: a.PersonID, SourceSystem: a.SourceSystem,
		SourceRecordID: a.SourceRecordID, Origin: a.Origin, KickOutReason: a.KickOutReason}
	if len(a.Fields) == 0 {
		if a.KickOutReason == "" {
			return nil
		}
		return []Entry{base}
	}
	out := make([]Entry, len(a.Fields))
	for i, f := range a.Fields {
		out[i] = base
		out[i].FieldAudit = f
	}
	return out
}

// Outcome says in words what became of the entry's value: sent to which
// systems, held for review, suppressed as an echo, unchanged, or why the
// golden value was kept.
func Outcome(e Entry) string {
	if e.Kind == contact.AuditLinks {
		return linksOutcome(e)
	}
	var sent, held, other []string
	for _, t := range e.Targets {
		switch t.Action {
		case "sent":
			sent = append(sent, t.System)
		case "held":
			held = append(held, t.System)
		default:
			other = append(other, t.System+": "+words(t.Action))
		}
	}
	var parts []string
	switch e.Action {
	case "":
		if e.KickOutReason != "" && e.Field == "" && len(e.Targets) == 0 {
			parts = append(parts, "kicked out ("+e.KickOutReason+")")
		}
	case "accepted":
		if e.Approved {
			parts = append(parts, "approved after review")
		}
		if len(sent) == 0 {
			parts = append(parts, "accepted")
		}
	case "held":
		parts = append(parts, "held for review")
		if len(held) > 0 {
			parts[len(parts)-1] += " (" + strings.Join(held, ", ") + ")"
		}
		held = nil
	case "echo":
		parts = append(parts, "echo suppressed")
	case "unchanged", "not_edited":
		parts = append(parts, "unchanged")
	default:
		parts = append(parts, "golden value kept: "+words(e.Action))
	}
	if len(sent) > 0 {
		parts = append(parts, "sent to "+strings.Join(sent, ", "))
	}
	if len(held) > 0 {
		parts = append(parts, "held for review ("+strings.Join(held, ", ")+")")
	}
	parts = append(parts, other...)
	if e.KickOutReason != "" && (e.Field != "" || len(e.Targets) > 0) {
		parts = append(parts, "event kicked out ("+e.KickOutReason+")")
	}
	return strings.Join(parts, "; ")
}

// linksOutcome says which id was written back to which systems.
func linksOutcome(e Entry) string {
	system, id, _ := strings.Cut(e.New, ":")
	var to []string
	for _, t := range e.Targets {
		to = append(to, t.System)
	}
	return fmt.Sprintf("%s id %s written back to %s", system, id, strings.Join(to, ", "))
}

// words spells a rules action code for a reader.
func words(action string) string {
	switch action {
	case "older":
		return "older than the current value"
	case "authority":
		return "the authority's value wins"
	case "most_restrictive":
		return "an opt-out is not undone"
	case "link_keep":
		return "a newly linked record adds, never overwrites"
	case "not_allowed":
		return "this system may not change it"
	case "clear_ignored":
		return "clears are ignored"
	case "no_empty_overwrite":
		return "an empty value is not a change"
	case "no_rule":
		return "no rule governs it"
	case "out_of_scope":
		return "not synced there"
	case "no_record":
		return "no record there"
	case "kept":
		return "keeps its own value"
	case "duplicate":
		return "already sent"
	}
	return strings.ReplaceAll(action, "_", " ")
}

// value shows a value; empty and cleared values are spelled out.
func value(v string, cleared bool) string {
	switch {
	case cleared:
		return "(cleared)"
	case v == "":
		return "(empty)"
	}
	return fmt.Sprintf("%q", v)
}

// Line is the entry as one line of text: time, field, old -> new, from
// system/origin, rule/policy, outcome (tab-separated columns).
func Line(e Entry) string {
	field := string(e.Field)
	change := value(e.Old, false) + " -> " + value(e.New, e.NewCleared)
	switch {
	case e.Kind == contact.AuditLinks:
		field, change = "links", "-> "+e.New
	case e.Kind == contact.AuditGift:
		field, change = "gift", "-"
	case field == "": // a kick-out, or a gift written before kinds existed
		field, change = "-", "-"
		if len(e.Targets) > 0 || e.Rule != "" {
			field = "gift"
		}
	}
	rule := e.Rule
	if e.Policy != "" {
		rule += "/" + e.Policy
	}
	if rule == "" {
		rule = "-"
	}
	return strings.Join([]string{e.Time.UTC().Format(time.RFC3339), field, change,
		"from " + e.SourceSystem + "/" + string(e.Origin), rule, Outcome(e)}, "\t")
}

// Write prints the history, one line per field decision, in columns.
func Write(w io.Writer, h History) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range h.Entries {
		fmt.Fprintln(tw, Line(e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if h.Unreadable > 0 {
		_, err := fmt.Fprintf(w, "(%d audit record(s) of %s could not be read: %v)\n", h.Unreadable, h.PersonID, h.FirstError)
		return err
	}
	return nil
}

// ErrNoPerson means a SYSTEM:RECORD is not linked to any person.
var ErrNoPerson = errors.New("no person holds this record")

// Resolver finds the person that holds a record of a system (the
// crosswalk); "" when none.
type Resolver interface {
	PersonOf(ctx context.Context, system, recordID string) (string, error)
}

// PersonOf resolves the command-line argument: a person id as it is, or
// SYSTEM:RECORD through the crosswalk when SYSTEM is one of systems.
func PersonOf(ctx context.Context, r Resolver, systems []string, arg string) (string, error) {
	sys, rec, ok := strings.Cut(arg, ":")
	if !ok {
		return arg, nil
	}
	known := false
	for _, s := range systems {
		known = known || s == sys
	}
	if !known || rec == "" {
		return "", fmt.Errorf("%q: SYSTEM:RECORD needs one of the systems %v and a record id", arg, systems)
	}
	p, err := r.PersonOf(ctx, sys, rec)
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", arg, err)
	}
	if p == "" {
		return "", fmt.Errorf("%s: %w", arg, ErrNoPerson)
	}
	return p, nil
}
