package configs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a size in bytes written in config files with a unit:
// binary ("20GiB", "512MiB", "1.5TiB", "64KiB") or decimal ("20GB",
// "512MB", "64kB"), or a plain number of bytes ("1048576", "0"). Units
// are case-sensitive only where it matters: "kb", "KB" and "kB" all mean
// 1000 bytes, "mib" and "MiB" 2^20.
type ByteSize int64

// byteUnits maps lower-cased units to bytes.
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40, // as Kubernetes writes them
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// ParseByteSize parses a size as ByteSize documents.
func ParseByteSize(s string) (ByteSize, error) {
	in := s
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("invalid size %q: negative", in)
		}
		return 0, fmt.Errorf("invalid size %q: want a number and a unit such as 512MiB, 20GiB or 20GB", in)
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KiB, MiB, GiB, TiB or kB, MB, GB, TB)", in, s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", in, errors.Unwrap(err))
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: out of range", in)
	}
	return ByteSize(v), nil
}

// String formats b in the largest binary unit that writes it exactly
// ("20GiB", "1536MiB"), or in bytes.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 50, "PiB"}, {1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalYAML reads a size from a scalar. Errors carry the line.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "want a size such as 512MiB or 20GiB, got a %s", kindName(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*b = v
	return nil
}

// MarshalYAML writes b as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalText reads a size (for flags and environment variables).
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText writes b as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
