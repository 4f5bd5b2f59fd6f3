// Package demo generates a small, realistic data set for `make demo`:
// offline contacts as Debezium snapshot rows, online donors and gifts as
// webhook events (some of them the same people as offline, with typos),
// later edits on both sides, and some records that must be kicked out.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/sampledata"
)

// Input is one record to produce.
type Input struct {
	Topic string // "offline" or "online" (mapped to real topic names by the caller)
	Key   []byte
	Value []byte
	Note  string // what the record is meant to show
}

// DataSet is the generated data in the order it is to be fed: the offline
// initial load ("point zero") first, then online activity, then edits.
type DataSet struct {
	Phases [][]Input
	// Expect summarises what a correct pipeline must do with it.
	Expect Expectation
}

// Expectation is what the demo checks after the run.
type Expectation struct {
	OfflineContacts int
	OnlineMatches   int // online records that must link to an offline person
	OnlineNew       int // online records that create a new person
	Invalid         int // records that must be kicked out as undecodable/invalid
}

type person struct {
	given, family, email, phone, street, city, region, postcode, refSource string
	dob                                                                    string
}

var (
	givenNames  = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Isla", "Jack", "Katherine", "Liam", "Maria", "Noah", "Olivia", "Peter", "Quinn", "Rosa", "Samuel", "Tara", "Uma", "Victor", "William", "Yara"}
	familyNames = []string{"Adams", "Brown", "Clarke", "Davies", "Evans", "Fischer", "Garcia", "Hughes", "Iverson", "Jones", "Khan", "Lewis", "Martin", "Nguyen", "O'Brien", "Patel", "Quigley", "Roberts", "Smith", "Taylor", "Usman", "Vasquez", "Walker", "Young"}
	streets     = []string{"High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Victoria Street", "Green Lane", "Kings Road"}
	cities      = []struct{ city, region, zip string }{{"Springfield", "IL", "62701"}, {"Portland", "OR", "97201"}, {"Madison", "WI", "53703"}, {"Austin", "TX", "78701"}, {"Boulder", "CO", "80302"}}
	refSources  = []string{"online", "online", "direct_mail", "event"}
)

// Generate builds a data set from seed; the same seed gives the same data.
func Generate(seed uint64, offlineCount int) DataSet {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	people := make([]person, offlineCount)
	used := map[string]bool{}
	// newPerson draws a person with a name not used before, a home and a
	// phone; the caller adds the email.
	newPerson := func() person {
		var p person
		for {
			p = person{given: pick(rng, givenNames), family: pick(rng, familyNames)}
			if !used[p.given+p.family] {
				used[p.given+p.family] = true
				break
			}
		}
		c := cities[rng.IntN(len(cities))]
		p.phone = fmt.Sprintf("+1%s%07d", c.zip[:3], 2_000_000+rng.IntN(7_000_000)) // random: real neighbours do not have consecutive numbers
		p.street = fmt.Sprintf("%d %s", 1+rng.IntN(200), pick(rng, streets))
		p.city, p.region, p.postcode = c.city, c.region, c.zip
		return p
	}
	for i := range people {
		p := newPerson()
		p.email = strings.ToLower(fmt.Sprintf("%s.%s@mailbox.org", p.given, strings.ReplaceAll(p.family, "'", "")))
		p.dob = fmt.Sprintf("19%02d-%02d-%02d", 40+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28))
		p.refSource = pick(rng, refSources)
		people[i] = p
	}

	var ds DataSet
	// Phase 1: offline initial load as Debezium snapshot rows.
	var load []Input
	for i, p := range people {
		load = append(load, debeziumRow("r", offlineID(i), nil, offlineRow(i, p), base.Add(time.Duration(i)*time.Second), "admin"))
	}
	ds.Expect.OfflineContacts = len(people)
	ds.Phases = append(ds.Phases, load)

	// Phase 2: online activity.
	var online []Input
	t := base.Add(time.Hour)
	onlineSeq := 0
	nextOnline := func() string { onlineSeq++; return fmt.Sprintf("web-%04d", onlineSeq) }
	// Existing offline people give online, some with typos or another email.
	matched := min(len(people)/2, 10)
	for i := 0; i < matched; i++ {
		p := people[i]
		q := p
		switch i % 3 {
		case 1:
			q.given = sampledata.Typo(rng, p.given) // same email, typo in the name
		case 2:
			q.email = strings.ToLower(p.given) + "@inbox.net" // other email, same phone + name
		}
		id := nextOnline()
		t = t.Add(time.Minute)
		online = append(online, onlineEvent("gift.created", id, q, "online", "api", t, gift(rng, id, t)))
		ds.Expect.OnlineMatches++
	}
	// New donors that the offline system has never seen; one gives twice
	// through two web accounts (must end up as one person).
	for i := 0; i < 6; i++ {
		p := newPerson()
		p.email = strings.ToLower(fmt.Sprintf("%s%d@donors.net", p.given, 10+i))
		id := nextOnline()
		t = t.Add(time.Minute)
		online = append(online, onlineEvent("gift.created", id, p, "online", "api", t, gift(rng, id, t)))
		ds.Expect.OnlineNew++
		if i == 0 {
			id2 := nextOnline()
			t = t.Add(time.Minute)
			online = append(online, onlineEvent("gift.created", id2, p, "online", "api", t, gift(rng, id2, t)))
			ds.Expect.OnlineMatches++
		}
	}
	// Records that cannot be processed safely.
	online = append(online,
		Input{Topic: "online", Key: []byte("web-bad-1"), Value: []byte(`{"event_id": "evt-bad-1", "type": "gift.created", `), Note: "truncated JSON"},
		Input{Topic: "online", Key: []byte("web-bad-2"), Value: sampledata.MustJSON(map[string]any{
			"event_id": "evt-bad-2", "type": "contact.created", "system": "online", "occurred_at": t.Format(time.RFC3339),
			"contact": map[string]any{"first_name": "No", "last_name": "Identifier"}}), Note: "contact without an id"},
		Input{Topic: "online", Key: []byte("web-bad-3"), Value: sampledata.MustJSON(map[string]any{
			"event_id": "evt-bad-3", "type": "gift.created", "system": "online", "occurred_at": t.Format(time.RFC3339),
			"contact": map[string]any{"id": "web-bad-3", "first_name": "Neg", "last_name": "Ative", "email": "neg@mailbox.org"},
			"gift":    map[string]any{"id": "g-bad-3", "amount": "-5.00", "currency": "USD", "received_at": t.Format(time.RFC3339)}}), Note: "negative gift amount"},
	)
	ds.Expect.Invalid = 3
	ds.Phases = append(ds.Phases, online)

	// Phase 3: edits on both sides.
	var edits []Input
	t = t.Add(time.Hour)
	if len(people) > 3 {
		// Offline address change of an online-sourced contact: flows online
		// only if its reference source is online.
		p := people[3]
		after := offlineRow(3, p)
		after["address1"] = "77 Harbour View"
		edits = append(edits, debeziumRow("u", offlineID(3), offlineRow(3, p), after, t, "admin"))
		// Offline email change: never sent online.
		p1 := people[1]
		after1 := offlineRow(1, p1)
		after1["email"] = "changed." + p1.email
		edits = append(edits, debeziumRow("u", offlineID(1), offlineRow(1, p1), after1, t.Add(time.Second), "admin"))
		// Online opt-out: reaches the offline system.
		q := people[0]
		ev := onlineEvent("contact.updated", "web-0001", q, "online", "self_service", t.Add(2*time.Second), nil)
		edits = append(edits, withConsent(ev, false))
		// Self-service name change: held for review before offline.
		q2 := people[2]
		q2.family = q2.family + "-Smythe"
		edits = append(edits, onlineEvent("contact.updated", "web-0003", q2, "online", "self_service", t.Add(3*time.Second), nil))
	}
	ds.Phases = append(ds.Phases, edits)
	return ds
}

