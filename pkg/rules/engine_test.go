package rules

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// step is one change fed to the engine, with what must come out.
type step struct {
	change   contact.Change
	decision contact.Decision // default known
	links    map[string]string
	sinks    []string // describe() of each sink record, in order
	reviews  []string // target: proposed values
	echo     bool
	kickOut  string
}

func offlineRow(id string, at time.Time, v contact.Values) contact.Change {
	return contact.Change{EventID: fmt.Sprintf("off-%s-%d", id, at.Unix()), SourceSystem: "offline", SourceRecordID: id,
		ReferenceSource: v["rs"], Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: at, Values: without(v, "rs")}
}

func onlineEv(id string, at time.Time, origin contact.Origin, v contact.Values) contact.Change {
	return contact.Change{EventID: fmt.Sprintf("evt-%s-%d", id, at.Unix()), SourceSystem: "online", SourceRecordID: id,
		ReferenceSource: "online", Origin: origin, Op: contact.OpUpsert, SourceTime: at, Values: v}
}

func without(v contact.Values, key contact.Field) contact.Values {
	out := v.Clone()
	delete(out, key)
	return out
}

// anna is an offline donor whose reference source is the online system.
var anna = contact.Values{"rs": "online", contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Email: "anna@example.org",
	contact.Phone: "+12175550101", contact.AddressLine1: "1 High Street", contact.Locality: "Springfield", contact.Postcode: "62701",
	contact.Country: "US", contact.DoNotEmail: "false", contact.GivingTotal: "125.00"}

// onlineAnna is Anna as the online system knows her (no giving history).
var onlineAnna = without(without(anna, "rs"), contact.GivingTotal)

func describe(s contact.SinkRecord) string {
	var parts []string
	parts = append(parts, s.TargetSystem, string(s.Entity), string(s.Op))
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
	return strings.Join(parts, " ")
}

func run(t *testing.T, cfg *Config, steps []step) []byte {
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
		if !bytes.Equal(res.State, again.State) || !reflect.DeepEqual(res.Sinks, again.Sinks) {
			t.Fatalf("step %d: the same input gave two results", i+1)
		}
		var got []string
		for _, sk := range res.Sinks {
			got = append(got, describe(sk))
			if sk.EventID == "" || sk.CausationID != s.change.EventID || sk.PersonID != "p-1" {
				t.Fatalf("step %d: sink record ids not set: %+v", i+1, sk)
			}
		}
		if !reflect.DeepEqual(got, s.sinks) {
			t.Fatalf("step %d: sinks\n got %q\nwant %q\ndecisions %+v", i+1, got, s.sinks, res.Decisions)
		}
		var reviews []string
		for _, rv := range res.Reviews {
			var kv []string
			for f, v := range rv.Proposed {
				kv = append(kv, string(f)+"="+v)
			}
			sort.Strings(kv)
			reviews = append(reviews, rv.TargetSystem+": "+strings.Join(kv, " "))
		}
		if !reflect.DeepEqual(reviews, s.reviews) {
			t.Fatalf("step %d: reviews %q, want %q", i+1, reviews, s.reviews)
		}
		if (len(res.EchoSystems) > 0) != s.echo {
			t.Fatalf("step %d: echo systems %v, want echo=%v", i+1, res.EchoSystems, s.echo)
		}
		if res.KickOutReason != s.kickOut {
			t.Fatalf("step %d: kick-out %q (%v), want %q", i+1, res.KickOutReason, res.KickOutError, s.kickOut)
		}
		state = res.State
	}
	return state
}

