package promapi

import (
	"errors"
	"testing"
)

// FuzzParseQuery: any input either parses or fails with a *ParseError,
// never panics; what parses prints as a query that parses to the same
// print, and type-checks without panicking.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`site1_boiler_temp`,
		`site1_boiler_temp{tenant="acme-refinery", community=~"supply.*", unit!="degC", stream!~"x"}`,
		`{"site1_boiler_temp"}`,
		`{stream="site1/boiler/temp"}`,
		`avg_over_time(site1_boiler_temp[5m])`,
		`max_over_time({stream=~"site1/.*"}[1h30m])`,
		`count_over_time(x[250ms]) * 2`,
		`last_over_time(x{a='b'}[1d])`,
		`(x - 32) / 1.8`,
		`-x ^ 2 % 3`,
		`1+1`,
		`0x1F + 1e-3 + Inf - NaN`,
		"x{a=`raw`} # comment",
		`sum by (tenant) (rate(x[5m]))`,
		`x offset 5m`,
		`avg_over_time(x[5m:1m])`,
		`avg_over_time(x[$__interval])`,
		`x{a="\u00e9\x41\101"}`,
		"((((((x))))))",
		`{a=~"(("}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := ParseQuery(q)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %T %v, want a *ParseError", q, err, err)
			}
			return
		}
		check(e)
		s := e.String()
		e2, err := ParseQuery(s)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", q, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("%q printed as %q, then as %q", q, s, s2)
		}
	})
}

// FuzzDecodeSummaries: an owner's answer, whatever it holds, decodes or
// fails; it never panics, and what decodes has sane counts.
func FuzzDecodeSummaries(f *testing.F) {
	f.Add(`{"stream":"s","summaries":[{"start":"0","end":"60000000000","count":2,"bad":1,"min":1,"max":2,"mean":1.5,"stddev":0.5,"time_weighted_mean":null,"first":{"time":1,"value":1,"quality":0},"last":{"time":2,"value":"NaN","quality":2147483648}}]}`)
	f.Add(`{"summaries":[{"start":"5","end":"6","count":0,"bad":0,"min":null,"max":null,"mean":null,"stddev":null,"first":null,"last":null}]}`)
	f.Add(`{"summaries":[{"start":"x"}]}`)
	f.Add(`{"summaries":[{"start":"1","end":"2","count":1,"bad":0,"first":{"time":1,"value":true},"last":{"time":1,"value":"Infinity"}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		sums, err := DecodeSummaries([]byte(s))
		if err != nil {
			return
		}
		for _, sm := range sums {
			if sm.Count < 0 || sm.Bad < 0 || sm.Bad > sm.Count {
				t.Fatalf("%q: counts %d/%d", s, sm.Count, sm.Bad)
			}
			value(sm.Last)
		}
	})
}
