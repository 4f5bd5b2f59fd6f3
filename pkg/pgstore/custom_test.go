package pgstore_test

import (
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pgstore"
)

// A donor database's own columns: the mapping names them, custom fields
// fill them on a create and an update, typed by the database, and a clear
// empties them (a custom boolean too: NULL, not false).
func TestOfflineApplyCustomColumns(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	if _, err := pool.Exec(ctx, `ALTER TABLE contacts ADD COLUMN appeal text, ADD COLUMN gift_aid boolean,
		ADD COLUMN member_since date, ADD COLUMN lifetime_value numeric(12,2), ADD COLUMN level text`); err != nil {
		t.Fatal(err)
	}
	fs, err := contact.NewFieldSet(
		contact.FieldInfo{Name: "appeal_code", Kind: contact.Text},
		contact.FieldInfo{Name: "gift_aid", Kind: contact.Bool},
		contact.FieldInfo{Name: "member_since", Kind: contact.Date},
		contact.FieldInfo{Name: "lifetime_value", Kind: contact.Decimal},
		contact.FieldInfo{Name: "membership_level", Kind: contact.Enum, Allowed: []string{"Bronze", "Gold"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	m := contact.DefaultMapping().Offline
	for col, f := range map[string]contact.Field{"appeal": "appeal_code", "gift_aid": "gift_aid", "member_since": "member_since",
		"lifetime_value": "lifetime_value", "level": "membership_level"} {
		m.Columns[col] = f
	}
	o, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfigFor(schema, m, fs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	create := contact.SinkRecord{EventID: "e-c", PersonID: "p-cf", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkCreate, ReferenceSource: "online", SourceTime: at,
		Set: contact.Values{contact.FamilyName: "Cole", "appeal_code": "XMAS26", "gift_aid": "true",
			"member_since": "2019-04-01", "lifetime_value": "1250.50", "membership_level": "Gold"}}
	if out, err := o.ApplyReporting(ctx, deliveries(create)); err != nil || out.Applied != 1 || len(out.KickOuts) != 0 {
		t.Fatalf("create: %+v %v", out, err)
	}
	type row struct {
		appeal, since, value, level *string
		giftAid                     *bool
	}
	read := func() row {
		t.Helper()
		var r row
		if err := pool.QueryRow(ctx, `SELECT appeal, gift_aid, member_since::text, lifetime_value::text, level FROM contacts WHERE id = 'cs-p-cf'`).
			Scan(&r.appeal, &r.giftAid, &r.since, &r.value, &r.level); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := read()
	if str(r.appeal) != "XMAS26" || r.giftAid == nil || !*r.giftAid || str(r.since) != "2019-04-01" || str(r.value) != "1250.50" || str(r.level) != "Gold" {
		t.Fatalf("after create: appeal %s gift_aid %v since %s value %s level %s", str(r.appeal), r.giftAid, str(r.since), str(r.value), str(r.level))
	}
	update := contact.SinkRecord{EventID: "e-u", PersonID: "p-cf", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, SourceTime: at.Add(time.Hour), Set: contact.Values{"membership_level": "Bronze"},
		Clear: []contact.Field{"appeal_code", "gift_aid"}}
	if out, err := o.ApplyReporting(ctx, deliveries(update)); err != nil || out.Applied != 1 || len(out.KickOuts) != 0 {
		t.Fatalf("update: %+v %v", out, err)
	}
	if r := read(); r.appeal != nil || r.giftAid != nil || str(r.level) != "Bronze" {
		t.Fatalf("after update: appeal %s gift_aid %v level %s", str(r.appeal), r.giftAid, str(r.level))
	}
}
