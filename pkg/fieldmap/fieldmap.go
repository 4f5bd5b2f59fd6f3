// Package fieldmap maps the columns of a CSV export with a header onto
// contact fields: the --map FIELD=COLUMN spelling, the header's clean-up,
// and the lookup of each field's column (mapped, or a column of the
// field's own name). The baseline's export reader and match-eval's
// labelled input share it; it is pure.
package fieldmap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/contactsync/contactsync/pkg/contact"
)

// Parse parses a FIELD=COLUMN,... list (--map):
// "given_name=first_name,family_name=surname". Empty items are skipped.
func Parse(spec string) (map[contact.Field]string, error) {
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
		if !slices.ContainsFunc(fields(), func(f contact.FieldInfo) bool { return f.Name == contact.Field(field) }) {
			return nil, fmt.Errorf("--map: unknown field %q (fields: %s)", field, FieldNames())
		}
		out[contact.Field(field)] = column
	}
	return out, nil
}

// fields are the fields a column may map to: the canonical fields and the
// ones only the matcher reads (contact.MatchOnlyFields).
func fields() []contact.FieldInfo {
	return slices.Concat(contact.Fields, contact.MatchOnlyFields)
}

// FieldNames lists the fields a column may map to, for error messages.
func FieldNames() string {
	all := fields()
	names := make([]string, len(all))
	for i, f := range all {
		names[i] = string(f.Name)
	}
	return strings.Join(names, ", ")
}

// CleanHeader trims a header row in place: a spreadsheet's byte-order mark
// before the first name, and spaces around every name.
func CleanHeader(header []string) {
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
}

// Column is a contact field and the index of its column.
type Column struct {
	Field contact.Field
	Index int
}

// ErrNoFieldColumn means that no column of a header maps to a contact field.
var ErrNoFieldColumn = errors.New("no column maps to a contact field")

// Columns finds each contact field's column in header (cleaned): the
// column mapped (an error when the header lacks it), else a column of the
// field's own name, else none. Fields come in contact.Fields order, then
// contact.MatchOnlyFields; a
// header where no field has a column is an error wrapping ErrNoFieldColumn.
func Columns(header []string, mapped map[contact.Field]string) ([]Column, error) {
	var out []Column
	for _, info := range fields() {
		name, isMapped := mapped[info.Name]
		if !isMapped {
			name = string(info.Name)
		}
		i := slices.Index(header, name)
		if i < 0 {
			if isMapped {
				return nil, fmt.Errorf("--map %s=%s: no such column in header %v", info.Name, name, header)
			}
			continue
		}
		out = append(out, Column{Field: info.Name, Index: i})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w; use --map FIELD=COLUMN (fields: %s)", ErrNoFieldColumn, FieldNames())
	}
	return out, nil
}
