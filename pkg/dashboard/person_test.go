package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/dashboard/dashboardtest"
	"github.com/contactsync/contactsync/pkg/history"
)

type brokenPeople struct{}

func (brokenPeople) History(context.Context, string) (history.History, error) {
	return history.History{}, errors.New("broker at kafka-secret-host:9092 unreachable")
}
func (brokenPeople) Links(context.Context, string) (map[string]string, error) { return nil, nil }
func (brokenPeople) HouseholdID(context.Context, string) (string, error)      { return "", nil }

func TestPersonAPI(t *testing.T) {
	e := dashboardtest.NewEnv(t)
	seed := dashboardtest.Seed(t, e)
	people := dashboardtest.SeedPeople(seed)
	serve := func(opts ...dashboard.Option) *httptest.Server {
		srv, err := dashboard.New(dashboard.Config{Users: dashboardtest.UsersConfig(t)}, e.Deps, opts...)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		return hs
	}
	get := func(hs *httptest.Server, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		req.SetBasicAuth(dashboardtest.User, dashboardtest.Password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s: %v in %s", path, err, b)
			}
		}
		return res.StatusCode
	}

	with := serve(dashboard.WithPeople(people))
	var me struct {
		PersonPages bool `json:"person_pages"`
	}
	if get(with, "/api/me", &me); !me.PersonPages {
		t.Error("/api/me: person pages not announced")
	}
	var v dashboard.PersonView
	if code := get(with, "/api/people/"+seed.Routed.PersonID, &v); code != http.StatusOK {
		t.Fatalf("person page: %d", code)
	}
	if len(v.Links) != 2 || v.Links[0] != (dashboard.PersonLink{System: "offline", RecordID: "OFF-01012"}) ||
		v.Links[1] != (dashboard.PersonLink{System: "online", RecordID: "web-0412"}) {
		t.Errorf("links %+v", v.Links)
	}
	if v.HouseholdID != "hh-5f0c2a9e41d7b3c8a6e1f024" {
		t.Errorf("household id %q", v.HouseholdID)
	}
	var outcomes []string
	for _, en := range v.Entries {
		outcomes = append(outcomes, en.Outcome)
	}
	if want := "sent to online|echo suppressed|kicked out (rules.invalid_value)"; strings.Join(outcomes, "|") != want {
		t.Errorf("outcomes %q, want %q", outcomes, want)
	}
	if en := v.Entries[0]; en.Field != "phone" || en.Old != "+12173840101" || en.New != "+12173840199" || en.Rule != "phone" ||
		en.Policy != "latest" || en.SourceSystem != "offline" || en.Origin != "admin" {
		t.Errorf("first entry %+v", en)
	}
	v = dashboard.PersonView{}
	if code := get(with, "/api/people/p-nobody", &v); code != http.StatusOK || len(v.Entries) != 0 || len(v.Links) != 0 || v.HouseholdID != "" {
		t.Errorf("unknown person: %d %+v", code, v)
	}

	without := serve()
	if get(without, "/api/me", &me); me.PersonPages {
		t.Error("/api/me announces person pages without a reader")
	}
	if code := get(without, "/api/people/"+seed.Routed.PersonID, nil); code != http.StatusNotFound {
		t.Errorf("person page without a reader: %d", code)
	}

	var failed map[string]string
	broken := serve(dashboard.WithPeople(brokenPeople{}))
	if code := get(broken, "/api/people/p-1", &failed); code != http.StatusInternalServerError || strings.Contains(failed["error"], "secret") {
		t.Errorf("failing reader: %d %v", code, failed)
	}
}
