package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

// jsonForm is the state as the router stored it before the binary form.
func jsonForm(t testing.TB, st *State) []byte {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// richState has every part of a state, including the corners JSON kept:
// a zone offset, a nil system, an empty (not nil) list of writes.
func richState() *State {
	berlin := time.FixedZone("", 3600)
	return &State{
		Version: 7, ReferenceSource: "online", HouseholdID: "hh-1",
		Golden: map[contact.Field]Golden{
			contact.GivenName:  {Value: "Anna", System: "offline", Time: t0.Add(90 * time.Second), Version: 3},
			contact.Phone:      {Value: "", Cleared: true, System: "online", Time: time.Date(2026, 5, 1, 12, 0, 0, 123456789, berlin), Version: 7},
			contact.DoNotEmail: {Value: "true", System: "online", Version: 1},
		},
		Systems: map[string]*SystemState{
			"offline": {RecordID: "OFF-1", LastSeen: map[contact.Field]string{contact.GivenName: "Anna", contact.Email: ""},
				LastSent: map[contact.Field][]string{contact.Phone: {"+1", "+2"}, contact.Email: {}}, Holds: map[contact.Field]string{contact.GivenName: "Anna"},
				Kept: map[contact.Field]int{contact.Region: -2, contact.Phone: 4}, Held: map[contact.Field]string{contact.FamilyName: "Adams"},
				LinksSent: map[string]string{"online": "web-1"}},
			"online": {RecordID: "web-1", PendingCreate: true},
			"ghost":  nil,
		},
		Gifts: []string{"online/g1", "online/g2"},
	}
}

// The binary form reads back as exactly what the JSON form read back as.
func TestBinaryStateReadsAsTheJSONStateDid(t *testing.T) {
	for name, st := range map[string]*State{"empty": {}, "rich": richState()} {
		t.Run(name, func(t *testing.T) {
			fromJSON, err := DecodeState(jsonForm(t, st))
			if err != nil {
				t.Fatal(err)
			}
			bin := EncodeState(st)
			fromBinary, err := DecodeState(bin)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromBinary, fromJSON) {
				t.Errorf("binary state reads back as\n%s\nJSON state as\n%s", jsonForm(t, fromBinary), jsonForm(t, fromJSON))
			}
			if !bytes.Equal(EncodeState(fromBinary), bin) {
				t.Error("encoding the decoded state gives other bytes")
			}
			if len(bin) >= len(jsonForm(t, st)) && name != "empty" {
				t.Errorf("binary state %d bytes, JSON %d: not smaller", len(bin), len(jsonForm(t, st)))
			}
		})
	}
}

// A person whose state was stored as JSON (before the binary form) gets the
// same outputs as one whose same state is binary, and the engine writes
// the binary form from then on.
func TestEngineReadsJSONStatesAsBefore(t *testing.T) {
	e := NewEngine(Default())
	rng := rand.New(rand.NewSource(3))
	var state []byte
	for i := range 30 {
		c := replayChange(rng, i, t0.Add(time.Duration(i)*time.Minute))
		if i%3 == 0 {
			c = withGift(c, fmt.Sprintf("g-%d", i), 1000)
		}
		m := contact.Matched{Change: c, Match: contact.Match{PersonID: "p-1", Decision: contact.DecisionKnown}, Links: linked}
		st, err := DecodeState(state)
		if err != nil {
			t.Fatal(err)
		}
		fromBinary, err := e.Apply(state, m)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := e.Apply(jsonForm(t, st), m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromBinary, fromJSON) {
			t.Fatalf("change %d: a JSON state and the same binary state give different results:\n%+v\n%+v", i, fromJSON, fromBinary)
		}
		if len(fromBinary.State) == 0 || fromBinary.State[0] != stateFormatBinary {
			t.Fatalf("change %d: state not written in the binary form", i)
		}
		state = fromBinary.State
	}
}

func TestCorruptBinaryStateIsAnError(t *testing.T) {
	full := EncodeState(richState())
	for n := 1; n < len(full); n++ {
		if _, err := DecodeState(full[:n]); err == nil {
			t.Fatalf("state cut at %d of %d bytes decoded without error", n, len(full))
		}
	}
	if _, err := DecodeState(append(full, 0)); err == nil {
		t.Error("state with a trailing byte decoded without error")
	}
	res, err := NewEngine(Default()).Apply(full[:10], contact.Matched{Change: onlineEv("web-1", t0, contact.OriginAPI, nil)})
	if err != nil || res.KickOutReason != ReasonBadState {
		t.Errorf("corrupt state: %v, reason %q; want a kick-out %q", err, res.KickOutReason, ReasonBadState)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(EncodeState(richState()))
	f.Add(EncodeState(&State{}))
	f.Add([]byte{stateFormatBinary, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != stateFormatBinary {
			return // the JSON form is encoding/json's
		}
		st, err := DecodeState(b)
		if err != nil {
			return
		}
		again, err := DecodeState(EncodeState(st))
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if !bytes.Equal(EncodeState(again), EncodeState(st)) {
			t.Fatal("a decoded state does not survive another round")
		}
	})
}

// richState sets every field of a state (in some entry), so the round-trip
// test above covers a field added later: the binary form must learn it.
func TestRichStateSetsEveryField(t *testing.T) {
	st := richState()
	unset := func(v reflect.Value, entries ...reflect.Value) {
		t.Helper()
		for i := range v.NumField() {
			set := false
			for _, e := range entries {
				if !e.Field(i).IsZero() {
					set = true
				}
			}
			if !set {
				t.Errorf("richState leaves %s.%s unset", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	unset(reflect.ValueOf(*st), reflect.ValueOf(*st))
	var golden, systems []reflect.Value
	for _, g := range st.Golden {
		golden = append(golden, reflect.ValueOf(g))
	}
	for _, ss := range st.Systems {
		if ss != nil {
			systems = append(systems, reflect.ValueOf(*ss))
		}
	}
	unset(reflect.ValueOf(Golden{}), golden...)
	unset(reflect.ValueOf(SystemState{}), systems...)
}

// BenchmarkStateCodec reads and writes a state as the router does per change.
func BenchmarkStateCodec(b *testing.B) {
	st := richState()
	for i := range 100 {
		st.Gifts = append(st.Gifts, fmt.Sprintf("online/g-%07d", i))
	}
	for name, data := range map[string][]byte{"binary": EncodeState(st), "json": jsonForm(b, st)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, err := DecodeState(data)
				if err != nil {
					b.Fatal(err)
				}
				if name == "json" {
					jsonForm(b, st)
				} else {
					EncodeState(st)
				}
			}
		})
	}
}
