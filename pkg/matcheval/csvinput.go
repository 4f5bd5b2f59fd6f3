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

// parseFieldMap parses --map: "given_name=first_name,family_name=surname".
func parseFieldMap(spec string) (map[contact.Field]string, error) {
	out := map[contact.Field]string{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		field, column, ok := strings.Cut(strings.TrimSpace(part), "=")
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
	return strings.Join(names, ",")
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
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	column := func(name string) int { return slices.Index(header, name) }
	idCol, entityCol := column(layout.idColumn), column(layout.entityColumn)
	if idCol < 0 {
		return nil, fmt.Errorf("read csv %s: no id column %q in header %v", path, layout.idColumn, header)
	}
	if entityCol < 0 {
		return nil, fmt.Errorf("read csv %s: no entity column %q in header %v", path, layout.entityColumn, header)
	}
	fieldCols := map[contact.Field]int{}
	for _, info := range contact.Fields {
		name, mapped := layout.fields[info.Name]
		if !mapped {
			name = string(info.Name)
		}
		i := column(name)
		if i < 0 {
			if mapped {
				return nil, fmt.Errorf("read csv %s: --map %s=%s: no such column in header %v", path, info.Name, name, header)
			}
			continue
		}
		fieldCols[info.Name] = i
	}
	if len(fieldCols) == 0 {
		return nil, fmt.Errorf("read csv %s: no column maps to a contact field; use --map FIELD=COLUMN (fields: %s)", path, fieldNames())
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
		for field, i := range fieldCols {
			if s := strings.TrimSpace(row[i]); s != "" {
				v[field] = s
			}
		}
		if _, ok := v[contact.Country]; !ok && layout.country != "" {
			v[contact.Country] = layout.country
		}
		out = append(out, labelled{RecordID: id, Entity: strings.TrimSpace(row[entityCol]), Values: v})
	}
	return out, nil
}
