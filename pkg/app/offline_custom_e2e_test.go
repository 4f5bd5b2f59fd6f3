package app

// Custom fields at the offline edge, end to end on the real PostgreSQL,
// Debezium, Kafka and Redis: the offline table has columns of its own, the
// rules declare them as custom fields and map them, and each flows the way
// its rule says.

import (
	"os"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// customEdgeRules are the default rules with an appeal code that flows
// online -> offline (column "appeal") and a membership level that flows
// offline -> online (column "member_level"), the offline system deciding.
func customEdgeRules(t *testing.T) string {
	return rulesFileWithCustomFields(t, `
mapping:
  offline:
    columns:
      appeal: appeal_code
      member_level: membership_level
`)
}

func TestOfflineEdgeCustomFields(t *testing.T) {
	connectURL := os.Getenv("CONNECT_URL")
	if connectURL == "" {
		if testenv.InCI() {
			t.Fatal("CI=true but CONNECT_URL is unset: run the tests through `make test`")
		}
		t.Skip("CONNECT_URL is unset: this test needs the Kafka Connect worker with Debezium that `make test` starts")
	}
	e := newOfflineEdge(t, connectURL, offlineEdgeSetup{
		ddl: []string{`ALTER TABLE contacts ADD COLUMN appeal text, ADD COLUMN member_level text`},
		env: map[string]string{"CONTACTSYNC_RULES": customEdgeRules(t)},
	})
	topics := e.p.cfg.Topics
	at := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }

	// Anna is offline (snapshot) and signs up online with the same email.
	e.waitCDC("OFF-1", `"first_name":"Anna"`)
	e.p.waitIdle()
	e.p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"oe-1","type":"contact.created","system":"online","occurred_at":"`+at()+`","origin":"api",
		"contact":{"id":"web-1","reference_source":"online","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org","phone":"+1 217 384 0101"}}`))

	// 1. Offline -> online: the desk raises her membership level (in any
	// case; the declared spelling travels).
	e.exec(`UPDATE contacts SET member_level = 'gold' WHERE id = 'OFF-1'`)
	e.waitCDC("OFF-1", `"member_level":"gold"`)
	e.p.waitIdle()
	if !hasSink(e.p.sinks("online"), func(s contact.SinkRecord) bool {
		return s.TargetRecordID == "web-1" && s.Set["membership_level"] == "Gold"
	}) {
		t.Fatalf("the offline membership level did not reach the online sink: %q", describeAll(e.p.sinks("online")))
	}

	// 2. Online -> offline: an online event carrying an appeal code lands
	// in the row's mapped column through the applier.
	e.p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"oe-2","type":"contact.updated","system":"online","occurred_at":"`+at()+`","origin":"api",
		"contact":{"id":"web-1","custom_fields":{"appeal_code":"XMAS26"}}}`))
	if !hasSink(e.p.sinks("offline"), func(s contact.SinkRecord) bool {
		return s.TargetRecordID == "OFF-1" && s.Set["appeal_code"] == "XMAS26"
	}) {
		t.Fatalf("no offline change decided for the appeal code: %q", describeAll(e.p.sinks("offline")))
	}
	for _, s := range e.p.sinks("online") {
		if _, ok := s.Set["appeal_code"]; ok {
			t.Errorf("the appeal code went online against its rule: %s", describe(s))
		}
	}
	before := e.counts()
	e.runApplier()
	var appeal, level, by string
	if err := e.db.QueryRow(e.ctx, `SELECT coalesce(appeal, ''), coalesce(member_level, ''), updated_by FROM contacts WHERE id = 'OFF-1'`).
		Scan(&appeal, &level, &by); err != nil {
		t.Fatal(err)
	}
	if appeal != "XMAS26" || level != "gold" || by != "contactsync" {
		t.Errorf("offline row: appeal %q, member_level %q, written by %q; want XMAS26, the desk's gold, contactsync", appeal, level, by)
	}

	// 3. The applier's write of the custom column comes back through
	// Debezium as the sync's own (origin sync on the changes topic; its
	// values equal the person's, so the origin is what tells it apart)
	// and causes nothing: no record to either sink, no kick-out.
	e.waitCDC("OFF-1", `"appeal":"XMAS26"`)
	e.p.waitIdle()
	var echoes []string
	for _, r := range e.p.read(topics.Changes) {
		c, err := e.p.app.Codec().DecodeChange(r.Value)
		if err != nil {
			t.Fatalf("change record: %v", err)
		}
		if c.SourceSystem == e.p.cfg.OfflineSystem && c.Values["appeal_code"] == "XMAS26" {
			echoes = append(echoes, string(c.Origin))
		}
	}
	if len(echoes) != 1 || echoes[0] != string(contact.OriginSync) {
		t.Errorf("offline changes carrying the applied appeal code have origins %q; want the one echo, origin sync", echoes)
	}
	if after := e.counts(); after != before {
		t.Errorf("the applier's echo caused records: before %+v, after %+v; want none", before, after)
	}
	e.stopApplier()

	// The dashboard's fix & resubmit knows the same fields.
	deps, err := e.p.app.DashboardDeps(e.p.prod)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := deps.Fields.Lookup("membership_level"); !ok {
		t.Error("the dashboard's field set lacks the declared custom field membership_level")
	}
}
