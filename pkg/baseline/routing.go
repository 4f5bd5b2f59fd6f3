package baseline

import (
	"fmt"
	"maps"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/rules"
)

// routed is what the rules made of one matched record.
type routed struct {
	person, slot int32
	out          rules.Result
	prior, after *rules.State // for a linked or known record
	err          error
}

// route applies the rules to a batch's matched records and reports what
// they did, in record order. The rules are applied in parallel person by
// person (each person's records in order, from its state replayed once);
// what they did is then recorded and reported in record order, so the
// report is the same whatever the parallelism.
func (r *run) route(phase int, items []*prepared, results []match.Result) error {
	out := make([]routed, len(items))
	var persons []int32
	groups := map[int32][]int{}
	for i, res := range results {
		if res.Decision == contact.DecisionAmbiguous {
			continue
		}
		p, ok := r.idx.personIdx[res.PersonID]
		if !ok {
			return fmt.Errorf("baseline: %s/%s: person %s is not in the index", items[i].change.SourceSystem, items[i].change.SourceRecordID, res.PersonID)
		}
		if _, seen := groups[p]; !seen {
			persons = append(persons, p)
		}
		groups[p] = append(groups[p], i)
	}
	// The index, history and arena are only read while the rules run.
	parallel(r.cfg.Workers, len(persons), func(g int) {
		p := persons[g]
		state, links, err := r.replay(p)
		for _, i := range groups[p] {
			o := &out[i]
			o.person = p
			if err != nil {
				o.err = err
				return
			}
			c, res := items[i].change, results[i]
			var ok bool
			if o.slot, ok = r.idx.owner[recordIndexID(c.SourceSystem, c.SourceRecordID)]; !ok {
				o.err = fmt.Errorf("baseline: %s/%s is not in the index", c.SourceSystem, c.SourceRecordID)
				return
			}
			if _, has := links[c.SourceSystem]; !has {
				links[c.SourceSystem] = c.SourceRecordID
			}
			before := state
			o.out, err = r.engine.Apply(before, contact.Matched{Change: c, Match: res.ContactMatch(), Links: maps.Clone(links)})
			if err != nil {
				o.err = fmt.Errorf("baseline: rules on %s/%s: %w", c.SourceSystem, c.SourceRecordID, err)
				return
			}
			if o.out.KickOutReason != "" {
				continue
			}
			state = o.out.State
			if res.Decision == contact.DecisionLinked || res.Decision == contact.DecisionKnown {
				if o.prior, err = rules.DecodeState(before); err == nil {
					o.after, err = rules.DecodeState(o.out.State)
				}
				if err != nil {
					o.err = fmt.Errorf("baseline: state of %s: %w", res.PersonID, err)
					return
				}
			}
		}
	})
	for i, res := range results {
		c, o := items[i].change, &out[i]
		write := r.writingAt(position{Phase: phase, Records: items[i].read})
		if res.Decision == contact.DecisionAmbiguous {
			r.rep.ambiguous(write, c, res)
			continue
		}
		if o.err != nil {
			return o.err
		}
		if err := r.hist.add(&r.idx.arena, o.person, o.slot, c, res.Decision); err != nil {
			return err
		}
		if o.out.KickOutReason != "" {
			r.rep.rejected(write, c.SourceSystem, c.SourceRecordID, o.out.KickOutReason+": "+errString(o.out.KickOutError))
			continue
		}
		if r.verifyReplay != nil {
			r.verifyReplay[o.person] = o.out.State
		}
		if r.sinkLog != nil && len(o.out.Sinks) > 0 {
			r.sinkLog[res.PersonID] = append(r.sinkLog[res.PersonID], o.out.Sinks...)
		}
		if o.prior != nil {
			r.rep.linked(write, c, res, o.prior, o.after, o.out)
		}
		r.rep.sinks(write, c, o.out.Sinks)
	}
	return nil
}
