// Package pitime reads and writes the ISO 8601 date-times of the PI
// world: the time index of OMF messages (connectors/pi/omf) and the
// timestamps of PI Web API answers (connectors/pi/webapi). Both sources
// parse the same dialect, so they share this one parser, fuzzed against
// time.Parse, rather than two copies that could drift apart. It is
// internal to connectors/pi: the two sources import it, never each other.
package pitime

import (
	"errors"
	"strings"
	"time"
)

var errTime = errors.New("not an ISO 8601 date-time")

// Parse returns the ns since the Unix epoch of an ISO 8601 date-time as
// OMF senders and PI Web API write it: "2026-11-23T10:00:00Z", with up
// to 9 fractional digits ("...00.1234567Z"), an offset ("+01:00",
// "+0100") or none (taken as UTC, as PI does for OMF), 't'/'z' in lower
// case, or a space for 'T'.
// The common forms take a fast path; anything else goes to time.Parse.
// A date-time outside 1678-2262 (beyond int64 ns) is an error.
func Parse(s string) (int64, error) {
	if t, ok := fastTime(s); ok {
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.Replace(s, " ", "T", 1)); err == nil {
			return toNanos(t)
		}
	}
	return 0, errTime
}

// The Unix epoch in ns fits years 1678-2262; a year outside is an error.
var minTime, maxTime = time.Unix(0, -1<<63), time.Unix(0, 1<<63-1)

func toNanos(t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, errors.New("date-time outside 1678-2262")
	}
	return t.UnixNano(), nil
}

func digits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// fastTime parses YYYY-MM-DDThh:mm:ss[.f{1,9}][Z|±hh:mm|±hhmm|] .
func fastTime(s string) (int64, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, false
	}
	year, ok1 := digits(s, 4)
	month, ok2 := digits(s[5:], 2)
	day, ok3 := digits(s[8:], 2)
	hour, ok4 := digits(s[11:], 2)
	minute, ok5 := digits(s[14:], 2)
	sec, ok6 := digits(s[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn[month] ||
		hour > 23 || minute > 59 || sec > 59 || year < 1678 || year > 2261 {
		return 0, false
	}
	if month == 2 && day == 29 && !(year%4 == 0 && (year%100 != 0 || year%400 == 0)) {
		return 0, false
	}
	rest := s[19:]
	var nanos int64
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		var frac int64
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n > 9 {
				return 0, false
			}
			frac = frac*10 + int64(rest[n]-'0')
			n++
		}
		if n == 1 {
			return 0, false
		}
		for k := n; k <= 9; k++ {
			frac *= 10
		}
		nanos, rest = frac, rest[n:]
	}
	var offset int
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case (rest[0] == '+' || rest[0] == '-') && (len(rest) == 6 && rest[3] == ':' || len(rest) == 5):
		oh, ok1 := digits(rest[1:], 2)
		om, ok2 := digits(rest[len(rest)-2:], 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	// Stay clear of the int64 ns limits; time.Parse handles the edges.
	if secs <= -9223372036 || secs >= 9223372035 {
		return 0, false
	}
	return secs*1e9 + nanos, true
}

// daysFromCivil is days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// Format writes t (ns since the epoch) as PI Web API writes timestamps:
// RFC 3339 in UTC with up to 9 fractional digits. Parse reads it back.
func Format(t int64) string {
	return time.Unix(0, t).UTC().Format(time.RFC3339Nano)
}
