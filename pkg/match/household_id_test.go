package match

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The household id the pipeline carries (contact.Match.HouseholdID) is the
// record's HouseholdKey: persons ruled out as members of one household get
// the same id when they are recorded under one family name at one address,
// and the explanation shows that id. Where the relation was found on
// something else (a shared email or landline at another address, a typo in
// the family name or the address) each keeps the id of its own record.
func TestHouseholdIDOfMatchedRecords(t *testing.T) {
	with := func(f func(r *Record)) Record { r := melissa; f(&r); return r }
	tests := []struct {
		name        string
		first       Record
		other       Record
		household   bool // the relation is found
		sameID      bool
		otherNoneID bool // the other record has no household id
	}{
		{"mother at the same address", melissa, with(func(r *Record) { r.Given, r.DOB = "elizabeth", "19440302" }), true, true, false},
		{"spouse at the same address, no birth date", melissa, with(func(r *Record) { r.Given, r.DOB = "james", "" }), true, true, false},
		{"spouse sharing an email at another address",
			with(func(r *Record) { r.EmailKey = "rodriguez.family@mail.net" }),
			with(func(r *Record) {
				r.Given, r.DOB, r.EmailKey = "robert", "19630101", "rodriguez.family@mail.net"
				r.HouseNumber, r.Street, r.Locality, r.Postcode = "3", "king st", "leeds", "ls27ew"
			}), true, false, false},
		{"spouse sharing a landline, no address",
			with(func(r *Record) { r.Phone = "+441174960123" }),
			Record{Given: "robert", Family: "rodriguez", DOB: "19630101", Phone: "+441174960123"}, true, false, true},
		{"a typo in the street", melissa, with(func(r *Record) { r.Given, r.DOB, r.Street = "elizabeth", "19440302", "acacia av" }), true, false, false},
		{"the same person", melissa, with(func(r *Record) { r.Given = "mel" }), false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := defaultMatcher(t, Options{})
			a, b := matchPair(t, m, tt.first, tt.other)
			idA, idB := a.ContactMatch().HouseholdID, b.ContactMatch().HouseholdID
			if idA == "" || !strings.HasPrefix(idA, "hh-") {
				t.Fatalf("first record's household id %q", idA)
			}
			if idA != HouseholdKey(tt.first) || idB != HouseholdKey(tt.other) {
				t.Errorf("household ids %q, %q are not the records' keys", idA, idB)
			}
			if got := slices.Contains(b.Household, a.PersonID); got != tt.household {
				t.Fatalf("household relation found=%v, want %v: %s", got, tt.household, b.Explanation)
			}
			if (idA == idB) != tt.sameID || (idB == "") != tt.otherNoneID {
				t.Errorf("household ids %q and %q: want same=%v, second empty=%v", idA, idB, tt.sameID, tt.otherNoneID)
			}
			if tt.household && idB != "" && !strings.Contains(b.ContactMatch().Explanation, "household_key="+idB) {
				t.Errorf("explanation does not show the household id %s: %s", idB, b.Explanation)
			}
		})
	}
}

// A known record's update carries the household id of its new values: a
// move (or a new family name) moves the person to another household.
func TestHouseholdIDOfKnownRecords(t *testing.T) {
	m := defaultMatcher(t, Options{})
	ctx := context.Background()
	idx := NewMemIndex()
	first, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: melissa})
	if err != nil {
		t.Fatal(err)
	}
	moved := melissa
	moved.HouseNumber, moved.Street, moved.Locality, moved.Postcode = "3", "king st", "leeds", "ls27ew"
	again, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: moved})
	if err != nil {
		t.Fatal(err)
	}
	if again.Decision != "known" || again.PersonID != first.PersonID {
		t.Fatalf("update: %s %s", again.Decision, again.PersonID)
	}
	if got := again.ContactMatch().HouseholdID; got == "" || got != HouseholdKey(moved) || got == first.ContactMatch().HouseholdID {
		t.Fatalf("household id after the move %q, before %q", got, first.ContactMatch().HouseholdID)
	}
	partial, err := m.Match(ctx, idx, Incoming{RecordID: "offline/1", Record: Record{Given: "melissa", Family: "rodriguez"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := partial.ContactMatch().HouseholdID; got != "" {
		t.Fatalf("an update without an address has household id %q, want none (the person keeps hers)", got)
	}
	org := Record{Organisation: "acme ltd", HouseNumber: "14", Street: "acacia ave", Postcode: "bs14dj"}
	if got := HouseholdKey(org); got != "" {
		t.Fatalf("an organisation has household id %q", got)
	}
}
