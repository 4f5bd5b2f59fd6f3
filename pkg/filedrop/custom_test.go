package filedrop_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/filedrop"
)

// Custom fields of the rules file get a column each, after the built-in
// ones; their clears are in clear like the others.
func TestDropWritesCustomFieldColumns(t *testing.T) {
	fs, err := contact.NewFieldSet(contact.FieldInfo{Name: "appeal_code", Kind: contact.Text},
		contact.FieldInfo{Name: "gift_aid", Kind: contact.Bool})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := filedrop.OpenWithFields(dir, "offline", fs)
	if err != nil {
		t.Fatal(err)
	}
	rec := contact.SinkRecord{EventID: "c1", PersonID: "p-cf", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "OFF-1", Set: contact.Values{"appeal_code": "XMAS26"}, Clear: []contact.Field{"gift_aid"}}
	if n, err := d.Apply(context.Background(), batch(5, rec)); err != nil || n != 1 {
		t.Fatalf("apply: %d %v", n, err)
	}
	body, err := os.ReadFile(filepath.Join(dir, "offline-p0.5-5.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := filedrop.ColumnsOf(fs)
	if !slices.Equal(rows[0], header) || len(header) != len(filedrop.Columns())+2 {
		t.Fatalf("header %v", rows[0])
	}
	if got := rows[1][slices.Index(header, "appeal_code")]; got != "XMAS26" {
		t.Fatalf("appeal_code column %q", got)
	}
	if got := rows[1][slices.Index(header, "clear")]; got != "gift_aid" {
		t.Fatalf("clear column %q", got)
	}
}

// With a household column in the mapping, the drop has it last, with the
// person's household id; without one, no such column.
func TestDropWritesTheHouseholdColumn(t *testing.T) {
	for _, column := range []string{"household", ""} {
		dir := t.TempDir()
		var opts []filedrop.Option
		if column != "" {
			opts = append(opts, filedrop.WithHouseholdColumn(column))
		}
		d, err := filedrop.OpenWithFields(dir, "offline", contact.BuiltIn(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		rec := contact.SinkRecord{EventID: "c1", PersonID: "p-hh", Entity: contact.EntityContact, Op: contact.SinkUpdate,
			TargetRecordID: "OFF-1", Set: contact.Values{contact.Email: "mel@example.org"}, HouseholdID: "hh-a"}
		if n, err := d.Apply(context.Background(), batch(5, rec)); err != nil || n != 1 {
			t.Fatalf("apply: %d %v", n, err)
		}
		body, err := os.ReadFile(filepath.Join(dir, "offline-p0.5-5.csv"))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := filedrop.Columns()
		if column == "" {
			if !slices.Equal(rows[0], header) {
				t.Fatalf("header without a household column %v", rows[0])
			}
			continue
		}
		if !slices.Equal(rows[0], append(header, column)) || rows[1][len(header)] != "hh-a" {
			t.Fatalf("header %v, row %v", rows[0], rows[1])
		}
	}
}
