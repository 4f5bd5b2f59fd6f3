package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
)

type memSource [][2][]byte

func (s memSource) Scan(_ context.Context, each func(key, value []byte) error) error {
	for _, r := range s {
		if err := each(r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}

type jsonDecoder struct{}

func (jsonDecoder) DecodeAudit(b []byte) (a contact.Audit, err error) {
	return a, json.Unmarshal(b, &a)
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func record(t *testing.T, a contact.Audit) [2][]byte {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return [2][]byte{[]byte(a.PersonID), b}
}

// Read keeps the person's records only, in topic order, and counts the
// person's unreadable records without failing.
func TestReadFiltersByPerson(t *testing.T) {
	mine := contact.Audit{EventID: "e1", PersonID: "p-1", SourceSystem: "online", Origin: contact.OriginAPI, SourceTime: t0,
		Fields: []contact.FieldAudit{{Field: contact.Phone, Old: "1", New: "2", Action: "accepted", Rule: "phone", Policy: "latest",
			Targets: []contact.TargetAudit{{System: "offline", Action: "sent"}}}}}
	other := mine
	other.PersonID, other.EventID = "p-2", "e2"
	later := mine
	later.EventID, later.Fields = "e3", []contact.FieldAudit{{Field: contact.Email, New: "a@b", Action: "echo", Rule: "email", Policy: "echo"}}
	src := memSource{record(t, mine), record(t, other), {[]byte("p-1"), []byte("not json")}, record(t, later)}
	h, err := Read(context.Background(), src, jsonDecoder{}, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range h.Entries {
		ids = append(ids, e.EventID+":"+string(e.Field))
	}
	if strings.Join(ids, ",") != "e1:phone,e3:email" || h.Unreadable != 1 || h.FirstError == nil {
		t.Fatalf("entries %v, unreadable %d (%v)", ids, h.Unreadable, h.FirstError)
	}
	var out bytes.Buffer
	if err := Write(&out, h); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`phone  "1" -> "2"`, "sent to offline", "echo suppressed", "1 audit record(s) of p-1 could not be read"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestOutcome(t *testing.T) {
	sent := func(s ...string) []contact.TargetAudit {
		var out []contact.TargetAudit
		for _, x := range s {
			sys, act, _ := strings.Cut(x, ":")
			out = append(out, contact.TargetAudit{System: sys, Action: act})
		}
		return out
	}
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "accepted", Targets: sent("offline:sent", "online:sent")}}, "sent to offline, online"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "accepted"}}, "accepted"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "accepted", Approved: true, Targets: sent("offline:sent")}}, "approved after review; sent to offline"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "held", Targets: sent("offline:held")}}, "held for review (offline)"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "echo"}}, "echo suppressed"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "not_edited"}}, "unchanged"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "unchanged"}}, "unchanged"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "email", Action: "not_allowed"}}, "golden value kept: this system may not change it"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Targets: sent("online:sent")}}, "sent to online"},
		{Entry{FieldAudit: contact.FieldAudit{Field: "phone", Action: "accepted", Targets: sent("online:out_of_scope")}}, "accepted; online: not synced there"},
		{Entry{KickOutReason: "rules.delete"}, "kicked out (rules.delete)"},
		{Entry{KickOutReason: "rules.gift_no_record", FieldAudit: contact.FieldAudit{Rule: "gifts", Targets: sent("offline:no_record")}},
			"offline: no record there; event kicked out (rules.gift_no_record)"},
	} {
		if got := Outcome(tc.e); got != tc.want {
			t.Errorf("Outcome(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

type mapResolver map[string]string

func (m mapResolver) PersonOf(_ context.Context, system, recordID string) (string, error) {
	return m[system+"/"+recordID], nil
}

func TestPersonOf(t *testing.T) {
	r := mapResolver{"offline/OFF-1": "p-1", "online/web:7": "p-2"}
	systems := []string{"offline", "online"}
	for _, tc := range []struct {
		arg, want, err string
	}{
		{arg: "p-9", want: "p-9"},
		{arg: "offline:OFF-1", want: "p-1"},
		{arg: "online:web:7", want: "p-2"}, // a record id may hold a colon
		{arg: "offline:NOPE", err: ErrNoPerson.Error()},
		{arg: "crm:1", err: "needs one of the systems"},
		{arg: "offline:", err: "needs one of the systems"},
	} {
		got, err := PersonOf(context.Background(), r, systems, tc.arg)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %q, %v; want an error with %q", tc.arg, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.arg, got, err, tc.want)
		}
	}
	if _, err := PersonOf(context.Background(), r, systems, "offline:NOPE"); !errors.Is(err, ErrNoPerson) {
		t.Errorf("unknown record: %v, want ErrNoPerson", err)
	}
}

// Each kind of entry reads as itself: a field, a gift (also one written
// before kinds existed), the offline id written back.
func TestLineKinds(t *testing.T) {
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	to := func(sys string) []contact.TargetAudit { return []contact.TargetAudit{{System: sys, Action: "sent"}} }
	for _, tc := range []struct {
		fa   contact.FieldAudit
		want string
	}{
		{contact.FieldAudit{Field: "phone", Old: "1", New: "2", Action: "accepted", Rule: "phone", Policy: "latest", Targets: to("offline")},
			`phone	"1" -> "2"	from online/api	phone/latest	sent to offline`},
		{contact.FieldAudit{Kind: contact.AuditGift, Rule: "gifts", Targets: to("offline")},
			"gift	-	from online/api	gifts	sent to offline"},
		{contact.FieldAudit{Rule: "gifts", Targets: to("offline")},
			"gift	-	from online/api	gifts	sent to offline"},
		{contact.FieldAudit{Kind: contact.AuditLinks, New: "offline:OFF-7", Rule: "links", Targets: to("online")},
			"links	-> offline:OFF-7	from online/api	links	offline id OFF-7 written back to online"},
	} {
		e := Entry{Time: at, SourceSystem: "online", Origin: contact.OriginAPI, FieldAudit: tc.fa}
		if got, want := Line(e), "2026-11-03T09:00:00Z\t"+tc.want; got != want {
			t.Errorf("Line(%+v)\n got %q\nwant %q", tc.fa, got, want)
		}
	}
}
