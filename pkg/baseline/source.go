package baseline

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Record is one contact of an export: its id in its system, its raw
// values (canonicalised by the run, as ingest does) and when it was last
// changed there (zero: unknown, then the run's start time stands in).
type Record struct {
	ID      string
	Values  contact.Values
	Changed time.Time
	// ReferenceSource is the system the contact came from, where the
	// export says (the offline schema's reference_source column): the
	// rules' scopes read it.
	ReferenceSource string
}

// Source streams the records of one system, one at a time. Next returns
// io.EOF after the last record. A record that cannot be read at all (a CSV
// row with the wrong number of columns) is an error wrapping ErrBadRecord:
// the run reports it and goes on.
type Source interface {
	Next() (Record, error)
}

// Sizer is implemented by sources that know how far they are, for the
// progress line's rate and ETA: done and total in any unit (bytes of a
// file, rows of a table); total 0 when unknown.
type Sizer interface {
	Progress() (done, total int64)
}

// ErrBadRecord marks a record the source could not read; the run keeps
// going and lists it in rejected.csv.
var ErrBadRecord = errors.New("unreadable record")

// ParseFieldMap parses a FIELD=COLUMN,... list (the spelling of match-eval's
// --map): "given_name=first_name,family_name=surname".
func ParseFieldMap(spec string) (map[contact.Field]string, error) {
	out := map[contact.Field]string{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		field, column, ok := strings.Cut(part, "=")
		field, column = strings.TrimSpace(field), strings.TrimSpace(column)
		if !ok || field == "" || column == "" {
			return nil, fmt.Errorf("--map: %q is not FIELD=COLUMN", part)
		}
		if _, known := contact.Lookup(contact.Field(field)); !known {
			return nil, fmt.Errorf("--map: unknown field %q (fields: %s)", field, fieldNames())
		}
		out[contact.Field(field)] = column
	}
	return out, nil
}

func fieldNames() string {
	names := make([]string, len(contact.Fields))
	for i, f := range contact.Fields {
		names[i] = string(f.Name)
	}
	return strings.Join(names, ", ")
}

// Columns says which columns of an export hold what: the record id, the
// optional last-changed time, and the fields. Fields not in Fields are read
// from the column of the field's own name when there is one.
type Columns struct {
	ID              string // default "record_id"
	Changed         string // default "updated_at" when present
	ReferenceSource string // default "reference_source" when present
	Fields          map[contact.Field]string
}

// CSVSource reads a CSV export with a header row.
type CSVSource struct {
	r       *csv.Reader
	counter *countingReader
	total   int64
	idCol   int
	timeCol int
	refCol  int
	fields  []fieldColumn
	line    int
}

type fieldColumn struct {
	field contact.Field
	col   int
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// NewCSVSource reads the header of r and maps its columns; size is r's
// length in bytes for progress (0: unknown).
func NewCSVSource(r io.Reader, size int64, cols Columns) (*CSVSource, error) {
	counter := &countingReader{r: r}
	cr := csv.NewReader(counter)
	cr.ReuseRecord = false
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	s := &CSVSource{r: cr, counter: counter, total: size, timeCol: -1, line: 1}
	idName := cols.ID
	if idName == "" {
		idName = "record_id"
	}
	if s.idCol = slices.Index(header, idName); s.idCol < 0 {
		return nil, fmt.Errorf("csv: no id column %q in header %v", idName, header)
	}
	switch {
	case cols.Changed != "":
		if s.timeCol = slices.Index(header, cols.Changed); s.timeCol < 0 {
			return nil, fmt.Errorf("csv: no changed-time column %q in header %v", cols.Changed, header)
		}
	default:
		s.timeCol = slices.Index(header, "updated_at")
	}
	refName := cols.ReferenceSource
	if refName == "" {
		refName = "reference_source"
	}
	if s.refCol = slices.Index(header, refName); s.refCol < 0 && cols.ReferenceSource != "" {
		return nil, fmt.Errorf("csv: no reference-source column %q in header %v", refName, header)
	}
	for _, info := range contact.Fields {
		name, mapped := cols.Fields[info.Name]
		if !mapped {
			name = string(info.Name)
		}
		col := slices.Index(header, name)
		if col < 0 {
			if mapped {
				return nil, fmt.Errorf("csv: --map %s=%s: no such column in header %v", info.Name, name, header)
			}
			continue
		}
		s.fields = append(s.fields, fieldColumn{field: info.Name, col: col})
	}
	if len(s.fields) == 0 {
		return nil, fmt.Errorf("csv: no column maps to a contact field; use --map FIELD=COLUMN (fields: %s)", fieldNames())
	}
	return s, nil
}

// Next implements Source.
func (s *CSVSource) Next() (Record, error) {
	row, err := s.r.Read()
	s.line++
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Record{}, fmt.Errorf("line %d: %w: %w", pe.Line, ErrBadRecord, err)
		}
		return Record{}, fmt.Errorf("csv: %w", err)
	}
	rec := Record{ID: strings.TrimSpace(row[s.idCol]), Values: contact.Values{}}
	if rec.ID == "" {
		return Record{}, fmt.Errorf("line %d: %w: empty record id", s.line, ErrBadRecord)
	}
	for _, fc := range s.fields {
		if v := row[fc.col]; v != "" {
			rec.Values[fc.field] = v
		}
	}
	if s.refCol >= 0 {
		rec.ReferenceSource = strings.TrimSpace(row[s.refCol])
	}
	if s.timeCol >= 0 && row[s.timeCol] != "" {
		t, err := ParseTime(row[s.timeCol])
		if err != nil {
			return Record{}, fmt.Errorf("line %d (record %s): %w: %w", s.line, rec.ID, ErrBadRecord, err)
		}
		rec.Changed = t
	}
	return rec, nil
}

// Progress implements Sizer: bytes read of the file's size.
func (s *CSVSource) Progress() (done, total int64) { return s.counter.n, s.total }

// ParseTime reads a last-changed time: RFC 3339, "YYYY-MM-DD HH:MM:SS"
// (UTC) or a date.
func ParseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("changed time %q is neither RFC 3339 nor YYYY-MM-DD[ HH:MM:SS]", v)
}
