package rules

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// at is t0 plus h hours.
func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

// step is one change fed to the engine, with what must come out.
type step struct {
	change   contact.Change
	decision contact.Decision // default known
	links    map[string]string
	sinks    []string // describe() of each sink record, in order
	reviews  []string // "target: proposed values | current values"
	echo     bool
	kickOut  string
	// decisions that must be among the result's ("field target action",
	// target "-" for the golden value)
	decisions []string
}

// offlineRow is an offline CDC row by a person (origin admin); v["rs"] is
// the row's reference source.
func offlineRow(id string, when time.Time, v contact.Values) contact.Change {
	return contact.Change{EventID: fmt.Sprintf("off-%s-%d", id, when.Unix()), SourceSystem: "offline", SourceRecordID: id,
		ReferenceSource: v["rs"], Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: when, Values: without(v, "rs")}
}

// syncRow is an offline CDC row written by the sync itself.
func syncRow(id string, when time.Time, v contact.Values) contact.Change {
	c := offlineRow(id, when, v)
	c.Origin = contact.OriginSync
	return c
}

func onlineEv(id string, when time.Time, origin contact.Origin, v contact.Values) contact.Change {
	return contact.Change{EventID: fmt.Sprintf("evt-%s-%d", id, when.Unix()), SourceSystem: "online", SourceRecordID: id,
		ReferenceSource: "online", Origin: origin, Op: contact.OpUpsert, SourceTime: when, Values: v}
}

func withGift(c contact.Change, id string, minor int64) contact.Change {
	c.Gift = &contact.Gift{GiftID: id, AmountMinor: minor, Currency: "USD", ReceivedAt: c.SourceTime}
	return c
}

func withCleared(c contact.Change, fs ...contact.Field) contact.Change {
	c.Cleared = fs
	return c
}

func without(v contact.Values, keys ...contact.Field) contact.Values {
	out := v.Clone()
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func with(v contact.Values, kv ...string) contact.Values {
	out := v.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		out[contact.Field(kv[i])] = kv[i+1]
	}
	return out
}

// anna is an offline donor whose reference source is the online system.
var anna = contact.Values{"rs": "online", contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org",
	contact.Phone: "+12175550101", contact.AddressLine1: "1 High Street", contact.Locality: "Springfield", contact.Postcode: "62701",
	contact.Country: "US", contact.DoNotEmail: "false", contact.GivingTotal: "125.00"}

// onlineAnna is Anna as the online system knows her (no giving history).
var onlineAnna = without(anna, "rs", contact.GivingTotal)

var linked = map[string]string{"offline": "OFF-1", "online": "web-1"}

