// Package faults is contactsync's fault suite: it generates a known input
// stream (offline contacts, online gifts with duplicates, typos, echoes and
// poison records), derives from the input alone what must come out, and
// checks the sink and kick-out topics against it. The suite itself
// (fault_test.go) runs the stages as processes on the real broker and Redis
// and kills them, Redis and the broker while the stream flows.
package faults

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/sampledata"
)

// Input is one record to produce.
type Input struct {
	Online bool // online events topic, else the offline CDC topic
	Key    []byte
	Value  []byte
}

// Stream is a generated input with what it must produce.
type Stream struct {
	// Load is the offline initial load (Debezium snapshot rows).
	Load []Input
	// Flow is everything else, in production order.
	Flow   []Input
	Expect Expectation
}

// Expectation is derived from the input only, never from the pipeline.
type Expectation struct {
	// Gifts: every valid gift id must reach the offline sink exactly once.
	Gifts map[string]bool
	// GiftRecords names each gift's online record (its key), so that a
	// missing gift can be traced to a kick-out of its record.
	GiftRecords map[string]string
	// Creates: every new online donor (by online record id) must be created
	// in the offline system exactly once; known donors never.
	Creates map[string]bool
	// Poison: the key of every record that must be kicked out exactly once.
	Poison map[string]bool
	// WriteBacks are the online records of known offline donors that the
	// stream links (online record id -> offline id). Each must be told its
	// offline id: by the links of a contact update, or by one link-only
	// update (the system of record's id written back), and by no second
	// one. (New donors' ids are written back from the system of record's
	// CDC of their create, which this stream does not have.)
	WriteBacks map[string]string
	// Echoes counts the sync's own writes coming back as offline CDC. They,
	// like every offline change after the initial load here, must cause
	// nothing: their values are what the sync wrote.
	Echoes int
}

type donor struct {
	onlineID, offlineID           string
	given, family, email, phone   string
	street, city, region, zip, rs string
}

var (
	givenNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Isla", "Jack", "Katherine", "Liam", "Maria", "Noah", "Olivia", "Peter", "Rosa", "Samuel", "Tara", "Victor"}
	streets    = []string{"High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Green Lane"}
)