func TestRules(t *testing.T) {
	cfg := Default()
	linked := map[string]string{"offline": "OFF-1", "online": "web-1"}
	load := step{change: offlineRow("OFF-1", t0, anna), decision: contact.DecisionNew}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a new online donor with a gift creates the offline contact first, then the gift", []step{{
			change: func() contact.Change {
				c := onlineEv("web-9", t0, contact.OriginAPI, contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Email: "ben@example.net"})
				c.Gift = &contact.Gift{GiftID: "g-1", AmountMinor: 2500, Currency: "USD", ReceivedAt: t0}
				return c
			}(),
			decision: contact.DecisionNew,
			sinks: []string{
				"offline contact create ref=online given_name=Ben family_name=Brown email=ben@example.net",
				"offline gift create gift=g-1:2500",
			},
		}, {
			// the next gift, before the offline record exists: no second create
			change: func() contact.Change {
				c := onlineEv("web-9", t0.Add(time.Minute), contact.OriginAPI, contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown"})
				c.Gift = &contact.Gift{GiftID: "g-2", AmountMinor: 1000, Currency: "USD", ReceivedAt: t0}
				return c
			}(),
			sinks: []string{"offline gift create gift=g-2:1000"},
		}, {
			// the offline system writes the contact: our echo, origin sync
			change: func() contact.Change {
				c := offlineRow("OFF-77", t0.Add(2*time.Minute), contact.Values{"rs": "online", contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Email: "ben@example.net"})
				c.Origin = contact.OriginSync
				return c
			}(),
			links: map[string]string{"offline": "OFF-77", "online": "web-9"},
			echo:  true,
		}, {
			change: onlineEv("web-9", t0.Add(3*time.Minute), contact.OriginAPI, contact.Values{contact.Phone: "+12175550999"}),
			links:  map[string]string{"offline": "OFF-77", "online": "web-9"},
			sinks:  []string{"offline contact update OFF-77 phone=+12175550999"},
		}}},
		{"an online address change reaches offline, its echo does not bounce back", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: onlineEv("web-1", t0.Add(2*time.Hour), contact.OriginAPI, contact.Values{contact.AddressLine1: "9 Mill Road", contact.Locality: "Madison", contact.Postcode: "53703", contact.Country: "US"}),
				links: linked,
				sinks: []string{"offline contact update OFF-1 address_line1=9 Mill Road locality=Madison postcode=53703"}},
			// the offline system writes it; the CDC of that write has no
			// origin marker here: it is recognised by its values
			{change: offlineRow("OFF-1", t0.Add(3*time.Hour), func() contact.Values {
				v := anna.Clone()
				v[contact.AddressLine1], v[contact.Locality], v[contact.Postcode] = "9 Mill Road", "Madison", "53703"
				return v
			}()), links: linked, echo: true},
		}},
		{"an offline email change never reaches online", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: offlineRow("OFF-1", t0.Add(2*time.Hour), contact.Values{"rs": "online", contact.Email: "new@example.org"}), links: linked},
		}},
		{"an online opt-out reaches offline; an offline opt-out reaches online; an opt-in does not undo it", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: onlineEv("web-1", t0.Add(2*time.Hour), contact.OriginSelfService, contact.Values{contact.DoNotEmail: "true"}), links: linked,
				sinks: []string{"offline contact update OFF-1 do_not_email=true"}},
			{change: offlineRow("OFF-1", t0.Add(3*time.Hour), contact.Values{"rs": "online", contact.DoNotMail: "true"}), links: linked,
				sinks: []string{"online contact update web-1 do_not_mail=true"}},
			// most restrictive everywhere: the online opt-in is reverted
			{change: onlineEv("web-1", t0.Add(4*time.Hour), contact.OriginSelfService, contact.Values{contact.DoNotMail: "false"}), links: linked,
				sinks: []string{"online contact update web-1 do_not_mail=true"}},
		}},
		{"a contact with another reference source is not synced back", []step{
			{change: offlineRow("OFF-1", t0, func() contact.Values { v := anna.Clone(); v["rs"] = "direct_mail"; return v }()), decision: contact.DecisionNew},
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked},
			{change: offlineRow("OFF-1", t0.Add(2*time.Hour), contact.Values{"rs": "direct_mail", contact.Phone: "+12175550202"}), links: linked},
		}},
		{"a self-service name change is held for review, not sent", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: onlineEv("web-1", t0.Add(2*time.Hour), contact.OriginSelfService, contact.Values{contact.FamilyName: "Adams-Smythe", contact.Phone: "+12175550303"}), links: linked,
				sinks:   []string{"offline contact update OFF-1 phone=+12175550303"},
				reviews: []string{"offline: family_name=Adams-Smythe"}},
		}},
		{"on first link a typo does not overwrite the offline name; the online record gets the offline id and name", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, func() contact.Values { v := onlineAnna.Clone(); v[contact.GivenName] = "Anan"; return v }()),
				decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 given_name=Anna giving_total=125.00"}},
		}},
		{"not supplied never overwrites; an explicit clear is honoured", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: onlineEv("web-1", t0.Add(2*time.Hour), contact.OriginAPI, contact.Values{contact.GivenName: "Anna"}), links: linked},
			{change: func() contact.Change {
				c := onlineEv("web-1", t0.Add(3*time.Hour), contact.OriginAPI, nil)
				c.Cleared = []contact.Field{contact.Phone}
				return c
			}(), links: linked, sinks: []string{"offline contact update OFF-1 phone=<clear>"}},
		}},
		{"latest wins: an older change loses", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 giving_total=125.00"}},
			{change: offlineRow("OFF-1", t0.Add(3*time.Hour), contact.Values{"rs": "online", contact.Phone: "+12175550404"}), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550404"}},
			// the older online value loses, and online converges to the golden one
			{change: onlineEv("web-1", t0.Add(2*time.Hour), contact.OriginAPI, contact.Values{contact.Phone: "+12175550505"}), links: linked,
				sinks: []string{"online contact update web-1 phone=+12175550404"}},
		}},
		{"authority: giving history only ever comes from offline", []step{
			load,
			{change: onlineEv("web-1", t0.Add(time.Hour), contact.OriginAPI, func() contact.Values { v := onlineAnna.Clone(); v[contact.GivingTotal] = "1.00"; return v }()),
				decision: contact.DecisionLinked, links: linked},
			{change: offlineRow("OFF-1", t0.Add(2*time.Hour), contact.Values{"rs": "online", contact.GivingTotal: "150.00"}), links: linked,
				sinks: []string{"online contact update web-1 giving_total=150.00"}},
		}},
		{"a change with nothing new emits nothing; the same event twice emits nothing new", []step{
			load,
			{change: offlineRow("OFF-1", t0.Add(time.Hour), anna)},
			{change: offlineRow("OFF-1", t0.Add(time.Hour), anna)},
		}},
		{"deletes and unknown systems are kicked out", []step{
			load,
			{change: func() contact.Change { c := offlineRow("OFF-1", t0.Add(time.Hour), nil); c.Op = contact.OpDelete; return c }(), kickOut: ReasonDelete},
			{change: func() contact.Change { c := offlineRow("X-1", t0.Add(time.Hour), nil); c.SourceSystem = "erp"; return c }(), kickOut: ReasonUnknownSystem},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, cfg, tc.steps) })
	}
}

