package redisstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/contactsync/contactsync/pkg/match"
)

// The stored encodings of the identity index (layout indexLayout). They are
// made for memory: at a million persons the index holds some twenty
// million blocking keys, most of them naming a single person, so every byte
// per key counts. The Lua scripts in matchindex.go read and write the same
// encodings; the decoders here are fuzzed (codec_test.go).

// indexLayout is the version of the stored layout, kept under Keys.layout.
// Layout 1 (a hash and a sorted set per blocking key, a string per term,
// members as JSON in a hash) is refused, not migrated: see
// MatchIndex.checkLayout.
const indexLayout = "2"

// Bucket counts: a bucket hash should stay in Redis's compact (listpack)
// encoding, at most 128 fields of at most 64 bytes by default. 2^18 blocking
// key buckets hold about 60 keys each at a million persons; 2^16 term
// buckets about 40 terms each.
const (
	blockBucketBits = 18
	termBucketBits  = 16
)

// blockID names a blocking key (or a term) in the index: a bucket and a
// 64-bit field within it, both cut from the key's SHA-256. Two keys that
// collide share one entry: their persons are candidates of both, their
// version is shared and they turn generic together, so a collision can cost
// a conflict, a wasted candidate or a missed one, never a link (links are
// decided by scoring the members). At 2^82 combinations a collision is not
// expected before some 10^12 keys.
type blockID struct {
	bucket uint32
	field  [8]byte
}

func idOf(key string, bits int) blockID {
	sum := sha256.Sum256([]byte(key))
	var id blockID
	copy(id.field[:], sum[:8])
	id.bucket = binary.BigEndian.Uint32(sum[8:12]) >> (32 - bits)
	return id
}

func blockOf(key string) blockID { return idOf(key, blockBucketBits) }
func termOf(term string) blockID { return idOf(term, termBucketBits) }

// A blocking key's entry in its bucket is "<version>,<body>" where body is
//
//   - "\x00<n>": the key is generic (n persons were added; its persons are
//     dropped, as they are never returned again);
//   - "\x01<n>": its n persons are in the overflow string (Keys.blockOverflow);
//   - the persons themselves, each as one length byte and a person token.
//
// A person list is kept in the entry while the entry stays within
// blockInlineBytes (a longer value would turn the whole bucket into Redis's
// hash table encoding), in the overflow string beyond.
const blockInlineBytes = 64

// A person token is the compact form of a person id: "\x01" and the 12
// bytes of match.DefaultPersonID's "p-<24 hex>", or "\x02" and the id as is.
// A token is 2 to 251 bytes, so its length byte is never 0 or 1 and cannot
// be mistaken for the generic or overflow mark.
const maxPersonIDLen = 250

func personToken(id string) (string, error) {
	if id == "" || len(id) > maxPersonIDLen {
		return "", fmt.Errorf("person id of %d bytes: want 1 to %d", len(id), maxPersonIDLen)
	}
	if hx, ok := strings.CutPrefix(id, "p-"); ok && len(hx) == 24 && isLowerHex(hx) {
		b, _ := hex.DecodeString(hx)
		return "\x01" + string(b), nil
	}
	return "\x02" + id, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func personFromToken(tok string) (string, error) {
	switch {
	case len(tok) == 13 && tok[0] == 1:
		return "p-" + hex.EncodeToString([]byte(tok[1:])), nil
	case len(tok) >= 2 && tok[0] == 2:
		return tok[1:], nil
	}
	return "", fmt.Errorf("malformed person token of %d bytes", len(tok))
}

// blockEntry is a decoded blocking-key entry.
type blockEntry struct {
	version  int64
	persons  int // persons added (the length of the list unless generic)
	generic  bool
	overflow bool     // the list is in the overflow string
	list     []string // person ids in arrival order (inline entries only)
}

// decodeBlockEntry decodes a bucket field's value ("" when the key has none).
func decodeBlockEntry(v string) (blockEntry, error) {
	var e blockEntry
	if v == "" {
		return e, nil
	}
	ver, body, ok := strings.Cut(v, ",")
	if !ok {
		return e, errors.New("blocking key entry without version")
	}
	n, err := strconv.ParseInt(ver, 10, 64)
	if err != nil || n < 0 {
		return e, fmt.Errorf("blocking key entry: version %q", ver)
	}
	e.version = n
	if body != "" && (body[0] == 0 || body[0] == 1) {
		count, err := strconv.Atoi(body[1:])
		if err != nil || count < 0 {
			return e, fmt.Errorf("blocking key entry: count %q", body[1:])
		}
		e.persons, e.generic, e.overflow = count, body[0] == 0, body[0] == 1
		return e, nil
	}
	if e.list, err = decodePersonList(body); err != nil {
		return e, err
	}
	e.persons = len(e.list)
	return e, nil
}

// decodePersonList decodes length-prefixed person tokens.
func decodePersonList(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		l := int(s[i])
		if l < 2 || i+1+l > len(s) {
			return nil, fmt.Errorf("person list: malformed entry at byte %d", i)
		}
		id, err := personFromToken(s[i+1 : i+1+l])
		if err != nil {
			return nil, fmt.Errorf("person list: %w", err)
		}
		out = append(out, id)
		i += 1 + l
	}
	return out, nil
}