func offlineID(i int) string { return fmt.Sprintf("OFF-%05d", 1000+i) }

func offlineRow(i int, p person) map[string]any {
	return map[string]any{
		"id": offlineID(i), "first_name": p.given, "last_name": p.family, "organisation": nil,
		"email": p.email, "phone": p.phone, "address1": p.street, "address2": nil, "city": p.city,
		"state": p.region, "postcode": p.postcode, "country": "US", "birth_date": p.dob,
		"do_not_email": false, "do_not_mail": false, "do_not_phone": false,
		"giving_total": fmt.Sprintf("%d.00", 25*(1+i%8)), "last_gift_date": "2026-03-14",
		"reference_source": p.refSource, "updated_by": "admin",
	}
}

func debeziumRow(op, id string, before, after map[string]any, ts time.Time, by string) Input {
	if after != nil {
		after["updated_at"] = ts.Format(time.RFC3339Nano)
		after["updated_by"] = by
	}
	key, value := sampledata.DebeziumChange(op, id, before, after, ts, ts.UnixNano()/1000)
	return Input{Topic: "offline", Key: key, Value: value, Note: "offline " + op}
}

func onlineEvent(kind, id string, p person, system, origin string, at time.Time, g map[string]any) Input {
	c := sampledata.Contact{ID: id, ReferenceSource: system, Given: p.given, Family: p.family, Email: p.email,
		Phone: p.phone, Street: p.street, City: p.city, Region: p.region, Postcode: p.postcode}
	eventID := fmt.Sprintf("evt-%s-%d", id, at.Unix())
	return Input{Topic: "online", Key: []byte(id), Value: sampledata.OnlineEvent(eventID, kind, system, origin, at, c, g), Note: kind}
}

func withConsent(in Input, emailOK bool) Input {
	var ev map[string]any
	_ = json.Unmarshal(in.Value, &ev)
	ev["contact"].(map[string]any)["consent"] = map[string]any{"email": emailOK}
	in.Value = sampledata.MustJSON(ev)
	in.Note = "consent change"
	return in
}

func gift(rng *rand.Rand, donorID string, at time.Time) map[string]any {
	amounts := []string{"10.00", "25.00", "50.00", "100.00", "12.50"}
	return map[string]any{
		"id": "g-" + donorID + "-" + fmt.Sprint(at.Unix()), "amount": pick(rng, amounts), "currency": "USD",
		"received_at": at.Format(time.RFC3339), "campaign": "winter-appeal", "payment_method": "card",
	}
}

func pick(rng *rand.Rand, xs []string) string { return xs[rng.IntN(len(xs))] }
