package pgstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/offlineapply"
	"github.com/contactsync/contactsync/pkg/pgstore"
)

func openOffline(t *testing.T, ctx context.Context, schema string) *pgstore.Offline {
	t.Helper()
	o, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfig{Schema: schema, Columns: decode.DefaultColumns()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o
}

func deliveries(recs ...contact.SinkRecord) []deliver.Delivery {
	out := make([]deliver.Delivery, len(recs))
	for i, r := range recs {
		out[i] = deliver.Delivery{Record: r, Topic: "sink", Offset: int64(i), Value: []byte("raw-" + r.EventID)}
	}
	return out
}

type contactRow struct {
	FirstName, Email, City, Phone, RefSource, UpdatedBy *string
	DoNotEmail                                          bool
	Version                                             int64
}

func readContact(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id string) contactRow {
	t.Helper()
	var r contactRow
	err := pool.QueryRow(ctx, `SELECT first_name, email, city, phone, reference_source, updated_by, do_not_email, row_version
	FROM contacts WHERE id = $1`, id).Scan(&r.FirstName, &r.Email, &r.City, &r.Phone, &r.RefSource, &r.UpdatedBy, &r.DoNotEmail, &r.Version)
	if err != nil {
		t.Fatalf("contact %s: %v", id, err)
	}
	return r
}

func str(p *string) string {
	if p == nil {
		return "<NULL>"
	}
	return *p
}

// A new online donor and her gift, then updates: the create carries the
// online reference source, the gift lands after its create (same batch), a
// create and an update of the same window are one write, a redelivered
// batch changes nothing, and every write is the sync's.
func TestOfflineApplyCreatesUpdatesGifts(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o := openOffline(t, ctx, schema)
	received := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	create := contact.SinkRecord{EventID: "e-create", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkCreate, ReferenceSource: "online", SourceTime: received,
		Set: contact.Values{contact.GivenName: "Ada", contact.Email: "ada@example.org", contact.DoNotEmail: "true"}}
	gift := contact.SinkRecord{EventID: "e-gift", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityGift,
		Op: contact.SinkCreate, ReferenceSource: "online",
		Gift: &contact.Gift{GiftID: "online-g1", AmountMinor: 2550, Currency: "EUR", ReceivedAt: received, Campaign: "xmas"}}
	update := contact.SinkRecord{EventID: "e-update", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, SourceTime: received.Add(time.Minute), Set: contact.Values{contact.Locality: "Leeds"}}
	batch := deliveries(create, gift, update)
	out, err := o.ApplyReporting(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Applied != 3 || len(out.KickOuts) != 0 {
		t.Fatalf("applied %d with kick-outs %+v, want 3 and none", out.Applied, out.KickOuts)
	}
	r := readContact(t, ctx, pool, "cs-p-ada")
	if str(r.FirstName) != "Ada" || str(r.Email) != "ada@example.org" || str(r.City) != "Leeds" || !r.DoNotEmail ||
		str(r.RefSource) != "online" || str(r.UpdatedBy) != pgstore.SyncWriter || r.Version != 1 {
		t.Errorf("contact after create+update (one write): %+v %s %s %s %s %s", r, str(r.FirstName), str(r.Email), str(r.City), str(r.RefSource), str(r.UpdatedBy))
	}
	var amount, contactID string
	if err := pool.QueryRow(ctx, `SELECT amount::text, contact_id FROM gifts WHERE gift_id = 'online-g1'`).Scan(&amount, &contactID); err != nil {
		t.Fatalf("gift: %v", err)
	}
	if amount != "25.50" || contactID != "cs-p-ada" {
		t.Errorf("gift amount %s contact %s, want 25.50 on cs-p-ada", amount, contactID)
	}

	// Redelivery (a crash between the database's commit and Kafka's).
	out, err = o.ApplyReporting(ctx, batch)
	if err != nil || out.Applied != 0 || len(out.KickOuts) != 0 {
		t.Fatalf("redelivery: applied %d kick-outs %v err %v, want nothing", out.Applied, out.KickOuts, err)
	}
	if r2 := readContact(t, ctx, pool, "cs-p-ada"); r2.Version != r.Version {
		t.Errorf("redelivery wrote the row again (version %d -> %d)", r.Version, r2.Version)
	}

	// A later update with the offline id of the link, and a clear.
	later := contact.SinkRecord{EventID: "e-later", PersonID: "p-ada", TargetSystem: "offline", Entity: contact.EntityContact,
		Op: contact.SinkUpdate, SourceTime: received.Add(time.Hour), Set: contact.Values{contact.Phone: "+441134960000"},
		Clear: []contact.Field{contact.DoNotEmail}}
	if out, err := o.ApplyReporting(ctx, deliveries(later)); err != nil || out.Applied != 1 || len(out.KickOuts) != 0 {
		t.Fatalf("later update: %+v %v", out, err)
	}
	r = readContact(t, ctx, pool, "cs-p-ada")
	if str(r.Phone) != "+441134960000" || r.DoNotEmail || r.Version != 2 {
		t.Errorf("after the later update: phone %s do_not_email %v version %d", str(r.Phone), r.DoNotEmail, r.Version)
	}
}

// A row edited offline after the sync's last write is not overwritten
// blindly: the field the person at the desk changed keeps her value and is
// kicked out as apply.conflict with both values (again on redelivery, with
// the same id); the other fields of the change are written.
func TestOfflineApplyConcurrentEditNotLost(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o := openOffline(t, ctx, schema)
	create := contact.SinkRecord{EventID: "c1", PersonID: "p-bob", Entity: contact.EntityContact, Op: contact.SinkCreate,
		ReferenceSource: "online", Set: contact.Values{contact.GivenName: "Bob", contact.Email: "bob@example.org", contact.Locality: "York"}}
	if _, err := o.ApplyReporting(ctx, deliveries(create)); err != nil {
		t.Fatal(err)
	}
	// The desk edits the email (not as the sync).
	if _, err := pool.Exec(ctx, `UPDATE contacts SET email = 'robert@desk.example.org', updated_by = 'desk' WHERE id = 'cs-p-bob'`); err != nil {
		t.Fatal(err)
	}
	update := contact.SinkRecord{EventID: "u1", PersonID: "p-bob", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		SourceTime: time.Now().Add(-time.Hour), Set: contact.Values{contact.Email: "bob@new.example.org", contact.Locality: "Hull"}}
	batch := deliveries(update)
	out, err := o.ApplyReporting(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	r := readContact(t, ctx, pool, "cs-p-bob")
	if str(r.Email) != "robert@desk.example.org" || str(r.City) != "Hull" {
		t.Errorf("after the re-decided update: email %s city %s, want the desk's email kept and Hull written", str(r.Email), str(r.City))
	}
	if out.Applied != 1 || len(out.KickOuts) != 1 {
		t.Fatalf("applied %d kick-outs %d, want 1 and 1 apply.conflict", out.Applied, len(out.KickOuts))
	}
	ko := out.KickOuts[0]
	var detail struct {
		ContactID string                  `json:"contact_id"`
		Conflicts []offlineapply.Conflict `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(ko.Explanation), &detail); err != nil {
		t.Fatalf("explanation %q: %v", ko.Explanation, err)
	}
	want := offlineapply.Conflict{Field: contact.Email, Offline: "robert@desk.example.org", Sync: "bob@new.example.org"}
	if ko.Reason != "apply.conflict" || ko.PersonID != "p-bob" || string(ko.Value) != "raw-u1" || len(detail.Conflicts) != 1 || detail.Conflicts[0] != want {
		t.Errorf("kick-out %+v detail %+v, want apply.conflict for p-bob with %+v and the record's bytes", ko, detail, want)
	}
	again, err := o.ApplyReporting(ctx, batch)
	if err != nil || again.Applied != 0 || len(again.KickOuts) != 1 || again.KickOuts[0].ID != ko.ID {
		t.Errorf("redelivery: %+v %v, want the same kick-out again and nothing applied", again, err)
	}
	// The kept value is the sync's base now: the next change of the email
	// from the sync is written.
	next := contact.SinkRecord{EventID: "u2", PersonID: "p-bob", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		SourceTime: time.Now(), Set: contact.Values{contact.Email: "bob@newer.example.org"}}
	if out, err := o.ApplyReporting(ctx, deliveries(next)); err != nil || len(out.KickOuts) != 0 {
		t.Fatalf("next update: %+v %v", out, err)
	}
	if r := readContact(t, ctx, pool, "cs-p-bob"); str(r.Email) != "bob@newer.example.org" {
		t.Errorf("after the next update email %s", str(r.Email))
	}
}

// Re-deciding by the field rules: where the rule gives the offline system
// authority (the address, by default), the desk's edit made since the sync
// decided stands without a kick-out; a field whose rule does not (the email)
// keeps the desk's value too but goes to a person with both values.
func TestOfflineApplyOfflineAuthorityByFieldRule(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o, err := pgstore.OpenOffline(ctx, testenv.Postgres(t), pgstore.OfflineConfig{Schema: schema, Columns: decode.DefaultColumns(),
		Rules: offlineapply.FieldRules{contact.Locality: offlineapply.OfflineWins}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	create := contact.SinkRecord{EventID: "c1", PersonID: "p-di", Entity: contact.EntityContact, Op: contact.SinkCreate,
		Set: contact.Values{contact.GivenName: "Di", contact.Email: "di@example.org", contact.Locality: "York"}}
	if _, err := o.ApplyReporting(ctx, deliveries(create)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE contacts SET email = 'di@desk.example.org', city = 'Whitby' WHERE id = 'cs-p-di'`); err != nil {
		t.Fatal(err)
	}
	update := contact.SinkRecord{EventID: "u1", PersonID: "p-di", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		SourceTime: time.Now().Add(-time.Minute), Set: contact.Values{contact.Email: "di@web.example.org", contact.Locality: "Hull",
			contact.GivenName: "Diana"}}
	out, err := o.ApplyReporting(ctx, deliveries(update))
	if err != nil {
		t.Fatal(err)
	}
	r := readContact(t, ctx, pool, "cs-p-di")
	if str(r.Email) != "di@desk.example.org" || str(r.City) != "Whitby" || str(r.FirstName) != "Diana" {
		t.Errorf("row: email %s city %s name %s; want the desk's email and city kept, the untouched name written",
			str(r.Email), str(r.City), str(r.FirstName))
	}
	if len(out.KickOuts) != 1 || !strings.Contains(out.KickOuts[0].Explanation, `"field":"email"`) ||
		strings.Contains(out.KickOuts[0].Explanation, "locality") {
		t.Errorf("kick-outs %+v, want one apply.conflict naming the email only", out.KickOuts)
	}
}

// An offline edit that commits while the applier is deciding (between its
// read of the row and its write) is not lost: the conditional write on the
// row version fails, the applier reads the row again and re-decides, so the
// desk's value is kept and kicked out instead of overwritten.
func TestOfflineApplyEditDuringTheApply(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o := openOffline(t, ctx, schema)
	create := contact.SinkRecord{EventID: "c1", PersonID: "p-cy", Entity: contact.EntityContact, Op: contact.SinkCreate,
		Set: contact.Values{contact.GivenName: "Cy", contact.Email: "cy@example.org"}}
	if _, err := o.ApplyReporting(ctx, deliveries(create)); err != nil {
		t.Fatal(err)
	}
	desk, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = desk.Rollback(context.Background()) }()
	var deskPID int
	if err := desk.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&deskPID); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Exec(ctx, `UPDATE contacts SET email = 'cy@desk.example.org', updated_by = 'desk' WHERE id = 'cs-p-cy'`); err != nil {
		t.Fatal(err)
	}
	update := contact.SinkRecord{EventID: "u1", PersonID: "p-cy", Entity: contact.EntityContact, Op: contact.SinkUpdate,
		SourceTime: time.Now(), Set: contact.Values{contact.Email: "cy@web.example.org"}}
	type result struct {
		out deliver.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := o.ApplyReporting(ctx, deliveries(update))
		done <- result{out, err}
	}()
	// The applier read the committed row (the sync's own email) and now
	// waits on the desk's row lock with its write.
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, deskPID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the applier finished without waiting for the desk's open edit: %+v", r)
		case <-ctx.Done():
			t.Fatal("the applier never blocked on the desk's edit")
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
	if err := desk.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := readContact(t, ctx, pool, "cs-p-cy"); str(got.Email) != "cy@desk.example.org" {
		t.Errorf("email %s: the desk's edit was overwritten", str(got.Email))
	}
	if len(r.out.KickOuts) != 1 || r.out.KickOuts[0].Reason != "apply.conflict" {
		t.Errorf("kick-outs %+v, want one apply.conflict", r.out.KickOuts)
	}
}

// Records the offline tables cannot take are kicked out, never dropped: a
// gift or an update for a contact that does not exist, a gift record
// without its gift.
func TestOfflineApplyKicksOutWhatHasNoRow(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	_, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o := openOffline(t, ctx, schema)
	recs := []contact.SinkRecord{
		{EventID: "g-missing", PersonID: "p-x", Entity: contact.EntityGift, Op: contact.SinkCreate, TargetRecordID: "OFF-404",
			Gift: &contact.Gift{GiftID: "g1", AmountMinor: 100, Currency: "EUR", ReceivedAt: time.Now()}},
		{EventID: "g-nolink", PersonID: "p-y", Entity: contact.EntityGift, Op: contact.SinkCreate,
			Gift: &contact.Gift{GiftID: "g2", AmountMinor: 100, Currency: "EUR", ReceivedAt: time.Now()}},
		{EventID: "u-missing", PersonID: "p-z", Entity: contact.EntityContact, Op: contact.SinkUpdate, TargetRecordID: "OFF-405",
			Set: contact.Values{contact.Email: "z@example.org"}},
		{EventID: "g-empty", PersonID: "p-w", Entity: contact.EntityGift, Op: contact.SinkCreate, TargetRecordID: "OFF-404"},
	}
	out, err := o.ApplyReporting(ctx, deliveries(recs...))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ko := range out.KickOuts {
		got = append(got, ko.EventID+" "+ko.Reason)
	}
	want := []string{"g-missing apply.no_record", "g-nolink apply.no_record", "u-missing apply.no_record", "g-empty apply.invalid"}
	if out.Applied != 4 || len(got) != len(want) {
		t.Fatalf("applied %d, kick-outs %v; want 4 applied (as kicked out) and %v", out.Applied, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("kick-out %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// A value the offline database refuses (a giving total too large for its
// numeric(12,2) column) kicks out that change alone, without the value in
// the error; the rest of the batch is applied.
func TestOfflineApplyRefusedValueKickedOut(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	pool, schema := testenv.OfflineSchema(t, ctx, "test_offline_")
	o := openOffline(t, ctx, schema)
	recs := []contact.SinkRecord{
		{EventID: "big", PersonID: "p-big", Entity: contact.EntityContact, Op: contact.SinkCreate,
			Set: contact.Values{contact.GivenName: "Big", contact.GivingTotal: "123456789012345.00"}},
		{EventID: "ok", PersonID: "p-ok", Entity: contact.EntityContact, Op: contact.SinkCreate,
			Set: contact.Values{contact.GivenName: "Ok"}},
	}
	out, err := o.ApplyReporting(ctx, deliveries(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if out.Applied != 2 || len(out.KickOuts) != 1 || out.KickOuts[0].Reason != "apply.invalid" || out.KickOuts[0].EventID != "big" {
		t.Fatalf("outcome %+v, want both applied and one apply.invalid for big", out)
	}
	if strings.Contains(out.KickOuts[0].Error, "123456789012345") {
		t.Errorf("kick-out error quotes the value: %s", out.KickOuts[0].Error)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d contacts (err %v), want only p-ok's", n, err)
	}
}