// A person's members are one string: per member, in arrival order, a 2-byte
// big-endian length and the record id, a 2-byte length and the record (see
// encodeRecord). Replacing a member moves it to the end, as the members'
// order is the order their records arrived in.
const maxMemberPart = 1<<16 - 1

// encodeMemberEntry is one member's entry of a person's members string.
func encodeMemberEntry(recordID string, r match.Record) (string, error) {
	rec := encodeRecord(r)
	if recordID == "" || len(recordID) > maxMemberPart || len(rec) > maxMemberPart {
		return "", fmt.Errorf("encode member: record id of %d bytes and record of %d bytes: want 1 to %d each", len(recordID), len(rec), maxMemberPart)
	}
	b := make([]byte, 0, 4+len(recordID)+len(rec))
	b = binary.BigEndian.AppendUint16(b, uint16(len(recordID)))
	b = append(b, recordID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rec)))
	b = append(b, rec...)
	return string(b), nil
}

// decodeMembers decodes a person's members string.
func decodeMembers(s string) ([]match.Member, error) {
	var out []match.Member
	for i := 0; i < len(s); {
		id, next, err := memberPart(s, i)
		if err != nil {
			return nil, fmt.Errorf("members: record id: %w", err)
		}
		rec, next, err := memberPart(s, next)
		if err != nil {
			return nil, fmt.Errorf("members: record of %q: %w", id, err)
		}
		if id == "" {
			return nil, errors.New("members: empty record id")
		}
		m := match.Member{RecordID: id}
		if m.Record, err = decodeRecord(rec); err != nil {
			return nil, fmt.Errorf("members: record of %q: %w", id, err)
		}
		out = append(out, m)
		i = next
	}
	return out, nil
}

func memberPart(s string, i int) (string, int, error) {
	if i+2 > len(s) {
		return "", 0, errors.New("truncated length")
	}
	l := int(binary.BigEndian.Uint16([]byte(s[i : i+2])))
	if i+2+l > len(s) {
		return "", 0, errors.New("truncated value")
	}
	return s[i+2 : i+2+l], i + 2 + l, nil
}

// memberRecordIDs lists the record ids of a members string without decoding the
// records.
func memberRecordIDs(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		id, next, err := memberPart(s, i)
		if err != nil {
			return nil, fmt.Errorf("members: record id: %w", err)
		}
		if _, next, err = memberPart(s, next); err != nil {
			return nil, fmt.Errorf("members: record of %q: %w", id, err)
		}
		out = append(out, id)
		i = next
	}
	return out, nil
}

// recordFields are match.Record's fields in their stored order; a field is
// only ever added at the end.
func recordFields(r *match.Record) []*string {
	return []*string{&r.Given, &r.Family, &r.EmailKey, &r.Phone, &r.HouseNumber, &r.Street,
		&r.AddressLine2, &r.Locality, &r.Region, &r.Postcode, &r.DOB, &r.Organisation, &r.NationalID}
}

// encodeRecord is a record as a count of fields, then each field as a
// uvarint length and its bytes, trailing empty fields left out.
func encodeRecord(r match.Record) []byte {
	fields := recordFields(&r)
	n := len(fields)
	for n > 0 && *fields[n-1] == "" {
		n--
	}
	size := 1
	for _, f := range fields[:n] {
		size += binary.MaxVarintLen32 + len(*f)
	}
	b := make([]byte, 0, size)
	b = append(b, byte(n))
	for _, f := range fields[:n] {
		b = binary.AppendUvarint(b, uint64(len(*f)))
		b = append(b, *f...)
	}
	return b
}

// decodeRecord decodes encodeRecord's form; a record of more fields than
// this version knows is refused.
func decodeRecord(s string) (match.Record, error) {
	var r match.Record
	fields := recordFields(&r)
	if s == "" {
		return r, errors.New("empty record")
	}
	n := int(s[0])
	if n > len(fields) {
		return r, fmt.Errorf("record of %d fields, this version knows %d", n, len(fields))
	}
	b := []byte(s[1:])
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return r, fmt.Errorf("record field %d: malformed length", i)
		}
		*fields[i] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return r, fmt.Errorf("record: %d bytes after the last field", len(b))
	}
	return r, nil
}
