package app

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// cdc renders a Debezium change event (schemas off) of the offline table.
func cdc(op string, lsn int, before, after string) [2]string {
	id := "OFF-1"
	for _, img := range []string{after, before} {
		if i := strings.Index(img, `"id":"`); i >= 0 {
			id = strings.SplitN(img[i+6:], `"`, 2)[0]
			break
		}
	}
	if before == "" {
		before = "null"
	}
	if after == "" {
		after = "null"
	}
	return [2]string{fmt.Sprintf(`{"id":%q}`, id), fmt.Sprintf(`{"before":%s,"after":%s,"op":%q,"ts_ms":1793610000000,`+
		`"source":{"connector":"postgresql","name":"offline","db":"donors","schema":"public","table":"contacts","lsn":%d}}`, before, after, op, lsn)}
}

func webhook(key, body string) [2]string { return [2]string{key, body} }

const (
	annaRow = `{"id":"OFF-1","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org","phone":"+1 217 384 0101","address1":"1 High Street","city":"Springfield","state":"IL","postcode":"62701","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,"giving_total":"125.00","reference_source":"online","updated_by":"admin","updated_at":"2026-11-02T09:00:00Z"}`
	benRow  = `{"id":"OFF-2","first_name":"Ben","last_name":"Brown","email":"ben@mailbox.org","phone":"+1 217 384 0102","address1":"2 Mill Road","city":"Madison","state":"WI","postcode":"53703","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,"giving_total":"40.00","reference_source":"direct_mail","updated_by":"admin","updated_at":"2026-11-02T09:00:00Z"}`
)

