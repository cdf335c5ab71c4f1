// Package point is the data model every layer shares: a stream's value
// kind, a point's value and quality, a stream's spec and labels. It
// imports nothing else of Sluice, so the store, the sources, federation
// and the API agree on one vocabulary without importing each other. It
// lives under connectors/ because sources are where points are born and
// the top level is fixed; connectors itself (the Source interface, the
// registry) is not imported by the store.
package point

import (
	"fmt"
	"math"
	"strconv"
)

// Kind is the value kind of a stream. Every point of a stream has its kind.
type Kind uint8

// The value kinds. The zero Kind is invalid so that a forgotten field is
// caught by validation instead of silently meaning "float".
const (
	KindFloat  Kind = 1 // float64
	KindInt    Kind = 2 // int64
	KindBool   Kind = 3 // stored as 0/1 in Value.I
	KindString Kind = 4 // UTF-8 text (OPC UA strings, PI digital states)
)

// String returns the kind's config and API spelling.
func (k Kind) String() string {
	switch k {
	case KindFloat:
		return "float"
	case KindInt:
		return "int"
	case KindBool:
		return "bool"
	case KindString:
		return "string"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool { return k >= KindFloat && k <= KindString }

// MarshalText writes the kind's spelling, so JSON shows "float", not 1.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("invalid value kind %d", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText accepts what ParseKind accepts.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseKind parses the spelling used in config files and the API. The empty
// string means float, the common case for process values.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "float", "float64", "double":
		return KindFloat, nil
	case "int", "int64", "integer":
		return KindInt, nil
	case "bool", "boolean":
		return KindBool, nil
	case "string", "text":
		return KindString, nil
	}
	return 0, fmt.Errorf("unknown value kind %q (want float, int, bool or string)", s)
}

// Value is one point's value. Exactly one field is meaningful, chosen by
// Kind: F for floats, I for ints and bools (0 or 1), S for strings. It is a
// plain struct rather than an interface so that batches of points do not
// allocate per value.
type Value struct {
	Kind Kind
	F    float64
	I    int64
	S    string
}

// Float, Int, Bool and String build values of each kind.
func Float(f float64) Value { return Value{Kind: KindFloat, F: f} }
func Int(i int64) Value     { return Value{Kind: KindInt, I: i} }
func String(s string) Value { return Value{Kind: KindString, S: s} }
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, I: 1}
	}
	return Value{Kind: KindBool}
}

// AsFloat returns the value as a number for arithmetic (summaries,
// interpolation). Strings are not numbers.
func (v Value) AsFloat() (float64, bool) {
	switch v.Kind {
	case KindFloat:
		return v.F, true
	case KindInt, KindBool:
		return float64(v.I), true
	}
	return math.NaN(), false
}

// Convert returns v as a value of kind k, or an error when it cannot be
// represented (a string that is not a number, a fractional float as int).
// Sources use it so that a stream's kind, once set, is kept.
func (v Value) Convert(k Kind) (Value, error) {
	if v.Kind == k {
		return v, nil
	}
	switch k {
	case KindFloat:
		if f, ok := v.AsFloat(); ok {
			return Float(f), nil
		}
		f, err := strconv.ParseFloat(v.S, 64)
		if err != nil {
			return Value{}, fmt.Errorf("value %q is not a number", v.S)
		}
		return Float(f), nil
	case KindInt:
		switch v.Kind {
		case KindBool:
			return Int(v.I), nil
		case KindFloat:
			if v.F != math.Trunc(v.F) || v.F < math.MinInt64 || v.F >= math.MaxInt64 {
				return Value{}, fmt.Errorf("value %v is not an integer", v.F)
			}
			return Int(int64(v.F)), nil
		case KindString:
			i, err := strconv.ParseInt(v.S, 10, 64)
			if err != nil {
				return Value{}, fmt.Errorf("value %q is not an integer", v.S)
			}
			return Int(i), nil
		}
	case KindBool:
		switch v.Kind {
		case KindInt:
			return Bool(v.I != 0), nil
		case KindFloat:
			return Bool(v.F != 0), nil
		case KindString:
			b, err := strconv.ParseBool(v.S)
			if err != nil {
				return Value{}, fmt.Errorf("value %q is not a boolean", v.S)
			}
			return Bool(b), nil
		}
	case KindString:
		return String(v.Text()), nil
	}
	return Value{}, fmt.Errorf("cannot convert %s to %s", v.Kind, k)
}

// Text formats the value for CSV and logs.
func (v Value) Text() string {
	switch v.Kind {
	case KindFloat:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case KindInt:
		return strconv.FormatInt(v.I, 10)
	case KindBool:
		return strconv.FormatBool(v.I != 0)
	case KindString:
		return v.S
	}
	return ""
}

// Quality is an OPC UA status code (Part 4, 7.34). The top two bits give the
// severity: 00 good, 01 uncertain, 10 bad. Zero is plain Good, which is what
// nearly every point carries.
type Quality = uint32

// Severity classes of a Quality.
const (
	QualityGood      Quality = 0x00000000
	QualityUncertain Quality = 0x40000000 // Uncertain (generic)
	QualityBad       Quality = 0x80000000 // Bad (generic)
)

// IsGood, IsUncertain and IsBad classify a quality by its severity bits.
func IsGood(q Quality) bool      { return q>>30 == 0 }
func IsUncertain(q Quality) bool { return q>>30 == 1 }
func IsBad(q Quality) bool       { return q>>30 >= 2 }

// Point is one timestamped value of one stream, as a source produces it.
type Point struct {
	Stream  string // stream name, e.g. "site1/boiler/temp"
	Time    int64  // nanoseconds since the Unix epoch, UTC
	Value   Value
	Quality Quality
}

// StreamSpec describes a stream for creation. Sources call Sink.EnsureStream
// with it the first time they see a stream name.
type StreamSpec struct {
	Name        string
	Description string
	Unit        string
	Kind        Kind
	Source      string // "<source name>:<address>", e.g. "plant-mqtt:plant/a/b/temp"
	// Labels are key/value metadata (see labels.go), valid by
	// ValidateLabels; sources build them with a Labels builder so that
	// what they find is cleaned, not refused. EnsureStream on an existing
	// stream merges them into the stored ones (MergeLabels) and writes
	// only when that changes something. Nil: none.
	Labels map[string]string
}

// StreamError is what EnsureStream returns, possibly wrapped, when
// retrying cannot help. If Kind is valid, the stream exists with that kind:
// the source converts its points to it (Value.Convert) and drops, counting
// them, those that do not convert. If Kind is 0, the sink refuses the stream
// (an unacceptable name, say) and the source drops its points and counts
// them. Sources test for it with errors.As.
type StreamError struct {
	Stream string
	Kind   Kind   // the existing stream's kind, or 0 when the stream is refused
	Reason string // why, for logs
}

func (e *StreamError) Error() string {
	if e.Kind.Valid() {
		return fmt.Sprintf("stream %q exists with kind %s: %s", e.Stream, e.Kind, e.Reason)
	}
	return fmt.Sprintf("stream %q refused: %s", e.Stream, e.Reason)
}
