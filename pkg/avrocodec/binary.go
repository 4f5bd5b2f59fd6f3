package avrocodec

import (
	"encoding/binary"
	"slices"
	"time"
)

// Avro's binary encoding (the specification's "Binary Encoding"): longs
// zigzag varints, strings their length and bytes, booleans one byte,
// arrays blocks of items (counted, at most maxBlock each) ending with 0.

func avroLong(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func avroString(b []byte, s string) []byte {
	return append(avroLong(b, int64(len(s))), s...)
}

func avroBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// avroTimestampMillis is a timestamp-millis long, computed as goavro does.
func avroTimestampMillis(b []byte, t time.Time) []byte {
	return avroLong(b, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

// avroOptionalString is the union ["null", "string"], "" as null.
func avroOptionalString(b []byte, s string) []byte {
	if s == "" {
		return avroLong(b, 0)
	}
	return avroString(avroLong(b, 1), s)
}

// avroStringMap is a map of strings, in one block, keys sorted.
func avroStringMap[K ~string](b []byte, m map[K]string) []byte {
	if len(m) == 0 {
		return avroLong(b, 0)
	}
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for len(keys) > 0 {
		block := keys[:min(len(keys), maxBlock)]
		b = avroLong(b, int64(len(block)))
		for _, k := range block {
			b = avroString(avroString(b, string(k)), m[k])
		}
		keys = keys[len(block):]
	}
	return avroLong(b, 0)
}

func avroArray[T any](b []byte, items []T, item func([]byte, T) []byte) []byte {
	for len(items) > 0 {
		block := items[:min(len(items), maxBlock)]
		b = avroLong(b, int64(len(block)))
		for _, it := range block {
			b = item(b, it)
		}
		items = items[len(block):]
	}
	return avroLong(b, 0)
}
