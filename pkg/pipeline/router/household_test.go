package router_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/routertest"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/router"
	"github.com/contactsync/contactsync/pkg/rules"
)

// The household id the matcher gave a change is kept in the person's
// golden state and goes out on every sink record of the person, through
// the Avro wire format: two household members share one id, and a later
// change that brings none (no address) still carries the person's.
func TestSinkRecordsCarryTheHouseholdID(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	topics := pipeline.DefaultTopics()
	st := router.New(topics, codec, routertest.RulesEngine{E: rules.NewEngine(rules.Default())}, newMemStore(), nil)
	const household = "hh-0123456789abcdef01234567"
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	home := contact.Values{contact.FamilyName: "Rodriguez", contact.AddressLine1: "14 Acacia Ave", contact.Locality: "Bristol", contact.Postcode: "BS1 4DJ"}
	online := func(person, record string, h int, household string, v contact.Values) contact.Matched {
		return contact.Matched{Change: contact.Change{EventID: person + "-" + record + "-" + t0.Add(time.Duration(h)*time.Hour).Format("15"),
			SourceSystem: "online", SourceRecordID: record, ReferenceSource: "online", Origin: contact.OriginAPI, Op: contact.OpUpsert,
			SourceTime: t0.Add(time.Duration(h) * time.Hour), Values: v},
			Match: contact.Match{PersonID: person, Decision: contact.DecisionNew, HouseholdID: household},
			Links: map[string]string{"online": record}}
	}
	events := []contact.Matched{
		online("p-1", "web-1", 0, household, with(home, contact.GivenName, "Melissa")),
		online("p-2", "web-2", 1, household, with(home, contact.GivenName, "Elizabeth")),
		online("p-1", "web-1", 2, "", contact.Values{contact.Email: "melissa@example.org"}),
	}
	events[2].Match.Decision = contact.DecisionKnown
	var batch []*kgo.Record
	for i, m := range events {
		b, err := codec.EncodeMatched(m)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, &kgo.Record{Topic: topics.Matched, Offset: int64(i), Key: []byte(m.Match.PersonID), Value: b})
	}
	out, err := st.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	perPerson := map[string]int{}
	for _, r := range out {
		if r.Topic != topics.Sink("offline") {
			continue
		}
		s, err := codec.DecodeSink(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if s.HouseholdID != household {
			t.Errorf("sink record %s of %s (%s) carries household %q, want %q", s.EventID, s.PersonID, s.Reason, s.HouseholdID, household)
		}
		perPerson[s.PersonID]++
	}
	if perPerson["p-1"] != 2 || perPerson["p-2"] != 1 {
		t.Fatalf("offline sink records per person %v, want p-1: 2 (create, email), p-2: 1", perPerson)
	}
}

func with(v contact.Values, f contact.Field, x string) contact.Values {
	out := v.Clone()
	out[f] = x
	return out
}
