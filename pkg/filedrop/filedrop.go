// Package filedrop delivers an offline system's sink records as CSV import
// files, for systems of record that take data in by file: the `files` mode
// of `contactsync apply-offline`.
//
// Each applied batch (a window's backlog) becomes one CSV file, written
// atomically (temp file, fsync, rename, fsync of the directory) with a
// manifest beside it (counts, sha256). The file's name is made of the
// partition offsets it holds, and the directory keeps the next offset of
// every partition (contactsync-state.json, and the manifests): a batch
// redelivered after a crash before Kafka's commit yields the same file
// name and content, and records already in a file are never written again.
// The state is written before the manifest, so a file an importer can see
// is always recorded as written.
//
// The importer takes a CSV only once its manifest exists, and may move or
// delete both after import; it must leave contactsync-state.json.
package filedrop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/offlineapply"
)

// StateFile is the name of the directory's offset state.
const StateFile = "contactsync-state.json"

// Columns are the CSV's header, in order: the row type (contact or gift),
// the operation (create or update), the person and the offline record id
// (empty on a create: the importer assigns it), the reference source of a
// create, the sink records the row stands for (space-separated event ids),
// the latest source time, one column per canonical field (empty: not
// changed), the fields to clear (space-separated), the person's ids in other
// systems (system=id;...), and the gift's columns (amount in major units).
func Columns() []string { return ColumnsOf(contact.BuiltIn()) }

// ColumnsOf is the header of a drop whose field columns are those of fs:
// the built-in fields, then the rules file's custom fields by name.
func ColumnsOf(fs *contact.FieldSet) []string {
	cols := []string{"row_type", "op", "person_id", "offline_id", "reference_source", "event_ids", "source_time"}
	for _, f := range fs.All() {
		cols = append(cols, string(f.Name))
	}
	return append(cols, "clear", "links", "gift_id", "gift_amount", "gift_currency", "gift_received_at",
		"gift_campaign", "gift_fund", "gift_payment_method")
}

// Manifest describes one import file.
type Manifest struct {
	File       string      `json:"file"`
	System     string      `json:"system"`
	SHA256     string      `json:"sha256"`
	Bytes      int         `json:"bytes"`
	Rows       int         `json:"rows"`
	Contacts   int         `json:"contacts"`
	Gifts      int         `json:"gifts"`
	Records    int         `json:"records"` // sink records merged into the rows
	Partitions []Partition `json:"partitions"`
}

// Partition is the range of one partition's offsets a file holds.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
}

// Drop writes import files into one directory.
type Drop struct {
	dir    string
	system string
	next   map[string]int64 // "topic/partition" -> first offset not yet in a file
	// pending is the manifest of the last file, kept in the state until
	// the manifest itself is in place.
	pending *Manifest
	fields  *contact.FieldSet
	// household names the last column, the person's household id, when
	// the mapping names a column for it ("": no such column).
	household string
}

// Option configures OpenWithFields.
type Option func(*Drop)

// WithHouseholdColumn adds a last column, named name, with the person's
// household id (the rules file's mapping offline.household_id).
func WithHouseholdColumn(name string) Option { return func(d *Drop) { d.household = name } }

// state is the content of StateFile. Pending is the manifest of the file
// being finished: the state (with the file's offsets) is written after the
// CSV and before its manifest, so that once an importer can see a file its
// offsets are recorded, and a crash between the two is finished on open
// from Pending instead of losing the file's records.
type state struct {
	Next    map[string]int64 `json:"next"`
	Pending *Manifest        `json:"pending,omitempty"`
}

func tpKey(topic string, partition int32) string { return topic + "/" + strconv.Itoa(int(partition)) }

// Open prepares dir (created if missing): it reads the offsets already
// written and removes leftovers of a crash (temp files, a CSV without its
// manifest: its batch was not committed and is written again).
func Open(dir, system string) (*Drop, error) { return OpenWithFields(dir, system, contact.BuiltIn()) }

