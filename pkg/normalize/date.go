package normalize

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Date returns a calendar date as YYYY-MM-DD when raw holds a valid one, or
// else the digits of raw alone ("1945-04-93" gives "19450493"), so that an
// impossible date typed with one wrong digit still compares by edit distance
// with the right one. It returns "" when raw has no digits.
//
// Accepted forms: YYYY-MM-DD (also with / or . separators, or none:
// YYYYMMDD), an RFC 3339 timestamp (its date part), day-first numeric dates
// (DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY) and dates with English month names
// ("3 Apr 1945", "April 3, 1945"). Day-first is assumed for numeric dates
// that end with the year; DateForRegion reads them month-first for the US.
func Date(raw string) string { return DateForRegion(raw, "") }

// monthFirstRegions write numeric dates month first (MM/DD/YYYY).
var monthFirstRegions = map[string]bool{"US": true, "PH": true, "FM": true, "MH": true, "PW": true}

// DateForRegion is Date with numeric dates that end in the year read in the
// order customary in region (ISO 3166-1 alpha-2): month first for the US and
// a few others, day first elsewhere. When the customary reading is
// impossible but the other is valid (13/04/1990 in the US), the valid one wins.
func DateForRegion(raw, region string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	if d, ok := parseDate(s, monthFirstRegions[strings.ToUpper(strings.TrimSpace(region))]); ok {
		return d
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	// The digits alone may spell a valid YYYYMMDD ("1956-0409x"); returning
	// that date keeps Date idempotent.
	if d, ok := parseDate(digits, false); ok {
		return d
	}
	return digits
}

var namedMonthLayouts = []string{
	"2 Jan 2006", "2 January 2006", "Jan 2 2006", "January 2 2006",
	"2-Jan-2006", "02-Jan-2006", "2 Jan. 2006", "Jan. 2 2006",
}

func parseDate(s string, monthFirst bool) (string, bool) {
	// RFC 3339 timestamp or ISO date followed by a time: keep the date part.
	if len(s) > 10 && (s[10] == 'T' || s[10] == ' ') {
		if d, ok := parseDate(s[:10], monthFirst); ok && (s[4] == '-' || s[4] == '/') {
			return d, true
		}
	}
	if strings.IndexFunc(s, unicode.IsLetter) >= 0 {
		cleaned := strings.Join(strings.Fields(strings.ReplaceAll(s, ",", " ")), " ")
		for _, layout := range namedMonthLayouts {
			if t, err := time.Parse(layout, cleaned); err == nil {
				return t.Format(time.DateOnly), true
			}
		}
		return "", false
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '/' || r == '.' || unicode.IsSpace(r) })
	switch {
	case len(parts) == 1 && len(parts[0]) == 8 && allDigits(parts[0]):
		return validDate(parts[0][:4], parts[0][4:6], parts[0][6:])
	case len(parts) == 3 && len(parts[0]) == 4:
		return validDate(parts[0], parts[1], parts[2])
	case len(parts) == 3 && len(parts[2]) == 4:
		first, second := parts[1], parts[0] // day first: DD/MM/YYYY
		if monthFirst {
			first, second = second, first
		}
		if d, ok := validDate(parts[2], first, second); ok {
			return d, true
		}
		return validDate(parts[2], second, first)
	}
	return "", false
}

func validDate(year, month, day string) (string, bool) {
	if len(year) != 4 || len(month) < 1 || len(month) > 2 || len(day) < 1 || len(day) > 2 ||
		!allDigits(year) || !allDigits(month) || !allDigits(day) {
		return "", false
	}
	y, _ := strconv.Atoi(year)
	m, _ := strconv.Atoi(month)
	d, _ := strconv.Atoi(day)
	if y < 1 || m < 1 || m > 12 || d < 1 {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31 April rolls over to 1 May: invalid
		return "", false
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// DateDigits returns the digits of a Date result: YYYYMMDD for a valid date,
// or the digits kept from an invalid one. It is the form the matcher
// compares by edit distance.
func DateDigits(raw string) string { return strings.ReplaceAll(Date(raw), "-", "") }
