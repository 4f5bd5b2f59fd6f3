package stripe

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
)

var update = flag.Bool("update", false, "rewrite the fixtures' signatures and expected events")

// fixtureSecret signs testdata/events/*.sig, as an endpoint's signing
// secret would (Stripe's format: the whole whsec_ string is the key).
const fixtureSecret = "whsec_contactsyncFixtureSecretNotForProduction"

type fixture struct {
	name string
	body []byte
	sig  string
	at   time.Time
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	paths, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out []fixture
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Created int64 `json:"created"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f := fixture{name: strings.TrimSuffix(filepath.Base(p), ".json"), body: body, at: time.Unix(env.Created, 0)}
		sigPath := strings.TrimSuffix(p, ".json") + ".sig"
		if *update {
			f.sig = SignHeader(f.at, body, []byte(fixtureSecret))
			if err := os.WriteFile(sigPath, []byte(f.sig+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				t.Fatalf("%s: %v (go test -run TestFixtures -update writes it)", p, err)
			}
			f.sig = strings.TrimSpace(string(sig))
		}
		out = append(out, f)
	}
	return out
}

// TestFixtures verifies each signed fixture as the gateway does, maps it,
// compares the online event with testdata/want, and decodes it as ingest
// does: what the mapping writes, ingest reads.
func TestFixtures(t *testing.T) {
	online, err := decode.NewOnline(decode.OnlineConfig{System: "stripe", TrustedOrigins: []contact.Origin{contact.OriginSync}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			if err := Verify([][]byte{[]byte(fixtureSecret)}, f.sig, f.body, f.at.Add(time.Minute), DefaultTolerance); err != nil {
				t.Fatalf("signature: %v", err)
			}
			m, err := Map(f.body, Options{System: "stripe"})
			if err != nil {
				t.Fatalf("map: %v", err)
			}
			got := m.Event
			if m.Ignored != "" {
				got, _ = json.Marshal(map[string]string{"ignored": m.Ignored})
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			wantPath := filepath.Join("testdata/want", f.name+".json")
			if *update {
				if err := os.WriteFile(wantPath, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("online event:\n%s\nwant:\n%s", pretty.Bytes(), want)
			}
			if m.Ignored != "" {
				return
			}
			changes, err := online.Decode(nil, m.Event)
			if err != nil {
				t.Fatalf("ingest does not read the online event: %v", err)
			}
			if len(changes) != 1 || changes[0].EventID != m.EventID || changes[0].SourceRecordID != m.ContactID {
				t.Fatalf("ingest read %+v", changes)
			}
		})
	}
}

// TestFixtureAmounts pins the money: minor units per currency, exactly.
func TestFixtureAmounts(t *testing.T) {
	online, _ := decode.NewOnline(decode.OnlineConfig{System: "stripe"})
	for name, want := range map[string]struct {
		minor    int64
		currency string
	}{
		"payment_intent.succeeded":     {2550, "USD"},
		"payment_intent.succeeded.jpy": {5000, "JPY"},
		"charge.succeeded.kwd":         {5120, "KWD"},
	} {
		body, err := os.ReadFile(filepath.Join("testdata/events", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Map(body, Options{System: "stripe"})
		if err != nil {
			t.Fatal(err)
		}
		changes, err := online.Decode(nil, m.Event)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g := changes[0].Gift; g == nil || g.AmountMinor != want.minor || g.Currency != want.currency {
			t.Errorf("%s: gift %+v, want %d %s", name, g, want.minor, want.currency)
		}
	}
}
