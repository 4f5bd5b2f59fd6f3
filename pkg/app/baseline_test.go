package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

const (
	baselineOffline = `record_id,reference_source,given_name,family_name,email,phone,address_line1,locality,region,postcode,country,do_not_email,do_not_mail,do_not_phone,giving_total
OFF-1,online,Anna,Adams,anna@mailbox.org,+1 217 384 0101,1 High Street,Springfield,IL,62701,US,false,false,false,125.00
OFF-2,direct_mail,Ben,Brown,ben@mailbox.org,+1 217 384 0102,2 Mill Road,Madison,WI,53703,US,false,false,false,40.00
`
	baselineOnline = `record_id,given_name,family_name,email,phone,address_line1,locality,region,postcode,country
web-1,Anna,Adams,anna@mailbox.org,+1 217 384 0199,1 High Street,Springfield,IL,62701,US
web-9,Dora,Dane,dora@mailbox.org,+1 217 384 0109,,,,,
`
)

// TestBaselineApplyOnRealServices applies a baseline to the real Redis and
// Kafka under the whole pipeline: the report's records reach the sink
// topics, a second apply changes nothing, and the first live events of the
// baselined persons are no-ops until something changes.
func TestBaselineApplyOnRealServices(t *testing.T) {
	p := startPipeline(t, nil)
	dir := t.TempDir()
	for name, body := range map[string]string{"offline.csv": baselineOffline, "online.csv": baselineOnline} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := BaselineOptions{Offline: filepath.Join(dir, "offline.csv"), Online: filepath.Join(dir, "online.csv"),
		Report: filepath.Join(dir, "report"), Apply: true}
	ctx := testenv.Context(t, 2*time.Minute)
	sum, err := runBaseline(ctx, p.cfg, opts, io.Discard, p.app)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Links != 1 || sum.Creates["offline"] != 1 || sum.Applied == nil || sum.Applied.Persons != 3 || sum.Applied.Sinks != 2 {
		t.Fatalf("first apply: %+v applied %+v", sum, sum.Applied)
	}
	wantOffline := []string{"contact create ref=online given_name=Dora family_name=Dane email=dora@mailbox.org phone=+12173840109"}
	// Anna's offline phone wins (a newly linked record overwrites nothing)
	// and goes online with what online lacks, stamped with her offline id.
	wantOnline := []string{"contact update web-1 phone=+12173840101 do_not_email=false do_not_mail=false do_not_phone=false giving_total=125.00"}
	check := func(when string) {
		t.Helper()
		if got := describeAll(p.sinks("offline")); !reflect.DeepEqual(got, wantOffline) {
			t.Errorf("%s: offline sink records\n got %q\nwant %q", when, got, wantOffline)
		}
		online := p.sinks("online")
		if got := describeAll(online); !reflect.DeepEqual(got, wantOnline) {
			t.Errorf("%s: online sink records\n got %q\nwant %q", when, got, wantOnline)
		}
		for _, s := range online {
			if s.Links["offline"] != "OFF-1" {
				t.Errorf("%s: online update without the offline id stamped: %v", when, s.Links)
			}
		}
	}
	check("after the apply")

	// Applied twice: nothing new.
	sum, err = runBaseline(ctx, p.cfg, opts, io.Discard, p.app)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Applied == nil || sum.Applied.Persons != 0 || sum.Applied.Skipped != 3 || sum.Applied.Sinks != 0 {
		t.Errorf("second apply: %+v", sum.Applied)
	}
	check("after the second apply")

	// The first live events of baselined persons, as the systems report
	// them (the offline snapshot, Anna online as she was), change nothing.
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow), cdc("r", 101, "", benRow))
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-1","type":"contact.updated","system":"online","occurred_at":"2026-11-03T10:00:00Z","origin":"api",
			"contact":{"id":"web-1","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org","phone":"+1 217 384 0199",
			"address":{"line1":"1 High Street","city":"Springfield","region":"IL","postcode":"62701","country":"US"}}}`))
	check("after the first live events")
	if k := p.kickOuts(); len(k) != 0 {
		t.Errorf("kick-outs: %+v", k)
	}

	// A real change flows as usual.
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-2","type":"contact.updated","system":"online","occurred_at":"2026-12-24T10:00:00Z","origin":"api",
			"contact":{"id":"web-1","first_name":"Anna","last_name":"Adams","email":"anna.adams@mailbox.org","phone":"+1 217 384 0199",
			"address":{"line1":"1 High Street","city":"Springfield","region":"IL","postcode":"62701","country":"US"}}}`))
	got := describeAll(p.sinks("offline"))
	want := append(wantOffline, "contact update OFF-1 email=anna.adams@mailbox.org")
	if !reflect.DeepEqual(got, want) || !strings.Contains(strings.Join(got, "\n"), "anna.adams") {
		t.Errorf("after a change: offline sink records\n got %q\nwant %q", got, want)
	}
}

// TestBaselinePostgresSource reads the offline side from a table of the
// offline schema's columns on the real PostgreSQL.
func TestBaselinePostgresSource(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := testenv.Context(t, time.Minute)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := strings.ReplaceAll(testenv.Unique("baseline"), "-", "_")
	for _, stmt := range []string{
		`CREATE TABLE ` + table + ` (id text PRIMARY KEY, first_name text, last_name text, email text, phone text,
			address1 text, city text, state text, postcode text, country text, birth_date date,
			do_not_email boolean NOT NULL DEFAULT false, giving_total numeric(12,2), reference_source text,
			updated_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ` + table + ` (id, first_name, last_name, email, phone, address1, city, state, postcode, country, birth_date, giving_total, reference_source, updated_at) VALUES
			('OFF-1','Anna','Adams','anna@mailbox.org','+1 217 384 0101','1 High Street','Springfield','IL','62701','US','1980-02-03',125.5,'online','2026-11-02T09:00:00Z'),
			('OFF-2','Ben','Brown','ben@mailbox.org',NULL,'2 Mill Road','Madison','WI','53703','US',NULL,NULL,'direct_mail','2026-11-02T09:00:00Z')`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP TABLE `+table) })

	dir := t.TempDir()
	online := filepath.Join(dir, "online.csv")
	if err := os.WriteFile(online, []byte("record_id,given_name,family_name,email,address_line1,locality,region,postcode,country\n"+
		"web-1,Anna,Adams,anna@mailbox.org,1 High Street,Springfield,IL,62701,US\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report")
	sum, err := runBaseline(ctx, cfg, BaselineOptions{Offline: dsn, Table: table, Online: online, Report: report}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read["offline"] != 2 || sum.Links != 1 || sum.Rejected["offline"] != 0 {
		rejected, _ := os.ReadFile(filepath.Join(report, "rejected.csv"))
		t.Fatalf("summary %+v\n%s", sum, rejected)
	}
	diffs, err := os.ReadFile(filepath.Join(report, "differences.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// The offline values as the table has them (a date, a numeric, a
	// phone in E.164), each missing online.
	for _, want := range []string{"date_of_birth,OFF-1,1980-02-03,web-1,", "giving_total,OFF-1,125.50,web-1,", "phone,OFF-1,+12173840101,web-1,"} {
		if !strings.Contains(string(diffs), want) {
			t.Errorf("differences.csv lacks %q:\n%s", want, diffs)
		}
	}
}
