package window

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestOpen(t *testing.T) {
	london := mustLoad(t, "Europe/London")
	// 2026-11-23 is a Monday.
	at := func(day int, hm string) time.Time {
		ts, err := time.ParseInLocation("2006-01-02 15:04", fmt.Sprintf("2026-11-%02d %s", day, hm), london)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	tests := []struct {
		spec string
		at   time.Time
		open bool
	}{
		{"always", at(23, "12:00"), true},
		{"", at(23, "12:00"), true},
		{"01:00-05:00", at(23, "00:59"), false},
		{"01:00-05:00", at(23, "01:00"), true},
		{"01:00-05:00", at(23, "04:59"), true},
		{"01:00-05:00", at(23, "05:00"), false}, // the end is exclusive
		{"daily 22:00-06:00", at(23, "23:30"), true},
		{"daily 22:00-06:00", at(24, "05:59"), true},
		{"daily 22:00-06:00", at(24, "06:00"), false},
		{"Mon-Fri 20:00-06:00", at(23, "21:00"), true},  // Monday evening
		{"Mon-Fri 20:00-06:00", at(28, "05:00"), true},  // Saturday morning: Friday's window runs on
		{"Mon-Fri 20:00-06:00", at(28, "21:00"), false}, // Saturday evening
		{"Mon-Fri 20:00-06:00", at(23, "05:00"), false}, // Monday morning: Sunday has no window
		{"Sun 22:00-02:00", at(23, "01:00"), true},      // wraps from Saturday/Sunday into the new week
		{"Sat,Sun 00:00-24:00", at(29, "13:00"), true},
		{"Sat,Sun 00:00-24:00", at(30, "00:00"), false},
		{"Fri-Mon 09:00-10:00", at(29, "09:30"), true}, // a range across the week's end
		{"Fri-Mon 09:00-10:00", at(25, "09:30"), false},
		{"Mon 09:00-09:00", at(23, "23:59"), true}, // equal times: the whole day from 09:00
		{"Mon-Fri 20:00-06:00; Sat,Sun 00:00-24:00", at(29, "12:00"), true},
		{"Mon-Fri 20:00-06:00; Sat,Sun 00:00-24:00", at(25, "12:00"), false},
	}
	for _, tt := range tests {
		s, err := Parse(tt.spec, london)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.spec, err)
		}
		if got := s.Open(tt.at); got != tt.open {
			t.Errorf("%q at %s: open=%v, want %v", tt.spec, tt.at.Format("Mon 02 15:04"), got, tt.open)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"Mon-Fri":               `bad time "Mon"`,
		"Mon 01:00":             "want HH:MM-HH:MM",
		"Mon-Frx 01:00-02:00":   `unknown day "Frx"`,
		"Funday 01:00-02:00":    `unknown day "Funday"`,
		"01:00-25:00":           "bad time",
		"1:60-02:00":            "bad time",
		"01:0-02:00":            "bad time",
		"24:00-02:00":           "cannot start at 24:00",
		"Mon 01:00-02:00; oops": "delivery window 2",
		";":                     "none given",
	} {
		_, err := Parse(spec, time.UTC)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
}

func TestNext(t *testing.T) {
	utc := time.UTC
	s, err := Parse("Mon-Fri 20:00-06:00", utc)
	if err != nil {
		t.Fatal(err)
	}
	monNoon := time.Date(2026, 11, 23, 12, 0, 30, 0, utc)
	open, change, ok := s.Next(monNoon)
	if open || !ok || !change.Equal(time.Date(2026, 11, 23, 20, 0, 0, 0, utc)) {
		t.Errorf("Next(Mon 12:00:30) = %v %v %v, want closed until Mon 20:00", open, change, ok)
	}
	open, change, ok = s.Next(time.Date(2026, 11, 27, 23, 0, 0, 0, utc)) // Friday night
	if !open || !ok || !change.Equal(time.Date(2026, 11, 28, 6, 0, 0, 0, utc)) {
		t.Errorf("Next(Fri 23:00) = %v %v %v, want open until Sat 06:00", open, change, ok)
	}
	if _, _, ok := Always().Next(monNoon); ok {
		t.Error("an always-open schedule reported a change")
	}
	whole, _ := Parse("daily 00:00-24:00", utc)
	if open, _, ok := whole.Next(monNoon); !open || ok {
		t.Errorf("a schedule covering the week: open=%v ok=%v, want open and no change", open, ok)
	}
}

// The window follows the wall clock across a DST change: 01:00-03:00 in
// London on the night the clocks go forward is open from 01:00 GMT until
// 03:00 BST, one real hour.
func TestNextAcrossDST(t *testing.T) {
	london := mustLoad(t, "Europe/London")
	s, err := Parse("daily 01:00-03:00", london)
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Date(2026, 3, 29, 0, 30, 0, 0, london) // 29 March 2026: clocks go forward at 01:00 GMT
	open, change, ok := s.Next(opens)
	if open || !ok || !change.Equal(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("Next(00:30) = %v %v %v, want closed until 01:00 GMT", open, change, ok)
	}
	open, closes, ok := s.Next(change)
	if !open || !ok || closes.Sub(change) != time.Hour {
		t.Errorf("window on the DST night: open=%v closes after %v (ok=%v), want one real hour", open, closes.Sub(change), ok)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"always", "Mon-Fri 20:00-06:00; Sat,Sun 00:00-24:00", "daily 01:00-05:00", "Fri-Mon 9:00-10:00", "24:00-1:00", ";;"} {
		f.Add(seed)
	}
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, time.UTC)
		if err != nil {
			return
		}
		for h := 0; h < 7*24; h += 5 {
			at := base.Add(time.Duration(h) * time.Hour)
			open, change, ok := s.Next(at)
			if open != s.Open(at) {
				t.Fatalf("%q: Next and Open disagree at %v", spec, at)
			}
			if ok && (s.Open(change) == open || !change.After(at)) {
				t.Fatalf("%q: change at %v from %v does not change the state", spec, change, at)
			}
		}
	})
}
