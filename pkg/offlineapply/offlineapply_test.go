package offlineapply

import (
	"reflect"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func rec(id, person string, op contact.SinkOp, set contact.Values, clear ...contact.Field) contact.SinkRecord {
	return contact.SinkRecord{EventID: id, PersonID: person, Entity: contact.EntityContact, Op: op, Set: set, Clear: clear}
}

func gift(id, person string) contact.SinkRecord {
	return contact.SinkRecord{EventID: id, PersonID: person, Entity: contact.EntityGift, Op: contact.SinkCreate,
		Gift: &contact.Gift{GiftID: "g-" + id, AmountMinor: 100, Currency: "EUR"}}
}

func TestCoalesce(t *testing.T) {
	create := rec("c1", "ada", contact.SinkCreate, contact.Values{contact.GivenName: "Ada", contact.Email: "a@x.org"})
	create.ReferenceSource = "online"
	tests := []struct {
		name string
		in   []contact.SinkRecord
		want []Step
	}{
		{"empty", nil, nil},
		{"later set wins, create kept, gift after its create", []contact.SinkRecord{
			create, gift("g1", "ada"),
			rec("u1", "ada", contact.SinkUpdate, contact.Values{contact.Email: "ada@x.org", contact.Locality: "Leeds"}),
		}, []Step{
			{Entity: contact.EntityContact, PersonID: "ada", Op: contact.SinkCreate, ReferenceSource: "online",
				Set:      contact.Values{contact.GivenName: "Ada", contact.Email: "ada@x.org", contact.Locality: "Leeds"},
				EventIDs: []string{"c1", "u1"}, Indexes: []int{0, 2}},
			{Entity: contact.EntityGift, PersonID: "ada", Op: contact.SinkCreate, Gift: &contact.Gift{GiftID: "g-g1", AmountMinor: 100, Currency: "EUR"},
				EventIDs: []string{"g1"}, Indexes: []int{1}},
		}},
		{"clear after set clears, set after clear sets", []contact.SinkRecord{
			rec("u1", "bob", contact.SinkUpdate, contact.Values{contact.Phone: "+441", contact.Region: "Kent"}, contact.Email),
			rec("u2", "bob", contact.SinkUpdate, contact.Values{contact.Email: "b@x.org"}, contact.Phone),
		}, []Step{
			{Entity: contact.EntityContact, PersonID: "bob", Op: contact.SinkUpdate,
				Set: contact.Values{contact.Region: "Kent", contact.Email: "b@x.org"}, Clear: []contact.Field{contact.Phone},
				EventIDs: []string{"u1", "u2"}, Indexes: []int{0, 1}},
		}},
		{"two people stay apart, in order of first appearance", []contact.SinkRecord{
			gift("g0", "bob"),
			rec("u1", "ada", contact.SinkUpdate, contact.Values{contact.GivenName: "Ada"}),
			rec("u2", "bob", contact.SinkUpdate, contact.Values{contact.GivenName: "Bob"}),
			rec("u3", "ada", contact.SinkUpdate, contact.Values{contact.GivenName: "Augusta"}),
		}, []Step{
			{Entity: contact.EntityGift, PersonID: "bob", Op: contact.SinkCreate, Gift: &contact.Gift{GiftID: "g-g0", AmountMinor: 100, Currency: "EUR"},
				EventIDs: []string{"g0"}, Indexes: []int{0}},
			{Entity: contact.EntityContact, PersonID: "ada", Op: contact.SinkUpdate, Set: contact.Values{contact.GivenName: "Augusta"},
				EventIDs: []string{"u1", "u3"}, Indexes: []int{1, 3}},
			{Entity: contact.EntityContact, PersonID: "bob", Op: contact.SinkUpdate, Set: contact.Values{contact.GivenName: "Bob"},
				EventIDs: []string{"u2"}, Indexes: []int{2}},
		}},
	}
	household := func(r contact.SinkRecord, h string) contact.SinkRecord { r.HouseholdID = h; return r }
	tests = append(tests, struct {
		name string
		in   []contact.SinkRecord
		want []Step
	}{"the latest household id that is given", []contact.SinkRecord{
		household(rec("u1", "ada", contact.SinkUpdate, contact.Values{contact.GivenName: "Ada"}), "hh-a"),
		household(rec("u2", "ada", contact.SinkUpdate, contact.Values{contact.Locality: "Leeds"}), "hh-b"),
		rec("u3", "ada", contact.SinkUpdate, contact.Values{contact.Email: "a@x.org"}),
	}, []Step{
		{Entity: contact.EntityContact, PersonID: "ada", Op: contact.SinkUpdate, HouseholdID: "hh-b",
			Set:      contact.Values{contact.GivenName: "Ada", contact.Locality: "Leeds", contact.Email: "a@x.org"},
			EventIDs: []string{"u1", "u2", "u3"}, Indexes: []int{0, 1, 2}},
	}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Coalesce(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Coalesce:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	step := Step{Entity: contact.EntityContact, SourceTime: t0,
		Set: contact.Values{contact.Email: "new@x.org"}, Clear: []contact.Field{contact.Phone}}
	tests := []struct {
		name  string
		rules FieldRules
		row   Row
		want  Decision
	}{
		{"base known, offline untouched: write all", nil,
			Row{Current: contact.Values{contact.Email: "old@x.org", contact.Phone: "+44"},
				Base: contact.Values{contact.Email: "old@x.org", contact.Phone: "+44"}},
			Decision{Set: contact.Values{contact.Email: "new@x.org"}, Clear: []contact.Field{contact.Phone}}},
		{"base known, offline changed email since: keep it for a person, still clear phone", nil,
			Row{Current: contact.Values{contact.Email: "desk@x.org", contact.Phone: "+44"},
				Base: contact.Values{contact.Email: "old@x.org", contact.Phone: "+44"}, EditedOfflineAt: t0.Add(-time.Hour)},
			Decision{Set: contact.Values{}, Clear: []contact.Field{contact.Phone},
				Conflicts: []Conflict{{Field: contact.Email, Offline: "desk@x.org", Sync: "new@x.org"}}}},
		{"base known, offline changed email, offline has authority: kept without a conflict",
			FieldRules{contact.Email: OfflineWins},
			Row{Current: contact.Values{contact.Email: "desk@x.org", contact.Phone: "+44"},
				Base: contact.Values{contact.Email: "old@x.org", contact.Phone: "+44"}},
			Decision{Set: contact.Values{}, Clear: []contact.Field{contact.Phone},
				Kept: []Conflict{{Field: contact.Email, Offline: "desk@x.org", Sync: "new@x.org"}}}},
		{"base known, offline cleared email on purpose: conflict", nil,
			Row{Current: contact.Values{contact.Phone: "+44"}, Base: contact.Values{contact.Email: "old@x.org", contact.Phone: "+44"}},
			Decision{Set: contact.Values{}, Clear: []contact.Field{contact.Phone},
				Conflicts: []Conflict{{Field: contact.Email, Offline: "", Sync: "new@x.org"}}}},
		{"already there: nothing", nil,
			Row{Current: contact.Values{contact.Email: "new@x.org"}, Base: contact.Values{contact.Email: "x"}},
			Decision{Set: contact.Values{}}},
		{"base unknown, empty field: fill it", nil,
			Row{Current: contact.Values{}, EditedOfflineAt: t0.Add(time.Hour)},
			Decision{Set: contact.Values{contact.Email: "new@x.org"}}},
		{"base unknown, edited offline before the change: write", nil,
			Row{Current: contact.Values{contact.Email: "desk@x.org", contact.Phone: "+44"}, EditedOfflineAt: t0.Add(-time.Minute)},
			Decision{Set: contact.Values{contact.Email: "new@x.org"}, Clear: []contact.Field{contact.Phone}}},
		{"base unknown, edited offline after the change: keep offline, ask for email, phone by its rule",
			FieldRules{contact.Phone: OfflineWins},
			Row{Current: contact.Values{contact.Email: "desk@x.org", contact.Phone: "+44"}, EditedOfflineAt: t0.Add(time.Minute)},
			Decision{Set: contact.Values{},
				Conflicts: []Conflict{{Field: contact.Email, Offline: "desk@x.org", Sync: "new@x.org"}},
				Kept:      []Conflict{{Field: contact.Phone, Offline: "+44", Sync: ""}}}},
		{"base unknown, edited offline after the change, no rules: both to a person", nil,
			Row{Current: contact.Values{contact.Email: "desk@x.org", contact.Phone: "+44"}, EditedOfflineAt: t0.Add(time.Minute)},
			Decision{Set: contact.Values{}, Conflicts: []Conflict{
				{Field: contact.Email, Offline: "desk@x.org", Sync: "new@x.org"},
				{Field: contact.Phone, Offline: "+44", Sync: ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(step, tc.row, tc.rules)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decide:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

// Opt-out flags: "true" wins whichever side set it, so an offline opt-in
// made since the sync's base does not hold off the sync's opt-out, and an
// offline opt-out is never lifted by the sync.
func TestDecideMostRestrictive(t *testing.T) {
	rules := FieldRules{contact.DoNotEmail: MostRestrictive, contact.DoNotMail: MostRestrictive}
	base := contact.Values{contact.DoNotEmail: "true", contact.DoNotMail: "false"}
	tests := []struct {
		name    string
		want    contact.Values
		current contact.Values
		out     Decision
	}{
		{"offline opted in since, sync opts out: the opt-out is written",
			contact.Values{contact.DoNotEmail: "true"}, contact.Values{contact.DoNotEmail: "false", contact.DoNotMail: "false"},
			Decision{Set: contact.Values{contact.DoNotEmail: "true"}}},
		{"offline opted out since, sync opts in: the opt-out stays, no conflict",
			contact.Values{contact.DoNotMail: "false"}, contact.Values{contact.DoNotEmail: "true", contact.DoNotMail: "true"},
			Decision{Set: contact.Values{}, Kept: []Conflict{{Field: contact.DoNotMail, Offline: "true", Sync: "false"}}}},
		{"offline opted out since, sync clears: the opt-out stays",
			contact.Values{contact.DoNotMail: ""}, contact.Values{contact.DoNotEmail: "true", contact.DoNotMail: "true"},
			Decision{Set: contact.Values{}, Kept: []Conflict{{Field: contact.DoNotMail, Offline: "true", Sync: ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := Step{Entity: contact.EntityContact, SourceTime: t0, Set: contact.Values{}}
			for f, v := range tc.want {
				if v == "" {
					step.Clear = append(step.Clear, f)
				} else {
					step.Set[f] = v
				}
			}
			got := Decide(step, Row{Current: tc.current, Base: base}, rules)
			if !reflect.DeepEqual(got, tc.out) {
				t.Errorf("Decide:\n got  %+v\n want %+v", got, tc.out)
			}
		})
	}
}
