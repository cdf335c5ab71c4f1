package views

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// TestParseFilter: the filters Power BI and Excel fold a date filter of
// the Time column into, and clear errors for the rest.
func TestParseFilter(t *testing.T) {
	jan, feb := ns("2026-01-01T00:00:00Z"), ns("2026-02-01T00:00:00Z")
	ok := []struct {
		in   string
		want Window
	}{
		{"Time ge 2026-01-01T00:00:00Z and Time lt 2026-02-01T00:00:00Z", Window{jan, feb, true, true}},
		{"(Time ge 2026-01-01T00:00:00Z) and (Time lt 2026-02-01T00:00:00Z)", Window{jan, feb, true, true}},
		{"Time gt 2026-01-01T00:00:00Z", Window{jan + 1, 0, true, false}},
		{"Time le 2026-02-01T00:00:00Z", Window{0, feb + 1, false, true}},
		{"Time eq 2026-01-01T00:00:00Z", Window{jan, jan + 1, true, true}},
		{"2026-02-01T00:00:00Z gt Time", Window{0, feb, false, true}},                                                         // the literal first
		{"Time ge 2026-01-01T01:00:00+01:00", Window{jan, 0, true, false}},                                                    // an offset
		{"Time ge 2026-01-01T01:00:00 01:00", Window{jan, 0, true, false}},                                                    // its + as a space
		{"Time ge 2026-01-01T00:00:00.0000000Z", Window{jan, 0, true, false}},                                                 // Power BI's 7 digits
		{"Time ge 2026-01-01T00:00Z", Window{jan, 0, true, false}},                                                            // no seconds
		{"Time ge 2026-01-01", Window{jan, 0, true, false}},                                                                   // a date
		{"Time ge 2026-01-01T00:00:00Z and Time ge 2026-01-15T00:00:00Z", Window{ns("2026-01-15T00:00:00Z"), 0, true, false}}, // the tighter bound
		{"((Time lt 2026-01-01T00:00:00Z and Time ge 2026-02-01T00:00:00Z))", Window{feb, jan, true, true}},                   // empty, not an error
	}
	for _, c := range ok {
		got, err := ParseFilter(c.in, "Time")
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !c.want.HasLo {
			c.want.Lo = got.Lo
		}
		if !c.want.HasHi {
			c.want.Hi = got.Hi
		}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.in, got, c.want)
		}
	}
	if w, _ := ParseFilter("Time lt 2026-01-01T00:00:00Z and Time ge 2026-02-01T00:00:00Z", "Time"); !w.Empty() {
		t.Errorf("a contradiction is not empty: %+v", w)
	}
	bad := []struct{ in, says string }{
		{"temp gt 20", "temp is a value column"},
		{"Time ge 2026-01-01T00:00:00Z or Time lt 2025-01-01T00:00:00Z", "or is not supported"},
		{"not (Time ge 2026-01-01T00:00:00Z)", "not is not supported"},
		{"Time ne 2026-01-01T00:00:00Z", "ne is not supported"},
		{"year(Time) eq 2026", "function year() is not supported"},
		{"Time ge 20", "only DateTimeOffset literals"},
		{"Time ge datetimeoffset'2026-01-01T00:00:00Z'", "OData 3 syntax"},
		{"Time ge 2026-13-01T00:00:00Z", "month out of range"},
		{"Time ge 2026-01-01T00:00:00Z and", "ends too early"},
		{"(Time ge 2026-01-01T00:00:00Z", "missing )"},
		{"Time ge 2026-01-01T00:00:00Z)", "unexpected"},
		{"Time ge 2300-01-01T00:00:00Z", "out of range"},
		{"", "empty"},
		{"Time ge 'x", "unterminated string"},
		{strings.Repeat("(", 40) + "Time ge 2026-01-01" + strings.Repeat(")", 40), "nested deeper"},
	}
	for _, c := range bad {
		_, err := ParseFilter(c.in, "Time")
		var fe *FilterError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.says) || !strings.HasPrefix(err.Error(), "$filter: ") {
			t.Errorf("%q: %v, want a FilterError saying %q", c.in, err, c.says)
		}
	}
}

// FuzzParseFilter: no input panics or hangs the parser; every window it
// accepts, written back as a filter, parses to the same window.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"Time ge 2026-01-01T00:00:00Z and Time lt 2026-02-01T00:00:00Z",
		"(Time gt 2026-01-01T00:00:00.123+02:00) and 2026-02-01 ge Time",
		"Time eq 2026-01-01T00:00Z", "temp gt 20 or Time le 2026-01-01", "year(Time) eq 2026", "'a''b'", "((((",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseFilter(s, "Time")
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: error %v is not a FilterError", s, err)
			}
			return
		}
		if !w.HasLo && !w.HasHi {
			t.Fatalf("%q: accepted without bounding Time", s)
		}
		var parts []string
		if w.HasLo {
			parts = append(parts, "Time ge "+time.Unix(0, w.Lo).UTC().Format(time.RFC3339Nano))
		}
		if w.HasHi {
			parts = append(parts, "Time lt "+time.Unix(0, w.Hi).UTC().Format(time.RFC3339Nano))
		}
		again, err := ParseFilter(strings.Join(parts, " and "), "Time")
		if err != nil || again != w {
			t.Fatalf("%q -> %+v -> %v: %+v, %v", s, w, parts, again, err)
		}
	})
}

func TestODataIdent(t *testing.T) {
	v := View{Streams: []Source{{Stream: "site/temp"}, {Stream: "site/Temp"}, {Stream: "x", Label: "Time"},
		{Stream: "9lives"}, {Stream: "Dürchfluss m³/h"}, {Stream: "a", Label: strings.Repeat("a", 200)}}}
	var got []string
	for _, c := range odataColumns(v) {
		got = append(got, c.name)
	}
	want := []string{"site_temp", "site_Temp_2", "Time_2", "_9lives", "Dürchfluss_m__h", strings.Repeat("a", 120)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("names %q, want %q", got, want)
	}
}