// loadAnna and linkAnna bring Anna into both systems: the initial offline
// load, then her online account linked to her; the online record gets
// what it lacks from offline.
var (
	loadAnna = step{change: offlineRow("OFF-1", t0, anna), decision: contact.DecisionNew}
	linkAnna = step{change: onlineEv("web-1", at(1), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
		sinks: []string{"online contact update web-1 giving_total=125.00"}}
)

func describe(s contact.SinkRecord) string {
	parts := []string{s.TargetSystem, string(s.Entity), string(s.Op)}
	if s.TargetRecordID != "" {
		parts = append(parts, s.TargetRecordID)
	}
	if s.ReferenceSource != "" {
		parts = append(parts, "ref="+s.ReferenceSource)
	}
	for _, f := range contact.Fields {
		if v, ok := s.Set[f.Name]; ok {
			parts = append(parts, string(f.Name)+"="+v)
		}
	}
	for _, f := range s.Clear {
		parts = append(parts, string(f)+"=<clear>")
	}
	if s.Gift != nil {
		parts = append(parts, fmt.Sprintf("gift=%s:%d", s.Gift.GiftID, s.Gift.AmountMinor))
	}
	if len(s.Set) == 0 && len(s.Clear) == 0 && s.Gift == nil && s.Op == contact.SinkUpdate {
		// a link-only update: what it carries is its links
		var ids []string
		for _, sys := range sortedKeys(s.Links) {
			ids = append(ids, sys+":"+s.Links[sys])
		}
		parts = append(parts, "links="+strings.Join(ids, ","))
	}
	return strings.Join(parts, " ")
}

func describeValues(v contact.Values) string {
	var kv []string
	for _, f := range contact.Fields {
		if x, ok := v[f.Name]; ok {
			kv = append(kv, string(f.Name)+"="+x)
		}
	}
	return strings.Join(kv, " ")
}

func describeDecision(d FieldDecision) string {
	target := d.Target
	if target == "" {
		target = "-"
	}
	f := string(d.Field)
	if f == "" {
		f = d.Kind // gift or links
	}
	return f + " " + target + " " + d.Action
}

// play feeds the steps to one engine. For every step it also checks that
// the same input gives the same result, and that the same change again
// (a redelivery) against the state it produced emits nothing.
func play(t *testing.T, cfg *Config, steps []step) []byte {
	t.Helper()
	e := NewEngine(cfg)
	var state []byte
	for i, s := range steps {
		d := s.decision
		if d == "" {
			d = contact.DecisionKnown
		}
		links := s.links
		if links == nil {
			links = map[string]string{s.change.SourceSystem: s.change.SourceRecordID}
		}
		m := contact.Matched{Change: s.change, Match: contact.Match{PersonID: "p-1", Decision: d}, Links: links}
		res, err := e.Apply(state, m)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		again, _ := e.Apply(state, m)
		if !reflect.DeepEqual(res, again) {
			t.Fatalf("step %d: the same input gave two results:\n%+v\n%+v", i+1, res, again)
		}
		var got []string
		for _, sk := range res.Sinks {
			got = append(got, describe(sk))
			if sk.EventID == "" || sk.CausationID != s.change.EventID || sk.PersonID != "p-1" || !sk.SourceTime.Equal(s.change.SourceTime) || sk.Reason == "" {
				t.Fatalf("step %d: sink record ids not set: %+v", i+1, sk)
			}
		}
		var decisions []string
		for _, dd := range res.Decisions {
			decisions = append(decisions, describeDecision(dd))
		}
		if !reflect.DeepEqual(got, s.sinks) {
			t.Fatalf("step %d: sinks\n got %q\nwant %q\ndecisions %q", i+1, got, s.sinks, decisions)
		}
		var reviews []string
		for _, rv := range res.Reviews {
			reviews = append(reviews, rv.TargetSystem+": "+describeValues(rv.Proposed)+" | "+describeValues(rv.Current))
			if rv.ID == "" || rv.PersonID != "p-1" || rv.Change.EventID != s.change.EventID {
				t.Fatalf("step %d: review item ids not set: %+v", i+1, rv)
			}
		}
		if !reflect.DeepEqual(reviews, s.reviews) {
			t.Fatalf("step %d: reviews %q, want %q\ndecisions %q", i+1, reviews, s.reviews, decisions)
		}
		if (len(res.EchoSystems) > 0) != s.echo {
			t.Fatalf("step %d: echo systems %v, want echo=%v\ndecisions %q", i+1, res.EchoSystems, s.echo, decisions)
		}
		if res.KickOutReason != s.kickOut || (s.kickOut != "") != (res.KickOutError != nil) {
			t.Fatalf("step %d: kick-out %q (%v), want %q", i+1, res.KickOutReason, res.KickOutError, s.kickOut)
		}
		for _, want := range s.decisions {
			if !slices.Contains(decisions, want) {
				t.Fatalf("step %d: no decision %q among %q", i+1, want, decisions)
			}
		}
		if res.KickOutReason != "" && res.KickOutReason != ReasonGiftNoRecord && !bytes.Equal(res.State, state) {
			t.Fatalf("step %d: a kick-out changed the state", i+1)
		}
		redo, err := e.Apply(res.State, m)
		if err != nil {
			t.Fatalf("step %d again: %v", i+1, err)
		}
		if len(redo.Sinks) > 0 || len(redo.Reviews) > 0 {
			var again []string
			for _, sk := range redo.Sinks {
				again = append(again, describe(sk))
			}
			t.Fatalf("step %d delivered again emits %q and %d review items, want nothing", i+1, again, len(redo.Reviews))
		}
		state = res.State
	}
	return state
}

func TestRules(t *testing.T) {
	cfg := Default()
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a new online donor with a gift: the offline contact is created first (reference source online), then the gift", []step{{
			change:   withGift(onlineEv("web-9", t0, contact.OriginAPI, contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Email: "ben@example.net"}), "g-1", 2500),
			decision: contact.DecisionNew,
			sinks: []string{
				"offline contact create ref=online given_name=Ben family_name=Brown email=ben@example.net",
				"offline gift create ref=online gift=g-1:2500",
			},
			decisions: []string{"email - accepted", "email offline sent", "gift offline sent"},
		}, {
			// the next gift, before the offline record exists: no second create
			change: withGift(onlineEv("web-9", at(1), contact.OriginAPI, contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown"}), "g-2", 1000),
			sinks:  []string{"offline gift create ref=online gift=g-2:1000"},
		}, {
			// a change while the create is on its way goes as an update the
			// target resolves by the links
			change: onlineEv("web-9", at(2), contact.OriginAPI, contact.Values{contact.Phone: "+12175550998"}),
			sinks:  []string{"offline contact update phone=+12175550998"},
		}, {
			// the offline system writes the contact: our echo, origin sync
			change: syncRow("OFF-77", at(3), contact.Values{"rs": "online", contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Email: "ben@example.net",
				contact.Phone: "+12175550998", contact.DoNotEmail: "false"}),
			links: map[string]string{"offline": "OFF-77", "online": "web-9"},
			echo:  true,
			// the online record is told its offline id (writeback_test.go)
			sinks: []string{"online contact update web-9 links=offline:OFF-77,online:web-9"},
		}, {
			change: onlineEv("web-9", at(4), contact.OriginAPI, contact.Values{contact.Phone: "+12175550999"}),
			links:  map[string]string{"offline": "OFF-77", "online": "web-9"},
			sinks:  []string{"offline contact update OFF-77 phone=+12175550999"},
		}}},

		{"an online address change reaches offline with only the address; online is not sent it back; the offline echo stops there", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.AddressLine1: "9 Mill Road", contact.Locality: "Madison", contact.Postcode: "53703", contact.Country: "US"}),
				links: linked,
				sinks: []string{"offline contact update OFF-1 address_line1=9 Mill Road locality=Madison postcode=53703"}},
			{change: syncRow("OFF-1", at(3), with(anna, "address_line1", "9 Mill Road", "locality", "Madison", "postcode", "53703")),
				links: linked, echo: true, decisions: []string{"address_line1 - echo"}},
		}},

		{"the echo is recognised by its values when the row has no origin marker", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.Phone: "+12175550777"}), links: linked,
				sinks: []string{"offline contact update OFF-1 phone=+12175550777"}},
			{change: offlineRow("OFF-1", at(3), with(anna, "phone", "+12175550777")), links: linked, echo: true,
				decisions: []string{"phone - echo", "given_name - not_edited"}},
		}},

		{"a full offline row written before our update landed does not revert it", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.AddressLine1: "9 Mill Road", contact.Locality: "Madison", contact.Postcode: "53703", contact.Country: "US"}),
				links: linked,
				sinks: []string{"offline contact update OFF-1 address_line1=9 Mill Road locality=Madison postcode=53703"}},
			// offline edits the phone; its row still has the old address
			{change: offlineRow("OFF-1", at(3), with(anna, "phone", "+12175550202")), links: linked,
				sinks:     []string{"online contact update web-1 phone=+12175550202"},
				decisions: []string{"address_line1 - not_edited"}},
			// our update lands
			{change: syncRow("OFF-1", at(4), with(anna, "phone", "+12175550202", "address_line1", "9 Mill Road", "locality", "Madison", "postcode", "53703")),
				links: linked, echo: true},
		}},

		{"an edit made offline while our older write waits for the loader wins, and is sent again when that write lands", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.Phone: "+12175550301"}), links: linked,
				sinks: []string{"offline contact update OFF-1 phone=+12175550301"}},
			{change: offlineRow("OFF-1", at(3), with(anna, "phone", "+12175550302")), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550302"}},
			// the loader applies our first write after the offline edit
			{change: syncRow("OFF-1", at(4), with(anna, "phone", "+12175550301")), links: linked, echo: true,
				sinks: []string{"offline contact update OFF-1 phone=+12175550302"}},
			{change: syncRow("OFF-1", at(5), with(anna, "phone", "+12175550302")), links: linked, echo: true},
		}},

		{"an offline email change never reaches online, and offline keeps it until online's email changes", []step{
			loadAnna,
			// on first link, online's spelling of the email does not replace
			// the one offline holds
			{change: onlineEv("web-1", at(1), contact.OriginAPI, with(onlineAnna, "email", "Anna@Example.org")), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}, decisions: []string{"email - link_keep"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.Email: "anna.adams@example.com"}), links: linked,
				sinks: []string{"offline contact update OFF-1 email=anna.adams@example.com"}},
			{change: offlineRow("OFF-1", at(3), with(anna, "email", "new@example.org")), links: linked,
				decisions: []string{"email - not_allowed", "email offline kept"}},
			{change: onlineEv("web-1", at(4), contact.OriginAPI, contact.Values{contact.Phone: "+12175550404"}), links: linked,
				sinks: []string{"offline contact update OFF-1 phone=+12175550404"}},
			{change: onlineEv("web-1", at(5), contact.OriginAPI, contact.Values{contact.Email: "anna@adams.example"}), links: linked,
				sinks: []string{"offline contact update OFF-1 email=anna@adams.example"}},
		}},

		{"opt-outs are the most restrictive everywhere; an opt-in does not undo one", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginSelfService, contact.Values{contact.DoNotEmail: "true"}), links: linked,
				sinks: []string{"offline contact update OFF-1 do_not_email=true"}},
			// (the row shows our do_not_email write too: partly our echo)
			{change: offlineRow("OFF-1", at(3), with(anna, "do_not_email", "true", "do_not_mail", "true")), links: linked, echo: true,
				sinks: []string{"online contact update web-1 do_not_mail=true"}},
			// online says "may post" again: refused, and online is set back
			{change: onlineEv("web-1", at(4), contact.OriginSelfService, contact.Values{contact.DoNotMail: "false"}), links: linked,
				sinks:     []string{"online contact update web-1 do_not_mail=true"},
				decisions: []string{"do_not_mail - most_restrictive"}},
			// offline clears its flag: refused too
			{change: offlineRow("OFF-1", at(5), with(anna, "do_not_email", "false", "do_not_mail", "true")), links: linked,
				sinks:     []string{"offline contact update OFF-1 do_not_email=true"},
				decisions: []string{"do_not_email - most_restrictive"}},
		}},

		{"a contact whose reference source is not online is not synced back to online", []step{
			{change: offlineRow("OFF-1", t0, with(anna, "rs", "direct_mail")), decision: contact.DecisionNew},
			{change: onlineEv("web-1", at(1), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks:     []string{"online contact update web-1 links=offline:OFF-1,online:web-1"}, // its offline id, no data
				decisions: []string{"giving_total online out_of_scope"}},
			{change: offlineRow("OFF-1", at(2), with(anna, "rs", "direct_mail", "phone", "+12175550202")), links: linked,
				decisions: []string{"phone - accepted", "phone online out_of_scope"}},
			// online changes still reach the system of record
			{change: onlineEv("web-1", at(3), contact.OriginAPI, contact.Values{contact.Phone: "+12175550203"}), links: linked,
				sinks: []string{"offline contact update OFF-1 phone=+12175550203"}},
		}},

		{"a self-service name change is held for review, not sent; the approved change then goes", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginSelfService, contact.Values{contact.FamilyName: "Adams-Smythe", contact.Phone: "+12175550303"}), links: linked,
				sinks:     []string{"offline contact update OFF-1 phone=+12175550303"},
				reviews:   []string{"offline: family_name=Adams-Smythe | family_name=Adams"},
				decisions: []string{"family_name - held", "family_name offline held"}},
			// the same value in a later self-service event: no second review
			{change: onlineEv("web-1", at(3), contact.OriginSelfService, contact.Values{contact.FamilyName: "Adams-Smythe", contact.DoNotPhone: "true"}), links: linked,
				sinks: []string{"offline contact update OFF-1 do_not_phone=true"}},
			// an offline edit meanwhile does not overwrite the online value under review
			{change: offlineRow("OFF-1", at(4), with(anna, "phone", "+12175550303", "do_not_phone", "true", "organisation", "Adams & Co")), links: linked, echo: true,
				sinks:     []string{"online contact update web-1 organisation=Adams & Co"},
				decisions: []string{"family_name online kept"}},
			// approved: the dashboard sends the held values on as an admin change
			{change: func() contact.Change {
				c := onlineEv("web-1", at(2), contact.OriginAdmin, contact.Values{contact.FamilyName: "Adams-Smythe"})
				c.EventID += "~approved"
				return c
			}(), links: linked,
				sinks: []string{"offline contact update OFF-1 family_name=Adams-Smythe"}},
		}},

		{"a self-service address change is held as a whole unit", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginSelfService, contact.Values{contact.AddressLine1: "9 Mill Road", contact.AddressLine2: "Flat 2", contact.Locality: "Madison", contact.Postcode: "53703", contact.Country: "US"}),
				links:   linked,
				reviews: []string{"offline: address_line1=9 Mill Road address_line2=Flat 2 locality=Madison postcode=53703 country=US | address_line1=1 High Street address_line2= locality=Springfield postcode=62701 country=US"}},
			// approved: the dashboard sends the proposed values on as an admin
			// change. The country did not change but belongs to the unit: it
			// must be sent, not cleared by the unit's replacement.
			{change: func() contact.Change {
				c := onlineEv("web-1", at(2), contact.OriginAdmin, contact.Values{contact.AddressLine1: "9 Mill Road", contact.AddressLine2: "Flat 2", contact.Locality: "Madison", contact.Postcode: "53703", contact.Country: "US"})
				c.EventID += "~approved"
				return c
			}(), links: linked,
				sinks: []string{"offline contact update OFF-1 address_line1=9 Mill Road address_line2=Flat 2 locality=Madison postcode=53703"}},
		}},

		{"not supplied and empty never overwrite; an explicit clear is honoured everywhere", []step{
			loadAnna, linkAnna,
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.GivenName: "Anna", contact.Phone: ""}), links: linked,
				decisions: []string{"phone - no_empty_overwrite", "given_name - not_edited"}},
			{change: withCleared(onlineEv("web-1", at(3), contact.OriginAPI, nil), contact.Phone), links: linked,
				sinks:     []string{"offline contact update OFF-1 phone=<clear>"},
				decisions: []string{"phone - accepted"}},
			// the cleared value comes back from offline as an empty column: our echo
			{change: syncRow("OFF-1", at(4), without(anna, contact.Phone)), links: linked, echo: true},
			// offline sets a phone again; online gets it
			{change: offlineRow("OFF-1", at(5), with(anna, "phone", "+12175550606")), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550606"}},
		}},

		{"latest wins: an older change loses, and its system is sent the newer value back", []step{
			loadAnna, linkAnna,
			{change: offlineRow("OFF-1", at(3), with(anna, "phone", "+12175550404")), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550404"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.Phone: "+12175550505"}), links: linked,
				sinks:     []string{"online contact update web-1 phone=+12175550404"},
				decisions: []string{"phone - older"}},
		}},

		{"an address is one unit: an older address loses as a whole, even against a newer postcode alone", []step{
			loadAnna, linkAnna,
			{change: offlineRow("OFF-1", at(3), with(anna, "postcode", "62702")), links: linked,
				sinks: []string{"online contact update web-1 postcode=62702"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.AddressLine1: "7 Elm Street", contact.Locality: "Springfield", contact.Postcode: "62701", contact.Country: "US"}), links: linked,
				// the postcode online reports is the one it had before our write,
				// which is on its way: only the street is sent back
				sinks:     []string{"online contact update web-1 address_line1=1 High Street"},
				decisions: []string{"address_line1 - older", "postcode - not_edited"}},
			// a newer one replaces all of it: the parts it leaves out are cleared
			// (online still shows its street: our write of the old one is on its
			// way and would overwrite it, so online is sent its street again)
			{change: onlineEv("web-1", at(4), contact.OriginAPI, contact.Values{contact.AddressLine1: "7 Elm Street", contact.Locality: "Peoria", contact.Country: "US"}), links: linked,
				sinks: []string{"offline contact update OFF-1 address_line1=7 Elm Street locality=Peoria postcode=<clear>", "online contact update web-1 address_line1=7 Elm Street"}},
			// without the first line it only corrects the fields it has
			{change: onlineEv("web-1", at(5), contact.OriginAPI, contact.Values{contact.Postcode: "61602"}), links: linked,
				sinks: []string{"offline contact update OFF-1 postcode=61602"}},
		}},

		{"giving history only ever comes from offline", []step{
			loadAnna,
			{change: onlineEv("web-1", at(1), contact.OriginAPI, with(onlineAnna, "giving_total", "1.00")), decision: contact.DecisionLinked, links: linked,
				sinks:     []string{"online contact update web-1 links=offline:OFF-1,online:web-1"},
				decisions: []string{"giving_total - not_allowed", "giving_total online kept"}},
			{change: offlineRow("OFF-1", at(2), with(anna, "giving_total", "150.00")), links: linked,
				sinks: []string{"online contact update web-1 giving_total=150.00"}},
		}},

		{"on first link a typo does not overwrite the offline name; the online record gets the offline name and id", []step{
			loadAnna,
			{change: onlineEv("web-1", at(1), contact.OriginAPI, with(onlineAnna, "given_name", "Anan")), decision: contact.DecisionLinked, links: linked,
				sinks:     []string{"online contact update web-1 given_name=Anna giving_total=125.00"},
				decisions: []string{"given_name - link_keep"}},
		}},

		{"a change with nothing new emits nothing", []step{
			loadAnna, linkAnna,
			{change: offlineRow("OFF-1", at(2), anna), links: linked},
			{change: onlineEv("web-1", at(3), contact.OriginAPI, onlineAnna), links: linked},
		}},

		{"a gift comes once, whichever event brings it again", []step{
			loadAnna, linkAnna,
			{change: withGift(onlineEv("web-1", at(2), contact.OriginAPI, nil), "g-7", 5000), links: linked,
				sinks: []string{"offline gift create OFF-1 ref=online gift=g-7:5000"}},
			{change: withGift(onlineEv("web-1", at(3), contact.OriginAPI, nil), "g-7", 5000), links: linked,
				decisions: []string{"gift offline duplicate"}},
		}},

		{"gifts from a system that may not send them are ignored, not kicked out", []step{
			loadAnna,
			{change: withGift(offlineRow("OFF-1", at(1), anna), "g-8", 100),
				decisions: []string{"gift offline not_allowed"}},
		}},

		{"deletes, unknown systems and unknown operations are kicked out", []step{
			loadAnna,
			{change: func() contact.Change { c := offlineRow("OFF-1", at(1), nil); c.Op = contact.OpDelete; return c }(), kickOut: ReasonDelete},
			{change: func() contact.Change { c := offlineRow("X-1", at(1), nil); c.SourceSystem = "erp"; return c }(), kickOut: ReasonUnknownSystem},
			{change: func() contact.Change { c := offlineRow("OFF-1", at(1), nil); c.Op = "merge"; return c }(), kickOut: ReasonBadOp},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { play(t, cfg, tc.steps) })
	}
}