// Generate builds a stream of about events online events over offline known
// donors; the same seed gives the same stream.
func Generate(seed uint64, offline, events int) Stream {
	rng := rand.New(rand.NewPCG(seed, seed*31+7))
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	s := Stream{Expect: Expectation{Gifts: map[string]bool{}, GiftRecords: map[string]string{}, Creates: map[string]bool{}, Poison: map[string]bool{}, WriteBacks: map[string]string{}}}
	// 70 syllables: random names rarely share a beginning, which
	// similarity measures weigh most.
	var syllables []string
	for _, c := range "bdfgklmnprstvz" {
		for _, v := range "aeiou" {
			syllables = append(syllables, string(c)+string(v))
		}
	}
	cities := []string{"Springfield", "Madison", "Austin", "Boulder", "Portland", "Salem", "Dover", "Helena", "Albany", "Trenton"}
	// Every donor is a plausible, distinct person: names, email, phone and
	// address drawn independently, so two strangers look like strangers
	// (the suite is about delivery, not about telling twins apart). Drawn
	// independently from small sets, thousands of donors would share an
	// email or a family name in one town by chance (the birthday problem:
	// hundreds of pairs at 100,000 events), or have names one syllable
	// apart, which reads as a typo; a matcher rightly leaves such pairs to a
	// person. So family names and email names are drawn again until they
	// differ from every other donor's in at least two syllables, and phones
	// until no other donor has the number.
	syllablesOf := func(n int) []string {
		w := make([]string, n)
		for i := range w {
			w[i] = syllables[rng.IntN(len(syllables))]
		}
		return w
	}
	word := func(n int) string { return strings.Join(syllablesOf(n), "") }
	taken := map[string]bool{}
	// apart draws a word of n syllables no other word of kind is within one
	// syllable of: each word taken blocks its n one-syllable wildcards.
	apart := func(kind string, n int) string {
		for {
			w := syllablesOf(n)
			masks := make([]string, n)
			clash := false
			for i := range w {
				masked := slices.Clone(w)
				masked[i] = "*"
				masks[i] = kind + strings.Join(masked, "")
				clash = clash || taken[masks[i]]
			}
			if clash {
				continue
			}
			for _, m := range masks {
				taken[m] = true
			}
			return strings.Join(w, "")
		}
	}
	phone := func() string {
		for {
			if p := fmt.Sprintf("+1217%07d", 2_000_000+rng.IntN(7_000_000)); !taken[p] {
				taken[p] = true
				return p
			}
		}
	}
	mk := func() donor {
		family := apart("family:", 5)
		return donor{
			given: givenNames[rng.IntN(len(givenNames))], family: strings.ToUpper(family[:1]) + family[1:],
			email:  apart("email:", 5) + "@mailbox.org",
			phone:  phone(),
			street: fmt.Sprintf("%d %s%s %s", 1+rng.IntN(999), strings.ToUpper(word(1)[:1]), word(2)[1:], streets[rng.IntN(len(streets))]),
			city:   cities[rng.IntN(len(cities))], region: "IL", zip: fmt.Sprintf("6%04d", rng.IntN(10000)),
		}
	}
	known := make([]donor, offline)
	for i := range known {
		d := mk()
		d.offlineID, d.onlineID = fmt.Sprintf("OFF-%06d", i), fmt.Sprintf("web-k%06d", i)
		d.rs = []string{"online", "direct_mail"}[i%2]
		known[i] = d
		s.Load = append(s.Load, debezium("r", d, base.Add(time.Duration(i)*time.Millisecond), "admin", int64(i)))
	}
	var fresh []donor
	t := base.Add(time.Hour)
	for i := 0; i < events; i++ {
		t = t.Add(time.Second)
		roll := rng.Float64()
		switch {
		case roll < 0.01: // poison: truncated JSON
			key := fmt.Sprintf("bad-json-%d", i)
			s.Flow = append(s.Flow, Input{Online: true, Key: []byte(key), Value: []byte(`{"event_id":"evt-` + key + `","type":"gift.created",`)})
			s.Expect.Poison[key] = true
			continue
		case roll < 0.02: // poison: a gift of a negative amount
			key := fmt.Sprintf("bad-amount-%d", i)
			d := mk()
			d.onlineID = key
			in := online(fmt.Sprintf("evt-%s", key), d, t, &gift{ID: "g-" + key, Amount: "-5.00"})
			s.Flow = append(s.Flow, in)
			s.Expect.Poison[key] = true
			continue
		case roll < 0.03 && offline > 0: // echo: the sync's own write of unchanged values
			j := rng.IntN(offline)
			s.Flow = append(s.Flow, debezium("u", known[j], t, "contactsync", int64(10_000_000+i)))
			s.Expect.Echoes++
			continue
		}
		var d donor
		if offline > 0 && roll < 0.6 {
			d = known[rng.IntN(offline)]
			s.Expect.WriteBacks[d.onlineID] = d.offlineID
			if rng.IntN(4) == 0 { // a typo in the online name
				d.given = sampledata.Typo(rng, d.given)
			}
		} else if len(fresh) == 0 || rng.IntN(3) == 0 {
			d = mk()
			d.onlineID = fmt.Sprintf("web-n%06d", len(fresh))
			fresh = append(fresh, d)
			s.Expect.Creates[d.onlineID] = true
		} else {
			d = fresh[rng.IntN(len(fresh))]
		}
		g := &gift{ID: fmt.Sprintf("g-%07d", i), Amount: []string{"10.00", "25.00", "50.00", "12.50"}[rng.IntN(4)]}
		in := online(fmt.Sprintf("evt-%07d", i), d, t, g)
		s.Flow = append(s.Flow, in)
		s.Expect.Gifts[g.ID] = true
		s.Expect.GiftRecords[g.ID] = d.onlineID
		if rng.IntN(20) == 0 { // redelivered by the webhook sender
			s.Flow = append(s.Flow, in)
		}
	}
	return s
}

type gift struct{ ID, Amount string }

func online(eventID string, d donor, at time.Time, g *gift) Input {
	c := sampledata.Contact{ID: d.onlineID, ReferenceSource: "online", Given: d.given, Family: d.family, Email: d.email,
		Phone: d.phone, Street: d.street, City: d.city, Region: d.region, Postcode: d.zip}
	gift := map[string]any{"id": g.ID, "amount": g.Amount, "currency": "USD", "received_at": at.Format(time.RFC3339), "campaign": "fault-suite"}
	return Input{Online: true, Key: []byte(d.onlineID), Value: sampledata.OnlineEvent(eventID, "gift.created", "online", "api", at, c, gift)}
}

func debezium(op string, d donor, at time.Time, by string, lsn int64) Input {
	row := map[string]any{
		"id": d.offlineID, "first_name": d.given, "last_name": d.family, "email": d.email, "phone": d.phone,
		"address1": d.street, "city": d.city, "state": d.region, "postcode": d.zip, "country": "US",
		"do_not_email": false, "do_not_mail": false, "do_not_phone": false,
		"reference_source": d.rs, "updated_by": by, "updated_at": at.Format(time.RFC3339Nano),
	}
	var before map[string]any
	if op == "u" {
		before = row
	}
	key, value := sampledata.DebeziumChange(op, d.offlineID, before, row, at, lsn)
	return Input{Key: key, Value: value}
}
