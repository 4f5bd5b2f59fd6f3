package redisstore

import (
	"bytes"
	"testing"
)

func FuzzUnpack(f *testing.F) {
	f.Add(pack([]byte(`{"golden":{}}`)))
	f.Add(pack(nil))
	f.Add([]byte(`{"in":"m/0/1"}`))
	f.Add([]byte{packedMarker, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := unpack(b)
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == packedMarker {
			again, err := unpack(pack(out))
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("a value does not survive pack and unpack: %v", err)
			}
		} else if !bytes.Equal(out, b) {
			t.Fatal("a value stored before compression is not read as it is")
		}
	})
}
