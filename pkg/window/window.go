// Package window decides when an offline system may be written to.
//
// Offline systems of record are often not 24x7: an ERP runs its batch jobs at
// night, a donor database accepts imports only outside office hours. A
// Schedule is a weekly set of delivery windows on the system's wall clock,
// e.g. "Mon-Fri 20:00-06:00; Sat,Sun 00:00-24:00" in Europe/London. Windows
// that end at or before their start run past midnight into the next day.
//
// Hand-written: the cron-style libraries describe instants, not spans, and
// none checked here handles spans that cross midnight and DST together.
package window

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// span is one window: on each of its days it opens at start and stays open
// for length minutes (which may run into the next day).
type span struct {
	days   [7]bool // indexed by time.Weekday
	start  int     // minute of the day
	length int     // minutes, 1..1440
}

// Schedule is a weekly set of windows in one time zone. The zero value is
// always open.
type Schedule struct {
	loc   *time.Location
	spans []span
	spec  string
}

// Always is the schedule of a system that takes deliveries at any time.
func Always() Schedule { return Schedule{spec: "always"} }

// String returns the spec the schedule was parsed from.
func (s Schedule) String() string {
	if s.spec == "" {
		return "always"
	}
	if s.loc == nil {
		return s.spec
	}
	return s.spec + " (" + s.loc.String() + ")"
}

// IsAlways reports whether the schedule never closes.
func (s Schedule) IsAlways() bool { return len(s.spans) == 0 }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads a schedule: "always", or windows separated by ";", each
// "[DAYS ]HH:MM-HH:MM" where DAYS is "daily" (the default), a day ("Mon"), a
// range ("Mon-Fri", "Fri-Mon") or a list of those ("Sat,Sun"). The times are
// wall-clock times in loc; "24:00" ends a window at midnight.
func Parse(spec string, loc *time.Location) (Schedule, error) {
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" || strings.EqualFold(trimmed, "always") {
		return Always(), nil
	}
	if loc == nil {
		loc = time.UTC
	}
	s := Schedule{loc: loc, spec: trimmed}
	for i, part := range strings.Split(trimmed, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sp, err := parseSpan(part)
		if err != nil {
			return Schedule{}, fmt.Errorf("delivery window %d %q: %w", i+1, part, err)
		}
		s.spans = append(s.spans, sp)
	}
	if len(s.spans) == 0 {
		return Schedule{}, errors.New("delivery windows: none given (say \"always\" for no windows)")
	}
	return s, nil
}

func parseSpan(part string) (span, error) {
	var sp span
	days, times, hasDays := strings.Cut(part, " ")
	if !hasDays {
		days, times = "daily", part
	}
	times = strings.TrimSpace(times)
	if err := parseDays(strings.TrimSpace(days), &sp.days); err != nil {
		return span{}, err
	}
	from, to, ok := strings.Cut(times, "-")
	if !ok {
		return span{}, fmt.Errorf("want HH:MM-HH:MM, got %q", times)
	}
	start, err := parseClock(from)
	if err != nil {
		return span{}, err
	}
	if start == minutesPerDay {
		return span{}, errors.New("a window cannot start at 24:00 (say 00:00)")
	}
	end, err := parseClock(to)
	if err != nil {
		return span{}, err
	}
	sp.start, sp.length = start, end-start
	if sp.length <= 0 { // runs past midnight; equal times mean a whole day
		sp.length += minutesPerDay
	}
	return sp, nil
}

func parseDays(spec string, days *[7]bool) error {
	if strings.EqualFold(spec, "daily") {
		for d := range days {
			days[d] = true
		}
		return nil
	}
	for _, item := range strings.Split(spec, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(item), "-")
		first, ok := weekdays[strings.ToLower(from)]
		if !ok {
			return fmt.Errorf("unknown day %q (want Mon..Sun or daily)", from)
		}
		last := first
		if isRange {
			if last, ok = weekdays[strings.ToLower(to)]; !ok {
				return fmt.Errorf("unknown day %q (want Mon..Sun)", to)
			}
		}
		for d := first; ; d = (d + 1) % 7 {
			days[d] = true
			if d == last {
				break
			}
		}
	}
	return nil
}

func parseClock(v string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(v), ":")
	hours, herr := strconv.Atoi(h)
	minutes, merr := strconv.Atoi(m)
	if !ok || herr != nil || merr != nil || len(m) != 2 || hours < 0 || minutes < 0 || minutes > 59 ||
		hours > 24 || hours == 24 && minutes != 0 {
		return 0, fmt.Errorf("bad time %q (want HH:MM, 00:00..24:00)", v)
	}
	return hours*60 + minutes, nil
}

// Open reports whether t falls inside a window.
func (s Schedule) Open(t time.Time) bool {
	if s.IsAlways() {
		return true
	}
	local := t.In(s.loc)
	now := int(local.Weekday())*minutesPerDay + local.Hour()*60 + local.Minute()
	for _, sp := range s.spans {
		for d, on := range sp.days {
			if !on {
				continue
			}
			start := d*minutesPerDay + sp.start
			// Minutes since this window opened, wrapping Saturday night
			// into Sunday morning.
			since := ((now-start)%minutesPerWeek + minutesPerWeek) % minutesPerWeek
			if since < sp.length {
				return true
			}
		}
	}
	return false
}

// Next returns whether the schedule is open at t and when that next changes.
// An always-open schedule (or one whose windows cover the whole week) never
// changes: ok is false. Changes fall on whole minutes of wall-clock time, so
// DST shifts are followed as the system's clock on the wall sees them.
func (s Schedule) Next(t time.Time) (open bool, change time.Time, ok bool) {
	open = s.Open(t)
	if s.IsAlways() {
		return open, time.Time{}, false
	}
	// A week and a day of minutes bounds the search, DST included.
	next := t.Truncate(time.Minute)
	for i := 0; i < minutesPerWeek+minutesPerDay; i++ {
		next = next.Add(time.Minute)
		if s.Open(next) != open {
			return open, next, true
		}
	}
	return open, time.Time{}, false
}
