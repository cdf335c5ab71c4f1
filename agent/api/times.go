package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a time as users write it: RFC 3339 ("2026-11-23T10:00:00Z",
// with or without fractional seconds), a Unix epoch number, "now", a
// duration relative to now ("-1h", "+15m", "-7d"), or now with an offset
// ("now-15m", "now+1h"). Epoch numbers are read by magnitude: seconds below
// 1e11, milliseconds below 1e14, microseconds below 1e17, else nanoseconds;
// fractional seconds are allowed ("1700000000.25").
func ParseTime(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, errors.New("empty time")
	case s == "now":
		return now.UnixNano(), nil
	case strings.HasPrefix(s, "now-") || strings.HasPrefix(s, "now+"):
		d, err := ParseDuration(s[4:])
		if err != nil {
			return 0, fmt.Errorf("time %q: %w", s, err)
		}
		if s[3] == '-' {
			d = -d
		}
		return now.Add(d).UnixNano(), nil
	case s[0] == '-' || s[0] == '+':
		if d, err := ParseDuration(s[1:]); err == nil {
			if s[0] == '-' {
				d = -d
			}
			return now.Add(d).UnixNano(), nil
		}
	}
	if t, err := ParseEpoch(s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want RFC 3339, a Unix epoch, now, or a relative time like -1h or now-15m", s)
	}
	return t.UnixNano(), nil
}

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

// ParseDuration is time.ParseDuration plus days ("d") and weeks ("w").
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasSuffix(s, "d") || strings.HasSuffix(s, "w") {
		unit := 24 * time.Hour
		if s[len(s)-1] == 'w' {
			unit *= 7
		}
		f, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*float64(unit) > math.MaxInt64 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use e.g. 90s, 15m, 1h, 7d)", s)
	}
	return d, nil
}
