package decode_test

import (
	"testing"

	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/demo"
)

// Every record the demo generates decodes, except the three it breaks on
// purpose.
func TestDemoInputsDecode(t *testing.T) {
	deb, err := decode.NewDebezium(decode.DebeziumConfig{System: "offline"})
	if err != nil {
		t.Fatal(err)
	}
	onl, err := decode.NewOnline(decode.OnlineConfig{System: "online"})
	if err != nil {
		t.Fatal(err)
	}
	ds := demo.Generate(7, 40)
	failed := 0
	for _, phase := range ds.Phases {
		for i, in := range phase {
			var err error
			if in.Topic == "offline" {
				_, err = deb.Decode(in.Key, in.Value, "cdc", 0, int64(i))
			} else {
				_, err = onl.Decode(in.Key, in.Value)
			}
			if err != nil {
				failed++
				t.Logf("%s (%s): %v", in.Key, in.Note, err)
			}
		}
	}
	if failed != ds.Expect.Invalid {
		t.Fatalf("%d records failed to decode, want the %d invalid ones", failed, ds.Expect.Invalid)
	}
}
