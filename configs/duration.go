package configs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in config files as a Go duration
// ("90s", "1h30m", "1.5h") that may also use days and weeks: "90d", "2w",
// "1w3d12h". A day is 24h and a week 7d (no calendar, no time zones). "0"
// is the zero duration; any other number needs a unit. Connectors may use
// it in their own config structs.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d so that ParseDuration reads it back exactly: whole days
// as "d" ("90d", "1d12h"), anything with a fraction of a second as Go does
// ("1.5s").
func (d Duration) String() string {
	if d == 0 {
		return "0s"
	}
	if d == math.MinInt64 || d%Duration(time.Second) != 0 {
		return time.Duration(d).String()
	}
	var b strings.Builder
	u := int64(d)
	if u < 0 {
		b.WriteByte('-')
		u = -u
	}
	const day = int64(24 * time.Hour)
	parts := []struct {
		n    int64
		unit string
	}{
		{u / day, "d"},
		{u % day / int64(time.Hour), "h"},
		{u % int64(time.Hour) / int64(time.Minute), "m"},
		{u % int64(time.Minute) / int64(time.Second), "s"},
	}
	for _, p := range parts {
		if p.n != 0 {
			b.WriteString(strconv.FormatInt(p.n, 10))
			b.WriteString(p.unit)
		}
	}
	return b.String()
}

// UnmarshalYAML reads a duration from a scalar. Errors carry the line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "want a duration such as 90s, 10m, 12h or 90d, got a %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText reads a duration (for flags and environment variables).
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// durationUnits are the units ParseDuration accepts, in nanoseconds.
var durationUnits = map[string]uint64{
	"ns": 1,
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek mu
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(24 * time.Hour),
	"w":  uint64(7 * 24 * time.Hour),
}

var errDurationRange = errors.New("out of range")

// ParseDuration parses a duration as time.ParseDuration does, plus the
// units d (24h) and w (7d): "90d", "1w3d12h", "-1.5h", "0".
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s, true)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return d, nil
}

// goDurationProblem explains why s is not a Go duration, for the
// time.Duration fields of connectors' sections (yaml reads those with
// time.ParseDuration, which knows no days or weeks).
func goDurationProblem(s string) string {
	_, err := parseDuration(s, false)
	if err == nil {
		// Not expected: this accepts only what time.ParseDuration does.
		if _, err = time.ParseDuration(s); err == nil {
			return fmt.Sprintf("want a duration such as 90s, 10m or 12h, got %q", s)
		}
		return err.Error()
	}
	msg := fmt.Sprintf("invalid duration %q: %v", s, err)
	if d, err := parseDuration(s, true); err == nil {
		msg += "; this key takes no days or weeks: write " + time.Duration(d).String()
	}
	return msg
}

// parseDuration parses s as ParseDuration does; without days, as
// time.ParseDuration does, with ParseDuration's messages.
func parseDuration(s string, days bool) (time.Duration, error) {
	unitList, example := "ns, us, ms, s, m, h, d or w", "90s, 10m, 12h or 90d"
	if !days {
		unitList, example = "ns, us, ms, s, m or h", "90s, 10m or 12h"
	}
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("want a number and a unit such as " + example)
	}
	var total uint64
	for s != "" {
		var whole, frac string
		whole, s = leadingDigits(s)
		if s != "" && s[0] == '.' {
			frac, s = leadingDigits(s[1:])
		}
		if whole == "" && frac == "" {
			return 0, fmt.Errorf("want a number before %q", s)
		}
		i := 0
		for i < len(s) && s[i] != '.' && (s[i] < '0' || s[i] > '9') {
			i++
		}
		name := s[:i]
		s = s[i:]
		if name == "" {
			return 0, errors.New("missing unit (" + unitList + ")")
		}
		unit, ok := durationUnits[name]
		if !ok || !days && (name == "d" || name == "w") {
			return 0, fmt.Errorf("unknown unit %q (want %s)", name, unitList)
		}
		v := uint64(0)
		if whole != "" {
			n, err := strconv.ParseUint(whole, 10, 64)
			if err != nil || n > math.MaxInt64/unit {
				return 0, errDurationRange
			}
			v = n * unit
		}
		if frac != "" {
			// Up to 18 digits of the fraction fit in a uint64; more cannot
			// change a nanosecond count.
			f, scale := uint64(0), 1.0
			for j := 0; j < len(frac) && j < 18; j++ {
				f = f*10 + uint64(frac[j]-'0')
				scale *= 10
			}
			v += uint64(float64(f) * (float64(unit) / scale))
		}
		total += v
		if v > math.MaxInt64 || total > math.MaxInt64 {
			return 0, errDurationRange
		}
	}
	if neg {
		return -time.Duration(total), nil
	}
	return time.Duration(total), nil
}

// leadingDigits splits s after its leading ASCII digits.
func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}
