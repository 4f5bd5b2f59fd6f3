package baseline

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/match"
	"github.com/contactsync/contactsync/pkg/rules"
)

// Dir is the report directory.
type Dir interface {
	// Append opens a file for appending, first cutting it to size bytes
	// (0: a new, empty file).
	Append(name string, size int64) (File, error)
	// ReadFile returns a whole file; an error wrapping fs.ErrNotExist when
	// there is none.
	ReadFile(name string) ([]byte, error)
	// WriteFile replaces a file atomically.
	WriteFile(name string, data []byte) error
}

// File is a report file being written.
type File interface {
	io.Writer
	// Sync makes what was written durable.
	Sync() error
	Close() error
}

// Report file names.
const (
	FileLinks       = "links.csv"
	FileAmbiguous   = "ambiguous.csv"
	FileDifferences = "differences.csv"
	FileRejected    = "rejected.csv"
	FileIndex       = "index.html"
	FileCheckpoint  = "checkpoint.json"
)

// FileCreates names the file of the records a system would get created.
func FileCreates(system string) string { return "creates_" + system + ".csv" }

// Summary holds the report's counts.
type Summary struct {
	Offline, Online string
	// Read counts records per system (rejected ones included).
	Read     map[string]int64 `json:"read"`
	Rejected map[string]int   `json:"rejected"`
	Persons  int              `json:"persons"`
	// Links counts records linked to a person of the other system;
	// Duplicates those linked to a person of their own system.
	Links      int            `json:"links"`
	Duplicates map[string]int `json:"duplicates"`
	Ambiguous  map[string]int `json:"ambiguous"`
	// Creates and Updates count contact records per target system;
	// Stamps the updates that carry another system's record id.
	Creates map[string]int `json:"creates"`
	Updates map[string]int `json:"updates"`
	Stamps  map[string]int `json:"stamps"`
	// Differences counts, per field, the linked pairs whose values differ;
	// PairsDiffering the linked pairs with any difference.
	Differences    map[string]int `json:"differences"`
	PairsDiffering int            `json:"pairs_differing"`
	// Applied is what --apply did (nil on a dry run).
	Applied *Applied `json:"applied,omitempty"`
}

type position struct {
	Phase   int   `json:"phase"`
	Records int64 `json:"records"`
}

type csvFile struct {
	name string
	f    File
	buf  *bufio.Writer
	w    *csv.Writer
	size int64 // bytes handed to the file so far
}

type sizeCounter struct {
	f    *csvFile
	next io.Writer
}

func (s sizeCounter) Write(p []byte) (int, error) {
	n, err := s.next.Write(p)
	s.f.size += int64(n)
	return n, err
}

type report struct {
	dir      Dir
	cfg      Config
	files    map[string]*csvFile
	order    []string
	sum      Summary
	position position
	ruleOf   map[contact.Field]string
}

var fieldHeader = func() []string {
	out := make([]string, len(contact.Fields))
	for i, f := range contact.Fields {
		out[i] = string(f.Name)
	}
	return out
}()

