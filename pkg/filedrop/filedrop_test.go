package filedrop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/filedrop"
)

func batch(from int64, recs ...contact.SinkRecord) []deliver.Delivery {
	out := make([]deliver.Delivery, len(recs))
	for i, r := range recs {
		out[i] = deliver.Delivery{Record: r, Topic: "sink", Partition: 0, Offset: from + int64(i)}
	}
	return out
}

var (
	at     = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	create = contact.SinkRecord{EventID: "e1", PersonID: "p-ada", Entity: contact.EntityContact, Op: contact.SinkCreate,
		ReferenceSource: "online", SourceTime: at, Set: contact.Values{contact.GivenName: "Ada", contact.Email: "ada@example.org"},
		Links: map[string]string{"online": "web-17"}}
	gift = contact.SinkRecord{EventID: "e2", PersonID: "p-ada", Entity: contact.EntityGift, Op: contact.SinkCreate,
		Gift: &contact.Gift{GiftID: "g1", AmountMinor: 2550, Currency: "EUR", ReceivedAt: at}}
	update = contact.SinkRecord{EventID: "e3", PersonID: "p-ada", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		SourceTime: at.Add(time.Minute), Set: contact.Values{contact.Email: "ada@new.example.org"}, Clear: []contact.Field{contact.Phone}}
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// One batch is one CSV (the create and update merged, the gift after it)
// with its manifest; the same records again write nothing; the same
// records in a fresh directory give the same name and bytes.
func TestDropWritesOneFilePerBatchOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	in := batch(10, create, gift, update)
	if n, err := d.Apply(ctx, in); err != nil || n != 3 {
		t.Fatalf("apply: %d %v", n, err)
	}
	want := []string{filedrop.StateFile, "offline-p0.10-12.csv", "offline-p0.10-12.csv.manifest.json"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	body, err := os.ReadFile(filepath.Join(dir, want[1]))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], filedrop.Columns()) {
		t.Fatalf("rows %v, want the header, one contact and one gift", rows)
	}
	col := func(row []string, name string) string { return row[slices.Index(filedrop.Columns(), name)] }
	if c := rows[1]; col(c, "row_type") != "contact" || col(c, "op") != "create" || col(c, "email") != "ada@new.example.org" ||
		col(c, "given_name") != "Ada" || col(c, "clear") != "phone" || col(c, "event_ids") != "e1 e3" ||
		col(c, "reference_source") != "online" || col(c, "links") != "online=web-17" {
		t.Errorf("contact row %v", c)
	}
	if g := rows[2]; col(g, "row_type") != "gift" || col(g, "gift_amount") != "25.50" || col(g, "gift_id") != "g1" {
		t.Errorf("gift row %v", g)
	}
	var m filedrop.Manifest
	raw, _ := os.ReadFile(filepath.Join(dir, want[2]))
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Rows != 2 || m.Contacts != 1 || m.Gifts != 1 || m.Records != 3 {
		t.Errorf("manifest %+v", m)
	}

	// Redelivered after a crash before the commit, plus one new record:
	// only the new one makes a file. A restart reads the state back.
	d2, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	more := contact.SinkRecord{EventID: "e4", PersonID: "p-bob", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		TargetRecordID: "OFF-9", Set: contact.Values{contact.Locality: "Leeds"}}
	if n, err := d2.Apply(ctx, batch(10, create, gift, update, more)); err != nil || n != 1 {
		t.Fatalf("redelivery with one new record: %d %v, want 1", n, err)
	}
	if n, err := d2.Apply(ctx, batch(10, create, gift, update, more)); err != nil || n != 0 {
		t.Fatalf("full redelivery: %d %v, want 0", n, err)
	}
	if got := files(t, dir); len(got) != 5 || !slices.Contains(got, "offline-p0.13-13.csv") {
		t.Errorf("files %v, want the first file and offline-p0.13-13.csv with manifests", got)
	}

	// The same records elsewhere: the same name and content.
	other := t.TempDir()
	d3, err := filedrop.Open(other, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d3.Apply(ctx, in); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(other, want[1]))
	if err != nil || !bytes.Equal(again, body) {
		t.Errorf("the same batch wrote different bytes (err %v)", err)
	}
}

// A CSV whose manifest was never written (a crash between the two renames)
// is removed on open and written again by the redelivered batch.
func TestDropRedoesAnUnfinishedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "offline-p0.0-0.csv"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "offline-p0.0-0.csv.x.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("leftovers kept: %v", got)
	}
	if n, err := d.Apply(context.Background(), batch(0, create)); err != nil || n != 1 {
		t.Fatalf("apply: %d %v", n, err)
	}
	if got := files(t, dir); !slices.Contains(got, "offline-p0.0-0.csv.manifest.json") {
		t.Errorf("files %v", got)
	}
}

// The README's operator guide names every column of the import file that is
// not a canonical field (those are named as "one column per canonical
// field").
func TestReadmeNamesTheColumns(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := bytes.Index(raw, []byte("## Connect your donor database"))
	if start < 0 {
		t.Fatal(`README has no "Connect your donor database" section`)
	}
	section := readme[start:]
	fields := map[string]bool{}
	for _, f := range contact.Fields {
		fields[string(f.Name)] = true
	}
	for _, c := range filedrop.Columns() {
		if !fields[c] && !bytes.Contains([]byte(section), []byte("`"+c+"`")) {
			t.Errorf("README's guide does not name the column %s", c)
		}
	}
}

// The state is written before the manifest. A stop between the two leaves
// a whole CSV without its manifest: open finishes it from the state (the
// same manifest) instead of dropping records the state calls written; and
// a file the importer took (CSV and manifest gone) is never written again.
func TestDropFinishesAFileStoppedBeforeItsManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	in := batch(0, create, gift)
	if _, err := d.Apply(ctx, in); err != nil {
		t.Fatal(err)
	}
	const name = "offline-p0.0-1.csv"
	manifest, err := os.ReadFile(filepath.Join(dir, name+".manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, name+".manifest.json")); err != nil {
		t.Fatal(err)
	}
	d, err = filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(dir, name+".manifest.json"))
	if err != nil || !bytes.Equal(again, manifest) {
		t.Fatalf("manifest after open: %q (err %v), want the file's manifest %q", again, err, manifest)
	}
	if n, err := d.Apply(ctx, in); err != nil || n != 0 {
		t.Fatalf("redelivery: %d %v, want nothing written", n, err)
	}

	// The importer takes the file; a redelivery after a restart writes
	// nothing.
	for _, f := range []string{name, name + ".manifest.json"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	d, err = filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Apply(ctx, in); err != nil || n != 0 {
		t.Fatalf("redelivery after the import: %d %v, want nothing written", n, err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{filedrop.StateFile}) {
		t.Errorf("files %v, want the state only", got)
	}
}

// A state file of the earlier form (offsets only) is still read.
func TestDropReadsOffsetsOnlyState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filedrop.StateFile), []byte(`{"sink/0":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := filedrop.Open(dir, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Apply(context.Background(), batch(0, create, gift, update)); err != nil || n != 1 {
		t.Fatalf("apply: %d %v, want only the record at offset 2", n, err)
	}
	if got := files(t, dir); !slices.Contains(got, "offline-p0.2-2.csv") {
		t.Errorf("files %v, want offline-p0.2-2.csv", got)
	}
}
