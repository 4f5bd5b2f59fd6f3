package avrocodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// zigzag appends n as Avro encodes an int or long.
func zigzag(b []byte, n int64) []byte {
	return binary.AppendUvarint(b, uint64(n<<1)^uint64(n>>63))
}

// lyingRecords are records whose array or map claims far more items than
// the record has bytes, each with the decoder that must refuse it.
func lyingRecords(t testing.TB, c *Codec) map[string]struct {
	b      []byte
	decode func([]byte) error
} {
	matched, err := c.EncodeMatched(contact.Matched{Change: contact.Change{EventID: "e", SourceSystem: "online", SourceRecordID: "r", Origin: contact.OriginAPI, Op: contact.OpUpsert, SourceTime: at},
		Match: contact.Match{PersonID: "p", Decision: contact.DecisionNew}})
	if err != nil {
		t.Fatal(err)
	}
	// A MatchedChange ends with candidates (an array) and links (a map),
	// both empty here: a zero count each; then household_id, null here (its
	// union branch 0), kept as the tail of every record below.
	if last := matched[len(matched)-1]; last != 0 {
		t.Fatalf("MatchedChange does not end with a null household_id: % x", last)
	}
	matched = matched[:len(matched)-1]
	n := len(matched)
	if matched[n-1] != 0 || matched[n-2] != 0 {
		t.Fatalf("MatchedChange does not end with two empty blocks: % x", matched[n-2:])
	}
	kickOut, err := c.EncodeKickOut(contact.KickOut{ID: "k", FirstSeen: at, LastSeen: at})
	if err != nil {
		t.Fatal(err)
	}
	decodeMatched := func(b []byte) error { _, err := c.DecodeMatched(b); return err }
	records := map[string]struct {
		b      []byte
		decode func([]byte) error
	}{
		// the record of the report: a few dozen bytes claiming 2^20 links
		"map of 2^20 entries":                        {append(zigzag(append([]byte{}, matched[:n-1]...), 1<<20), 2, 'k', 2, 'v', 0, 0), decodeMatched},
		"map block of 2^20 entries with a byte size": {append(zigzag(zigzag(append([]byte{}, matched[:n-1]...), -(1<<20)), 4), 2, 'k', 2, 'v', 0, 0), decodeMatched},
		"array of 2^20 candidates":                   {append(zigzag(append([]byte{}, matched[:n-2]...), 1<<20), 2, 'p', 0, 0, 0), decodeMatched},
		"second block over the total":                {append(append(zigzag(append([]byte{}, matched[:n-2]...), 1), 2, 'p'), zigzag(nil, 1<<19)...), decodeMatched},
	}
	// KickOut: the headers array (of records) follows the value union; find
	// its empty block by re-encoding with one header and comparing.
	withHeader, err := c.EncodeKickOut(contact.KickOut{ID: "k", FirstSeen: at, LastSeen: at, Headers: []contact.Header{{Key: "h", Value: []byte("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for i < len(kickOut) && kickOut[i] == withHeader[i] {
		i++
	}
	records["array of 2^20 header records"] = struct {
		b      []byte
		decode func([]byte) error
	}{append(zigzag(append([]byte{}, kickOut[:i]...), 1<<20), kickOut[i+1:]...), func(b []byte) error { _, err := c.DecodeKickOut(b); return err }}
	return records
}

// A record that claims more items than its bytes can hold is refused
// before goavro allocates for the claim (it used to allocate 84 MB for a
// 73-byte MatchedChange claiming 2^20 map entries).
func TestLyingBlockCountsAreRefusedCheaply(t *testing.T) {
	c := newCodec(t)
	for name, rec := range lyingRecords(t, c) {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := rec.decode(rec.b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrLyingLength) {
				t.Errorf("decoding a %d-byte record: error %v, want ErrLyingLength", len(rec.b), err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
				t.Errorf("decoding a %d-byte record allocated %d bytes, want under 64 KiB", len(rec.b), got)
			}
		})
	}
}

// Honest blocks pass, whatever their size, in either block form.
func TestHonestBlocksPass(t *testing.T) {
	c := newCodec(t)
	links := map[string]string{}
	for i := range 5000 {
		links[fmt.Sprintf("system-%d", i)] = fmt.Sprintf("record-%d", i)
	}
	in := contact.Matched{Change: sampleChange(), Match: contact.Match{PersonID: "p", Decision: contact.DecisionKnown, Candidates: []string{"a", "b", "c"}}, Links: links}
	b, err := c.EncodeMatched(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DecodeMatched(b)
	if err != nil || len(out.Links) != len(links) {
		t.Fatalf("5,000 links: %d decoded, %v", len(out.Links), err)
	}
	// The same empty-links record with a one-entry links block in the
	// negative-count form (count, byte size, items), as other writers use.
	small, err := c.EncodeMatched(contact.Matched{Change: sampleChange(), Match: contact.Match{PersonID: "p", Decision: contact.DecisionKnown}})
	if err != nil {
		t.Fatal(err)
	}
	// (small ends with the empty links block and a null household_id.)
	sized := append(zigzag(zigzag(append([]byte{}, small[:len(small)-2]...), -1), 4), 2, 'k', 2, 'v', 0, 0)
	out, err = c.DecodeMatched(sized)
	if err != nil || out.Links["k"] != "v" {
		t.Fatalf("negative-count block: %+v, %v", out.Links, err)
	}
}

// The length check knows every schema of the pipeline, including nested
// named types and references to them.
func TestBlockBoundReadsEverySchema(t *testing.T) {
	for _, name := range topLevel {
		text, err := schemas.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		bb, err := newBlockBound(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bb.root.kind != kindRecord || bb.root.minBytes < 1 {
			t.Fatalf("%s: root %+v", name, bb.root)
		}
	}
}
