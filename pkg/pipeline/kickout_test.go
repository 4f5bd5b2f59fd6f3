package pipeline_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

// producerLimit is franz-go's default ProducerBatchMaxBytes, below the
// broker's default message.max.bytes: a kick-out over it can never be
// produced, and the stage would redo its batch forever.
const producerLimit = 1_000_012

func TestKickOutFitsInARecord(t *testing.T) {
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("x"), 1<<20)
	var headers []kgo.RecordHeader
	for range 200 {
		headers = append(headers, kgo.RecordHeader{Key: "h", Value: bytes.Repeat([]byte("v"), 4096)})
	}
	small := []byte(`{"event_id":"e"}`)
	for _, tc := range []struct {
		name      string
		rec       *kgo.Record
		max       int
		truncated bool
	}{
		{"small record kept whole", &kgo.Record{Topic: "t", Key: []byte("k"), Value: small}, 0, false},
		{"1 MiB value", &kgo.Record{Topic: "t", Key: []byte("k"), Value: huge}, 0, true},
		{"1 MiB value, 1 MiB key, 800 KiB of headers", &kgo.Record{Topic: "t", Key: huge, Value: huge, Headers: headers}, 0, true},
		{"value at a small cap", &kgo.Record{Topic: "t", Value: huge[:1024]}, 1024, false},
		{"value over a small cap", &kgo.Record{Topic: "t", Value: huge[:1025]}, 1024, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []pipeline.OutputOption
			if tc.max > 0 {
				opts = append(opts, pipeline.WithKickOutMaxBytes(tc.max))
			}
			out := pipeline.NewOutput("ingest", pipeline.DefaultTopics(), codec, nil, opts...)
			cause := errors.New("validate.field: given_name: longer than 100 characters")
			if len(tc.rec.Headers) > 0 {
				cause = errors.New(strings.Repeat("a long error ", 1<<16))
			}
			if err := out.KickOut(tc.rec, "validate.field", cause, nil); err != nil {
				t.Fatal(err)
			}
			if len(out.Records) != 1 {
				t.Fatalf("%d records, want 1", len(out.Records))
			}
			r := out.Records[0]
			if size := len(r.Key) + len(r.Value); size > producerLimit/2 {
				t.Errorf("kick-out record of %d bytes, want well under the producer limit %d", size, producerLimit)
			}
			ko, err := codec.DecodeKickOut(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			max := tc.max
			if max == 0 {
				max = pipeline.DefaultKickOutMaxBytes
			}
			sum := sha256.Sum256(tc.rec.Value)
			switch {
			case ko.Truncated != tc.truncated:
				t.Errorf("truncated %v, want %v", ko.Truncated, tc.truncated)
			case ko.ValueSize != int64(len(tc.rec.Value)):
				t.Errorf("value size %d, want the original %d", ko.ValueSize, len(tc.rec.Value))
			case ko.ValueSHA256 != hex.EncodeToString(sum[:]):
				t.Errorf("value SHA-256 %s is not the original's", ko.ValueSHA256)
			case len(ko.Value) != min(max, len(tc.rec.Value)) || !bytes.HasPrefix(tc.rec.Value, ko.Value):
				t.Errorf("kept %d bytes of the value, want its first %d", len(ko.Value), min(max, len(tc.rec.Value)))
			}
		})
	}
	// KickOutFrom, used directly by the collector and the loader, fits too.
	ko := pipeline.KickOutFrom("collector", "decode.avro", errors.New("x"), &kgo.Record{Topic: "t", Value: huge})
	if !ko.Truncated || len(ko.Value) != pipeline.DefaultKickOutMaxBytes || ko.ValueSize != int64(len(huge)) {
		t.Errorf("KickOutFrom kept %d bytes (truncated %v, size %d)", len(ko.Value), ko.Truncated, ko.ValueSize)
	}
}
