// Package baseline is point zero before go-live: it matches two exports (the
// offline system of record and an online system) in bulk with the stream's
// own normalisers, blocking, model, thresholds and field rules, and writes a
// dry-run report of what switching the sync on would do: the links found
// and why, the ambiguous pairs for a person to decide, the records each
// system would get created, and for every linked pair the per-field
// differences with the value the rules choose and where it would be sent.
//
// It replays what the stream would do when both systems' existing records
// flow in, the offline snapshot first and then the online accounts, so the
// report is what go-live would produce, decided by the same code
// (match.Matcher over an in-memory index, rules.Engine over the persons'
// golden states). It does no I/O of its own: records come through Source,
// files go through Dir.
package baseline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/normalize"
	"github.com/contactsync/contactsync/pkg/rules"
)

// Config says how to match and decide.
type Config struct {
	OfflineSystem string // the system of record's name in the rules
	OnlineSystem  string
	Matcher       *match.Matcher
	Rules         *rules.Config
	// DefaultRegion reads phone numbers without a country code, as ingest.
	DefaultRegion string
	// Now stands in for the change time of records without one (a resumed
	// run takes it from the checkpoint, so it decides the same).
	Now time.Time
	// BatchSize records are matched together (default 500); a checkpoint is
	// written every CheckpointEvery batches (default 20).
	BatchSize       int
	CheckpointEvery int
	// Fingerprint names the inputs and settings; a run resumes only a
	// checkpoint of the same fingerprint.
	Fingerprint string
	// Progress, when set, is told after every batch how far the run is.
	Progress func(Progress)
	// Seeder, when set, gets what the run decided once it is done
	// (--apply); without it the run is a dry run.
	Seeder Seeder
}

// Progress is how far a run is.
type Progress struct {
	Phase   string // the system being read
	Records int64  // records read in this phase
	// Done and Total are the source's own measure (Sizer), 0 when unknown.
	Done, Total int64
}

// recordIndexID is a record's id in the identity index, as the matcher
// stage names it (pipeline/matcher.RecordID: the system with "%" and "/"
// escaped, "/", the record id), so an applied baseline is found by the
// live matcher.
func recordIndexID(system, id string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(system) + "/" + id
}

// splitIndexID is recordIndexID's inverse.
func splitIndexID(rid string) (system, id string) {
	sys, id, _ := strings.Cut(rid, "/")
	return strings.NewReplacer("%2F", "/", "%25", "%").Replace(sys), id
}

// EventID is the deterministic event id of a baseline record: the same
// record with the same values is the same event in every run, so applying
// a baseline twice is recognised as once.
func EventID(system, id string, values contact.Values) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", system, id)
	for _, f := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(h, "\x00%s=%s", f, values[f])
	}
	return "baseline-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// Run is the state of one baseline run.
type run struct {
	cfg    Config
	engine *rules.Engine
	idx    *match.MemIndex
	index  match.Index // idx, or idx recording its writes for the seeder
	// sinkLog keeps each person's sink records for the seeder.
	sinkLog map[string][]contact.SinkRecord
	states  map[string][]byte            // person -> golden state
	links   map[string]map[string]string // person -> system -> record id
	rep     *report
	ck      checkpoint
	resume  *checkpoint // what to skip writing on a resumed run
	dir     Dir
}

