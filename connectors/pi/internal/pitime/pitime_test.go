package pitime

import (
	"testing"
	"time"
)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T10:00:00.1234567Z", "2017-01-11T22:23:23.430Z", "2017-01-11T23:23:23+01:00", "2017-01-11 23:23:23",
		"2017-01-11t23:23:23z", "2016-02-29T00:00:00Z", "2017-02-29T00:00:00Z", "2262-04-11T23:47:16.854775807Z",
		"1677-09-21T00:12:43.145224192Z", "2017-01-11T23:23:23.1234567891Z", "2017-01-11T23:23:23-0530", "2017-01-11",
		"2017-13-01T00:00:00Z", "9999-12-31T23:59:59Z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if ref, rerr := time.Parse(time.RFC3339Nano, s); rerr == nil && ref.Year() >= 1678 && ref.Year() <= 2261 {
			if err != nil || got != ref.UnixNano() {
				t.Fatalf("%q: got %d, %v; time.Parse says %d", s, got, err, ref.UnixNano())
			}
		}
		if fast, ok := fastTime(s); ok && fast != got {
			t.Fatalf("%q: fast path %d, Parse %d", s, fast, got)
		}
	})
}