// custom is the default rules with replacements applied.
func custom(t *testing.T, pairs ...string) *Config {
	t.Helper()
	doc := string(DefaultYAML())
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("default rules lack %q", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	cfg, err := Parse([]byte(doc), "custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfiguredPolicies(t *testing.T) {
	t.Run("authority: once offline has set the phone, online cannot change it; a tie under latest goes to the authority", func(t *testing.T) {
		cfg := custom(t, "  - rule: phone\n    fields: [phone]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: latest",
			"  - rule: phone\n    fields: [phone]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: authority")
		play(t, cfg, []step{
			{change: onlineEv("web-1", t0, contact.OriginAPI, contact.Values{contact.GivenName: "Anna", contact.Phone: "+12175550101"}), decision: contact.DecisionNew,
				sinks: []string{"offline contact create ref=online given_name=Anna phone=+12175550101"}},
			// online set it: online may change it
			{change: onlineEv("web-1", at(1), contact.OriginAPI, contact.Values{contact.Phone: "+12175550102"}),
				sinks: []string{"offline contact update phone=+12175550102"}},
			{change: offlineRow("OFF-1", at(2), contact.Values{"rs": "online", contact.GivenName: "Anna", contact.Phone: "+12175550103"}), links: linked, echo: true,
				sinks: []string{"online contact update web-1 phone=+12175550103"}},
			// now offline has: a newer online change loses
			{change: onlineEv("web-1", at(3), contact.OriginAPI, contact.Values{contact.Phone: "+12175550104", contact.GivenName: "Ann"}), links: linked,
				sinks:     []string{"offline contact update OFF-1 given_name=Ann", "online contact update web-1 phone=+12175550103"},
				decisions: []string{"phone - authority", "given_name - accepted"}},
			// same time, name rule latest with authority offline: offline wins the tie
			{change: offlineRow("OFF-1", at(4), contact.Values{"rs": "online", contact.GivenName: "Annie", contact.Phone: "+12175550103"}), links: linked,
				sinks: []string{"online contact update web-1 given_name=Annie"}},
			{change: onlineEv("web-1", at(4), contact.OriginAPI, contact.Values{contact.GivenName: "Anne"}), links: linked,
				sinks:     []string{"online contact update web-1 given_name=Annie"},
				decisions: []string{"given_name - authority"}},
		})
	})

	t.Run("opt_in_from: a newer opt-in from the listed system withdraws the opt-out everywhere", func(t *testing.T) {
		cfg := custom(t, "opt_in_from: []", "opt_in_from: [online]")
		play(t, cfg, []step{
			loadAnna, linkAnna,
			{change: offlineRow("OFF-1", at(2), with(anna, "do_not_email", "true")), links: linked,
				sinks: []string{"online contact update web-1 do_not_email=true"}},
			// online shows our write
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.DoNotEmail: "true"}), links: linked, echo: true},
			// an opt-in older than the opt-out does not count
			{change: onlineEv("web-1", at(1), contact.OriginSelfService, contact.Values{contact.DoNotEmail: "false"}), links: linked,
				sinks: []string{"online contact update web-1 do_not_email=true"}, decisions: []string{"do_not_email - most_restrictive"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.DoNotEmail: "true"}), links: linked, echo: true},
			{change: onlineEv("web-1", at(3), contact.OriginSelfService, contact.Values{contact.DoNotEmail: "false"}), links: linked,
				sinks: []string{"offline contact update OFF-1 do_not_email=false"}},
			// offline may not opt in: its stale "true" arriving late loses to the newer opt-in
			{change: offlineRow("OFF-1", at(2), with(anna, "do_not_email", "true", "phone", "+12175550999")), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550999"}},
		})
	})

	t.Run("clear: ignore drops explicit clears", func(t *testing.T) {
		cfg := custom(t, "  - rule: phone\n    fields: [phone]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: latest\n",
			"  - rule: phone\n    fields: [phone]\n    from: [offline, online]\n    to: [offline, online]\n    conflict: latest\n    clear: ignore\n")
		play(t, cfg, []step{
			loadAnna, linkAnna,
			{change: withCleared(onlineEv("web-1", at(2), contact.OriginAPI, nil), contact.Phone), links: linked,
				decisions: []string{"phone - clear_ignored", "phone online kept"}},
		})
	})

	t.Run("a gift for a donor the gift system may not create is kicked out, the rest still applies", func(t *testing.T) {
		cfg := custom(t, "    role: system_of_record\n    create_missing: true\n", "    role: system_of_record\n")
		play(t, cfg, []step{{
			change:   withGift(onlineEv("web-9", t0, contact.OriginAPI, contact.Values{contact.GivenName: "Ben"}), "g-1", 2500),
			decision: contact.DecisionNew,
			kickOut:  ReasonGiftNoRecord,
			// nothing to send (no record offline), but the golden state has Ben
			decisions: []string{"given_name - accepted", "given_name offline no_record", "gift offline no_record"},
		}})
	})
}

