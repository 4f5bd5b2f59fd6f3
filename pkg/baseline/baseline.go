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
// (match.Matcher's decisions over a compact in-memory index that answers as
// match.MemIndex, rules.Engine over the persons' golden states, replayed
// from their changes). It uses every core and gives the same report
// whatever their number. It does no I/O of its own: records come through
// Source, files go through Dir.
package baseline

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
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
	// Workers score a batch's records in parallel (default GOMAXPROCS);
	// the report is the same byte for byte whatever their number.
	Workers int
	// verifyReplay (tests) checks every replayed golden state against
	// the one the rules returned.
	verifyReplay bool
	// stats (benchmarks), when set, is filled in by the run.
	stats *runStats
}

// runStats are a run's costs, for the benchmark.
type runStats struct {
	// Compared counts the member records scored against incoming ones
	// (parallel scoring and decisions made again both counted);
	// Redecided the records decided again after their batch's parallel
	// scoring.
	Compared, Redecided int64
}

// GCPercent is the garbage collector's growth target the command runs a
// baseline with (unless GOGC is set): the index is most of the heap,
// long-lived and mostly free of pointers, so collecting more often keeps
// peak memory near what is live for little CPU.
const GCPercent = 25

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
	return systemEscaper.Replace(system) + "/" + id
}

var (
	systemEscaper   = strings.NewReplacer("%", "%25", "/", "%2F")
	systemUnescaper = strings.NewReplacer("%2F", "/", "%25", "%")
)

// splitIndexID is recordIndexID's inverse.
func splitIndexID(rid string) (system, id string) {
	sys, id, _ := strings.Cut(rid, "/")
	return systemUnescaper.Replace(sys), id
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
	idx    *index
	// writes are the index writes in order, kept for the seeder.
	writes []match.Write
	// redecided counts records decided again after their batch's parallel
	// scoring (an earlier record of the batch changed what they see).
	redecided int
	compared  atomic.Int64
	// sinkLog keeps each person's sink records for the seeder.
	sinkLog map[string][]contact.SinkRecord
	// hist holds the changes routed to each person, from which its golden
	// state and links are replayed when a later record touches it.
	hist *history
	// verifyReplay (tests) keeps every state too, and fails a run whose
	// replayed state differs from the kept one.
	verifyReplay map[int32][]byte
	rep          *report
	ck           checkpoint
	resume       *checkpoint // what to skip writing on a resumed run
	dir          Dir
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
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	r := &run{
		cfg: cfg, engine: rules.NewEngine(cfg.Rules), idx: newIndex(), hist: newHistory(), dir: dir,
	}
	if cfg.Seeder != nil {
		r.sinkLog = map[string][]contact.SinkRecord{}
	}
	if cfg.verifyReplay {
		r.verifyReplay = map[int32][]byte{}
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
	rep.sum.Persons = r.idx.persons
	if err := rep.finish(); err != nil {
		return Summary{}, err
	}
	if err := writeHTML(dir, rep.sum, cfg); err != nil {
		return Summary{}, err
	}
	if cfg.stats != nil {
		*cfg.stats = runStats{Compared: r.compared.Load(), Redecided: int64(r.redecided)}
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
	phase := r.rep.position.Phase
	first := r.rep.position.Records - int64(len(recs))
	items := make([]*prepared, 0, len(recs))
	for _, p := range r.prepare(system, recs, first) {
		if p.rejected != "" {
			r.rep.rejected(r.writingAt(position{Phase: phase, Records: p.read}), system, p.rec.ID, p.rejected)
			continue
		}
		items = append(items, &p)
	}
	if len(items) == 0 {
		return nil
	}
	results, err := r.matchBatch(ctx, items)
	if err != nil {
		return fmt.Errorf("baseline: match: %w", err)
	}
	return r.route(phase, items, results)
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

// replay rebuilds a person's golden state and links from the changes
// routed to it, as route made them: each change applied with the links
// known at its time (a system's first record), kick-outs leaving the state
// as it was.
func (r *run) replay(person int32) (state []byte, links map[string]string, err error) {
	links = map[string]string{}
	h := r.hist
	if int(person) >= len(h.first) {
		return nil, links, nil
	}
	personID := r.idx.personID(person)
	for e := h.first[person]; e >= 0; e = h.events[e].next {
		ev := &h.events[e]
		c := h.change(r.idx, ev)
		if _, has := links[c.SourceSystem]; !has {
			links[c.SourceSystem] = c.SourceRecordID
		}
		// The household id is the matcher's for the record (a hash of it).
		m := contact.Match{PersonID: personID, Decision: decisions[ev.decision], HouseholdID: match.HouseholdKey(r.idx.record(ev.slot))}
		out, err := r.engine.Apply(state, contact.Matched{Change: c, Match: m, Links: maps.Clone(links)})
		if err != nil {
			return nil, nil, fmt.Errorf("baseline: rules on %s/%s (replayed): %w", c.SourceSystem, c.SourceRecordID, err)
		}
		if out.KickOutReason == "" {
			state = out.State
		}
	}
	if r.verifyReplay != nil && !bytes.Equal(state, r.verifyReplay[person]) {
		return nil, nil, fmt.Errorf("baseline: the replayed state of %s differs from the kept one:\n%s\nkept:\n%s", personID, state, r.verifyReplay[person])
	}
	return state, links, nil
}

// personStates replays every person's state (for --apply).
func (r *run) personStates(yield func(personID string, state []byte, links map[string]string) error) error {
	for p := range r.hist.first {
		if r.hist.first[p] < 0 {
			continue
		}
		state, links, err := r.replay(int32(p))
		if err != nil {
			return err
		}
		if state == nil {
			continue // every change kicked out
		}
		if err := yield(r.idx.personID(int32(p)), state, links); err != nil {
			return err
		}
	}
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
