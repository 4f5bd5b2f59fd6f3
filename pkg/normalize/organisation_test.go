package normalize

import "testing"

func TestOrganisationName(t *testing.T) {
	same := [][]string{
		{"Acme Widgets Ltd", "ACME Widgets Limited", "Acme Widgets, Inc.", "acme widgets llc"},
		{"The Smith & Jones Partnership LLP", "Smith and Jones Partnership"},
		{"Riverside Food Bank e.V.", "Riverside Food Bank eV", "Riverside Food Bank e. V."},
		{"Harbour Lights Theatre gGmbH", "Harbour Lights Theatre GmbH", "Harbour Lights Theatre"},
		{"Northern Intl. Trading Co.", "Northern International Trading"},
		{"Meridian Assn. of Walkers", "Meridian Association of Walkers"},
		{"Sunrise Pty. Ltd.", "Sunrise"},
	}
	for _, group := range same {
		want := OrganisationName(group[0])
		for _, name := range group[1:] {
			if got := OrganisationName(name); got != want {
				t.Errorf("OrganisationName(%q) = %q, want %q (as %q)", name, got, want, group[0])
			}
		}
		if again := OrganisationName(want); again != want {
			t.Errorf("not idempotent: %q -> %q", want, again)
		}
	}
	if OrganisationName("Acme Ltd") == OrganisationName("Apex Ltd") {
		t.Error("unlike names normalised to one")
	}
	if got := OrganisationName("The Ltd"); got == "" {
		t.Error("a name made only of stop words was lost")
	}
	if OrganisationName("") != "" {
		t.Error("empty name")
	}
}
