package configs

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  string
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "20GiB", want: 20 << 30},
		{in: "20gib", want: 20 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "512Mi", want: 512 << 20},
		{in: "20GB", want: 20e9},
		{in: "64kB", want: 64e3},
		{in: "10 MiB", want: 10 << 20},
		{in: "", err: "want a number and a unit"},
		{in: "GiB", err: "want a number and a unit"},
		{in: "-1GiB", err: "negative"},
		{in: "20GX", err: `unknown unit "GX"`},
		{in: "1.2.3MiB", err: "invalid size"},
		{in: "99999999PiB", err: "out of range"},
	} {
		got, err := ParseByteSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseByteSize(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		// String reads back to the same size.
		if back, err := ParseByteSize(got.String()); err != nil || back != got {
			t.Errorf("ParseByteSize(%q.String() = %q) = %d, %v", tc.in, got.String(), back, err)
		}
	}
}