// Run matches offline then online and writes the report into dir. With
// resume, a checkpoint left in dir by an interrupted run of the same
// fingerprint is continued: the records before it are matched again (the
// index lives in memory, and matching is deterministic) without writing,
// and the files go on from where the checkpoint left them.
func Run(ctx context.Context, cfg Config, offline, online Source, dir Dir, resume bool) (Summary, error) {
	if cfg.Matcher == nil || cfg.Rules == nil {
		return Summary{}, errors.New("baseline: no matcher or rules")
	}
	for _, sys := range []string{cfg.OfflineSystem, cfg.OnlineSystem} {
		if !slices.Contains(cfg.Rules.Systems(), sys) {
			return Summary{}, fmt.Errorf("baseline: system %q is not in the rules (systems: %s)", sys, strings.Join(cfg.Rules.Systems(), ", "))
		}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 20
	}
	r := &run{
		cfg: cfg, engine: rules.NewEngine(cfg.Rules), idx: match.NewMemIndex(),
		states: map[string][]byte{}, links: map[string]map[string]string{}, dir: dir,
	}
	r.index = r.idx
	if cfg.Seeder != nil {
		r.index = &recordingIndex{MemIndex: r.idx}
		r.sinkLog = map[string][]contact.SinkRecord{}
	}
	if resume {
		ck, err := loadCheckpoint(dir)
		if err != nil {
			return Summary{}, err
		}
		if ck != nil {
			if ck.Fingerprint != cfg.Fingerprint {
				return Summary{}, fmt.Errorf("baseline: the checkpoint in the report directory is of other inputs or settings (%q, now %q): start afresh without --resume", ck.Fingerprint, cfg.Fingerprint)
			}
			if ck.Finished && cfg.Seeder == nil {
				return ck.Summary, nil
			}
			r.resume = ck
			r.cfg.Now = ck.Now
		}
	}
	if r.cfg.Now.IsZero() {
		r.cfg.Now = time.Now().UTC()
	}
	r.cfg.Now = r.cfg.Now.UTC().Truncate(time.Second)
	var sizes map[string]int64
	if r.resume != nil {
		sizes = r.resume.Files
	}
	rep, err := newReport(dir, cfg, sizes)
	if err != nil {
		return Summary{}, err
	}
	r.rep = rep
	defer rep.close()
	r.ck = checkpoint{Fingerprint: cfg.Fingerprint, Now: r.cfg.Now}
	if r.resume == nil {
		// A fresh run replaces any checkpoint left in the directory before
		// it writes a row, so a later --resume never continues another run.
		if err := r.checkpoint(); err != nil {
			return Summary{}, err
		}
	}

	if err := r.pass(ctx, 0, cfg.OfflineSystem, offline); err != nil {
		return Summary{}, err
	}
	if err := r.pass(ctx, 1, cfg.OnlineSystem, online); err != nil {
		return Summary{}, err
	}
	persons, _ := r.idx.Stats()
	rep.sum.Persons = persons
	if err := rep.finish(); err != nil {
		return Summary{}, err
	}
	if err := writeHTML(dir, rep.sum, cfg); err != nil {
		return Summary{}, err
	}
	r.ck.Finished, r.ck.Summary = true, rep.sum
	if err := r.ck.save(dir, rep.sizes()); err != nil {
		return Summary{}, err
	}
	if cfg.Seeder != nil {
		applied, err := r.apply(ctx, cfg.Seeder)
		rep.sum.Applied = &applied
		if err != nil {
			return rep.sum, err
		}
	}
	return rep.sum, nil
}

