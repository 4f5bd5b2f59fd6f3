package rules

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// ben is a new online donor; offline creates his contact as OFF-77.
var (
	ben       = contact.Values{contact.GivenName: "Ben", contact.FamilyName: "Brown", contact.Email: "ben@example.net"}
	benLinked = map[string]string{"offline": "OFF-77", "online": "web-9"}
	newBen    = step{change: onlineEv("web-9", t0, contact.OriginAPI, ben), decision: contact.DecisionNew,
		sinks: []string{"offline contact create ref=online given_name=Ben family_name=Brown email=ben@example.net"}}
)

func TestOfflineIDWrittenBack(t *testing.T) {
	cfg := Default()
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"new online donor: the offline CDC of the contact we had created tells online its offline id", []step{
			newBen,
			{change: syncRow("OFF-77", at(1), with(ben, "rs", "online")), links: benLinked, echo: true,
				sinks: []string{"online contact update web-9 links=offline:OFF-77,online:web-9"}},
			// the platform's webhook of our write (origin sync, nothing else new)
			{change: onlineEv("web-9", at(2), contact.OriginSync, ben), links: benLinked, echo: true},
			// later changes carry the links as ever, and never the id alone again
			{change: offlineRow("OFF-77", at(3), with(ben, "rs", "online", "phone", "+12175550998")), links: benLinked,
				sinks: []string{"online contact update web-9 phone=+12175550998"}},
			{change: offlineRow("OFF-77", at(4), with(ben, "rs", "online", "phone", "+12175550998")), links: benLinked},
		}},

		{"new online donor: the same when the offline row carries no origin marker", []step{
			newBen,
			{change: offlineRow("OFF-77", at(1), with(ben, "rs", "online")), links: benLinked, echo: true,
				sinks: []string{"online contact update web-9 links=offline:OFF-77,online:web-9"}},
		}},

		// (offline learns the online id here too, and is sent nothing: the
		// system of record is never written ids back)
		{"first link of an online record to an existing offline person with identical data: one link-only update", []step{
			{change: offlineRow("OFF-1", t0, with(anna, "rs", "direct_mail")), decision: contact.DecisionNew},
			{change: onlineEv("web-1", at(1), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked,
				sinks: []string{"online contact update web-1 links=offline:OFF-1,online:web-1"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, onlineAnna), links: linked},
			{change: offlineRow("OFF-1", at(3), with(anna, "rs", "direct_mail")), links: linked},
		}},

		// The matcher links the online record in the identity index before
		// the router sees its event: an offline change of the person routed
		// in between (its batch committed first, the link's batch redone
		// after a crash) already carries the link. That change makes the
		// one write-back; the online event itself then sends none.
		{"the first link learnt from an offline change routed before the linking event: one link-only update, from that change", []step{
			{change: offlineRow("OFF-1", t0, with(anna, "rs", "direct_mail")), decision: contact.DecisionNew},
			{change: syncRow("OFF-1", at(1), with(anna, "rs", "direct_mail")), links: linked, echo: true,
				sinks: []string{"online contact update web-1 links=offline:OFF-1,online:web-1"}},
			{change: onlineEv("web-1", at(2), contact.OriginAPI, onlineAnna), decision: contact.DecisionLinked, links: linked},
		}},

		{"a first link that sends fields carries the id in that update: no second record", []step{
			loadAnna, linkAnna,
			{change: offlineRow("OFF-1", at(2), anna), links: linked},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { play(t, cfg, tc.steps) })
	}
}

