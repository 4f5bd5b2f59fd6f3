package dashboardtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
)

// Seeded names what Seed stored.
type Seeded struct {
	// Target is the kick-out the browser test fixes: an online contact
	// event whose email has a comma for a dot.
	Target       contact.KickOut
	TargetRecord string // its record id (what the browser searches)
	BadEmail     string
	GoodEmail    string
	// InvalidField are the open ingest kick-outs with reason validate.field
	// (Target among them).
	InvalidField []contact.KickOut
	// Ambiguous is a matcher kick-out (Avro ContactChange) with a match
	// explanation; Routed a router kick-out (Avro MatchedChange).
	Ambiguous contact.KickOut
	Routed    contact.KickOut
	// Truncated is an online event cut short (decode.json).
	Truncated contact.KickOut
	// Burst are more truncated online events (decode.json), all open.
	Burst []contact.KickOut
	// Resolved was closed by a person.
	Resolved contact.KickOut
	// Reviews are the review items, newest first.
	Reviews []contact.ReviewItem
	Now     time.Time
}

// Seed stores a realistic queue, as the collector would: kick-outs of the
// last two weeks from ingest, matcher and router, and two held
// self-service changes.
func Seed(t testing.TB, e *Env) Seeded {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	now := time.Now().UTC().Truncate(time.Minute)
	tp := e.Sources.Topics
	s := Seeded{Now: now, BadEmail: "jane.doe@example,org", GoodEmail: "jane.doe@example.org", TargetRecord: "web-2041"}
	var offset int64
	ko := func(stage, reason, errText, topic string, key, value []byte, at time.Time) contact.KickOut {
		offset++
		r := &kgo.Record{Topic: topic, Partition: 0, Offset: offset, Key: key, Value: value, Timestamp: at}
		return pipeline.KickOutFrom(stage, reason, errors.New(errText), r)
	}
	online := func(id, given, family, email, phone string, at time.Time) []byte {
		return mustJSON(map[string]any{
			"event_id": fmt.Sprintf("evt-%s-%d", id, at.Unix()), "type": "contact.updated", "system": "online",
			"occurred_at": at.Format(time.RFC3339), "origin": "self_service",
			"contact": map[string]any{"id": id, "reference_source": "online", "first_name": given, "last_name": family,
				"email": email, "phone": phone,
				"address": map[string]any{"line1": "18 Elm Street", "city": "Springfield", "region": "IL", "postcode": "62704", "country": "US"}},
		})
	}
	day := func(d int, h int) time.Time { return now.AddDate(0, 0, -d).Add(time.Duration(-h) * time.Hour) }

	s.Target = ko("ingest", pipeline.ReasonInvalidField, `email: "jane.doe@example,org" is not a valid email address`,
		tp.OnlineEvents, []byte("web-2041"), online("web-2041", "Jane", "Doe", s.BadEmail, "+1 217 555 0142", day(0, 1)), day(0, 1))
	s.InvalidField = []contact.KickOut{
		s.Target,
		ko("ingest", pipeline.ReasonInvalidField, `phone: "+1 555 01" is too short to be a phone number`,
			tp.OnlineEvents, []byte("web-1987"), online("web-1987", "Omar", "Haddad", "omar.haddad@example.net", "+1 555 01", day(2, 3)), day(2, 3)),
		ko("ingest", pipeline.ReasonInvalidField, `email: "mark@@example.org" is not a valid email address`,
			tp.OnlineEvents, []byte("web-2013"), online("web-2013", "Mark", "Olsen", "mark@@example.org", "", day(5, 2)), day(5, 2)),
		ko("ingest", pipeline.ReasonInvalidField, `date_of_birth: "1975-02-30" is not a real date`,
			tp.OfflineCDC, []byte(`{"id":"OFF-01007"}`), debezium("OFF-01007", "Grace", "Kim", "1975-02-30", day(4, 5)), day(4, 5)),
		ko("ingest", pipeline.ReasonInvalidField, `email: "li.wei@example" has no top-level domain`,
			tp.OnlineEvents, []byte("web-1962"), online("web-1962", "Li", "Wei", "li.wei@example", "", day(8, 1)), day(8, 1)),
	}
	s.Resolved = ko("ingest", pipeline.ReasonInvalidField, `email: "ana.lopez@gmail" has no top-level domain`,
		tp.OnlineEvents, []byte("web-1950"), online("web-1950", "Ana", "Lopez", "ana.lopez@gmail", "", day(11, 4)), day(11, 4))
	s.Truncated = ko("ingest", "decode.json", "unexpected end of JSON input",
		tp.OnlineEvents, []byte("web-2030"), []byte(`{"event_id": "evt-web-2030-1", "type": "gift.created", "contact": {"id": "web-2030", "first_name": "Pa`), day(1, 6))
	truncated2 := ko("ingest", "decode.json", "unexpected end of JSON input",
		tp.OnlineEvents, []byte("web-1999"), []byte(`{"event_id": "evt-web-1999-1", "type": "contact.created", `), day(6, 2))

	ambiguous := contact.Change{EventID: "evt-web-2002-1", SourceSystem: "online", SourceRecordID: "web-2002",
		ReferenceSource: "online", Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: day(3, 2),
		Values: contact.Values{contact.GivenName: "Sam", contact.FamilyName: "Taylor", contact.Email: "sam.taylor@example.com",
			contact.Postcode: "62704"}}
	val, err := e.Codec.EncodeChange(ambiguous)
	if err != nil {
		t.Fatal(err)
	}
	s.Ambiguous = ko("matcher", pipeline.ReasonMatchAmbiguous, "match is ambiguous: 2 candidate persons",
		tp.Changes, []byte("online/web-2002"), val, day(3, 2))
	s.Ambiguous.EventID = ambiguous.EventID
	s.Ambiguous.Explanation = "exact keys point to 2 different persons: p-3b1e (email sam.taylor@example.com) and " +
		"p-77c0 (family name + given name + postcode Taylor/Sam/62704). Merge or correct them in the donor database, then replay."

	routedChange := contact.Change{EventID: "evt-OFF-01012-9", SourceSystem: "offline", SourceRecordID: "OFF-01012",
		Origin: contact.OriginAdmin, Op: contact.OpUpsert, SourceTime: day(7, 3),
		Values: contact.Values{contact.GivenName: "Ruth", contact.FamilyName: "Baker", contact.DoNotEmail: "maybe"}}
	mval, err := e.Codec.EncodeMatched(contact.Matched{Change: routedChange,
		Match: contact.Match{PersonID: "p-5a21", Decision: contact.DecisionKnown, Explanation: "record already linked"},
		Links: map[string]string{"offline": "OFF-01012", "online": "web-0412"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Routed = ko("router", "rules.invalid_value", `do_not_email: "maybe" is not true or false`,
		tp.Matched, []byte("p-5a21"), mval, day(7, 3))
	s.Routed.EventID, s.Routed.PersonID = routedChange.EventID, "p-5a21"

	// A pattern to spot: a webhook sender cut bodies short for two days.
	for i, d := range []int{9, 9, 9, 9, 9, 9, 12, 12, 12} {
		id := fmt.Sprintf("web-18%02d", 40+i)
		s.Burst = append(s.Burst, ko("ingest", "decode.json", "unexpected end of JSON input", tp.OnlineEvents, []byte(id),
			[]byte(fmt.Sprintf(`{"event_id": "evt-%s-1", "type": "gift.created", "contact": {"id": "%s", "first`, id, id)), day(d, i)))
	}
	all := append(append([]contact.KickOut{}, s.InvalidField...), s.Resolved, s.Truncated, truncated2, s.Ambiguous, s.Routed)
	all = append(all, s.Burst...)
	if err := e.Queue.SaveKickOuts(ctx, all); err != nil {
		t.Fatal(err)
	}
	if err := e.Queue.Resolve(ctx, s.Resolved.ID, review.Decision{Who: "sam", At: day(10, 0),
		Why: "corrected in the donor database"}); err != nil {
		t.Fatal(err)
	}

	nameChange := contact.Change{EventID: "evt-web-0003-77", SourceSystem: "online", SourceRecordID: "web-0003",
		ReferenceSource: "online", Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: day(0, 3),
		Values: contact.Values{contact.GivenName: "Priya", contact.FamilyName: "Natarajan-Smythe", contact.Email: "priya.n@example.org"}}
	addressChange := contact.Change{EventID: "evt-web-0417-12", SourceSystem: "online", SourceRecordID: "web-0417",
		ReferenceSource: "online", Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: day(1, 2),
		Values: contact.Values{contact.AddressLine1: "12 Harbour Road", contact.Locality: "Portland", contact.Region: "OR",
			contact.Postcode: "97201", contact.Country: "US"}}
	s.Reviews = []contact.ReviewItem{
		{ID: "rv-" + nameChange.EventID + "-offline", PersonID: "p-8f2c", TargetSystem: "offline",
			Reason:   "self-service name change is reviewed before it reaches the system of record",
			Proposed: contact.Values{contact.FamilyName: "Natarajan-Smythe"},
			Current:  contact.Values{contact.FamilyName: "Natarajan"},
			Change:   nameChange, Created: day(0, 3)},
		{ID: "rv-" + addressChange.EventID + "-offline", PersonID: "p-41d9", TargetSystem: "offline",
			Reason: "self-service address change is reviewed before it reaches the system of record",
			Proposed: contact.Values{contact.AddressLine1: "12 Harbour Road", contact.Locality: "Portland",
				contact.Region: "OR", contact.Postcode: "97201", contact.Country: "US"},
			Current: contact.Values{contact.AddressLine1: "4 Lake View", contact.Locality: "Salem",
				contact.Region: "OR", contact.Postcode: "97301", contact.Country: "US"},
			Change: addressChange, Created: day(1, 2)},
	}
	if err := e.Queue.SaveReviews(ctx, s.Reviews); err != nil {
		t.Fatal(err)
	}
	return s
}

func debezium(id, given, family, dob string, at time.Time) []byte {
	row := map[string]any{"id": id, "first_name": given, "last_name": family, "email": "grace.kim@example.com",
		"birth_date": dob, "updated_by": "admin", "updated_at": at.Format(time.RFC3339Nano)}
	return mustJSON(map[string]any{
		"before": nil, "after": row, "op": "u", "ts_ms": at.UnixMilli(),
		"source": map[string]any{"connector": "postgresql", "name": "offline", "db": "donors", "table": "contacts", "ts_ms": at.UnixMilli()},
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
