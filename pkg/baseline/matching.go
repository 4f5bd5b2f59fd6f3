package baseline

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
)

// prepared is one record of a batch made ready to match: canonical values,
// its change, its comparison record and index query; or why it cannot be.
type prepared struct {
	rec      Record
	read     int64 // its position in its phase
	rejected string
	change   contact.Change
	in       match.Incoming
	q        match.Query
}

// parallel calls fn(i) for i in [0, n) on up to workers goroutines.
func parallel(workers, n int, fn func(i int)) {
	if workers <= 1 || n < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		wg.Go(func() {
			for i := start; i < end; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// prepare canonicalises a batch as ingest does, in parallel: each record's
// result depends on that record only.
func (r *run) prepare(system string, recs []Record, first int64) []prepared {
	out := make([]prepared, len(recs))
	parallel(r.cfg.Workers, len(recs), func(i int) {
		rec := recs[i]
		p := &out[i]
		p.rec, p.read = rec, first+int64(i)+1
		values, problems := normalize.Canonical(rec.Values, r.cfg.DefaultRegion)
		if len(problems) > 0 {
			// As ingest does: a value that cannot be made canonical stops
			// the record rather than spread or vanish.
			names := make([]string, len(problems))
			for j, pr := range problems {
				names[j] = string(pr.Field)
			}
			p.rejected = "invalid " + strings.Join(names, ", ")
			return
		}
		changed := rec.Changed
		if changed.IsZero() {
			changed = r.cfg.Now
		}
		p.change = contact.Change{
			EventID: EventID(system, rec.ID, values), SourceSystem: system, SourceRecordID: rec.ID, ReferenceSource: rec.ReferenceSource,
			Origin: contact.OriginImport, Op: contact.OpUpsert, SourceTime: changed, Values: values,
		}
		p.in = match.Incoming{RecordID: recordIndexID(system, rec.ID), Record: match.FromValues(values)}
		p.q = r.cfg.Matcher.Query(p.in)
	})
	return out
}

// decision is a record's match result and the index write recording it.
type decision struct {
	res   match.Result
	write *match.Write
	seen  lookup
}

// matchBatch decides the records in order, each against the index holding
// every record before it, exactly as the stream's matcher decides them one
// by one: the same result whatever the parallelism.
//
// Scoring is most of the cost, so it is done for the whole batch in
// parallel against the index as it stands before the batch, with the term
// counts and record total each record would see if every earlier record of
// the batch is added to the index. Then, in order, each record's lookup is
// made again against the index as it now is: when it is the same, the
// decision made in parallel is the one it would get; when it is not (an
// earlier record of the batch shares a blocking key with it, or was not
// added after all), the record is decided again. The writes are applied in
// order.
func (r *run) matchBatch(ctx context.Context, items []*prepared) ([]match.Result, error) {
	// The more records are scored together, the more of them an earlier
	// one changes: a window of a few dozen per worker keeps the workers
	// busy and the records decided again few.
	window := max(specPerWorker*r.cfg.Workers, 1)
	out := make([]match.Result, 0, len(items))
	for start := 0; start < len(items); start += window {
		res, err := r.matchWindow(ctx, items[start:min(start+window, len(items))])
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// specPerWorker is how many records each worker scores per window.
const specPerWorker = 48

func (r *run) matchWindow(ctx context.Context, items []*prepared) ([]match.Result, error) {
	m, x := r.cfg.Matcher, r.idx
	out := make([]match.Result, len(items))
	decide := func(p *prepared, l lookup) decision {
		if r.cfg.stats != nil {
			n := 0
			for _, cp := range l.persons {
				n += len(cp.members)
			}
			r.compared.Add(int64(n))
		}
		res, w := m.Decide(p.in, p.q, x.found(l))
		return decision{res: res, write: w, seen: l}
	}
	var spec []decision
	if r.cfg.Workers > 1 && len(items) > 1 {
		// What each record would see of its batch's earlier records.
		totalDelta := make([]int64, len(items))
		termDelta := make([][]int64, len(items))
		added := map[string]bool{}
		terms := map[string]int64{}
		var total int64
		for i, p := range items {
			totalDelta[i] = total
			termDelta[i] = make([]int64, len(p.q.Terms))
			for ti, t := range p.q.Terms {
				termDelta[i][ti] = terms[t]
			}
			if _, known := x.owner[p.in.RecordID]; !known && !added[p.in.RecordID] {
				added[p.in.RecordID] = true
				total++
				for _, t := range p.q.Terms {
					terms[t]++
				}
			}
		}
		spec = make([]decision, len(items))
		parallel(r.cfg.Workers, len(items), func(i int) {
			l := x.look(items[i].q)
			l.total += totalDelta[i]
			for ti := range l.termCounts {
				l.termCounts[ti] += termDelta[i][ti]
			}
			spec[i] = decide(items[i], l)
		})
	}
	for i, p := range items {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		l := x.look(p.q)
		var d decision
		if spec != nil && sameLookup(&spec[i].seen, &l) {
			d = spec[i]
		} else {
			d = decide(p, l)
			if spec != nil {
				r.redecided++
			}
		}
		if d.write != nil {
			if err := x.commit(d.write); err != nil {
				return nil, err
			}
			if r.cfg.Seeder != nil {
				w := *d.write
				// Seeded into an index that may have moved on (or holds
				// this run already): the decision stands, only ownership
				// is checked.
				w.KeyVersions = make([]int64, len(w.Keys))
				for k := range w.KeyVersions {
					w.KeyVersions[k] = match.AnyVersion
				}
				r.writes = append(r.writes, w)
			}
		}
		out[i] = d.res
	}
	return out, nil
}
