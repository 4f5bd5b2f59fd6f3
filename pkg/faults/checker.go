package faults

import (
	"fmt"
	"sort"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/rules"
)

// Report is the checker's verdict. A correct run has zero Lost, Duplicated
// and Unexpected.
type Report struct {
	Lost, Duplicated, Unexpected int
	// Examples describe the first problems found, for the failure message.
	Examples []string
	// Counts of what was seen, for the log.
	Gifts, Creates, Updates, KickOuts int
	// WrittenBack counts link-only updates; ByOffline those of them an
	// offline change caused (it was routed after the matcher's link).
	WrittenBack, WrittenBackByOffline int
}

// OK reports whether nothing was lost, duplicated or unexpected.
func (r Report) OK() bool { return r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0 }

func (r Report) String() string {
	s := fmt.Sprintf("lost=%d duplicated=%d unexpected=%d (gifts=%d creates=%d updates=%d kick-outs=%d ids-written-back=%d of-them-by-offline-changes=%d)",
		r.Lost, r.Duplicated, r.Unexpected, r.Gifts, r.Creates, r.Updates, r.KickOuts, r.WrittenBack, r.WrittenBackByOffline)
	if len(r.Examples) > 0 {
		s += "\n  " + strings.Join(r.Examples, "\n  ")
	}
	return s
}

func (r *Report) note(kind *int, format string, args ...any) {
	*kind++
	if len(r.Examples) < 20 {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// Check compares what the pipeline produced with what the input demands.
// sinks holds every record of every sink topic; kickOuts every kick-out.
// onlineSystem is the name of the online system (its events start "evt-").
func Check(exp Expectation, offlineSystem, onlineSystem string, sinks []contact.SinkRecord, kickOuts []contact.KickOut) Report {
	var r Report
	byEvent := map[string]int{}
	gifts := map[string]int{}
	creates := map[string]int{}
	told := map[string]bool{}    // online record -> its offline id was sent
	linkOnly := map[string]int{} // online record -> link-only updates
	for _, s := range sinks {
		byEvent[s.EventID]++
		if s.TargetSystem == onlineSystem && s.Entity == contact.EntityContact && s.Op == contact.SinkUpdate {
			id := s.TargetRecordID
			want, linked := exp.WriteBacks[id]
			carries := linked && s.Links[offlineSystem] == want && s.Links[onlineSystem] == id
			if isLinkOnly(s) {
				// Written back by whichever change first shows the router
				// the link: the linking event, or an offline change of the
				// person routed after the matcher linked (an echo included).
				r.Updates++
				r.WrittenBack++
				if !strings.HasPrefix(s.CausationID, "evt-") {
					r.WrittenBackByOffline++
				}
				switch {
				case !carries:
					r.note(&r.Unexpected, "link-only update %s to %s record %q with links %v (not a linked known donor's offline id)", s.EventID, onlineSystem, id, s.Links)
				case told[id] && linkOnly[id] == 0:
					r.note(&r.Unexpected, "link-only update %s to %s record %q after its offline id was sent", s.EventID, onlineSystem, id)
				}
				if carries {
					linkOnly[id]++
					told[id] = true
				}
				continue
			}
			if carries {
				told[id] = true
			}
		}
		if !strings.HasPrefix(s.CausationID, "evt-") {
			r.note(&r.Unexpected, "sink record %s to %s caused by offline change %s (an echo or no-op must cause nothing)", s.EventID, s.TargetSystem, s.CausationID)
		}
		switch {
		case s.Entity == contact.EntityGift:
			r.Gifts++
			if s.TargetSystem != offlineSystem || s.Gift == nil {
				r.note(&r.Unexpected, "gift record %s to %s", s.EventID, s.TargetSystem)
				continue
			}
			gifts[s.Gift.GiftID]++
		case s.Op == contact.SinkCreate:
			r.Creates++
			id := s.Links[onlineSystem]
			if s.TargetSystem != offlineSystem || !exp.Creates[id] {
				r.note(&r.Unexpected, "contact create %s in %s for online record %q (not a new donor)", s.EventID, s.TargetSystem, id)
				continue
			}
			creates[id]++
		default:
			r.Updates++
		}
	}
	for id, n := range byEvent {
		if n > 1 {
			r.note(&r.Duplicated, "sink event %s emitted %d times", id, n)
		}
	}
	kicked := map[string]int{}
	why := map[string]string{}
	for _, k := range kickOuts {
		r.KickOuts++
		kicked[string(k.Key)]++
		why[string(k.Key)] = k.Stage + " " + k.Reason + ": " + k.Error
	}
	// kickedAs finds the kick-out of an online record: ingest keys it by
	// the record id, the matcher by its index record id.
	kickedAs := func(record string) (string, bool) {
		for _, key := range []string{record, onlineSystem + "/" + record} {
			if record != "" && kicked[key] > 0 {
				return key, true
			}
		}
		return "", false
	}
	check := func(what string, want map[string]bool, got map[string]int, record func(id string) string) {
		for _, id := range sortedKeys(want) {
			key, held := kickedAs(record(id))
			switch n := got[id]; {
			case n == 0 && held:
				r.note(&r.Lost, "%s %s never reached the offline sink: its record %s was kicked out (%s)", what, id, key, why[key])
			case n == 0:
				r.note(&r.Lost, "%s %s never reached the offline sink", what, id)
			case n > 1: // twice is a duplicate even under two event ids
				r.note(&r.Duplicated, "%s %s reached the offline sink %d times", what, id, n)
			}
		}
		for id := range got {
			if !want[id] {
				r.note(&r.Unexpected, "%s %s is not in the input", what, id)
			}
		}
	}
	for _, id := range sortedKeys(exp.WriteBacks) {
		switch {
		case !told[id]:
			r.note(&r.Lost, "%s record %s was never sent its offline id %s", onlineSystem, id, exp.WriteBacks[id])
		case linkOnly[id] > 1:
			r.note(&r.Duplicated, "%s record %s was sent its offline id alone %d times", onlineSystem, id, linkOnly[id])
		}
	}
	check("gift", exp.Gifts, gifts, func(id string) string { return exp.GiftRecords[id] })
	check("new donor", exp.Creates, creates, func(id string) string { return id })

	for key, n := range kicked {
		switch {
		case !exp.Poison[key]:
			r.note(&r.Unexpected, "record %q was kicked out but is valid (%s)", key, why[key])
		case n > 1:
			r.note(&r.Duplicated, "record %q kicked out %d times", key, n)
		}
	}
	for _, key := range sortedKeys(exp.Poison) {
		if kicked[key] == 0 {
			r.note(&r.Lost, "poison record %q has no kick-out", key)
		}
	}
	return r
}

// isLinkOnly reports whether s is a link-only update: the system of
// record's id written back, no contact data.
func isLinkOnly(s contact.SinkRecord) bool {
	return len(s.Set) == 0 && len(s.Clear) == 0 && s.Gift == nil && len(s.Links) > 0 && strings.HasPrefix(s.Reason, rules.ActionLinks)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
