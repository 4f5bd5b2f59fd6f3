package pgstore_test

import (
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pgstore"
)

// The household id goes to the column the mapping names for it: on a
// create, on an update that brings another one (even with no field to
// write), and not when the mapping names none.
func TestOfflineApplyHouseholdColumn(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_hh_")
	if _, err := pool.Exec(ctx, `ALTER TABLE contacts ADD COLUMN household text`); err != nil {
		t.Fatal(err)
	}
	m := contact.DefaultMapping().Offline
	m.HouseholdColumn = "household"
	o, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfigFor(schema, m, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	household := func(id string) string {
		t.Helper()
		var h *string
		if err := pool.QueryRow(ctx, `SELECT household FROM contacts WHERE id = $1`, id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return str(h)
	}
	rec := func(event, person string, op contact.SinkOp, hh string, set contact.Values) contact.SinkRecord {
		return contact.SinkRecord{EventID: event, PersonID: person, TargetSystem: "offline", Entity: contact.EntityContact,
			Op: op, ReferenceSource: "online", SourceTime: at, Set: set, HouseholdID: hh}
	}
	steps := []struct {
		name string
		recs []contact.SinkRecord
		want map[string]string // contact id -> household column
	}{
		{"two members created", []contact.SinkRecord{
			rec("e1", "p-mel", contact.SinkCreate, "hh-a", contact.Values{contact.GivenName: "Melissa", contact.FamilyName: "Rodriguez"}),
			rec("e2", "p-eli", contact.SinkCreate, "hh-a", contact.Values{contact.GivenName: "Elizabeth", contact.FamilyName: "Rodriguez"}),
		}, map[string]string{"cs-p-mel": "hh-a", "cs-p-eli": "hh-a"}},
		{"an update without a household id keeps it", []contact.SinkRecord{
			rec("e3", "p-mel", contact.SinkUpdate, "", contact.Values{contact.Email: "mel@example.org"}),
		}, map[string]string{"cs-p-mel": "hh-a"}},
		{"a move: another household, no field to write", []contact.SinkRecord{
			rec("e4", "p-eli", contact.SinkUpdate, "hh-b", nil),
		}, map[string]string{"cs-p-eli": "hh-b", "cs-p-mel": "hh-a"}},
	}
	for _, s := range steps {
		if out, err := o.ApplyReporting(ctx, deliveries(s.recs...)); err != nil || len(out.KickOuts) != 0 {
			t.Fatalf("%s: %+v %v", s.name, out, err)
		}
		for id, want := range s.want {
			if got := household(id); got != want {
				t.Fatalf("%s: %s household %s, want %s", s.name, id, got, want)
			}
		}
	}

	// Without a household column in the mapping nothing is written there.
	plain, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfigFor(schema, contact.DefaultMapping().Offline, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close)
	if out, err := plain.ApplyReporting(ctx, deliveries(rec("e5", "p-ann", contact.SinkCreate, "hh-c", contact.Values{contact.GivenName: "Ann"}))); err != nil || len(out.KickOuts) != 0 {
		t.Fatalf("create without a household column: %+v %v", out, err)
	}
	if got := household("cs-p-ann"); got != "<NULL>" {
		t.Fatalf("household written without a mapped column: %s", got)
	}
	bad := contact.DefaultMapping().Offline
	bad.HouseholdColumn = "first_name"
	if _, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfigFor(schema, bad, nil)); err == nil {
		t.Fatal("a household column that is a field's column was accepted")
	}
}