func newReport(dir Dir, cfg Config, sizes map[string]int64) (*report, error) {
	rep := &report{dir: dir, cfg: cfg, files: map[string]*csvFile{}, ruleOf: map[contact.Field]string{}, sum: Summary{
		Offline: cfg.OfflineSystem, Online: cfg.OnlineSystem,
		Read: map[string]int64{}, Rejected: map[string]int{}, Duplicates: map[string]int{}, Ambiguous: map[string]int{},
		Creates: map[string]int{}, Updates: map[string]int{}, Stamps: map[string]int{}, Differences: map[string]int{},
	}}
	for _, rule := range cfg.Rules.Rules() {
		for _, f := range rule.Fields {
			rep.ruleOf[f] = rule.Name
		}
	}
	headers := map[string][]string{
		FileLinks:       {"person_id", "system", "record_id", "linked_system", "linked_record_id", "probability", "explanation"},
		FileAmbiguous:   {"system", "record_id", "best_person_id", "best_system", "best_record_id", "probability", "candidates", "explanation"},
		FileDifferences: {"person_id", "field", cfg.OfflineSystem + "_id", cfg.OfflineSystem + "_value", cfg.OnlineSystem + "_id", cfg.OnlineSystem + "_value", "chosen_value", "chosen_from", "rule", "decision", "sent_to"},
		FileRejected:    {"system", "record_id", "reason"},
	}
	for _, sys := range cfg.Rules.Systems() {
		headers[FileCreates(sys)] = append([]string{"person_id", "source_system", "source_record_id", "reference_source"}, fieldHeader...)
	}
	names := []string{FileLinks, FileAmbiguous, FileDifferences, FileRejected}
	for _, sys := range cfg.Rules.Systems() {
		names = append(names, FileCreates(sys))
	}
	for _, name := range names {
		size := sizes[name]
		f, err := dir.Append(name, size)
		if err != nil {
			rep.close()
			return nil, fmt.Errorf("baseline: report file %s: %w", name, err)
		}
		cf := &csvFile{name: name, f: f, size: size}
		cf.buf = bufio.NewWriterSize(sizeCounter{f: cf, next: f}, 64<<10)
		cf.w = csv.NewWriter(cf.buf)
		rep.files[name], rep.order = cf, append(rep.order, name)
		if size == 0 {
			if err := cf.w.Write(headers[name]); err != nil {
				rep.close()
				return nil, err
			}
		}
	}
	return rep, nil
}

func (rep *report) row(write bool, name string, fields ...string) {
	if !write {
		return
	}
	// Errors surface at flush (csv.Writer keeps the first).
	_ = rep.files[name].w.Write(fields)
}

func (rep *report) flush() error {
	for _, name := range rep.order {
		cf := rep.files[name]
		cf.w.Flush()
		if err := cf.w.Error(); err != nil {
			return fmt.Errorf("baseline: write %s: %w", name, err)
		}
		if err := cf.buf.Flush(); err != nil {
			return fmt.Errorf("baseline: write %s: %w", name, err)
		}
		if err := cf.f.Sync(); err != nil {
			return fmt.Errorf("baseline: sync %s: %w", name, err)
		}
	}
	return nil
}

func (rep *report) sizes() map[string]int64 {
	out := make(map[string]int64, len(rep.files))
	for name, cf := range rep.files {
		out[name] = cf.size
	}
	return out
}

func (rep *report) finish() error { return rep.flush() }

func (rep *report) close() {
	for _, cf := range rep.files {
		_ = cf.f.Close()
	}
}

func (rep *report) rejected(write bool, system, id, reason string) {
	rep.sum.Rejected[system]++
	rep.row(write, FileRejected, system, id, reason)
}

func prob(p float64) string { return strconv.FormatFloat(p, 'f', 5, 64) }

func (rep *report) ambiguous(write bool, c contact.Change, res match.Result) {
	rep.sum.Ambiguous[c.SourceSystem]++
	var bestSys, bestID string
	var cands []string
	for _, cand := range res.Candidates {
		sys, id := splitIndexID(cand.BestMember)
		if bestID == "" {
			bestSys, bestID = sys, id
		}
		cands = append(cands, fmt.Sprintf("%s:%s (%s)", sys, id, prob(cand.Probability)))
	}
	rep.row(write, FileAmbiguous, c.SourceSystem, c.SourceRecordID, res.PersonID, bestSys, bestID, prob(res.Probability),
		strings.Join(cands, "; "), Words(res.Explanation))
}

