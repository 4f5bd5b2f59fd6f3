package baseline

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/fieldmap"
)

func TestCSVSource(t *testing.T) {
	const in = "\ufeffid,First,updated_at,email,reference_source\n" +
		"A-1,Ann,2026-11-02T09:00:00Z,ann@mailbox.org,online\n" +
		"A-2,Bo\n" + // too few columns: unreadable, the run goes on
		",Cy,,,\n" + // no id
		"A-3,Di,yesterday,,\n" +
		"A-4,Ed,2026-11-03,,\n"
	fields, err := fieldmap.Parse("given_name=First")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCSVSource(strings.NewReader(in), int64(len(in)), Columns{ID: "id", Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		rec, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("want ErrBadRecord, got %v", err)
			}
			got = append(got, "bad")
			continue
		}
		got = append(got, rec.ID+"/"+rec.Values[contact.GivenName]+"/"+rec.Values[contact.Email]+"/"+rec.ReferenceSource+"/"+rec.Changed.Format(time.DateOnly))
	}
	want := "A-1/Ann/ann@mailbox.org/online/2026-11-02 bad bad bad A-4/Ed///2026-11-03"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if done, total := s.Progress(); done != total {
		t.Errorf("progress %d of %d at the end", done, total)
	}

	for _, bad := range []string{"given_name", "nickname=x", "=col"} {
		if _, err := fieldmap.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if _, err := NewCSVSource(strings.NewReader("record_id,colour\n"), 0, Columns{}); err == nil {
		t.Error("a header without any field was accepted")
	}
	if _, err := NewCSVSource(strings.NewReader("record_id,x\n"), 0, Columns{Fields: fields}); err == nil {
		t.Error("a --map column missing from the header was accepted")
	}
}

// FuzzCSVSource: any input gives records, ErrBadRecord or an error, never
// a panic or a record without an id.
func FuzzCSVSource(f *testing.F) {
	f.Add("record_id,given_name,email\nA,Ann,a@b.org\n")
	f.Add("record_id,given_name,updated_at\nA,\"Ann\nB\",2026\n")
	f.Add("record_id,given_name\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := NewCSVSource(strings.NewReader(in), int64(len(in)), Columns{})
		if err != nil {
			return
		}
		for range 1000 {
			rec, err := s.Next()
			if err != nil {
				if errors.Is(err, ErrBadRecord) {
					continue
				}
				return
			}
			if rec.ID == "" {
				t.Fatal("record without an id")
			}
		}
	})
}