// A third system is configuration only: an email tool that receives names
// and consent and may send opt-outs.
func TestThirdSystem(t *testing.T) {
	yaml := strings.Replace(string(DefaultYAML()), "fields:\n", `  - name: mailer
    create_missing: true
fields:
`, 1)
	yaml = strings.Replace(yaml, "  - rule: consent\n    fields: [do_not_email, do_not_mail, do_not_phone]\n    from: [offline, online]\n    to: [offline, online]",
		"  - rule: consent\n    fields: [do_not_email, do_not_mail, do_not_phone]\n    from: [offline, online, mailer]\n    to: [offline, online, mailer]", 1)
	cfg, err := Parse([]byte(yaml), "three.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Systems(); !reflect.DeepEqual(got, []string{"offline", "online", "mailer"}) {
		t.Fatalf("systems %v", got)
	}
	run(t, cfg, []step{
		{change: offlineRow("OFF-1", t0, anna), decision: contact.DecisionNew, sinks: []string{"mailer contact create ref=offline do_not_email=false"}},
		{change: contact.Change{EventID: "m-1", SourceSystem: "mailer", SourceRecordID: "m-1", Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: t0.Add(time.Hour),
			Values: contact.Values{contact.DoNotEmail: "true"}}, links: map[string]string{"offline": "OFF-1", "mailer": "m-1"},
			sinks: []string{"offline contact update OFF-1 do_not_email=true"}},
	})
}
