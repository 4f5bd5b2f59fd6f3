package matcheval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/fieldmap"
)

// csvLayout says how to read a labelled CSV file with a header: which
// column holds the record id, which the true entity (cluster), and which
// column each canonical contact field comes from.
type csvLayout struct {
	idColumn     string
	entityColumn string
	// fields maps a canonical field to its column. Fields not mapped are
	// read from a column of the same name when the file has one.
	fields map[contact.Field]string
	// country is supplied as the contact's country when the file has no
	// country column (it decides how phones and dates are read).
	country string
}

// readCSV reads a labelled CSV file: a header, then one record per row.
// Values are trimmed; empty values are not supplied. The entity column is
// used only to score.
func readCSV(path string, layout csvLayout) ([]labelled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv %s: header: %w", path, err)
	}
	fieldmap.CleanHeader(header)
	column := func(name string) int { return slices.Index(header, name) }
	idCol, entityCol := column(layout.idColumn), column(layout.entityColumn)
	if idCol < 0 {
		return nil, fmt.Errorf("read csv %s: no id column %q in header %v", path, layout.idColumn, header)
	}
	if entityCol < 0 {
		return nil, fmt.Errorf("read csv %s: no entity column %q in header %v", path, layout.entityColumn, header)
	}
	fieldCols, err := fieldmap.Columns(header, layout.fields)
	if err != nil {
		return nil, fmt.Errorf("read csv %s: %w", path, err)
	}
	var out []labelled
	seen := map[string]bool{}
	for line := 2; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read csv %s: %w", path, err)
		}
		id := strings.TrimSpace(row[idCol])
		if id == "" || seen[id] {
			return nil, fmt.Errorf("read csv %s line %d: record id %q is empty or repeated", path, line, id)
		}
		seen[id] = true
		v := contact.Values{}
		for _, fc := range fieldCols {
			if s := strings.TrimSpace(row[fc.Index]); s != "" {
				v[fc.Field] = s
			}
		}
		if _, ok := v[contact.Country]; !ok && layout.country != "" {
			v[contact.Country] = layout.country
		}
		out = append(out, labelled{RecordID: id, Entity: strings.TrimSpace(row[entityCol]), Values: v})
	}
	return out, nil
}