// A third system is configuration only: an email tool that receives
// consent and may send opt-outs.
func TestThirdSystem(t *testing.T) {
	cfg := custom(t, "fields:\n", "  - name: mailer\n    create_missing: true\nfields:\n",
		"  - rule: consent\n    fields: [do_not_email, do_not_mail, do_not_phone]\n    from: [offline, online]\n    to: [offline, online]",
		"  - rule: consent\n    fields: [do_not_email, do_not_mail, do_not_phone]\n    from: [offline, online, mailer]\n    to: [offline, online, mailer]")
	if got := cfg.Systems(); !reflect.DeepEqual(got, []string{"offline", "online", "mailer"}) {
		t.Fatalf("systems %v", got)
	}
	three := map[string]string{"offline": "OFF-1", "online": "web-1", "mailer": "m-1"}
	play(t, cfg, []step{
		{change: offlineRow("OFF-1", t0, anna), decision: contact.DecisionNew, sinks: []string{"mailer contact create ref=offline do_not_email=false"}},
		linkAnna,
		{change: contact.Change{EventID: "m-1", SourceSystem: "mailer", SourceRecordID: "m-1", Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at(2),
			Values: contact.Values{contact.DoNotEmail: "true"}}, links: three,
			sinks: []string{"offline contact update OFF-1 do_not_email=true", "online contact update web-1 do_not_email=true"}},
	})
}

