package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/connectors/point"
)

// precisions maps influx.precision to the length of a timestamp unit in ns.
var precisions = map[string]int64{"": 1, "ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}

// influxDecoder reads InfluxDB line protocol: one line per point, one
// sample per field. Lines are separated by \n (string fields cannot hold
// a raw newline); empty lines and # comments are skipped. A bad line is
// reported and the other lines are kept.
type influxDecoder struct {
	kind      point.Kind
	precision int64
}

func (d *influxDecoder) decode(payload []byte, recv int64, out []sample, r *report) []sample {
	for len(payload) > 0 {
		line := payload
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			line, payload = payload[:i], payload[i+1:]
		} else {
			payload = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		n := len(out)
		var err error
		out, err = d.line(string(line), recv, out)
		if err != nil {
			out = out[:n]
			var ve *valueError
			if errors.As(err, &ve) {
				r.bad(reasonBadValue, err)
			} else {
				r.bad(reasonBadLine, fmt.Errorf("line %s: %w", quote(string(line)), err))
			}
		}
	}
	return out
}

// valueError is a field value that parses but does not fit the kind.
type valueError struct{ err error }

func (e *valueError) Error() string { return e.err.Error() }

// line parses one line, appending one sample per field.
func (d *influxDecoder) line(s string, recv int64, out []sample) ([]sample, error) {
	if !utf8.ValidString(s) {
		return out, errors.New("not UTF-8")
	}
	meas, rest, sep := scanKey(s, true)
	if meas == "" {
		return out, errors.New("no measurement")
	}
	var tags []tag
	for sep == ',' {
		var k, v string
		k, rest, sep = scanKey(rest, false)
		if sep != '=' || k == "" {
			return out, errors.New("bad tag: want key=value")
		}
		v, rest, sep = scanKey(rest, false)
		if v == "" || sep == '=' {
			return out, fmt.Errorf("bad value of tag %q", k)
		}
		tags = append(tags, tag{key: k, value: v})
	}
	if sep != ' ' {
		return out, errors.New("no fields")
	}
	slices.SortStableFunc(tags, func(a, b tag) int { return strings.Compare(a.key, b.key) })
	rest = strings.TrimLeft(rest, " ")
	first := len(out)
	for {
		var k string
		k, rest, sep = scanKey(rest, false)
		if sep != '=' || k == "" {
			return out, errors.New("bad field: want key=value")
		}
		var v point.Value
		var err error
		v, rest, err = scanFieldValue(rest)
		if err != nil {
			return out, fmt.Errorf("field %q: %w", k, err)
		}
		cv, err := convert(v, d.kind)
		if err != nil {
			return out, &valueError{fmt.Errorf("field %q: %w", k, err)}
		}
		out = append(out, sample{field: k, measurement: meas, tags: tags, value: cv, time: recv})
		if rest == "" || rest[0] == ' ' {
			break
		}
		rest = rest[1:] // the comma
	}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		ts, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return out, fmt.Errorf("timestamp %s is not an integer", quote(rest))
		}
		if ts > math.MaxInt64/d.precision || ts < math.MinInt64/d.precision {
			return out, fmt.Errorf("timestamp %d is out of range", ts)
		}
		for i := first; i < len(out); i++ {
			out[i].time = ts * d.precision
		}
	}
	return out, nil
}

// scanKey reads an escaped measurement, tag key, tag value or field key up
// to an unescaped ',', ' ' or (except in a measurement) '='. It returns the
// unescaped text, what follows the separator, and the separator (0 at the
// end).
func scanKey(s string, measurement bool) (string, string, byte) {
	var b strings.Builder
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			n := s[i+1]
			if n == ',' || n == ' ' || n == '=' || n == '\\' {
				if !escaped {
					b.WriteString(s[:i])
					escaped = true
				}
				b.WriteByte(n)
				i++
				continue
			}
		}
		if c == ',' || c == ' ' || (c == '=' && !measurement) {
			if !escaped {
				return s[:i], s[i+1:], c
			}
			return b.String(), s[i+1:], c
		}
		if escaped {
			b.WriteByte(c)
		}
	}
	if !escaped {
		return s, "", 0
	}
	return b.String(), "", 0
}

// scanFieldValue reads a field value and returns what follows it (from the
// ',' or ' ' on).
func scanFieldValue(s string) (point.Value, string, error) {
	if s == "" {
		return point.Value{}, s, errors.New("empty value")
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				b.WriteByte(s[i+1])
				i++
			case c == '"':
				rest := s[i+1:]
				if rest != "" && rest[0] != ',' && rest[0] != ' ' {
					return point.Value{}, s, errors.New("text after the closing quote")
				}
				return point.String(b.String()), rest, nil
			default:
				b.WriteByte(c)
			}
		}
		return point.Value{}, s, errors.New("unterminated string")
	}
	end := strings.IndexAny(s, ", ")
	if end < 0 {
		end = len(s)
	}
	tok, rest := s[:end], s[end:]
	if tok == "" {
		return point.Value{}, s, errors.New("empty value")
	}
	switch tok {
	case "t", "T", "true", "True", "TRUE":
		return point.Bool(true), rest, nil
	case "f", "F", "false", "False", "FALSE":
		return point.Bool(false), rest, nil
	}
	switch tok[len(tok)-1] {
	case 'i':
		i, err := strconv.ParseInt(tok[:len(tok)-1], 10, 64)
		if err != nil {
			return point.Value{}, s, fmt.Errorf("%s is not an integer", quote(tok))
		}
		return point.Int(i), rest, nil
	case 'u':
		u, err := strconv.ParseUint(tok[:len(tok)-1], 10, 64)
		if err != nil || u > math.MaxInt64 {
			return point.Value{}, s, fmt.Errorf("%s is not an int64-sized unsigned integer", quote(tok))
		}
		return point.Int(int64(u)), rest, nil
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil || strings.ContainsAny(tok, "_xXpP") || strings.ContainsFunc(tok, isLetterNotE) {
		return point.Value{}, s, fmt.Errorf("%s is not a number", quote(tok))
	}
	return point.Float(f), rest, nil
}

// isLetterNotE rejects ParseFloat's inf/nan spellings, which line
// protocol does not allow.
func isLetterNotE(r rune) bool {
	return (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') && r != 'e' && r != 'E'
}
