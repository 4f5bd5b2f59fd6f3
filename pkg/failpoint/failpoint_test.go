package failpoint

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec string
		ok   bool
		n    int
	}{
		{"", true, 0},
		{"router.before-commit=0.5", true, 1},
		{"a=0, b=1", true, 2},
		{"a", false, 0},
		{"a=2", false, 0},
		{"a=x", false, 0},
	} {
		s, err := Parse(tc.spec)
		if (err == nil) != tc.ok {
			t.Fatalf("Parse(%q) error = %v, want ok=%v", tc.spec, err, tc.ok)
		}
		if err == nil && len(s.prob) != tc.n {
			t.Fatalf("Parse(%q) has %d failpoints, want %d", tc.spec, len(s.prob), tc.n)
		}
	}
}

func TestHit(t *testing.T) {
	s, err := Parse("always=1,never=0")
	if err != nil {
		t.Fatal(err)
	}
	var crashed []string
	s.crash = func(name string) { crashed = append(crashed, name) }
	s.Hit("never")
	s.Hit("unknown")
	s.Hit("always")
	if len(crashed) != 1 || crashed[0] != "always" {
		t.Fatalf("crashed at %v, want [always]", crashed)
	}
	var none *Set
	none.Hit("always") // a nil set does nothing
}
