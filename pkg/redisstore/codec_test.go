package redisstore

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/match"
)

func TestPersonTokenRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		id      string
		wantLen int
	}{
		{match.DefaultPersonID("online/web-1"), 13},
		{"p-0123456789ABCDEF01234567", 27}, // upper-case hex is not the default form: kept as is
		{"p-0123", 7},
		{"p1", 3},
		{"x", 2},
		{"\x00\x01{}", 5},
		{strings.Repeat("z", maxPersonIDLen), maxPersonIDLen + 1},
	} {
		tok, err := personToken(tt.id)
		if err != nil {
			t.Fatalf("%q: %v", tt.id, err)
		}
		if len(tok) != tt.wantLen {
			t.Errorf("%q: token of %d bytes, want %d", tt.id, len(tok), tt.wantLen)
		}
		back, err := personFromToken(tok)
		if err != nil || back != tt.id {
			t.Errorf("%q: back %q, %v", tt.id, back, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("z", maxPersonIDLen+1)} {
		if _, err := personToken(id); err == nil {
			t.Errorf("person id of %d bytes accepted", len(id))
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []match.Record{
		{},
		{Given: "ann"},
		{Given: "ann", Family: "lee", EmailKey: "ann@mail.net", Phone: "+61400000000", HouseNumber: "12a",
			Street: "main st", AddressLine2: "unit 3", Locality: "samford", Region: "qld", Postcode: "4520",
			DOB: "19800101", Organisation: "acme"},
		{Organisation: "acme", DOB: strings.Repeat("9", 300)},
	} {
		b := encodeRecord(r)
		got, err := decodeRecord(string(b))
		if err != nil || got != r {
			t.Errorf("%+v: back %+v, %v", r, got, err)
		}
	}
	// Compact: the usual record is far smaller than its JSON.
	r := match.Record{Given: "ann", Family: "lee", EmailKey: "ann@mail.net", Postcode: "4520", DOB: "19800101"}
	if n := len(encodeRecord(r)); n > 45 {
		t.Errorf("record encoded in %d bytes", n)
	}
}

func TestMembersRoundTrip(t *testing.T) {
	want := []match.Member{
		{RecordID: "offline/1", Record: match.Record{Given: "ann", Family: "lee"}},
		{RecordID: "online/web-\x00}", Record: match.Record{}},
		{RecordID: strings.Repeat("r", 300), Record: match.Record{Street: strings.Repeat("s", 1000)}},
	}
	var s string
	for _, m := range want {
		e, err := encodeMemberEntry(m.RecordID, m.Record)
		if err != nil {
			t.Fatal(err)
		}
		s += e
	}
	got, err := decodeMembers(s)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("members back %+v, %v", got, err)
	}
	ids, err := memberRecordIDs(s)
	if err != nil || !slices.Equal(ids, []string{want[0].RecordID, want[1].RecordID, want[2].RecordID}) {
		t.Fatalf("ids %q, %v", ids, err)
	}
	if _, err := encodeMemberEntry("", match.Record{}); err == nil {
		t.Error("empty record id encoded")
	}
	if _, err := encodeMemberEntry("a/1", match.Record{Street: strings.Repeat("s", 1<<16)}); err == nil {
		t.Error("record over 64 KiB encoded")
	}
}

func TestBlockEntryDecode(t *testing.T) {
	tok := func(id string) string { s, _ := personToken(id); return string(rune(len(s))) + s }
	p1 := match.DefaultPersonID("a/1")
	for _, tt := range []struct {
		in   string
		want blockEntry
		bad  bool
	}{
		{in: "", want: blockEntry{}},
		{in: "3," + tok(p1) + tok("p2"), want: blockEntry{version: 3, persons: 2, list: []string{p1, "p2"}}},
		{in: "7,\x0051", want: blockEntry{version: 7, persons: 51, generic: true}},
		{in: "9,\x0112", want: blockEntry{version: 9, persons: 12, overflow: true}},
		{in: "9", bad: true},
		{in: "x,", bad: true},
		{in: "-1,", bad: true},
		{in: "1,\x00", bad: true},
		{in: "1,\x05ab", bad: true},
		{in: "1,\x02\x03a", bad: true},
	} {
		got, err := decodeBlockEntry(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: error %v", tt.in, err)
			continue
		}
		if !tt.bad && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestBlockingKeyKeysShareTheBucketTag: a blocking key's bucket, overflow
// and lock are in one Cluster slot, and the tag is the bucket's.
func TestBlockingKeyKeysShareTheBucketTag(t *testing.T) {
	k := Keys{Prefix: "cs"}
	for _, key := range []string{"nm:4f1c", "k}", "{", "", "dob:1"} {
		id := blockOf(key)
		tags := map[string]bool{}
		for _, name := range []string{k.blockBucket(id), k.blockOverflow(id), k.matchKeyLock(key)} {
			tag, ok := hashTag(name)
			if !ok || len(tag) != (blockBucketBits+3)/4 {
				t.Errorf("%q: key %q has tag %q", key, name, tag)
			}
			tags[tag] = true
		}
		if len(tags) != 1 {
			t.Errorf("%q: tags %v", key, tags)
		}
		if id.bucket >= 1<<blockBucketBits || termOf(key).bucket >= 1<<termBucketBits {
			t.Errorf("%q: bucket out of range", key)
		}
	}
}

// TestIndexBucketsStayCompact: after many persons with a shared key that
// overflows and keys of their own, the buckets and members are in Redis's
// compact encodings and the index answers like MemIndex.
func TestIndexBucketsStayCompact(t *testing.T) {
	rdb, real := testenv.Redis(t)
	if !real {
		t.Skip("OBJECT ENCODING needs a real Redis (REDIS_ADDR unset)")
	}
	ctx := testenv.Context(t, time.Minute)
	idx, keys := newRedisIndex(t, rdb, nil)
	mem := match.NewMemIndex()
	var writes []match.Write
	for i := range 20 {
		pid := match.DefaultPersonID(fmt.Sprint("a/", i))
		writes = append(writes, create(pid, fmt.Sprint("a/", i), rec("ann", "lee"), ks("pc:shared", fmt.Sprint("em:", i)), anyVersions(2)))
	}
	for _, x := range []match.Index{idx, mem} {
		errs, err := x.Commit(ctx, writes)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range errs {
			if e != nil {
				t.Fatalf("write %d: %v", i, e)
			}
		}
	}
	q := []match.Query{{Keys: ks("pc:shared", "em:3")}}
	got, err := idx.Lookup(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mem.Lookup(ctx, q)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lookup:\nredis %+v\nmem   %+v", got, want)
	}
	shared := blockOf("pc:shared")
	if n, _ := rdb.Exists(ctx, keys.blockOverflow(shared)).Result(); n != 1 {
		t.Error("20 persons under one key did not overflow")
	}
	for _, key := range []string{keys.blockBucket(shared), keys.blockBucket(blockOf("em:3")), keys.termBucket(termOf("tf:x"))} {
		if n, _ := rdb.Exists(ctx, key).Result(); n == 0 {
			continue
		}
		enc, err := rdb.ObjectEncoding(ctx, key).Result()
		if err != nil || (enc != "listpack" && enc != "ziplist") {
			t.Errorf("%s: encoding %q, %v", key, enc, err)
		}
	}
}

// TestIndexRefusesOldLayout: an index of layout 1 (records counted, no
// layout marker) or of an unknown layout is refused, an empty one marked.
func TestIndexRefusesOldLayout(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	idx, keys := newRedisIndex(t, rdb, nil)
	if _, err := idx.Lookup(ctx, []match.Query{{Keys: ks("nm:1")}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, keys.layout()).Result(); v != indexLayout {
		t.Fatalf("layout marker %q after first use", v)
	}

	old, oldKeys := newRedisIndex(t, rdb, nil)
	rdb.Set(ctx, oldKeys.recordCount(), "12", 0)
	rdb.HSet(ctx, oldKeys.p()+":mi:k:{nm:1}", "v", "3", "n", "1")
	_, err := old.Commit(ctx, []match.Write{create("p1", "a/1", rec("ann", "lee"), ks("nm:1"), vs(0))})
	if !errors.Is(err, errOldLayout) {
		t.Fatalf("commit on a layout-1 index: %v", err)
	}
	if _, err := old.Lookup(ctx, []match.Query{{Keys: ks("nm:1")}}); !errors.Is(err, errOldLayout) {
		t.Fatalf("lookup on a layout-1 index: %v", err)
	}

	future, futureKeys := newRedisIndex(t, rdb, nil)
	rdb.Set(ctx, futureKeys.layout(), "99", 0)
	if _, err := future.Lookup(ctx, []match.Query{{Keys: ks("nm:1")}}); !errors.Is(err, errOldLayout) {
		t.Fatalf("lookup on a layout-99 index: %v", err)
	}
}

func FuzzDecodeBlockEntry(f *testing.F) {
	f.Add("3,\x0d\x01abcdefghijkl\x03\x02p2")
	f.Add("7,\x0051")
	f.Add("9,\x0112")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := decodeBlockEntry(s)
		if err != nil {
			return
		}
		if !e.generic && !e.overflow && e.persons != len(e.list) {
			t.Fatalf("%q: %d persons, list of %d", s, e.persons, len(e.list))
		}
	})
}

func FuzzDecodePersonList(f *testing.F) {
	f.Add("\x0d\x01abcdefghijkl\x03\x02p2")
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := decodePersonList(s)
		if err != nil {
			return
		}
		var again string
		for _, id := range ids {
			tok, err := personToken(id)
			if err != nil {
				t.Fatalf("%q: decoded id %q has no token: %v", s, id, err)
			}
			again += string(rune(len(tok))) + tok
		}
		if _, err := decodePersonList(again); err != nil {
			t.Fatalf("%q: re-encoded list does not decode: %v", s, err)
		}
	})
}

func FuzzDecodeMembers(f *testing.F) {
	e, _ := encodeMemberEntry("offline/1", match.Record{Given: "ann", Family: "lee", DOB: "19800101"})
	f.Add(e)
	f.Add("")
	f.Add("\x00\x01a\x00\x00")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := decodeMembers(s)
		if err != nil {
			return
		}
		var again string
		for _, m := range ms {
			e, err := encodeMemberEntry(m.RecordID, m.Record)
			if err != nil {
				t.Fatalf("%q: decoded member does not encode: %v", s, err)
			}
			again += e
		}
		back, err := decodeMembers(again)
		if err != nil || !reflect.DeepEqual(back, ms) {
			t.Fatalf("%q: round trip %+v, %v", s, back, err)
		}
	})
}