// TestEndToEnd feeds offline CDC and online events through all four stages
// on the real broker and Redis (when `make test` runs it) and checks the
// exact records on every sink topic, the review topic and the kick-outs.
func TestEndToEnd(t *testing.T) {
	p := startPipeline(t, nil)
	topics := p.cfg.Topics

	// 1. The offline initial load.
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow), cdc("r", 101, "", benRow))

	// 2. Online: Anna gives (a typo in her name, same email: she is matched,
	// not duplicated); a new donor gives twice; Ben (reference source
	// direct_mail) gives; three records cannot be processed.
	p.feed(topics.OnlineEvents,
		webhook("web-1", `{"event_id":"evt-1","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:00:00Z","origin":"api",
			"contact":{"id":"web-1","reference_source":"online","first_name":"Anan","last_name":"Adams","email":"Anna@Mailbox.org","phone":"(217) 384-0101"},
			"gift":{"id":"g-1","amount":"25.00","currency":"USD"}}`),
		webhook("web-2", `{"event_id":"evt-2","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:01:00Z","origin":"api",
			"contact":{"id":"web-2","reference_source":"online","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org","address":{"line1":"3 Park Avenue","city":"Austin","region":"TX","postcode":"78701","country":"US"}},
			"gift":{"id":"g-2","amount":"10.00","currency":"USD"}}`),
		webhook("web-2", `{"event_id":"evt-3","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:02:00Z","origin":"api",
			"contact":{"id":"web-2","reference_source":"online","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org"},
			"gift":{"id":"g-3","amount":"12.50","currency":"USD"}}`),
		webhook("web-2", `{"event_id":"evt-3","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:02:00Z","origin":"api",
			"contact":{"id":"web-2","reference_source":"online","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org"},
			"gift":{"id":"g-3","amount":"12.50","currency":"USD"}}`), // redelivered by the webhook sender
		webhook("web-3", `{"event_id":"evt-4","type":"gift.created","system":"online","occurred_at":"2026-11-03T10:03:00Z","origin":"api",
			"contact":{"id":"web-3","reference_source":"online","first_name":"Ben","last_name":"Brown","email":"ben@mailbox.org"},
			"gift":{"id":"g-4","amount":"5.00","currency":"USD"}}`),
		webhook("bad-1", `{"event_id":"evt-bad-1","type":"gift.created",`),
		webhook("bad-2", `{"event_id":"evt-bad-2","type":"contact.created","occurred_at":"2026-11-03T10:04:00Z","contact":{"first_name":"No","last_name":"Id"}}`),
		webhook("bad-3", `{"event_id":"evt-bad-3","type":"contact.created","occurred_at":"2026-11-03T10:04:00Z","contact":{"id":"bad-3","email":"not-an-email"}}`),
	)

	// 3. The offline system writes Cara (our create) and Anna's gift: its
	// CDC comes back as the sync's own write and must not bounce.
	p.feed(topics.OfflineCDC, cdc("c", 200, "", `{"id":"OFF-3","first_name":"Cara","last_name":"Cole","email":"cara@mailbox.org","address1":"3 Park Avenue","city":"Austin","state":"TX","postcode":"78701","country":"US","do_not_email":false,"do_not_mail":false,"do_not_phone":false,"reference_source":"online","updated_by":"contactsync","updated_at":"2026-11-03T10:05:00Z"}`))

	// 4. Edits: Anna changes her address online (reaches offline), the
	// offline echo of that write (no bounce), an offline email change for
	// Anna (never online), an offline opt-out for Anna (reaches online), an
	// offline phone change for Ben (not synced back: reference source
	// direct_mail), a self-service name change (held for review), a delete.
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-5","type":"contact.updated","system":"online","occurred_at":"2026-11-04T08:00:00Z","origin":"api",
		"contact":{"id":"web-1","address":{"line1":"9 Harbour View","city":"Portland","region":"OR","postcode":"97201","country":"US"}}}`))
	annaMoved := strings.NewReplacer(`"1 High Street"`, `"9 Harbour View"`, `"Springfield"`, `"Portland"`, `"IL"`, `"OR"`, `"62701"`, `"97201"`, `"admin"`, `"contactsync"`).Replace(annaRow)
	p.feed(topics.OfflineCDC,
		cdc("u", 300, annaRow, annaMoved),
		cdc("u", 301, annaMoved, strings.NewReplacer(`"anna@mailbox.org"`, `"anna.adams@mailbox.org"`, `"contactsync"`, `"admin"`).Replace(annaMoved)),
		cdc("u", 302, annaMoved, strings.NewReplacer(`"do_not_mail":false`, `"do_not_mail":true`, `"contactsync"`, `"admin"`, `"anna@mailbox.org"`, `"anna.adams@mailbox.org"`).Replace(annaMoved)),
		cdc("u", 303, benRow, strings.Replace(benRow, `"+1 217 384 0102"`, `"+1 217 384 0199"`, 1)),
		cdc("d", 304, benRow, ""),
	)
	p.feed(topics.OnlineEvents,
		webhook("web-2", `{"event_id":"evt-6","type":"contact.updated","system":"online","occurred_at":"2026-11-04T09:00:00Z","origin":"self_service",
			"contact":{"id":"web-2","last_name":"Cole-Smythe"}}`),
		// Anna unsubscribes from email online: the opt-out reaches offline.
		webhook("web-1", `{"event_id":"evt-7","type":"contact.updated","system":"online","occurred_at":"2026-11-04T10:00:00Z","origin":"self_service",
			"contact":{"id":"web-1","consent":{"email":false}}}`))

	want := map[string][]string{
		"offline": {
			"contact create ref=online given_name=Cara family_name=Cole email=cara@mailbox.org address_line1=3 Park Avenue locality=Austin region=TX postcode=78701 country=US",
			"contact update OFF-1 address_line1=9 Harbour View locality=Portland region=OR postcode=97201",
			"contact update OFF-1 do_not_email=true",
			"gift create OFF-1 ref=online gift=g-1",
			"gift create OFF-2 ref=online gift=g-4",
			"gift create ref=online gift=g-2",
			"gift create ref=online gift=g-3",
		},
		"online": {
			"contact update web-1 do_not_mail=true",
			// the first link stamps the offline data online: the corrected
			// name, the address the web account lacked, consent and giving
			"contact update web-1 given_name=Anna address_line1=1 High Street locality=Springfield region=IL postcode=62701 country=US do_not_email=false do_not_mail=false do_not_phone=false giving_total=125.00",
			// the offline id written back: Cara's, once offline's CDC shows
			// the contact we had it create; Ben's, on the first link of his
			// web record to his offline one (nothing else to send: his
			// reference source is direct_mail)
			"contact update web-2 links=offline:OFF-3",
			"contact update web-3 links=offline:OFF-2",
		},
	}
	for system, exp := range want {
		got := describeAll(p.sinks(system))
		sort.Strings(exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("sink %s:\n got  %q\n want %q", system, got, exp)
		}
	}
	// The offline id is stamped on every online record; a new donor's
	// contact comes before her gifts, in one partition (same person key).
	offlineOf := map[string]string{"web-1": "OFF-1", "web-2": "OFF-3", "web-3": "OFF-2"}
	for _, s := range p.sinks("online") {
		if s.Links["offline"] != offlineOf[s.TargetRecordID] || s.Links["online"] != s.TargetRecordID {
			t.Errorf("online record %s without its offline id stamped: links %v", s.TargetRecordID, s.Links)
		}
	}
	var order []string
	person := ""
	for _, s := range p.sinks("offline") {
		if s.Links["online"] == "web-2" {
			order = append(order, string(s.Entity)+" "+string(s.Op))
			if person != "" && s.PersonID != person {
				t.Errorf("Cara's records belong to two persons: %s and %s", person, s.PersonID)
			}
			person = s.PersonID
		}
	}
	if strings.Join(order, ", ") != "contact create, gift create, gift create" {
		t.Errorf("Cara's offline records in order: %v, want the contact create before both gifts", order)
	}

	var kicked []string
	for _, k := range p.kickOuts() {
		kicked = append(kicked, string(k.Key)+" "+k.Reason+" "+k.Stage)
		if len(k.Value) == 0 {
			t.Errorf("kick-out %s lost the raw bytes", k.ID)
		}
	}
	sort.Strings(kicked)
	wantKicked := []string{"bad-1 decode.json ingest", "bad-2 validate.missing_id ingest", "bad-3 validate.field ingest", "p-? rules.delete router"}
	if len(kicked) != len(wantKicked) {
		t.Errorf("kick-outs %q, want %q", kicked, wantKicked)
	}
	for i := range min(len(kicked), len(wantKicked)) {
		if !strings.HasPrefix(wantKicked[i], "p-?") && kicked[i] != wantKicked[i] || strings.HasPrefix(wantKicked[i], "p-?") && !strings.HasSuffix(kicked[i], "rules.delete router") {
			t.Errorf("kick-out %d: %q, want %q", i, kicked[i], wantKicked[i])
		}
	}
	reviews := p.reviews()
	if len(reviews) != 1 || reviews[0].TargetSystem != "offline" || fmt.Sprint(reviews[0].Proposed) != "map[family_name:Cole-Smythe]" {
		t.Errorf("reviews %+v, want one for offline proposing family_name=Cole-Smythe", reviews)
	}
}
