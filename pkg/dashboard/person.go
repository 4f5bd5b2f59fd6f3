package dashboard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/contactsync/contactsync/pkg/history"
)

// People is what the person page reads: a person's field history from the
// audit topic (pkg/history), the records linked to the person now (the
// identity index) and the person's household id (the golden state). The
// composition root implements it; without it the dashboard has no person
// pages.
type People interface {
	History(ctx context.Context, personID string) (history.History, error)
	// Links returns system -> record id of the person (empty: none known).
	Links(ctx context.Context, personID string) (map[string]string, error)
	// HouseholdID returns the person's household id ("" when none is known).
	HouseholdID(ctx context.Context, personID string) (string, error)
}

// Option configures a Server beyond its Config.
type Option func(*Server)

// WithPeople gives the dashboard its person pages.
func WithPeople(p People) Option { return func(s *Server) { s.people = p } }

// PersonLink is one record linked to the person.
type PersonLink struct {
	System   string `json:"system"`
	RecordID string `json:"record_id"`
}

// PersonEntry is one field decision on the person page, as
// `contactsync history` prints it.
type PersonEntry struct {
	Time           time.Time `json:"time"`
	EventID        string    `json:"event_id"`
	SourceSystem   string    `json:"source_system"`
	SourceRecordID string    `json:"source_record_id"`
	Origin         string    `json:"origin"`
	Field          string    `json:"field"`
	Old            string    `json:"old"`
	New            string    `json:"new"`
	NewCleared     bool      `json:"new_cleared,omitempty"`
	Rule           string    `json:"rule,omitempty"`
	Policy         string    `json:"policy,omitempty"`
	Outcome        string    `json:"outcome"`
	KickOutReason  string    `json:"kickout_reason,omitempty"`
}

// PersonView is the person page: links and the timeline, oldest first.
type PersonView struct {
	PersonID string `json:"person_id"`
	// HouseholdID is the person's household id, "" when none is known: the
	// persons recorded under one family name at one address share it.
	HouseholdID string        `json:"household_id"`
	Links       []PersonLink  `json:"links"`
	Entries     []PersonEntry `json:"entries"`
	Unreadable  int           `json:"unreadable"`
}

// maxPersonEntries bounds the page: a person with more decisions than that
// shows the newest ones (the CLI prints them all).
const maxPersonEntries = 2000

var errNoPeople = errors.New("this dashboard has no person pages (no audit topic reader)")

func (s *Server) handlePerson(w http.ResponseWriter, r *http.Request) {
	if s.people == nil {
		writeError(w, http.StatusNotFound, errNoPeople.Error())
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 200 {
		writeError(w, http.StatusBadRequest, "a person id is required")
		return
	}
	links, err := s.people.Links(r.Context(), id)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	household, err := s.people.HouseholdID(r.Context(), id)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	h, err := s.people.History(r.Context(), id)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	v := personViewOf(id, links, h)
	v.HouseholdID = household
	s.reply(w, r, v, nil)
}

func personViewOf(id string, links map[string]string, h history.History) PersonView {
	v := PersonView{PersonID: id, Links: []PersonLink{}, Entries: []PersonEntry{}, Unreadable: h.Unreadable}
	for sys, rec := range links {
		v.Links = append(v.Links, PersonLink{System: sys, RecordID: rec})
	}
	slices.SortFunc(v.Links, func(a, b PersonLink) int {
		if a.System < b.System {
			return -1
		}
		if a.System > b.System {
			return 1
		}
		return 0
	})
	entries := h.Entries
	if len(entries) > maxPersonEntries {
		entries = entries[len(entries)-maxPersonEntries:]
	}
	for _, e := range entries {
		v.Entries = append(v.Entries, PersonEntry{Time: e.Time.UTC(), EventID: e.EventID, SourceSystem: e.SourceSystem,
			SourceRecordID: e.SourceRecordID, Origin: string(e.Origin), Field: string(e.Field), Old: e.Old, New: e.New,
			NewCleared: e.NewCleared, Rule: e.Rule, Policy: e.Policy, Outcome: history.Outcome(e), KickOutReason: e.KickOutReason})
	}
	return v
}
