package redisstore

import (
	"strings"
	"testing"
)

// TestKeysNeverCollide: keys built from different parts differ, whatever
// bytes the parts hold, and ids cannot end a hash tag early.
func TestKeysNeverCollide(t *testing.T) {
	k := Keys{Prefix: "cs"}
	tests := []struct {
		name string
		a, b string
	}{
		{"crosswalk: ':' in system or record", k.Crosswalk("a:b", "c"), k.Crosswalk("a", "b:c")},
		{"crosswalk: '/' in system or record", k.Crosswalk("online/web", "0001"), k.Crosswalk("online", "web/0001")},
		{"decision memo vs record owner", k.eventMemo("x", "e}"), k.recordOwner("x}:ev:e")},
		{"decision memo vs record lock", k.eventMemo("x", "lock"), k.recordLock("x")},
		{"record lock vs owner of a crafted record", k.recordLock("x"), k.recordOwner("x}:lock")},
		{"router memo: '}' in person or event", k.Memo("a}:memo:b", "c"), k.Memo("a", "b}:memo:c")},
		{"router memo vs state", k.Memo("p", "x"), k.State("p}:memo:x")},
		{"links vs members", k.Links("p}:members"), k.personMembers("p}:links")},
		{"blocking key bucket vs its overflow", k.blockBucket(blockOf("k")), k.blockOverflow(blockOf("k"))},
		{"blocking key overflow vs its lock", k.blockOverflow(blockOf("k")), k.matchKeyLock("k")},
		{"term bucket vs blocking key bucket", k.termBucket(termOf("k")), k.blockBucket(blockOf("k"))},
		{"record count vs layout", k.layout(), k.recordCount()},
		{"escape is injective", k.recordOwner("a%2F"), k.recordOwner("a/")},
		{"escape is injective (percent)", k.recordOwner("%7B"), k.recordOwner("{")},
		{"control characters", k.recordOwner("a\nb"), k.recordOwner("a\rb")},
		{"invalid UTF-8", k.recordOwner("a\xff"), k.recordOwner("a\xfe")},
		{"empty event id", k.eventMemo("x", ""), k.recordOwner("x")},
		{"exact blocking keys", k.Block("email:a}b"), k.Block("email:a}")},
	}
	for _, tt := range tests {
		if tt.a == tt.b {
			t.Errorf("%s: both are %q", tt.name, tt.a)
		}
	}
}

// TestKeysShareOneTagPerPersonAndRecord: a person's keys, a record's keys
// and a blocking key's keys each share one hash tag (their scripts stay in
// one Cluster slot), and the tag is exactly the encoded id, so a "{" or "}"
// in an id cannot move it.
func TestKeysShareOneTagPerPersonAndRecord(t *testing.T) {
	k := Keys{Prefix: "cs"}
	for _, id := range []string{"p-1", "online/web-1", "x}:ev:e", "{a}", "a{b", "}", "", "e\x00\n:%{}", "ann@mail.net", "\xff\xfe"} {
		groups := map[string][]string{
			"person": {k.Links(id), k.State(id), k.Memo(id, "ev}{"), k.personMembers(id)},
			"record": {k.recordOwner(id), k.recordLock(id), k.eventMemo(id, "}{:")},
		}
		for what, keys := range groups {
			for _, key := range keys {
				tag, ok := hashTag(key)
				if !ok || tag != part(id) {
					t.Errorf("%s %q: key %q has hash tag %q, want %q", what, id, key, tag, part(id))
				}
				if strings.Count(key, "{") != 1 || strings.Count(key, "}") != 1 {
					t.Errorf("%s %q: key %q holds more than one brace pair", what, id, key)
				}
			}
		}
	}
}

// hashTag is what Redis Cluster hashes: the text between the first "{"
// and the next "}", when not empty.
func hashTag(key string) (string, bool) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return "", false
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return "", false
	}
	return key[open+1 : open+1+end], true
}

func TestPartKeepsUsualIDsReadable(t *testing.T) {
	for in, want := range map[string]string{
		"OFF-1": "OFF-1", "online/web-77": "online/web-77", "ann.lee@mail.net": "ann.lee@mail.net",
		"nm:lee": "nm%3Alee", "a}b": "a%7Db", "50%": "50%25", "a b\n": "a%20b%0A", "\xff": "%FF", "": "%",
	} {
		if got := part(in); got != want {
			t.Errorf("part(%q) = %q, want %q", in, got, want)
		}
	}
}