// Every sink record carries the person's record ids in all systems.
func TestLinksAreStamped(t *testing.T) {
	e := NewEngine(Default())
	res, _ := e.Apply(nil, contact.Matched{Change: offlineRow("OFF-1", t0, anna), Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionNew},
		Links: map[string]string{"offline": "OFF-1"}})
	res, _ = e.Apply(res.State, contact.Matched{Change: onlineEv("web-1", at(1), contact.OriginAPI, onlineAnna), Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionLinked},
		Links: linked})
	if len(res.Sinks) != 1 || !reflect.DeepEqual(res.Sinks[0].Links, linked) {
		t.Fatalf("sinks %+v, want one with links %v", res.Sinks, linked)
	}
}

// Maps are iterated in random order; the result must not show it.
func TestDeterministic(t *testing.T) {
	e := NewEngine(Default())
	var state []byte
	for _, s := range []step{loadAnna, linkAnna} {
		res, _ := e.Apply(state, contact.Matched{Change: s.change, Match: contact.Match{PersonID: "p-1", Decision: s.decision}, Links: linked})
		state = res.State
	}
	c := withGift(onlineEv("web-1", at(5), contact.OriginSelfService, contact.Values{contact.FamilyName: "Adams-Smythe", contact.AddressLine1: "2 Low Road",
		contact.Postcode: "62704", contact.Phone: "+12175550111", contact.DoNotMail: "true", contact.Email: "a@example.com"}), "g-9", 700)
	m := contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: linked}
	first, err := e.Apply(state, m)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		again, _ := e.Apply(slices.Clone(state), m)
		if !bytes.Equal(first.State, again.State) || !reflect.DeepEqual(first, again) {
			t.Fatal("two runs of the same input differ")
		}
	}
}