// pass reads one system's records in batches.
func (r *run) pass(ctx context.Context, phase int, system string, src Source) error {
	var (
		batch   []Record
		read    int64
		batches int
	)
	flush := func() error {
		if err := r.batch(ctx, system, batch); err != nil {
			return err
		}
		batch = batch[:0]
		batches++
		r.ck.Phase, r.ck.Records = phase, read
		if r.cfg.Progress != nil {
			p := Progress{Phase: system, Records: read}
			if s, ok := src.(Sizer); ok {
				p.Done, p.Total = s.Progress()
			}
			r.cfg.Progress(p)
		}
		if batches%r.cfg.CheckpointEvery == 0 && r.writing() {
			return r.checkpoint()
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		read++
		// The position is counted before the record joins its batch, so
		// that writing resumes exactly after the checkpointed record.
		r.rep.position = position{Phase: phase, Records: read}
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				return fmt.Errorf("baseline: read %s: %w", system, err)
			}
			r.rep.rejected(r.writing(), system, "", err.Error())
			continue
		}
		batch = append(batch, rec)
		if len(batch) >= r.cfg.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	r.rep.sum.Read[system] = read
	if len(batch) > 0 || read == 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// writing reports whether the run is past what a resumed checkpoint wrote.
func (r *run) writing() bool { return r.writingAt(r.rep.position) }

func (r *run) checkpoint() error {
	if err := r.rep.flush(); err != nil {
		return err
	}
	return r.ck.save(r.dir, r.rep.sizes())
}

// batch canonicalises, matches and routes one batch of one system.
func (r *run) batch(ctx context.Context, system string, recs []Record) error {
	type item struct {
		rec    Record
		change contact.Change
		read   int64
	}
	items := make([]item, 0, len(recs))
	ins := make([]match.Incoming, 0, len(recs))
	first := r.rep.position.Records - int64(len(recs))
	for i, rec := range recs {
		pos := position{Phase: r.rep.position.Phase, Records: first + int64(i) + 1}
		values, problems := normalize.Canonical(rec.Values, r.cfg.DefaultRegion)
		if len(problems) > 0 {
			// As ingest does: a value that cannot be made canonical stops
			// the record rather than spread or vanish.
			names := make([]string, len(problems))
			for j, p := range problems {
				names[j] = string(p.Field)
			}
			r.rep.rejected(r.writingAt(pos), system, rec.ID, "invalid "+strings.Join(names, ", "))
			continue
		}
		changed := rec.Changed
		if changed.IsZero() {
			changed = r.cfg.Now
		}
		c := contact.Change{
			EventID: EventID(system, rec.ID, values), SourceSystem: system, SourceRecordID: rec.ID, ReferenceSource: rec.ReferenceSource,
			Origin: contact.OriginImport, Op: contact.OpUpsert, SourceTime: changed, Values: values,
		}
		items = append(items, item{rec: rec, change: c, read: pos.Records})
		ins = append(ins, match.Incoming{RecordID: recordIndexID(system, rec.ID), Record: match.FromValues(values)})
	}
	if len(ins) == 0 {
		return nil
	}
	results, err := r.cfg.Matcher.MatchBatch(ctx, r.index, ins)
	if err != nil {
		return fmt.Errorf("baseline: match: %w", err)
	}
	for i, res := range results {
		it := items[i]
		write := r.writingAt(position{Phase: r.rep.position.Phase, Records: it.read})
		if err := r.route(write, it.change, res); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) writingAt(p position) bool {
	if r.resume == nil {
		return true
	}
	if p.Phase != r.resume.Phase {
		return p.Phase > r.resume.Phase
	}
	return p.Records > r.resume.Records
}

// route applies the rules to one matched record and reports what they did.
func (r *run) route(write bool, c contact.Change, res match.Result) error {
	m := res.ContactMatch()
	if res.Decision == contact.DecisionAmbiguous {
		r.rep.ambiguous(write, c, res)
		return nil
	}
	person := res.PersonID
	l := r.links[person]
	if l == nil {
		l = map[string]string{}
		r.links[person] = l
	}
	if _, has := l[c.SourceSystem]; !has {
		l[c.SourceSystem] = c.SourceRecordID
	}
	before := r.states[person]
	out, err := r.engine.Apply(before, contact.Matched{Change: c, Match: m, Links: maps.Clone(l)})
	if err != nil {
		return fmt.Errorf("baseline: rules on %s/%s: %w", c.SourceSystem, c.SourceRecordID, err)
	}
	if out.KickOutReason != "" {
		r.rep.rejected(write, c.SourceSystem, c.SourceRecordID, out.KickOutReason+": "+errString(out.KickOutError))
		return nil
	}
	r.states[person] = out.State
	if r.sinkLog != nil && len(out.Sinks) > 0 {
		r.sinkLog[person] = append(r.sinkLog[person], out.Sinks...)
	}
	if res.Decision == contact.DecisionLinked || res.Decision == contact.DecisionKnown {
		prior, err := rules.DecodeState(before)
		if err != nil {
			return fmt.Errorf("baseline: state of %s: %w", person, err)
		}
		after, err := rules.DecodeState(out.State)
		if err != nil {
			return fmt.Errorf("baseline: state of %s: %w", person, err)
		}
		r.rep.linked(write, c, res, prior, after, out)
	}
	r.rep.sinks(write, c, out.Sinks)
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sortedFields returns the fields of vs in schema order.
func sortedFields(vs ...map[contact.Field]string) []contact.Field {
	var out []contact.Field
	for _, info := range contact.Fields {
		for _, v := range vs {
			if _, ok := v[info.Name]; ok {
				out = append(out, info.Name)
				break
			}
		}
	}
	return out
}

// byCount orders (name, count) pairs by count, then name.
func byCount(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys
}
