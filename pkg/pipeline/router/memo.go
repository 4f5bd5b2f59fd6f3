package router

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// An event's memo is its outputs and the input record that produced them.
// It is kept for days per event, so it is compact: a format byte, the
// input's position, then per record its topic and key (each written once
// per memo and referred to by number after that: an event's records share
// a few topics and mostly the person id as key), its value and headers, raw
// (no base64), with nil kept apart from empty.
//
// Memos written before this form are JSON (they start with '{'); they are
// still read, so a redo across an upgrade re-emits what it must.
const memoFormatBinary = 0x01

// position names an input record uniquely within the stage's input.
func position(r *kgo.Record) string {
	b := make([]byte, 0, len(r.Topic)+24)
	b = append(b, r.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, r.Offset, 10)
	return string(b)
}

func encodeMemo(input string, recs []*kgo.Record) []byte {
	size := 16 + len(input)
	for _, r := range recs {
		size += 16 + len(r.Value)
	}
	w := memoWriter{b: make([]byte, 0, size)}
	w.b = append(w.b, memoFormatBinary)
	w.str(input)
	w.b = binary.AppendUvarint(w.b, uint64(len(recs)))
	for _, r := range recs {
		w.topic(r.Topic)
		w.key(r.Key)
		w.bytes(r.Value)
		w.b = binary.AppendUvarint(w.b, uint64(len(r.Headers)))
		for _, h := range r.Headers {
			w.str(h.Key)
			w.bytes(h.Value)
		}
	}
	return w.b
}

func decodeMemo(b []byte) ([]*kgo.Record, string, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSONMemo(b)
	}
	if len(b) == 0 || b[0] != memoFormatBinary {
		return nil, "", errors.New("decode memo: unknown format")
	}
	r := memoReader{b: b[1:]}
	input := r.str()
	n := r.count()
	recs := make([]*kgo.Record, 0, n)
	for range n {
		rec := &kgo.Record{Topic: r.topic(), Key: r.key(), Value: r.bytes()}
		if nh := r.count(); nh > 0 {
			rec.Headers = make([]kgo.RecordHeader, nh)
			for i := range rec.Headers {
				rec.Headers[i] = kgo.RecordHeader{Key: r.str(), Value: r.bytes()}
			}
		}
		recs = append(recs, rec)
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the memo", len(r.b))
	}
	if r.err != nil {
		return nil, "", fmt.Errorf("decode memo: %w", r.err)
	}
	return recs, input, nil
}

type memoWriter struct {
	b            []byte
	topics, keys []string
}

func (w *memoWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// bytes writes len+1, 0 for nil.
func (w *memoWriter) bytes(v []byte) {
	if v == nil {
		w.b = append(w.b, 0)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(v))+1)
	w.b = append(w.b, v...)
}

// topic writes 0 and the name the first time, then i+1 for the i-th name.
func (w *memoWriter) topic(t string) {
	for i, seen := range w.topics {
		if seen == t {
			w.b = binary.AppendUvarint(w.b, uint64(i)+1)
			return
		}
	}
	w.topics = append(w.topics, t)
	w.b = append(w.b, 0)
	w.str(t)
}

// key writes 0 for nil, 1 and the key the first time, then i+2 for the
// i-th key.
func (w *memoWriter) key(k []byte) {
	if k == nil {
		w.b = append(w.b, 0)
		return
	}
	for i, seen := range w.keys {
		if seen == string(k) {
			w.b = binary.AppendUvarint(w.b, uint64(i)+2)
			return
		}
	}
	w.keys = append(w.keys, string(k))
	w.b = append(w.b, 1)
	w.str(string(k))
}

var errMemoCorrupt = errors.New("truncated or corrupt")

// memoReader reads what memoWriter wrote; the first error sticks.
type memoReader struct {
	b            []byte
	err          error
	topics, keys []string
}

func (r *memoReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMemoCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of entries, each at least one byte long.
func (r *memoReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errMemoCorrupt
		return 0
	}
	return int(n)
}

func (r *memoReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errMemoCorrupt
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *memoReader) str() string { return string(r.take(r.uvarint())) }

func (r *memoReader) bytes() []byte {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	return r.take(n - 1)
}

func (r *memoReader) topic() string {
	i := r.uvarint()
	switch {
	case r.err != nil:
		return ""
	case i == 0:
		t := r.str()
		r.topics = append(r.topics, t)
		return t
	case i <= uint64(len(r.topics)):
		return r.topics[i-1]
	}
	r.err = errMemoCorrupt
	return ""
}

func (r *memoReader) key() []byte {
	i := r.uvarint()
	switch {
	case r.err != nil || i == 0:
		return nil
	case i == 1:
		k := r.str()
		r.keys = append(r.keys, k)
		return []byte(k)
	case i-2 < uint64(len(r.keys)):
		return []byte(r.keys[i-2])
	}
	r.err = errMemoCorrupt
	return nil
}

// jsonMemo is the form memos had before the binary one.
type jsonMemo struct {
	Input   string `json:"in"`
	Records []struct {
		Topic   string             `json:"t"`
		Key     []byte             `json:"k,omitempty"`
		Value   []byte             `json:"v,omitempty"`
		Headers []kgo.RecordHeader `json:"h,omitempty"`
	} `json:"out"`
}

func decodeJSONMemo(b []byte) ([]*kgo.Record, string, error) {
	var m jsonMemo
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", fmt.Errorf("decode memo: %w", err)
	}
	recs := make([]*kgo.Record, len(m.Records))
	for i, r := range m.Records {
		recs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
	}
	return recs, m.Input, nil
}