// TestRecordCodecCoversEveryField fails when match.Record gains a field the
// stored form does not carry (it would be lost between lookup and scoring):
// add it at the end of recordFields.
func TestRecordCodecCoversEveryField(t *testing.T) {
	var r match.Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		if v.Field(i).Kind() != reflect.String {
			t.Fatalf("match.Record.%s is a %s: the stored form holds strings only", v.Type().Field(i).Name, v.Field(i).Kind())
		}
		v.Field(i).SetString(fmt.Sprintf("value %d", i))
	}
	got, err := decodeRecord(string(encodeRecord(r)))
	if err != nil || got != r {
		t.Fatalf("round trip of a record with every field set: %+v, %v", got, err)
	}
}

// TestIndexFirstUseConcurrently: processes starting on an empty prefix at
// once never take each other's first records for an index of layout 1.
func TestIndexFirstUseConcurrently(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	ctx := testenv.Context(t, time.Minute)
	for round := range 10 {
		_, keys := newRedisIndex(t, rdb, nil)
		errs := make(chan error, 6)
		for w := range cap(errs) {
			go func() {
				idx := NewMatchIndex(rdb, keys)
				rid := fmt.Sprintf("a/%d", w)
				_, err := idx.Commit(ctx, []match.Write{create(match.DefaultPersonID(rid), rid, rec("ann", "lee"), ks(fmt.Sprint("em:", w)), vs(0))})
				if err == nil {
					_, err = idx.Lookup(ctx, []match.Query{{RecordID: rid}})
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
