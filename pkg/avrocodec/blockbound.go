package avrocodec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrLyingLength is wrapped by the error for a record whose array or map
// claims more items, or whose string or bytes claim more bytes, than the
// rest of the record could hold.
//
// goavro allocates an array or map by the item count it reads before it
// reads a single item, so a 73-byte record claiming 2^20 map entries made it
// allocate 84 MB; its package-level MaxBlockCount is one constant for every
// record, and no constant both admits the largest real record and stops
// that. Every item takes at least one byte (a map entry at least its key's
// length byte), so a count larger than the bytes that remain is a lie:
// blockBound walks the binary along the schema and rejects it before goavro
// sees the record. The walk allocates nothing and reads each byte once.
var ErrLyingLength = errors.New("avro length larger than the rest of the record")

// maxNesting bounds the walk's recursion. Only a recursive schema could
// nest deeper than the schema itself, and none of ours is recursive.
const maxNesting = 64

type avroKind uint8

const (
	kindNull avroKind = iota
	kindBoolean
	kindInt // int and long: a zig-zag varint
	kindFloat
	kindDouble
	kindBytes // bytes and string: a length, then the bytes
	kindFixed
	kindEnum
	kindRecord
	kindArray
	kindMap
	kindUnion
)

// avroType is the shape of a schema that the walk needs: no names, no
// defaults, no logical types.
type avroType struct {
	kind     avroKind
	fields   []*avroType // record fields, union branches
	items    *avroType   // array items, map values
	size     int         // fixed
	minBytes int         // the fewest bytes a value of this type encodes to
}

// blockBound checks Avro binary data of one schema for lying lengths.
type blockBound struct{ root *avroType }

// newBlockBound reads a self-contained schema (schemas.Resolve's output).
func newBlockBound(schema string) (*blockBound, error) {
	var v any
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	p := schemaParser{named: map[string]*avroType{}}
	root, err := p.parse(v, "")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	setMinBytes(root, map[*avroType]bool{})
	return &blockBound{root: root}, nil
}

type schemaParser struct {
	named map[string]*avroType // full name -> type
}

var primitives = map[string]avroKind{
	"null": kindNull, "boolean": kindBoolean, "int": kindInt, "long": kindInt,
	"float": kindFloat, "double": kindDouble, "bytes": kindBytes, "string": kindBytes,
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func (p *schemaParser) parse(v any, namespace string) (*avroType, error) {
	switch s := v.(type) {
	case string:
		if k, ok := primitives[s]; ok {
			return &avroType{kind: k}, nil
		}
		if t, ok := p.named[fullName(s, namespace)]; ok {
			return t, nil
		}
		if t, ok := p.named[s]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", s)
	case []any:
		u := &avroType{kind: kindUnion}
		for _, b := range s {
			t, err := p.parse(b, namespace)
			if err != nil {
				return nil, err
			}
			u.fields = append(u.fields, t)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(s, namespace)
	}
	return nil, fmt.Errorf("unexpected schema node %T", v)
}

func (p *schemaParser) parseObject(s map[string]any, namespace string) (*avroType, error) {
	typ, _ := s["type"].(string)
	if typ == "" {
		return p.parse(s["type"], namespace) // {"type": {...}} or {"type": [...]}
	}
	// A named type is registered before its fields are read, so that a
	// (recursive) reference to it resolves.
	named := func(t *avroType) string {
		name, _ := s["name"].(string)
		if ns, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
			namespace = ns
		}
		full := fullName(name, namespace)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			namespace = full[:i]
		}
		p.named[full] = t
		return full
	}
	switch typ {
	case "record", "error":
		t := &avroType{kind: kindRecord}
		named(t)
		fields, _ := s["fields"].([]any)
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record field is %T", f)
			}
			ft, err := p.parse(fm["type"], namespace)
			if err != nil {
				return nil, err
			}
			t.fields = append(t.fields, ft)
		}
		return t, nil
	case "enum":
		t := &avroType{kind: kindEnum}
		named(t)
		return t, nil
	case "fixed":
		t := &avroType{kind: kindFixed}
		named(t)
		size, _ := s["size"].(float64)
		if size < 0 || size > math.MaxInt32 {
			return nil, fmt.Errorf("fixed size %v", s["size"])
		}
		t.size = int(size)
		return t, nil
	case "array", "map":
		key := map[string]string{"array": "items", "map": "values"}[typ]
		items, err := p.parse(s[key], namespace)
		if err != nil {
			return nil, err
		}
		kind := kindArray
		if typ == "map" {
			kind = kindMap
		}
		return &avroType{kind: kind, items: items}, nil
	}
	return p.parse(typ, namespace) // a primitive, perhaps with a logical type
}

