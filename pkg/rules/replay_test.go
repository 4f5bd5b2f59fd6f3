package rules

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// bothWriteAuthority is the default rules with online also allowed to write
// the authority fields, so that authority and non-authority values meet.
func bothWriteAuthority(t *testing.T) *Config {
	return custom(t,
		"  - rule: date_of_birth\n    fields: [date_of_birth]\n    from: [offline]\n    to: [online]",
		"  - rule: date_of_birth\n    fields: [date_of_birth]\n    from: [offline, online]\n    to: [offline, online]",
		"  - rule: giving_history\n    fields: [giving_total, last_gift_date, last_gift_amount, highest_gift_amount, highest_gift_date, first_gift_date]\n    from: [offline]\n    to: [online]",
		"  - rule: giving_history\n    fields: [giving_total, last_gift_date, last_gift_amount, highest_gift_amount, highest_gift_date, first_gift_date]\n    from: [offline, online]\n    to: [offline, online]")
}

// A change replayed late (a re-consumed topic, a kick-out replayed by hand)
// must not overwrite a newer value, whatever the field's conflict policy.
func TestStaleReplayNeverOverwritesANewerValue(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cfg            func(t *testing.T) *Config
		field          contact.Field
		newer, older   contact.Change
		want, decision string
	}{
		{"authority: the authority's own older change", func(*testing.T) *Config { return Default() }, contact.DateOfBirth,
			offlineRow("OFF-1", at(2), contact.Values{contact.DateOfBirth: "1956-04-09"}),
			offlineRow("OFF-1", at(1), contact.Values{contact.DateOfBirth: "1965-04-09"}), "1956-04-09", ActOlder},
		{"authority: giving total", func(*testing.T) *Config { return Default() }, contact.GivingTotal,
			offlineRow("OFF-1", at(2), contact.Values{contact.GivingTotal: "250.00"}),
			offlineRow("OFF-1", at(1), contact.Values{contact.GivingTotal: "125.00"}), "250.00", ActOlder},
		{"authority: a non-authority's older change before the authority has a value", bothWriteAuthority, contact.DateOfBirth,
			onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.DateOfBirth: "1956-04-09"}),
			onlineEv("web-1", at(1), contact.OriginAPI, contact.Values{contact.DateOfBirth: "1965-04-09"}), "1956-04-09", ActOlder},
		{"authority: a non-authority's change never overwrites the authority", bothWriteAuthority, contact.DateOfBirth,
			offlineRow("OFF-1", at(1), contact.Values{contact.DateOfBirth: "1956-04-09"}),
			onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.DateOfBirth: "1965-04-09"}), "1956-04-09", ActAuthority},
		{"latest", func(*testing.T) *Config { return Default() }, contact.Phone,
			onlineEv("web-1", at(2), contact.OriginAPI, contact.Values{contact.Phone: "+12175550102"}),
			offlineRow("OFF-1", at(1), contact.Values{contact.Phone: "+12175550101"}), "+12175550102", ActOlder},
		{"most_restrictive: an older clear does not undo a newer value", func(*testing.T) *Config { return Default() }, contact.DoNotEmail,
			offlineRow("OFF-1", at(2), contact.Values{contact.DoNotEmail: "false"}),
			withCleared(onlineEv("web-1", at(1), contact.OriginAPI, nil), contact.DoNotEmail), "false", ActOlder},
		{"most_restrictive: an older opt-out does not undo a newer opt-in from opt_in_from", func(t *testing.T) *Config {
			return custom(t, "opt_in_from: []", "opt_in_from: [online]")
		}, contact.DoNotEmail,
			onlineEv("web-1", at(2), contact.OriginSelfService, contact.Values{contact.DoNotEmail: "false"}),
			offlineRow("OFF-1", at(1), contact.Values{contact.DoNotEmail: "true"}), "false", ActOlder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(tc.cfg(t))
			var state []byte
			var last Result
			for _, c := range []contact.Change{tc.newer, tc.older} {
				res, err := e.Apply(state, contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: linked})
				if err != nil || res.KickOutReason != "" {
					t.Fatalf("apply: %v %s %v", err, res.KickOutReason, res.KickOutError)
				}
				state, last = res.State, res
			}
			st, err := DecodeState(state)
			if err != nil {
				t.Fatal(err)
			}
			if g := st.Golden[tc.field]; g.Value != tc.want || g.Cleared {
				t.Errorf("golden %s = %+v after the older change, want %q", tc.field, g, tc.want)
			}
			var decisions []string
			for _, d := range last.Decisions {
				decisions = append(decisions, describeDecision(d))
			}
			if want := string(tc.field) + " - " + tc.decision; !slices.Contains(decisions, want) {
				t.Errorf("decisions of the older change %q, want %q", decisions, want)
			}
		})
	}
}

