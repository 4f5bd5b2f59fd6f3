package offlineapply

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// A link-only update (ids written back, no field) changes no field of the
// row: it only brings its links, and merged with a field update it adds
// nothing but them.
func TestLinkOnlyUpdateChangesNoField(t *testing.T) {
	links := rec("l1", "p1", contact.SinkUpdate, nil)
	links.TargetRecordID, links.Links = "OFF-1", map[string]string{"online": "web-1"}
	row := Row{Current: contact.Values{contact.GivenName: "Anna"}, Base: contact.Values{contact.GivenName: "Anna"}}

	steps := Coalesce([]contact.SinkRecord{links})
	if len(steps) != 1 || steps[0].Links["online"] != "web-1" || steps[0].TargetRecordID != "OFF-1" {
		t.Fatalf("steps %+v", steps)
	}
	if d := Decide(steps[0], row, nil); !d.Empty() || len(d.Conflicts) != 0 {
		t.Fatalf("a link-only update decided %+v, want nothing to write", d)
	}

	steps = Coalesce([]contact.SinkRecord{rec("u1", "p1", contact.SinkUpdate, contact.Values{contact.Phone: "+12175550101"}), links})
	if d := Decide(steps[0], row, nil); len(d.Set) != 1 || d.Set[contact.Phone] != "+12175550101" || len(d.Clear) != 0 {
		t.Fatalf("with a field update: %+v, want the phone only", d)
	}
}
