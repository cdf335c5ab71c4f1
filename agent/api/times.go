package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/configs"
)

// ParseTime reads a time as users write it: RFC 3339 ("2026-11-23T10:00:00Z",
// with or without fractional seconds), a Unix epoch number, or a time
// relative to now (see ParseRelative). Epoch numbers are read by
// magnitude: seconds below 1e11, milliseconds below 1e14, microseconds
// below 1e17, else nanoseconds; fractional seconds are allowed
// ("1700000000.25").
//
// Callers resolve every time of one request or command against one now,
// so that "-1h" and "-5m" are exactly 55 minutes apart.
func ParseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty time")
	}
	if t, ok, err := ParseRelative(s, now); ok {
		return t, err
	}
	if t, err := ParseEpoch(s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want RFC 3339, a Unix epoch, now, or a relative time like -1h, now-15m or now/d", s)
	}
	return t.UnixNano(), nil
}

// ParseRelative resolves a time relative to now: "now" itself (the exact
// instant), an offset ("-1h", "+15m", "-7d", "now-15m", "now+1w"), and
// either rounded down to a whole unit ("now/d", "now-1h/h", "-3m/m"; units
// s, m, h, d and w, in UTC, weeks from Monday). An offset counts from now
// truncated to the whole second (to the millisecond or finer only for an
// offset with a fraction of a second, e.g. -1.5s), so "-3m" is a whole
// second, as Grafana's now-3m is; bare "now" stays exact so that a read up
// to now includes a point written a moment ago. ok reports whether s has a
// relative form at all; a negative epoch ("-86400") has none.
func ParseRelative(s string, now time.Time) (t int64, ok bool, err error) {
	s = strings.TrimSpace(s)
	body, unit, round := strings.Cut(s, "/")
	var off string // "-1h", "+15m" or empty
	switch {
	case body == "now":
	case strings.HasPrefix(body, "now-") || strings.HasPrefix(body, "now+"):
		off = body[3:]
	case body != "" && (body[0] == '-' || body[0] == '+'):
		if _, err := configs.ParseDuration(body[1:]); err != nil && !round {
			return 0, false, nil // perhaps a negative epoch
		}
		off = body
	default:
		return 0, false, nil
	}
	at := now
	if off != "" {
		d, err := configs.ParseDuration(off[1:])
		if err != nil {
			return 0, true, fmt.Errorf("time %q: %w", s, err)
		}
		if off[0] == '-' {
			d = -d
		}
		at = FromNow(now, d)
	}
	if round {
		u, known := roundUnits[unit]
		if !known {
			return 0, true, fmt.Errorf("time %q: round to s, m, h, d or w (e.g. now-1h/h)", s)
		}
		at = at.Truncate(u) // since the zero time, a Monday at midnight UTC
	}
	if at.Before(minTime) || at.After(maxTime) {
		return 0, true, fmt.Errorf("time %q is out of range", s)
	}
	return at.UnixNano(), true, nil
}

// FromNow is now+d as relative times resolve: from now truncated to the
// coarsest of a second, a millisecond or a microsecond that divides d.
func FromNow(now time.Time, d time.Duration) time.Time {
	g := time.Duration(1)
	for _, u := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		if d%u == 0 {
			g = u
			break
		}
	}
	return now.Truncate(g).Add(d)
}

var (
	roundUnits = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	minTime, maxTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
)

// ParseEpoch reads a Unix epoch number by magnitude (see ParseTime).
func ParseEpoch(s string) (int64, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return epochInt(i), nil
	}
	if strings.Trim(s, "0123456789.-") != "" {
		return 0, fmt.Errorf("%q is not an epoch number", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an epoch number", s)
	}
	return EpochFloat(f)
}

func epochInt(i int64) int64 {
	a := i
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1e11:
		return i * 1e9
	case a < 1e14:
		return i * 1e6
	case a < 1e17:
		return i * 1e3
	}
	return i
}

// EpochFloat converts a JSON number epoch by magnitude, as ParseEpoch does.
func EpochFloat(f float64) (int64, error) {
	a := math.Abs(f)
	var ns float64
	switch {
	case a < 1e11:
		ns = f * 1e9
	case a < 1e14:
		ns = f * 1e6
	case a < 1e17:
		ns = f * 1e3
	default:
		ns = f
	}
	if ns >= math.MaxInt64 || ns <= math.MinInt64 || math.IsNaN(ns) {
		return 0, fmt.Errorf("epoch %v is out of range", f)
	}
	// Round to whole microseconds for fractional inputs, which float
	// arithmetic cannot represent exactly in nanoseconds.
	if a < 1e11 && f != math.Trunc(f) {
		return int64(math.Round(ns/1e3)) * 1e3, nil
	}
	return int64(math.Round(ns)), nil
}