// replayChange is one generated change of the convergence property.
func replayChange(rng *rand.Rand, i int, when time.Time) contact.Change {
	v := contact.Values{}
	unique := func(f contact.Field) string { return fmt.Sprintf("%s-%d", f, i) }
	// Every text value is unique to its change, so that neither the echo
	// check nor the "column not edited" check can take one change for
	// another: what is left to decide is the conflict policy alone.
	for _, f := range []contact.Field{contact.GivenName, contact.FamilyName, contact.Phone, contact.Email, contact.DateOfBirth, contact.GivingTotal, contact.LastGiftDate, contact.Organisation} {
		if rng.Intn(2) == 0 {
			v[f] = unique(f)
		}
	}
	if rng.Intn(3) == 0 { // the address moves as one unit, supplied whole
		for _, f := range []contact.Field{contact.AddressLine1, contact.AddressLine2, contact.Locality, contact.Region, contact.Postcode, contact.Country} {
			v[f] = unique(f)
		}
	}
	for _, f := range []contact.Field{contact.DoNotEmail, contact.DoNotMail, contact.DoNotPhone} {
		switch rng.Intn(4) {
		case 0:
			v[f] = "true"
		case 1:
			v[f] = "false"
		}
	}
	if rng.Intn(2) == 0 {
		c := offlineRow("OFF-1", when, with(v, "rs", "online"))
		c.EventID = fmt.Sprintf("off-%d", i)
		return c
	}
	c := onlineEv("web-1", when, []contact.Origin{contact.OriginAPI, contact.OriginAdmin}[rng.Intn(2)], v)
	c.EventID = fmt.Sprintf("evt-%d", i)
	return c
}

// goldenValues is the part of a state every order must agree on: each
// field's golden value. (Versions count accepted changes, and what each
// system was last sent depends on the order by nature.)
func goldenValues(t *testing.T, state []byte) map[contact.Field]string {
	t.Helper()
	st, err := DecodeState(state)
	if err != nil {
		t.Fatal(err)
	}
	out := map[contact.Field]string{}
	for f, g := range st.Golden {
		out[f] = g.Value
		if g.Cleared {
			out[f] = "<cleared>"
		}
	}
	return out
}

// Replays come in any order: the same set of changes, applied in any order
// and with any of them delivered twice, must leave the same golden values
// as applying them in source-time order. Covers every conflict policy
// (latest, authority with and without the authority's value, an address
// unit, most_restrictive). Deterministic: a fixed seed.
func TestReplayOrderConverges(t *testing.T) {
	configs := map[string]*Config{"default": Default(), "online writes authority fields": bothWriteAuthority(t)}
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		e := NewEngine(configs[name])
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(20261203))
			apply := func(order []contact.Change) map[contact.Field]string {
				var state []byte
				for _, c := range order {
					res, err := e.Apply(state, contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: linked})
					if err != nil || res.KickOutReason != "" {
						t.Fatalf("apply %s: %v %s %v", c.EventID, err, res.KickOutReason, res.KickOutError)
					}
					state = res.State
				}
				return goldenValues(t, state)
			}
			for round := range 40 {
				n := 2 + rng.Intn(6)
				changes := make([]contact.Change, n)
				for i := range changes {
					// distinct source times: at a tie, arrival order decides
					changes[i] = replayChange(rng, i, t0.Add(time.Duration(i)*time.Minute))
				}
				want := apply(changes) // source-time order
				for range 5 {
					order := slices.Clone(changes)
					rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
					for k := rng.Intn(3); k > 0; k-- { // redeliveries
						at := rng.Intn(len(order) + 1)
						order = slices.Insert(order, at, order[rng.Intn(len(order))])
					}
					if got := apply(order); !maps.Equal(got, want) {
						var ids []string
						for _, c := range order {
							ids = append(ids, c.EventID+"@"+c.SourceTime.Format("15:04"))
						}
						for f := range want {
							if got[f] != want[f] {
								t.Errorf("field %s: %q, want %q", f, got[f], want[f])
							}
						}
						for f := range got {
							if _, ok := want[f]; !ok {
								t.Errorf("field %s: %q, want none", f, got[f])
							}
						}
						t.Fatalf("round %d: order %v does not converge to the source-time order's golden values", round, ids)
					}
				}
			}
		})
	}
}