func TestBadState(t *testing.T) {
	res, err := NewEngine(Default()).Apply([]byte("{not json"), contact.Matched{Change: offlineRow("OFF-1", t0, anna)})
	if err != nil || res.KickOutReason != ReasonBadState || string(res.State) != "{not json" {
		t.Fatalf("result %+v, %v", res, err)
	}
}

// FuzzApply drives the engine with sequences of changes from both systems
// (any field, value, clear, origin, time, gift, link decision) and checks
// that it never fails, gives the same result for the same input, and that
// a change delivered again to the state it produced emits nothing.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("offline online sync self_service address gift"))
	f.Add([]byte{1, 5, 0, 3, 9, 1, 5, 1, 4, 7, 2, 6, 1, 1, 0, 0, 2, 5, 6, 3, 3, 8, 1, 1})
	e := NewEngine(Default())
	values := []string{"", "a", "b", "true", "false", "1 High Street", "62701"}
	origins := []contact.Origin{contact.OriginAdmin, contact.OriginAPI, contact.OriginSelfService, contact.OriginSync}
	f.Fuzz(func(t *testing.T, script []byte) {
		var state []byte
		for i := 0; i+5 < len(script) && i < 6*12; i += 6 {
			op := script[i : i+6]
			c := offlineRow("OFF-1", at(int(op[0]%8)), contact.Values{"rs": []string{"online", "direct_mail", ""}[op[1]%3]})
			if op[1]&4 != 0 {
				c = onlineEv("web-1", at(int(op[0]%8)), contact.OriginAPI, contact.Values{})
			}
			c.EventID = fmt.Sprintf("e-%d", i)
			c.Origin = origins[int(op[2])%len(origins)]
			for k, b := range op[3:] {
				field := contact.Fields[(int(b)+k*5)%len(contact.Fields)].Name
				switch v := values[int(b>>4)%len(values)]; {
				case b&8 != 0:
					c.Cleared = append(c.Cleared, field)
				default:
					c.Values[field] = v
				}
			}
			slices.Sort(c.Cleared)
			c.Cleared = slices.Compact(c.Cleared)
			if op[2]&16 != 0 {
				c.Gift = &contact.Gift{GiftID: fmt.Sprintf("g-%d", op[2]%3), AmountMinor: 100}
			}
			links := map[string]string{c.SourceSystem: c.SourceRecordID}
			if op[1]&8 != 0 {
				links = map[string]string{"offline": "OFF-1", "online": "web-1"}
			}
			decision := []contact.Decision{contact.DecisionKnown, contact.DecisionLinked, contact.DecisionNew}[int(op[1]>>4)%3]
			m := contact.Matched{Change: c, Match: contact.Match{PersonID: "p", Decision: decision}, Links: links}
			res, err := e.Apply(state, m)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := e.Apply(state, m); !reflect.DeepEqual(res, again) {
				t.Fatal("the same input gave two results")
			}
			redo, err := e.Apply(res.State, m)
			if err != nil {
				t.Fatal(err)
			}
			if len(redo.Sinks) > 0 || len(redo.Reviews) > 0 {
				t.Fatalf("change %d delivered again emits %d records and %d review items: %+v\nfirst: %+v", i/6, len(redo.Sinks), len(redo.Reviews), redo.Sinks, res.Sinks)
			}
			for _, s := range res.Sinks {
				if s.Op == contact.SinkCreate && s.Entity == contact.EntityContact && s.TargetRecordID != "" {
					t.Fatal("a create with a target id")
				}
			}
			state = res.State
		}
	})
}