// The link-only update's event id is derived from the event, the target
// and "links": a redelivery of the event to the state before it (a batch
// redone) makes the same record, and to the state after it nothing.
func TestWriteBackIsIdempotent(t *testing.T) {
	e := NewEngine(Default())
	first, err := e.Apply(nil, contact.Matched{Change: newBen.change, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionNew},
		Links: map[string]string{"online": "web-9"}})
	if err != nil {
		t.Fatal(err)
	}
	cdc := contact.Matched{Change: syncRow("OFF-77", at(1), with(ben, "rs", "online")), Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown},
		Links: benLinked}
	res, err := e.Apply(first.State, cdc)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sinks) != 1 {
		t.Fatalf("sinks %+v, want one link-only update", res.Sinks)
	}
	rec := res.Sinks[0]
	want := contact.SinkRecord{EventID: "sk-" + digest(cdc.Change.EventID, "online", "links"), CausationID: cdc.Change.EventID, PersonID: "p-1",
		TargetSystem: "online", Entity: contact.EntityContact, Op: contact.SinkUpdate, TargetRecordID: "web-9", Links: benLinked,
		SourceTime: cdc.Change.SourceTime, Reason: rec.Reason}
	if !reflect.DeepEqual(rec, want) || rec.Reason == "" {
		t.Fatalf("link-only update\n got %+v\nwant %+v", rec, want)
	}
	again, _ := e.Apply(first.State, cdc)
	if len(again.Sinks) != 1 || again.Sinks[0].EventID != rec.EventID {
		t.Fatalf("redone: %+v, want the same record", again.Sinks)
	}
	if redo, _ := e.Apply(res.State, cdc); len(redo.Sinks) != 0 {
		t.Fatalf("redelivered: %+v, want nothing", redo.Sinks)
	}
}

// A state written before LinksSent existed does not make every person's
// next event an update of links: only an id that becomes known with the
// event is written back.
func TestWriteBackAfterUpgradeSendsNoBurst(t *testing.T) {
	state := play(t, Default(), []step{newBen,
		{change: syncRow("OFF-77", at(1), with(ben, "rs", "online")), links: benLinked, echo: true,
			sinks: []string{"online contact update web-9 links=offline:OFF-77,online:web-9"}}})
	decoded, err := DecodeState(state)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(jsonForm(t, decoded), &raw); err != nil { // the states of then were JSON
		t.Fatal(err)
	}
	for _, ss := range raw["systems"].(map[string]any) {
		delete(ss.(map[string]any), "links_sent")
	}
	old, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeState(old); err != nil {
		t.Fatalf("a state without links_sent: %v", err)
	}
	e := NewEngine(Default())
	for _, c := range []contact.Change{
		offlineRow("OFF-77", at(2), with(ben, "rs", "online")),
		onlineEv("web-9", at(3), contact.OriginAPI, ben),
	} {
		res, err := e.Apply(old, contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: benLinked})
		if err != nil || len(res.Sinks) != 0 {
			t.Fatalf("%s on an old state: %+v, %v; want nothing", c.EventID, res.Sinks, err)
		}
	}
}

// The write-back is in the audit trail as an entry of its own kind (not a
// gift: both decide no field): the id written back and where it went. A
// gift's entry says it is a gift.
func TestWriteBackIsAudited(t *testing.T) {
	e := NewEngine(Default())
	first, err := e.Apply(nil, contact.Matched{Change: withGift(newBen.change, "g-1", 2500),
		Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionNew}, Links: map[string]string{"online": "web-9"}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, fa := range first.Trail {
		if fa.Field == "" {
			kinds = append(kinds, fa.Kind+" "+fa.Rule)
		}
	}
	if want := []string{contact.AuditGift + " " + RuleGifts}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("the gift's trail entries %q, want %q", kinds, want)
	}
	res, err := e.Apply(first.State, contact.Matched{Change: syncRow("OFF-77", at(1), with(ben, "rs", "online")),
		Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: benLinked})
	if err != nil {
		t.Fatal(err)
	}
	var got []contact.FieldAudit
	for _, fa := range res.Trail {
		if fa.Kind == contact.AuditLinks {
			got = append(got, fa)
		}
	}
	want := []contact.FieldAudit{{Kind: contact.AuditLinks, New: "offline:OFF-77", Rule: ActionLinks,
		Targets: []contact.TargetAudit{{System: "online", Action: ActSent}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the write-back's trail entries\n got %+v\nwant %+v", got, want)
	}
}
