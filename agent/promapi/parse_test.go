package promapi

import (
	"strings"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`site1_boiler_temp`, `site1_boiler_temp`},
		{`site1_boiler_temp{tenant="acme"}`, `site1_boiler_temp{tenant="acme"}`},
		{`{stream="site1/boiler/temp"}`, `{stream="site1/boiler/temp"}`},
		{`{"site1_boiler_temp", unit!=""}`, `site1_boiler_temp{unit!=""}`},
		{`x{a=~"b.*", c!~'d', e!="f",}`, `x{a=~"b.*",c!~"d",e!="f"}`},
		{"x{a=`raw\\n`}", `x{a="raw\\n"}`},
		{`avg_over_time(x[5m])`, `avg_over_time(x[5m])`},
		{`max_over_time({stream=~"site1/.*"}[1h30m])`, `max_over_time({stream=~"site1/.*"}[1h30m])`},
		{`last_over_time(x[90s])`, `last_over_time(x[1m30s])`},
		{`count_over_time(x[250ms])`, `count_over_time(x[250ms])`},
		{`1+1`, `(1 + 1)`},
		{`-x * 1.8 + 32`, `((-x * 1.8) + 32)`},
		{`(x - 32) / 1.8`, `((x - 32) / 1.8)`},
		{`2 ^ 3 ^ 2`, `(2 ^ (3 ^ 2))`},
		{`-2 ^ 2`, `-(2 ^ 2)`},
		{`x % 0x10`, `(x % 16)`},
		{`x + Inf`, `(x + +Inf)`},
		{`1e3 * x # a comment`, `(1000 * x)`},
		{`+x`, `x`},
		{`((x))`, `x`},
	} {
		e, err := ParseQuery(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("%s: parsed as %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "empty query"},
		{`sum(x)`, "aggregation sum() is not supported"},
		{`sum by (tenant) (x)`, "aggregation sum() is not supported"},
		{`rate(x[5m])`, "function rate() is not supported"},
		{`x[5m]`, "a range selector needs a function around it"},
		{`avg_over_time(x)`, "takes a range of a selector"},
		{`avg_over_time(x[5m:1m])`, "subqueries are not supported"},
		{`avg_over_time(x[5m] offset 1h)`, "the offset modifier is not supported"},
		{`x offset 5m`, "the offset modifier is not supported"},
		{`x @ 100`, "the @ modifier is not supported"},
		{`x > 5`, "comparison operators are not supported"},
		{`x and y`, `"and" is not supported`},
		{`{}`, "at least one matcher that does not match the empty string"},
		{`{a=""}`, "at least one matcher that does not match the empty string"},
		{`{a=~".*"}`, "at least one matcher that does not match the empty string"},
		{`x{a="b"`, `want "," or "}"`},
		{`x{a=b}`, "want a quoted label value"},
		{`x{a~"b"}`, "unexpected character"},
		{`x{a=~"("}`, "invalid regular expression"},
		{`x{__name__="y"}`, "metric name given twice"},
		{`avg_over_time(x[$__interval])`, "Grafana variable"},
		{`avg_over_time(x[5])` + "x", "unexpected"},
		{`avg_over_time(x[5q])`, "bad duration"},
		{`avg_over_time(x[1m1h])`, "largest to the smallest"},
		{`avg_over_time(x[0s])`, "must be positive"},
		{`5m`, "durations go only in ranges"},
		{`"site1/boiler/temp"`, `write {"site1/boiler/temp"}`},
		{`x{a="\q"}`, "bad escape"},
		{`x{a="b`, "unterminated"},
		{`(x`, `want ")"`},
		{`x)`, "want end of query"},
		{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), "nests deeper"},
		{strings.Repeat("-", 100) + "1", "nests deeper"},
		{"x\xff", "not valid UTF-8"},
	} {
		_, err := ParseQuery(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour,
		"100ms": 100 * time.Millisecond, "1m500ms": time.Minute + 500*time.Millisecond, "1y": 365 * 24 * time.Hour,
		"30": 30 * time.Second, "0.5": 500 * time.Millisecond,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "5", "5mm", "1s1m", "-5m", "99999999999999y", "1.5m"} {
		if in == "5" {
			continue // plain seconds
		}
		if d, err := parseDuration(in); err == nil {
			t.Errorf("%q: %v, want an error", in, d)
		}
	}
}

func TestMetricName(t *testing.T) {
	for in, want := range map[string]string{
		"site1/boiler/temp": "site1_boiler_temp",
		"Boiler.Temp":       "Boiler_Temp",
		"3rd/line":          "_3rd_line",
		"Kessel/Wärme":      "Kessel_W_rme",
		"a:b":               "a_b",
	} {
		if got := MetricName(in); got != want || !validMetricName(got) {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