// The person's household id is the latest non-empty one a change brought,
// kept in the golden state, and every sink record of the person (contact,
// gift, link-only) carries it.
func TestHouseholdIDIsCarried(t *testing.T) {
	e := NewEngine(Default())
	apply := func(state []byte, c contact.Change, d contact.Decision, household string, links map[string]string) Result {
		t.Helper()
		res, err := e.Apply(state, contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: d, HouseholdID: household}, Links: links})
		if err != nil || res.KickOutReason != "" {
			t.Fatalf("apply: %v %s %v", err, res.KickOutReason, res.KickOutError)
		}
		return res
	}
	householdOf := func(state []byte) string {
		st, err := DecodeState(state)
		if err != nil {
			t.Fatal(err)
		}
		return st.HouseholdID
	}
	tests := []struct {
		name      string
		change    contact.Change
		decision  contact.Decision
		household string
		links     map[string]string
		want      string // the state's and every sink record's
		sinks     int
	}{
		{"offline load", offlineRow("OFF-1", t0, anna), contact.DecisionNew, "hh-a", map[string]string{"offline": "OFF-1"}, "hh-a", 0},
		{"online record linked, no address", onlineEv("web-1", at(1), contact.OriginAPI, contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams",
			contact.Email: "anna@example.org"}), contact.DecisionLinked, "", linked, "hh-a", 1},
		{"a gift", withGift(onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{}), "g-1", 500), contact.DecisionKnown, "", linked, "hh-a", 1},
		{"a move", offlineRow("OFF-1", at(3), with(anna, string(contact.AddressLine1), "2 Low Road", string(contact.Postcode), "62704")),
			contact.DecisionKnown, "hh-b", linked, "hh-b", 1},
	}
	var state []byte
	for _, tt := range tests {
		res := apply(state, tt.change, tt.decision, tt.household, tt.links)
		if got := householdOf(res.State); got != tt.want {
			t.Fatalf("%s: state household %q, want %q", tt.name, got, tt.want)
		}
		if len(res.Sinks) < tt.sinks {
			t.Fatalf("%s: %d sink records, want at least %d", tt.name, len(res.Sinks), tt.sinks)
		}
		for _, sk := range res.Sinks {
			if sk.HouseholdID != tt.want {
				t.Fatalf("%s: sink record %s carries household %q, want %q", tt.name, describe(sk), sk.HouseholdID, tt.want)
			}
		}
		state = res.State
	}
	// A state written before household ids existed reads as none, and
	// a change without one leaves it so.
	res := apply([]byte(`{"version":1}`), offlineRow("OFF-2", t0, anna), contact.DecisionKnown, "", nil)
	if householdOf(res.State) != "" {
		t.Fatal("a household id appeared from nowhere")
	}
}
