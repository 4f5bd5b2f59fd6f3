package dashboardtest

import (
	"context"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/history"
)

// People is an in-memory dashboard.People: histories built from audit
// records, as the router writes them, and links.
type People struct {
	Histories   map[string]history.History
	LinksOf     map[string]map[string]string
	HouseholdOf map[string]string
}

// History implements dashboard.People.
func (p *People) History(_ context.Context, personID string) (history.History, error) {
	h, ok := p.Histories[personID]
	if !ok {
		return history.History{PersonID: personID}, nil
	}
	return h, nil
}

// Links implements dashboard.People.
func (p *People) Links(_ context.Context, personID string) (map[string]string, error) {
	return p.LinksOf[personID], nil
}

// HouseholdID implements dashboard.People.
func (p *People) HouseholdID(_ context.Context, personID string) (string, error) {
	return p.HouseholdOf[personID], nil
}

// SeedPeople gives the persons of the seed's router kick-out (Routed) and
// of its first review item a history: a phone change sent on, an echo
// suppressed, a name change held for review then approved, and the router
// kick-out itself.
func SeedPeople(s Seeded) *People {
	at := func(d, h int) time.Time { return s.Now.AddDate(0, 0, -d).Add(time.Duration(-h) * time.Hour) }
	routed := s.Routed.PersonID
	reviewed := s.Reviews[0].PersonID
	audits := map[string][]contact.Audit{
		routed: {
			{EventID: "evt-OFF-01012-3", PersonID: routed, SourceSystem: "offline", SourceRecordID: "OFF-01012",
				Origin: contact.OriginAdmin, SourceTime: at(9, 2), Fields: []contact.FieldAudit{
					{Field: contact.Phone, Old: "+12173840101", New: "+12173840199", Action: "accepted", Rule: "phone", Policy: "latest",
						Targets: []contact.TargetAudit{{System: "online", Action: "sent"}}}}},
			{EventID: "evt-web-0412-8", PersonID: routed, SourceSystem: "online", SourceRecordID: "web-0412",
				Origin: contact.OriginSync, SourceTime: at(8, 5), Fields: []contact.FieldAudit{
					{Field: contact.Phone, Old: "+12173840199", New: "+12173840199", Action: "echo", Rule: "origin sync", Policy: "echo"}}},
			{EventID: s.Routed.EventID, PersonID: routed, SourceSystem: "offline", SourceRecordID: "OFF-01012",
				Origin: contact.OriginAdmin, SourceTime: at(7, 3), KickOutReason: "rules.invalid_value"},
		},
		reviewed: {
			{EventID: "evt-web-0003-77", PersonID: reviewed, SourceSystem: "online", SourceRecordID: "web-0003",
				Origin: contact.OriginSelfService, SourceTime: at(0, 3), Fields: []contact.FieldAudit{
					{Field: contact.FamilyName, Old: "Natarajan", New: "Natarajan-Smythe", Action: "held", Rule: "name", Policy: "review",
						Targets: []contact.TargetAudit{{System: "offline", Action: "held"}, {System: "online", Action: "kept"}}}}},
		},
	}
	p := &People{Histories: map[string]history.History{}, LinksOf: map[string]map[string]string{
		routed:   {"offline": "OFF-01012", "online": "web-0412"},
		reviewed: {"online": "web-0003", "offline": "OFF-00388"},
	}, HouseholdOf: map[string]string{routed: "hh-5f0c2a9e41d7b3c8a6e1f024"}}
	for id, as := range audits {
		h := history.History{PersonID: id}
		for _, a := range as {
			h.Entries = append(h.Entries, history.Entries(a)...)
		}
		p.Histories[id] = h
	}
	return p
}