// linked reports a record linked to an existing person (or a record seen
// again) and, against the person's record in the other system, the
// differences field by field.
func (rep *report) linked(write bool, c contact.Change, res match.Result, prior, after *rules.State, out rules.Result) {
	other := rep.cfg.OfflineSystem
	if c.SourceSystem == other {
		other = rep.cfg.OnlineSystem
	}
	if res.Decision == contact.DecisionLinked {
		otherID := ""
		if ss := prior.Systems[other]; ss != nil {
			otherID = ss.RecordID
		}
		switch {
		case otherID != "":
			rep.sum.Links++
			rep.row(write, FileLinks, res.PersonID, c.SourceSystem, c.SourceRecordID, other, otherID, prob(res.Probability), Words(res.Explanation))
		default:
			rep.sum.Duplicates[c.SourceSystem]++
			sys, id := "", ""
			if len(res.Candidates) > 0 {
				sys, id = splitIndexID(res.Candidates[0].BestMember)
			}
			rep.row(write, FileLinks, res.PersonID, c.SourceSystem, c.SourceRecordID, sys, id, prob(res.Probability), Words(res.Explanation))
		}
	}
	ss := prior.Systems[other]
	if ss == nil || ss.RecordID == "" || c.SourceSystem == rep.cfg.OfflineSystem {
		return // only an online record against the person's offline one
	}
	theirs := ss.LastSeen
	decisions := map[contact.Field]rules.FieldDecision{}
	for _, d := range out.Decisions {
		if d.Target == "" {
			decisions[d.Field] = d
		}
	}
	any := false
	for _, f := range sortedFields(theirs, c.Values) {
		offlineValue, onlineValue := theirs[f], c.Values[f]
		if offlineValue == onlineValue {
			continue
		}
		any = true
		rep.sum.Differences[string(f)]++
		g := after.Golden[f]
		var sent []string
		for _, s := range out.Sinks {
			if s.Entity == contact.EntityContact && (hasKey(s.Set, f) || slices.Contains(s.Clear, f)) {
				sent = append(sent, s.TargetSystem)
			}
		}
		d, decided := decisions[f]
		if !decided {
			// The record did not supply the field: nothing to decide, the
			// golden value stands and goes where it is missing.
			d = rules.FieldDecision{Rule: rep.ruleOf[f], Action: "not_supplied"}
		}
		rep.row(write, FileDifferences, res.PersonID, string(f), ss.RecordID, offlineValue, c.SourceRecordID, onlineValue,
			g.Value, g.System, d.Rule, d.Action, strings.Join(sent, " "))
	}
	if any {
		rep.sum.PairsDiffering++
	}
}

func hasKey(v contact.Values, f contact.Field) bool { _, ok := v[f]; return ok }

// sinks counts and lists the contact records the rules would send.
func (rep *report) sinks(write bool, c contact.Change, sinks []contact.SinkRecord) {
	for _, s := range sinks {
		if s.Entity != contact.EntityContact {
			continue
		}
		switch s.Op {
		case contact.SinkCreate:
			rep.sum.Creates[s.TargetSystem]++
			row := []string{s.PersonID, c.SourceSystem, c.SourceRecordID, s.ReferenceSource}
			for _, f := range contact.Fields {
				row = append(row, s.Set[f.Name])
			}
			rep.row(write, FileCreates(s.TargetSystem), row...)
		default:
			rep.sum.Updates[s.TargetSystem]++
			for sys := range s.Links {
				if sys != s.TargetSystem {
					rep.sum.Stamps[s.TargetSystem]++
					break
				}
			}
		}
	}
}

// Words says in words why the matcher decided what it did: the decision
// and its probability, the blocking rules that found the candidate, and
// each comparison's outcome with its weight.
func Words(e match.Explanation) string {
	var b strings.Builder
	switch e.Decision {
	case contact.DecisionLinked:
		fmt.Fprintf(&b, "linked: probability %s reaches the link threshold", prob(e.Probability))
	case contact.DecisionAmbiguous:
		if e.Reason == "multiple_persons" {
			fmt.Fprintf(&b, "ambiguous: %d persons reach the link threshold", e.AboveLink)
		} else {
			fmt.Fprintf(&b, "ambiguous: probability %s is between the review and link thresholds", prob(e.Probability))
		}
	case contact.DecisionKnown:
		b.WriteString("the same record again")
	default:
		fmt.Fprintf(&b, "new (%s)", strings.ReplaceAll(e.Reason, "_", " "))
	}
	if len(e.Rules) > 0 {
		fmt.Fprintf(&b, "; found by %s", strings.Join(e.Rules, ", "))
	}
	if len(e.Fields) > 0 {
		b.WriteString("; ")
		for i, f := range e.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s (%+.1f)", strings.ReplaceAll(f.Comparison, "_", " "), strings.ReplaceAll(f.Level, "_", " "), f.Weight)
		}
	}
	return b.String()
}
