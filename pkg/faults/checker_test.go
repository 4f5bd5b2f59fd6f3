package faults

import (
	"slices"
	"strings"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
)

// The checker must be able to fail: a lost, a doubled and an unexpected
// record are each reported.
func TestCheck(t *testing.T) {
	exp := Expectation{
		Gifts:   map[string]bool{"g-1": true, "g-2": true},
		Creates: map[string]bool{"web-n1": true},
		Poison:  map[string]bool{"bad-1": true},
	}
	gift := func(ev, id string) contact.SinkRecord {
		return contact.SinkRecord{EventID: ev, CausationID: "evt-" + id, TargetSystem: "offline", Entity: contact.EntityGift, Op: contact.SinkCreate, Gift: &contact.Gift{GiftID: id}}
	}
	create := contact.SinkRecord{EventID: "c-1", CausationID: "evt-1", TargetSystem: "offline", Entity: contact.EntityContact, Op: contact.SinkCreate, Links: map[string]string{"online": "web-n1"}}
	good := []contact.SinkRecord{create, gift("s-1", "g-1"), gift("s-2", "g-2")}
	kos := []contact.KickOut{{Key: []byte("bad-1")}}

	for _, tc := range []struct {
		name                  string
		sinks                 []contact.SinkRecord
		kos                   []contact.KickOut
		lost, dup, unexpected int
	}{
		{"exact", good, kos, 0, 0, 0},
		{"gift lost", good[:2], kos, 1, 0, 0},
		{"create lost", good[1:], kos, 1, 0, 0},
		{"same record twice", append(append([]contact.SinkRecord{}, good...), good[1]), kos, 0, 2, 0},
		{"gift twice under two ids", append(append([]contact.SinkRecord{}, good...), gift("s-9", "g-1")), kos, 0, 1, 0},
		{"echo caused output", append(append([]contact.SinkRecord{}, good...), contact.SinkRecord{EventID: "u-1", CausationID: "offline:pg:1", TargetSystem: "online", Op: contact.SinkUpdate}), kos, 0, 0, 1},
		{"kick-out lost", good, nil, 1, 0, 0},
		{"valid record kicked out", good, append(append([]contact.KickOut{}, kos...), contact.KickOut{Key: []byte("web-1")}), 0, 0, 1},
		{"kick-out twice", good, append(append([]contact.KickOut{}, kos...), kos...), 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(exp, "offline", "online", tc.sinks, tc.kos)
			if r.Lost != tc.lost || r.Duplicated != tc.dup || r.Unexpected != tc.unexpected {
				t.Fatalf("got %s; want lost=%d duplicated=%d unexpected=%d", r, tc.lost, tc.dup, tc.unexpected)
			}
		})
	}
}

// A gift held with its record (a kick-out awaiting a person's decision) is
// lost to the run, and the report says where it is; the valid record's
// kick-out is unexpected.
func TestCheckNamesTheKickOutHoldingAGift(t *testing.T) {
	exp := Expectation{Gifts: map[string]bool{"g-1": true}, GiftRecords: map[string]string{"g-1": "web-k1"},
		Creates: map[string]bool{}, Poison: map[string]bool{}}
	kos := []contact.KickOut{{Key: []byte("online/web-k1"), Stage: "matcher", Reason: "match.pending_decision", Error: "awaits a decision"}}
	r := Check(exp, "offline", "online", nil, kos)
	if r.Lost != 1 || r.Unexpected != 1 || !slices.ContainsFunc(r.Examples, func(e string) bool {
		return strings.Contains(e, "g-1") && strings.Contains(e, "online/web-k1 was kicked out (matcher match.pending_decision")
	}) {
		t.Fatalf("got %s", r)
	}
}

