package configs

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const day = 24 * time.Hour

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"-0", 0},
		{"0s", 0},
		{"90d", 90 * day},
		{"2w", 14 * day},
		{"1w3d12h", 10*day + 12*time.Hour},
		{"1d12h30m", 36*time.Hour + 30*time.Minute},
		{"1.5d", 36 * time.Hour},
		{"0.5w", 84 * time.Hour},
		{"-1d", -day},
		{"+10m", 10 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{".5s", 500 * time.Millisecond},
		{"1.s", time.Second},
		{"500ms", 500 * time.Millisecond},
		{"3us", 3 * time.Microsecond},
		{"3µs", 3 * time.Microsecond},
		{"3μs", 3 * time.Microsecond},
		{"7ns", 7},
		{"1.000000001s", time.Second + 1},
		{"9223372036854775807ns", math.MaxInt64},
		{"15250w", 15250 * 7 * day},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		// Without days and weeks it agrees with the standard library.
		if !strings.ContainsAny(tc.in, "dw") {
			std, err := time.ParseDuration(tc.in)
			if err != nil || std != got {
				t.Errorf("time.ParseDuration(%q) = %v, %v; ours %v", tc.in, std, err, got)
			}
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "want a number and a unit"},
		{"-", "want a number and a unit"},
		{"90", "missing unit"},
		{"1h30", "missing unit"},
		{"d", `want a number before "d"`},
		{"90x", `unknown unit "x"`},
		{"90 d", `unknown unit " d"`},
		{" 1h", `want a number before " 1h"`},
		{"1D", `unknown unit "D"`},
		{"1y", `unknown unit "y"`},
		{"--1h", `want a number before "-1h"`},
		{"1e3s", `unknown unit "e"`},
		{"forever", `want a number before "forever"`},
		{"15251w", "out of range"},
		{"9223372036854775808ns", "out of range"},
		{"99999999999999999999h", "out of range"},
		{"106751d23h47m16.854775808s", "out of range"},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("ParseDuration(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{90 * day, "90d"},
		{14 * day, "14d"},
		{36 * time.Hour, "1d12h"},
		{-36 * time.Hour, "-1d12h"},
		{90 * time.Second, "1m30s"},
		{10 * time.Minute, "10m"},
		{time.Hour + time.Second, "1h1s"},
		{1500 * time.Millisecond, "1.5s"},
		{day + time.Millisecond, "24h0m0.001s"},
		{math.MinInt64, "-2562047h47m16.854775808s"},
	} {
		if got := Duration(tc.d).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	ds := []time.Duration{0, 1, -1, 999, time.Microsecond, 1500 * time.Millisecond,
		time.Second, time.Minute, time.Hour, day, 7 * day, 90 * day, -90 * day,
		36*time.Hour + 1, 10*day + 3*time.Hour + 4*time.Minute + 5*time.Second,
		math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	for x := uint64(1); x < math.MaxInt64/3; x = x*3 + 7 {
		ds = append(ds, time.Duration(x), -time.Duration(x))
	}
	for _, d := range ds {
		s := Duration(d).String()
		back, err := ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("%d: String %q parses back as %v, %v", d, s, back, err)
		}
		// Through YAML and text as well.
		type doc struct {
			D Duration `yaml:"d"`
		}
		out, err := yaml.Marshal(doc{Duration(d)})
		if err != nil {
			t.Fatal(err)
		}
		var in doc
		if err := yaml.Unmarshal(out, &in); err != nil || in.D.Std() != d {
			t.Errorf("%d: YAML %q reads back as %v, %v", d, out, in.D, err)
		}
		text, _ := Duration(d).MarshalText()
		var fromText Duration
		if err := fromText.UnmarshalText(text); err != nil || fromText.Std() != d {
			t.Errorf("%d: text %q reads back as %v, %v", d, text, fromText, err)
		}
	}
	var bad Duration
	if err := bad.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText(soon) succeeded")
	}
}

func TestDurationYAMLNodes(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
	}
	for _, tc := range []struct{ in, want string }{
		{"d: [1h]", "line 1: want a duration such as 90s, 10m, 12h or 90d, got a list"},
		{"d: {h: 1}", "line 1: want a duration such as 90s, 10m, 12h or 90d, got a mapping"},
		{"d: 5", `line 1: invalid duration "5": missing unit`},
	} {
		var d doc
		err := yaml.Unmarshal([]byte(tc.in), &d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	var d doc
	if err := yaml.Unmarshal([]byte("a: &a 2w\nd: *a\n"), &struct {
		A    string `yaml:"a"`
		*doc `yaml:",inline"`
	}{doc: &d}); err != nil || d.D.Std() != 14*day {
		t.Errorf("alias: %v, %v", d.D, err)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "90d", "1w3d12h", "-1.5h", ".5s", "1e3s", "9223372036854775807ns", "1.000000001s", "µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("%q = %d; String %q parses back as %d, %v", s, d, Duration(d).String(), back, err)
		}
	})
}
