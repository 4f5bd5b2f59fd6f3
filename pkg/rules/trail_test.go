package rules

import (
	"reflect"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// describeTrail renders one trail entry as
// "field old->new action rule/policy [approved] targets".
func describeTrail(fa contact.FieldAudit) string {
	f := string(fa.Field)
	if f == "" {
		f = fa.Kind // gift or links
	}
	n := fa.New
	if fa.NewCleared {
		n = "<clear>"
	}
	action := fa.Action
	if action == "" {
		action = "-"
	}
	s := f + " " + fa.Old + "->" + n + " " + action + " " + fa.Rule + "/" + fa.Policy
	if fa.Approved {
		s += " approved"
	}
	for _, t := range fa.Targets {
		s += " " + t.System + ":" + t.Action
	}
	return s
}

// The trail says, field by field, the golden value before, the value
// proposed, what happened to it and what each target got.
func TestTrail(t *testing.T) {
	base := contact.Values{contact.GivenName: "Anna", contact.FamilyName: "Adams", contact.Phone: "+12175550101"}
	steps := []struct {
		name   string
		change contact.Change
		links  map[string]string
		want   []string
	}{
		{name: "an offline load: online does not sync offline-sourced contacts yet",
			change: offlineRow("OFF-1", t0, base), links: map[string]string{"offline": "OFF-1"},
			want: []string{
				"given_name ->Anna accepted name/latest online:out_of_scope",
				"family_name ->Adams accepted name/latest online:out_of_scope",
				"phone ->+12175550101 accepted phone/latest online:out_of_scope",
			}},
		{name: "online phone edit goes offline",
			change: onlineEv("web-1", at(1), contact.OriginAPI, contact.Values{contact.Phone: "+12175550199"}), links: linked,
			want: []string{
				"phone +12175550101->+12175550199 accepted phone/latest offline:sent",
				// the online record, now linked and in scope, gets the names it lacks
				"given_name Anna->Anna - name/latest online:sent",
				"family_name Adams->Adams - name/latest online:sent",
			}},
		{name: "the offline write of it comes back: an echo",
			change: syncRow("OFF-1", at(2), with(base, "phone", "+12175550199")), links: linked,
			want: []string{
				"given_name Anna->Anna echo origin sync/echo",
				"family_name Adams->Adams echo origin sync/echo",
				"phone +12175550199->+12175550199 echo origin sync/echo",
			}},
		{name: "a self-service name edit is held for review",
			change: onlineEv("web-1", at(3), contact.OriginSelfService, contact.Values{contact.GivenName: "Annie"}), links: linked,
			want: []string{"given_name Anna->Annie held name/review offline:held online:kept"}},
		{name: "the approved change is accepted and sent",
			change: onlineEv("web-1", at(4), contact.OriginAdmin, contact.Values{contact.GivenName: "Annie"}), links: linked,
			want: []string{"given_name Anna->Annie accepted name/latest approved offline:sent"}},
		{name: "an older offline phone loses, and offline is sent the golden one back",
			change: offlineRow("OFF-1", at(0), contact.Values{contact.Phone: "+12175550000"}), links: linked,
			want: []string{"phone +12175550199->+12175550000 older phone/latest offline:sent"}},
		{name: "the same value again is unchanged",
			change: onlineEv("web-1", at(5), contact.OriginAPI, contact.Values{contact.Phone: "+12175550199"}), links: linked,
			want: []string{"phone +12175550199->+12175550199 not_edited phone/latest"}},
		{name: "an offline email edit is not allowed; clearing an empty field changes nothing",
			change: withCleared(offlineRow("OFF-1", at(6), contact.Values{contact.Email: "x@example.org"}), contact.Organisation), links: linked,
			want: []string{"organisation -><clear> unchanged organisation/latest", "email ->x@example.org not_allowed email/latest"}},
		{name: "a gift goes offline",
			change: withGift(onlineEv("web-1", at(7), contact.OriginAPI, nil), "g-1", 500), links: linked,
			want: []string{"gift -> - gifts/ offline:sent"}},
	}
	e := NewEngine(Default())
	var state []byte
	for _, s := range steps {
		res, err := e.Apply(state, contact.Matched{Change: s.change, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: s.links})
		if err != nil || res.KickOutReason != "" {
			t.Fatalf("%s: %v %s %v", s.name, err, res.KickOutReason, res.KickOutError)
		}
		var got []string
		for _, fa := range res.Trail {
			got = append(got, describeTrail(fa))
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("%s: trail\n got %q\nwant %q", s.name, got, s.want)
		}
		state = res.State
	}
}

// Every decision is in the trail: no field decided is left out of it.
func TestTrailKeepsEveryDecidedField(t *testing.T) {
	e := NewEngine(Default())
	res, err := e.Apply(nil, contact.Matched{Change: offlineRow("OFF-1", t0, anna), Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionNew}})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[contact.Field]bool{}
	for _, fa := range res.Trail {
		if fields[fa.Field] {
			t.Errorf("field %s twice in the trail", fa.Field)
		}
		fields[fa.Field] = true
	}
	for _, d := range res.Decisions {
		if !fields[d.Field] {
			t.Errorf("decision %s has no trail entry", describeDecision(d))
		}
	}
}