// The offline id written back: every known donor's online record the
// stream links is told its offline id (a link-only update, or the links of
// a data update), the link-only update at most once and never after the id
// was sent, and to no other record. The link-only update may be caused by
// an offline change: one routed between the matcher's link and the linking
// event's own routing already knows the link.
func TestCheckWriteBacks(t *testing.T) {
	exp := Expectation{Gifts: map[string]bool{}, Creates: map[string]bool{}, Poison: map[string]bool{},
		WriteBacks: map[string]string{"web-k1": "OFF-1", "web-k2": "OFF-2"}}
	links := func(on, off string) map[string]string { return map[string]string{"online": on, "offline": off} }
	linkOnly := func(ev, cause, on, off string) contact.SinkRecord {
		return contact.SinkRecord{EventID: ev, CausationID: cause, TargetSystem: "online", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: on, Links: links(on, off), Reason: "links (offline id written back) from online"}
	}
	data := func(ev, on, off string) contact.SinkRecord {
		return contact.SinkRecord{EventID: ev, CausationID: "evt-" + ev, TargetSystem: "online", Entity: contact.EntityContact,
			Op: contact.SinkUpdate, TargetRecordID: on, Links: links(on, off), Set: contact.Values{contact.Country: "US"}, Reason: "latest"}
	}
	both := []contact.SinkRecord{linkOnly("l-1", "evt-1", "web-k1", "OFF-1"), data("d-2", "web-k2", "OFF-2")}
	for _, tc := range []struct {
		name                  string
		sinks                 []contact.SinkRecord
		lost, dup, unexpected int
	}{
		{"each told once", both, 0, 0, 0},
		{"told by an offline change", []contact.SinkRecord{linkOnly("l-1", "offline:pg:7", "web-k1", "OFF-1"), both[1]}, 0, 0, 0},
		{"link-only first, then data with the links", append(slices.Clone(both), data("d-3", "web-k1", "OFF-1")), 0, 0, 0},
		{"never told", both[1:], 1, 0, 0},
		{"link-only twice", append(slices.Clone(both), linkOnly("l-3", "offline:pg:8", "web-k1", "OFF-1")), 0, 1, 0},
		{"link-only after the id was sent", append(slices.Clone(both), linkOnly("l-3", "evt-3", "web-k2", "OFF-2")), 0, 0, 1},
		{"the wrong offline id", []contact.SinkRecord{linkOnly("l-1", "offline:pg:7", "web-k1", "OFF-2"), both[1]}, 1, 0, 1},
		{"a record not linked by the stream", append(slices.Clone(both), linkOnly("l-3", "offline:pg:8", "web-n1", "OFF-9")), 0, 0, 1},
		{"an offline change's data update", append(slices.Clone(both), func() contact.SinkRecord {
			r := data("d-3", "web-k1", "OFF-1")
			r.CausationID = "offline:pg:9"
			return r
		}()), 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(exp, "offline", "online", tc.sinks, nil)
			if r.Lost != tc.lost || r.Duplicated != tc.dup || r.Unexpected != tc.unexpected {
				t.Fatalf("got %s; want lost=%d duplicated=%d unexpected=%d", r, tc.lost, tc.dup, tc.unexpected)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(3, 50, 500), Generate(3, 50, 500)
	if len(a.Flow) != len(b.Flow) || len(a.Expect.Gifts) != len(b.Expect.Gifts) {
		t.Fatal("same seed, different streams")
	}
	for i := range a.Flow {
		if string(a.Flow[i].Value) != string(b.Flow[i].Value) {
			t.Fatalf("record %d differs", i)
		}
	}
	if len(a.Expect.Poison) == 0 || len(a.Expect.Creates) == 0 || a.Expect.Echoes == 0 || len(a.Expect.Gifts) < 400 || len(a.Expect.WriteBacks) == 0 {
		t.Fatalf("stream lacks variety: %d poison, %d creates, %d echoes, %d gifts, %d write-backs",
			len(a.Expect.Poison), len(a.Expect.Creates), a.Expect.Echoes, len(a.Expect.Gifts), len(a.Expect.WriteBacks))
	}
}
