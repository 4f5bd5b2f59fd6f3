// Package sampledata builds records in the wire formats contactsync reads
// from outside (Debezium change events of the offline contacts table, online
// webhook events), for the generated data of the demo and the fault suite:
// one place that knows those shapes, so both stay what the decoders expect.
package sampledata

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

// MustJSON marshals maps and slices of plain values, which cannot fail.
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are marshalled here
	}
	return b
}

// Typo swaps two adjacent letters inside s (not the first), as a person
// typing fast does; strings shorter than 4 stay as they are.
func Typo(rng *rand.Rand, s string) string {
	if len(s) < 4 {
		return s
	}
	i := 1 + rng.IntN(len(s)-2)
	b := []byte(s)
	b[i], b[i+1] = b[i+1], b[i]
	return string(b)
}

// DebeziumChange returns the key and value of a Debezium change event of row
// id in the offline database's public.contacts table (PostgreSQL connector,
// schemas off). op is "r" (snapshot), "c", "u" or "d"; lsn is the log
// position, which with the table and id identifies the event.
func DebeziumChange(op, id string, before, after map[string]any, ts time.Time, lsn int64) (key, value []byte) {
	snapshot := "false"
	if op == "r" {
		snapshot = "true"
	}
	env := map[string]any{
		"before": before, "after": after, // a nil map is JSON null
		"source": map[string]any{
			"version": "3.6.1.Final", "connector": "postgresql", "name": "offline", "ts_ms": ts.UnixMilli(),
			"snapshot": snapshot, "db": "donors", "schema": "public", "table": "contacts",
			"txId": ts.Unix() % 100000, "lsn": lsn,
		},
		"transaction": nil, "op": op, "ts_ms": ts.UnixMilli(),
	}
	return MustJSON(map[string]any{"id": id}), MustJSON(env)
}

// Contact is the contact part of an online event.
type Contact struct {
	ID, ReferenceSource            string
	Given, Family, Email, Phone    string
	Street, City, Region, Postcode string
}

// OnlineEvent returns an online webhook event of kind (gift.created,
// contact.updated...) from system; gift, if not nil, is its gift object.
func OnlineEvent(eventID, kind, system, origin string, at time.Time, c Contact, gift map[string]any) []byte {
	ev := map[string]any{
		"event_id": eventID, "type": kind, "system": system, "occurred_at": at.Format(time.RFC3339), "origin": origin,
		"contact": map[string]any{
			"id": c.ID, "reference_source": c.ReferenceSource, "first_name": c.Given, "last_name": c.Family,
			"email": c.Email, "phone": c.Phone,
			"address": map[string]any{"line1": c.Street, "city": c.City, "region": c.Region, "postcode": c.Postcode, "country": "US"},
		},
	}
	if gift != nil {
		ev["gift"] = gift
	}
	return MustJSON(ev)
}