// OpenWithFields is Open for a rules file with custom fields: each gets a
// column after the built-in ones (ColumnsOf).
func OpenWithFields(dir, system string, fs *contact.FieldSet, opts ...Option) (*Drop, error) {
	if system == "" || strings.ContainsAny(system, `/\`) {
		return nil, fmt.Errorf("filedrop: bad system name %q", system)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filedrop: %w", err)
	}
	d := &Drop{dir: dir, system: system, next: map[string]int64{}, fields: fs}
	for _, o := range opts {
		o(d)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, StateFile)); err == nil {
		var st state
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("filedrop: %s: %w", StateFile, err)
		}
		if st.Next == nil { // written before the state held a pending manifest: offsets only
			if err := json.Unmarshal(raw, &st.Next); err != nil {
				return nil, fmt.Errorf("filedrop: %s: %w", StateFile, err)
			}
		}
		d.next, d.pending = st.Next, st.Pending
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("filedrop: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("filedrop: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".tmp"):
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("filedrop: remove leftover: %w", err)
			}
		case strings.HasSuffix(name, ".manifest.json"):
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("filedrop: %w", err)
			}
			var m Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("filedrop: manifest %s: %w", name, err)
			}
			for _, p := range m.Partitions {
				k := tpKey(p.Topic, p.Partition)
				d.next[k] = max(d.next[k], p.Last+1)
			}
		case strings.HasSuffix(name, ".csv"):
			if _, err := os.Stat(path + ".manifest.json"); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if d.pending != nil && d.pending.File == name {
				continue // written in full and recorded: its manifest is written below
			}
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("filedrop: remove unfinished file: %w", err)
			}
		}
	}
	if err := d.finishPending(); err != nil {
		return nil, err
	}
	return d, nil
}

// finishPending writes the manifest of the last file if it is missing and
// the file is there (the process stopped between the state and the
// manifest). A file the importer already took, manifest and all, is left
// alone.
func (d *Drop) finishPending() error {
	if d.pending == nil {
		return nil
	}
	name := d.pending.File
	if _, err := os.Stat(filepath.Join(d.dir, name+".manifest.json")); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(d.dir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	manifest, err := json.MarshalIndent(d.pending, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(d.dir, name+".manifest.json", append(manifest, '\n'))
}

// Apply implements deliver.Store: the records not yet in a file become one
// new file; it returns how many records that was. The file is written, then
// the state with its offsets and manifest, then the manifest.
func (d *Drop) Apply(_ context.Context, batch []deliver.Delivery) (int, error) {
	if err := d.finishPending(); err != nil { // a manifest that failed to write last time
		return 0, err
	}
	var fresh []deliver.Delivery
	ranges := map[string]*Partition{}
	for _, r := range batch {
		k := tpKey(r.Topic, r.Partition)
		if r.Offset < d.next[k] {
			continue
		}
		fresh = append(fresh, r)
		p, ok := ranges[k]
		if !ok {
			ranges[k] = &Partition{Topic: r.Topic, Partition: r.Partition, First: r.Offset, Last: r.Offset}
			continue
		}
		p.First, p.Last = min(p.First, r.Offset), max(p.Last, r.Offset)
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	parts := make([]Partition, 0, len(ranges))
	for _, p := range ranges {
		parts = append(parts, *p)
	}
	slices.SortFunc(parts, func(a, b Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	recs := make([]contact.SinkRecord, len(fresh))
	for i, r := range fresh {
		recs[i] = r.Record
	}
	body, m, err := render(offlineapply.Coalesce(recs), d.fields, d.household)
	if err != nil {
		return 0, err
	}
	name := fileName(d.system, parts)
	sum := sha256.Sum256(body)
	m.File, m.System, m.SHA256, m.Bytes, m.Records, m.Partitions = name, d.system, hex.EncodeToString(sum[:]), len(body), len(fresh), parts
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := writeAtomic(d.dir, name, body); err != nil {
		return 0, err
	}
	next := maps.Clone(d.next)
	for _, p := range parts {
		k := tpKey(p.Topic, p.Partition)
		next[k] = max(next[k], p.Last+1)
	}
	st, err := json.Marshal(state{Next: next, Pending: &m})
	if err != nil {
		return 0, err
	}
	if err := writeAtomic(d.dir, StateFile, st); err != nil {
		return 0, err
	}
	d.next, d.pending = next, &m
	if err := writeAtomic(d.dir, name+".manifest.json", append(manifest, '\n')); err != nil {
		return 0, err
	}
	return len(fresh), nil
}

// fileName is made of the system and the offsets the file holds, so the
// same records always make the same name: offline-p0.12-40_p1.7-9.csv.
func fileName(system string, parts []Partition) string {
	topics := map[string]bool{}
	for _, p := range parts {
		topics[p.Topic] = true
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('_')
		}
		if len(topics) > 1 {
			b.WriteString(p.Topic + ".")
		}
		fmt.Fprintf(&b, "p%d.%d-%d", p.Partition, p.First, p.Last)
	}
	ranges := b.String()
	if len(ranges) > 150 || strings.ContainsAny(ranges, `/\`) {
		sum := sha256.Sum256([]byte(ranges))
		ranges = "h" + hex.EncodeToString(sum[:12])
	}
	return system + "-" + ranges + ".csv"
}

// render writes the steps as CSV rows, deterministically.
func render(steps []offlineapply.Step, fs *contact.FieldSet, household string) ([]byte, Manifest, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	var m Manifest
	header := ColumnsOf(fs)
	if household != "" {
		header = append(header, household)
	}
	if err := w.Write(header); err != nil {
		return nil, m, err
	}
	for _, s := range steps {
		row := []string{string(s.Entity), string(s.Op), s.PersonID, s.TargetRecordID, s.ReferenceSource,
			strings.Join(s.EventIDs, " "), timeText(s.SourceTime)}
		for _, f := range fs.All() {
			row = append(row, s.Set[f.Name])
		}
		clear := make([]string, len(s.Clear))
		for i, f := range s.Clear {
			clear[i] = string(f)
		}
		row = append(row, strings.Join(clear, " "), linksText(s.Links))
		if g := s.Gift; g != nil {
			row = append(row, g.GiftID, amountText(g.AmountMinor), g.Currency, timeText(g.ReceivedAt), g.Campaign, g.Fund, g.PaymentMethod)
			m.Gifts++
		} else {
			row = append(row, "", "", "", "", "", "", "")
			m.Contacts++
		}
		if household != "" {
			row = append(row, s.HouseholdID)
		}
		if err := w.Write(row); err != nil {
			return nil, m, err
		}
		m.Rows++
	}
	w.Flush()
	return buf.Bytes(), m, w.Error()
}

func linksText(links map[string]string) string {
	out := make([]string, 0, len(links))
	for sys, id := range links {
		out = append(out, sys+"="+id)
	}
	slices.Sort(out)
	return strings.Join(out, ";")
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// amountText writes minor units as a decimal with two places (the
// currencies of the sync's sources have two minor digits).
func amountText(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// writeAtomic writes name in dir so that a reader sees either nothing or
// the whole file, also after a power loss.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return fmt.Errorf("filedrop: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("filedrop: fsync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("filedrop: close %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("filedrop: rename %s: %w", name, err)
	}
	dh, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filedrop: %w", err)
	}
	defer dh.Close()
	if err := dh.Sync(); err != nil {
		return fmt.Errorf("filedrop: fsync directory: %w", err)
	}
	return nil
}