// setMinBytes works out the fewest bytes each type encodes to. A type met
// again while its own minimum is being worked out (recursion) counts as 0,
// which only ever admits more, never rejects a valid record.
func setMinBytes(t *avroType, busy map[*avroType]bool) int {
	if busy[t] {
		return t.minBytes
	}
	busy[t] = true
	defer delete(busy, t)
	switch t.kind {
	case kindNull:
		t.minBytes = 0
	case kindFloat:
		t.minBytes = 4
	case kindDouble:
		t.minBytes = 8
	case kindFixed:
		t.minBytes = t.size
	case kindRecord:
		n := 0
		for _, f := range t.fields {
			n += setMinBytes(f, busy)
		}
		t.minBytes = n
	case kindUnion:
		least := math.MaxInt
		for _, b := range t.fields {
			least = min(least, setMinBytes(b, busy))
		}
		if least == math.MaxInt {
			least = 0
		}
		t.minBytes = 1 + least
	case kindArray, kindMap:
		setMinBytes(t.items, busy)
		t.minBytes = 1
	default: // boolean, int, long, bytes, string, enum: at least one byte
		t.minBytes = 1
	}
	return t.minBytes
}

// check walks b along the schema and reports the first length that the
// bytes after it cannot hold. It does not replace decoding: anything it lets
// through, goavro still checks.
func (bb *blockBound) check(b []byte) error {
	w := walker{buf: b}
	return w.walk(bb.root, 0)
}

type walker struct {
	buf []byte
	pos int
}

func (w *walker) remaining() int { return len(w.buf) - w.pos }

var (
	errShort   = errors.New("avro data ends early")
	errVarint  = errors.New("avro varint longer than 10 bytes")
	errNesting = errors.New("avro data nested too deep")
	errUnion   = errors.New("avro union branch out of range")
)

// long reads a zig-zag varint, as Avro encodes int and long.
func (w *walker) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if w.pos >= len(w.buf) {
			return 0, errShort
		}
		c := w.buf[w.pos]
		w.pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errVarint
}

func (w *walker) skip(n int) error {
	if n > w.remaining() {
		return errShort
	}
	w.pos += n
	return nil
}

// length reads a string or bytes length and skips that many bytes.
func (w *walker) length() error {
	n, err := w.long()
	if err != nil {
		return err
	}
	if n < 0 || n > int64(w.remaining()) {
		return fmt.Errorf("%w: %d bytes claimed, %d remain", ErrLyingLength, n, w.remaining())
	}
	w.pos += int(n)
	return nil
}

func (w *walker) walk(t *avroType, depth int) error {
	if depth > maxNesting {
		return errNesting
	}
	switch t.kind {
	case kindNull:
		return nil
	case kindBoolean:
		return w.skip(1)
	case kindInt, kindEnum:
		_, err := w.long()
		return err
	case kindFloat:
		return w.skip(4)
	case kindDouble:
		return w.skip(8)
	case kindFixed:
		return w.skip(t.size)
	case kindBytes:
		return w.length()
	case kindRecord:
		for _, f := range t.fields {
			if err := w.walk(f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case kindUnion:
		i, err := w.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.fields)) {
			return errUnion
		}
		return w.walk(t.fields[i], depth+1)
	case kindArray, kindMap:
		return w.blocks(t, depth)
	}
	return fmt.Errorf("avro type %d unknown to the length check", t.kind)
}

// blocks walks an array or a map: blocks of items, each led by its count
// (negative: followed by the block's byte size), ended by a zero count.
// Each count, and all counts together, must fit in the bytes that remain,
// counting every item as at least one byte (a map entry as its key's length
// byte and its value), so that even items that encode to nothing cannot
// make goavro allocate more than the record's size in items.
func (w *walker) blocks(t *avroType, depth int) error {
	itemBytes := max(1, t.items.minBytes)
	if t.kind == kindMap {
		itemBytes = 1 + t.items.minBytes
	}
	budget := int64(w.remaining() / itemBytes) // items, over all blocks
	for {
		count, err := w.long()
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == math.MinInt64 {
				return fmt.Errorf("%w: block count %d", ErrLyingLength, count)
			}
			count = -count
			size, err := w.long()
			if err != nil {
				return err
			}
			if size < 0 || size > int64(w.remaining()) {
				return fmt.Errorf("%w: block of %d bytes claimed, %d remain", ErrLyingLength, size, w.remaining())
			}
		}
		if count > int64(w.remaining()/itemBytes) || count > budget {
			return fmt.Errorf("%w: block of %d items claimed, %d bytes remain", ErrLyingLength, count, w.remaining())
		}
		budget -= count
		for range count {
			if t.kind == kindMap {
				if err := w.length(); err != nil {
					return err
				}
			}
			if err := w.walk(t.items, depth+1); err != nil {
				return err
			}
		}
	}
}
