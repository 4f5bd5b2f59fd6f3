package decode_test

import (
	"errors"
	"testing"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/demo"
)

// Every record the demo generates decodes, except the ones it breaks on
// purpose, which fail with a kick-out reason. demo imports app, which
// imports decode: fine for an external test package, not for package decode.
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
	failed, decoded := 0, 0
	for p, phase := range ds.Phases {
		for i, in := range phase {
			var n int
			var err error
			if in.Topic == "offline" {
				var cs []contact.Change
				cs, err = deb.Decode(in.Key, in.Value, "cdc", int32(p), int64(i))
				n = len(cs)
			} else {
				var cs []contact.Change
				cs, err = onl.Decode(in.Key, in.Value)
				n = len(cs)
			}
			if err != nil {
				var de *decode.Error
				if !errors.As(err, &de) {
					t.Errorf("%s (%s): untyped error %v", in.Key, in.Note, err)
				}
				failed++
				t.Logf("%s (%s): %v", in.Key, in.Note, err)
				continue
			}
			if n != 1 {
				t.Errorf("%s (%s): %d changes, want 1", in.Key, in.Note, n)
			}
			decoded++
		}
	}
	if failed != ds.Expect.Invalid {
		t.Fatalf("%d records failed to decode, want the %d invalid ones", failed, ds.Expect.Invalid)
	}
	if decoded == 0 {
		t.Fatal("the demo generated nothing to decode")
	}
}
