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
	"github.com/contactsync/contactsync/pkg/fieldmap"
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
	fields  []fieldmap.Column
	line    int
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
	fieldmap.CleanHeader(header)
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
	fields, err := fieldmap.Columns(header, cols.Fields)
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	s.fields = fields
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
		if v := row[fc.Index]; v != "" {
			rec.Values[fc.Field] = v
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
