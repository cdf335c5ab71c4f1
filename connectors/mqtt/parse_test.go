package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

const recv = int64(1_700_000_000_000_000_000)

type decoded struct {
	samples     []sample
	reasons     []string
	receiveTime int // points stamped with recv for want of a timestamp
}

func run(d decoder, payload string) decoded {
	var out decoded
	var r report
	out.samples = d.decode([]byte(payload), recv, nil, &r)
	for _, p := range r.probs {
		out.reasons = append(out.reasons, p.reason)
	}
	out.receiveTime = r.receiveTime
	return out
}

func mustJSON(t testing.TB, c JSONConfig, kind point.Kind) *jsonDecoder {
	t.Helper()
	var p problems
	d, err := newJSONDecoder(c, kind, "json", &p)
	if err != nil {
		t.Fatalf("%v", p)
	}
	return d
}

func TestPlain(t *testing.T) {
	for _, tc := range []struct {
		payload string
		kind    point.Kind
		want    point.Value
		reason  string
	}{
		{"23.5", point.KindFloat, point.Float(23.5), ""},
		{" 42\n", point.KindFloat, point.Float(42), ""},
		{"-1e3", point.KindFloat, point.Float(-1000), ""},
		{"true", point.KindFloat, point.Float(1), ""},
		{"9007199254740993", point.KindInt, point.Int(9007199254740993), ""},
		{"4.0", point.KindInt, point.Int(4), ""},
		{"4.5", point.KindInt, point.Value{}, reasonBadNumber},
		{"1", point.KindBool, point.Bool(true), ""},
		{"false", point.KindBool, point.Bool(false), ""},
		{"running", point.KindString, point.String("running"), ""},
		{"", point.KindFloat, point.Value{}, reasonBadNumber},
		{"abc", point.KindFloat, point.Value{}, reasonBadNumber},
		{"NaN", point.KindFloat, point.Value{}, reasonBadNumber},
		{"+Inf", point.KindFloat, point.Value{}, reasonBadNumber},
		{"\xff", point.KindString, point.Value{}, reasonBadNumber},
	} {
		got := run(&plainDecoder{kind: tc.kind}, tc.payload)
		if tc.reason != "" {
			if len(got.samples) != 0 || len(got.reasons) != 1 || got.reasons[0] != tc.reason {
				t.Errorf("%q as %s: got %+v, want reason %s", tc.payload, tc.kind, got, tc.reason)
			}
			continue
		}
		if len(got.samples) != 1 || got.samples[0].value != tc.want || got.samples[0].time != recv || len(got.reasons) != 0 {
			t.Errorf("%q as %s: got %+v, want %v", tc.payload, tc.kind, got, tc.want)
		}
	}
}

func TestJSON(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()
	for _, tc := range []struct {
		name        string
		cfg         JSONConfig
		kind        point.Kind
		payload     string
		want        []sample // field, id, value, time, quality
		reasons     []string
		receiveTime int
	}{
		{name: "scalar", payload: "21.5", want: []sample{{value: point.Float(21.5), time: recv}}},
		{name: "value path", cfg: JSONConfig{Value: "v"}, payload: `{"v": 1}`, want: []sample{{value: point.Float(1), time: recv}}},
		{name: "nested path", cfg: JSONConfig{Value: "data.0.v"}, payload: `{"data":[{"v":2},{"v":3}]}`, want: []sample{{value: point.Float(2), time: recv}}},
		{name: "rfc3339", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v":1,"t":"2024-05-01T12:00:00.123456789Z"}`, want: []sample{{value: point.Float(1), time: ts}}},
		{name: "rfc3339 offset", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "rfc3339"}, payload: `{"v":1,"t":"2024-05-01T14:00:00.123456789+02:00"}`, want: []sample{{value: point.Float(1), time: ts}}},
		{name: "epoch s", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "s"}, payload: `{"v":1,"t":1714564800.123456789}`, want: []sample{{value: point.Float(1), time: ts}}},
		{name: "epoch ms", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "ms"}, payload: `{"v":1,"t":1714564800123}`, want: []sample{{value: point.Float(1), time: 1714564800123000000}}},
		{name: "epoch ns exact", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "ns"}, payload: `{"v":1,"t":1714564800123456789}`, want: []sample{{value: point.Float(1), time: ts}}},
		{name: "auto s", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v":1,"t":1714564800}`, want: []sample{{value: point.Float(1), time: 1714564800e9}}},
		{name: "auto ms", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v":1,"t":1714564800123}`, want: []sample{{value: point.Float(1), time: 1714564800123e6}}},
		{name: "auto us string", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v":1,"t":"1714564800123456"}`, want: []sample{{value: point.Float(1), time: 1714564800123456e3}}},
		{name: "auto ns", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v":1,"t":1714564800123456789}`, want: []sample{{value: point.Float(1), time: ts}}},
		{name: "quality", cfg: JSONConfig{Value: "v", Quality: "q"}, payload: `[{"v":1,"q":"bad"},{"v":2,"q":1083441152},{"v":3,"q":"0x40000000"},{"v":4,"q":true},{"v":5}]`,
			want: []sample{
				{value: point.Float(1), time: recv, quality: point.QualityBad},
				{value: point.Float(2), time: recv, quality: 1083441152},
				{value: point.Float(3), time: recv, quality: point.QualityUncertain},
				{value: point.Float(4), time: recv},
				{value: point.Float(5), time: recv},
			}},
		{name: "array", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `[{"v":1,"t":1000},{"v":"2.5","t":2000}]`,
			want: []sample{{value: point.Float(1), time: 1000e9}, {value: point.Float(2.5), time: 2000e9}}},
		{name: "points path", cfg: JSONConfig{Points: "rows", Value: "v"}, payload: `{"rows":[{"v":1},{"v":2}]}`,
			want: []sample{{value: point.Float(1), time: recv}, {value: point.Float(2), time: recv}}},
		{name: "ids", cfg: JSONConfig{Value: "v", ID: "tag"}, payload: `[{"tag":"a","v":1},{"tag":7,"v":2},{"v":3}]`,
			want: []sample{{id: "a", value: point.Float(1), time: recv}, {id: "7", value: point.Float(2), time: recv}}, reasons: []string{reasonMissingID}},
		{name: "fields", cfg: JSONConfig{Fields: []string{"temp", "p.abs", "missing"}, Time: "t"}, payload: `{"t":5,"temp":20.5,"p":{"abs":1.01}}`,
			want: []sample{{field: "temp", value: point.Float(20.5), time: 5e9}, {field: "p.abs", value: point.Float(1.01), time: 5e9}}},
		{name: "star", cfg: JSONConfig{Fields: []string{"*"}, Time: "t", Quality: "q"}, payload: `{"t":5,"q":0,"b":2,"a":1,"name":"x","nested":{"c":1},"on":true}`,
			want: []sample{{field: "a", value: point.Float(1), time: 5e9}, {field: "b", value: point.Float(2), time: 5e9}, {field: "on", value: point.Float(1), time: 5e9}}},
		{name: "int kind", kind: point.KindInt, cfg: JSONConfig{Value: "v"}, payload: `[{"v":9007199254740993},{"v":1.5}]`,
			want: []sample{{value: point.Int(9007199254740993), time: recv}}, reasons: []string{reasonBadValue}},
		{name: "string kind", kind: point.KindString, cfg: JSONConfig{Value: "v"}, payload: `[{"v":"on"},{"v":1.50},{"v":true}]`,
			want: []sample{{value: point.String("on"), time: recv}, {value: point.String("1.50"), time: recv}, {value: point.String("true"), time: recv}}},
		{name: "bad elements are skipped", cfg: JSONConfig{Value: "v", Time: "t", Quality: "q"},
			payload: `[{"v":1,"t":1},{"t":2},{"v":null,"t":3},{"v":{},"t":4},{"v":1,"t":"yesterday"},{"v":1},{"v":1,"t":5,"q":"meh"},{"v":"x","t":6},{"v":7,"t":7}]`,
			want:    []sample{{value: point.Float(1), time: 1e9}, {value: point.Float(1), time: recv}, {value: point.Float(7), time: 7e9}},
			reasons: []string{reasonMissingValue, reasonBadValue, reasonBadValue, reasonBadTime, reasonBadQuality, reasonBadValue}, receiveTime: 1},
		// json.time_missing: the README's {value: v, time: t} with a
		// sender that does not stamp.
		{name: "missing time: receive by default", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `{"v": 21.5}`,
			want: []sample{{value: point.Float(21.5), time: recv}}, receiveTime: 1},
		{name: "null time is missing", cfg: JSONConfig{Value: "v", Time: "t", TimeMissing: "receive"}, payload: `[{"v":1,"t":null},{"v":2,"t":2}]`,
			want: []sample{{value: point.Float(1), time: recv}, {value: point.Float(2), time: 2e9}}, receiveTime: 1},
		{name: "missing time: drop", cfg: JSONConfig{Value: "v", Time: "t", TimeMissing: "drop"}, payload: `[{"v":1},{"v":2,"t":2},{"v":3,"t":null}]`,
			want: []sample{{value: point.Float(2), time: 2e9}}, reasons: []string{reasonMissingTime, reasonMissingTime}},
		{name: "missing time counts every field", cfg: JSONConfig{Fields: []string{"a", "b"}, Time: "t"}, payload: `{"a":1,"b":2}`,
			want: []sample{{field: "a", value: point.Float(1), time: recv}, {field: "b", value: point.Float(2), time: recv}}, receiveTime: 2},
		{name: "unparseable time is an error still", cfg: JSONConfig{Value: "v", Time: "t"}, payload: `[{"v":1,"t":"soon"},{"v":1,"t":{}}]`,
			reasons: []string{reasonBadTime, reasonBadTime}},
		{name: "not json", cfg: JSONConfig{Value: "v"}, payload: `{"v":`, reasons: []string{reasonBadJSON}},
		{name: "trailing data", cfg: JSONConfig{Value: "v"}, payload: `{"v":1} {"v":2}`, reasons: []string{reasonBadJSON}},
		{name: "no points array", cfg: JSONConfig{Points: "rows", Value: "v"}, payload: `{"rows":1}`, reasons: []string{reasonMissingValue}},
		{name: "time out of range", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "s"}, payload: `{"v":1,"t":1e300}`, reasons: []string{reasonBadTime}},
		{name: "rfc3339 wants text", cfg: JSONConfig{Value: "v", Time: "t", TimeFormat: "rfc3339"}, payload: `{"v":1,"t":5}`, reasons: []string{reasonBadTime}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == 0 {
				kind = point.KindFloat
			}
			got := run(mustJSON(t, tc.cfg, kind), tc.payload)
			if fmt.Sprint(got.reasons) != fmt.Sprint(tc.reasons) {
				t.Errorf("reasons %v, want %v", got.reasons, tc.reasons)
			}
			if fmt.Sprintf("%+v", got.samples) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("samples\n%+v\nwant\n%+v", got.samples, tc.want)
			}
			if got.receiveTime != tc.receiveTime {
				t.Errorf("%d points took the time of receipt, want %d", got.receiveTime, tc.receiveTime)
			}
		})
	}
}

func TestParseEpoch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		f    timeFormat
		want int64
		bad  bool
	}{
		{"1", timeS, 1e9, false},
		{"1.5", timeS, 1.5e9, false},
		{"1.0000000019", timeS, 1000000001, false}, // beyond ns is dropped
		{"-1.5", timeS, -1.5e9, false},
		{".5", timeS, 5e8, false},
		{"1.5", timeMS, 1500000, false},
		{"1.5e3", timeS, 1500e9, false},
		{"9223372036854775807", timeNS, 9223372036854775807, false},
		{"9223372036", timeS, 9223372036e9, false},
		{"9223372037", timeS, 0, true},
		{"1e20", timeS, 0, true},
		{"-", timeS, 0, true},
		{"", timeS, 0, true},
		{"1.x", timeS, 0, true},
		{"0x10", timeS, 0, true},
	} {
		got, err := parseEpoch(tc.in, tc.f)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseEpoch(%q, %d) = %d, %v; want %d, bad %v", tc.in, tc.f, got, err, tc.want, tc.bad)
		}
	}
}

func TestInflux(t *testing.T) {
	d := &influxDecoder{kind: point.KindFloat, precision: 1}
	got := run(d, strings.Join([]string{
		`# a comment`,
		`cpu,host=b,dc=x usage=1.5,idle=2i 1700000000000000000`,
		``,
		`weather\ station,loc\,a=north\ pole temp=-3,ok=t`,
		`m f=1u,g=1e2 `,
		`bad line`,
		`m s="text"`,
		`m f=1 notanumber`,
		`m,t=1 x=01.0,y=0 5`,
		`m f="unterminated`,
		`m f=inf`,
		`m=x,k=v f=3`,
	}, "\n"))
	want := []sample{
		{field: "usage", measurement: "cpu", tags: []tag{{"dc", "x"}, {"host", "b"}}, value: point.Float(1.5), time: 1700000000000000000},
		{field: "idle", measurement: "cpu", tags: []tag{{"dc", "x"}, {"host", "b"}}, value: point.Float(2), time: 1700000000000000000},
		{field: "temp", measurement: "weather station", tags: []tag{{"loc,a", "north pole"}}, value: point.Float(-3), time: recv},
		{field: "ok", measurement: "weather station", tags: []tag{{"loc,a", "north pole"}}, value: point.Float(1), time: recv},
		{field: "f", measurement: "m", value: point.Float(1), time: recv},
		{field: "g", measurement: "m", value: point.Float(100), time: recv},
		{field: "x", measurement: "m", tags: []tag{{"t", "1"}}, value: point.Float(1), time: 5},
		{field: "y", measurement: "m", tags: []tag{{"t", "1"}}, value: point.Float(0), time: 5},
		{field: "f", measurement: "m=x", tags: []tag{{"k", "v"}}, value: point.Float(3), time: recv},
	}
	if fmt.Sprintf("%+v", got.samples) != fmt.Sprintf("%+v", want) {
		t.Errorf("samples\n%+v\nwant\n%+v", got.samples, want)
	}
	wantReasons := []string{reasonBadLine, reasonBadValue, reasonBadLine, reasonBadLine, reasonBadLine}
	if fmt.Sprint(got.reasons) != fmt.Sprint(wantReasons) {
		t.Errorf("reasons %v, want %v", got.reasons, wantReasons)
	}

	ms := &influxDecoder{kind: point.KindString, precision: 1e6}
	got = run(ms, `m s="say \"hi\" \\ ok",n=2i 1700000000000`)
	if len(got.samples) != 2 || got.samples[0].value.S != `say "hi" \ ok` || got.samples[1].value.S != "2" || got.samples[0].time != 1700000000000e6 {
		t.Errorf("string fields: %+v %v", got.samples, got.reasons)
	}
}

func TestFilterMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+/+/+", "a/b/c", true},
		{"+/+/+", "a/b", false},
		{"a/{site}/c", "a/b/c", true},
	} {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.match(tc.topic); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		filter, tmpl, topic, want string
		vars                      templateVars
		ok                        bool
	}{
		{"site1/+/+/temp", "site1/{1}/{2}", "site1/boiler/t1/temp", "site1/boiler/t1", templateVars{}, true},
		{"plant/{area}/{unit}/temp", "{area}.{unit}", "plant/north/u7/temp", "north.u7", templateVars{}, true},
		{"plant/#", "p/{#}", "plant/a/b/c", "p/a/b/c", templateVars{}, true},
		{"plant/#", "p/{#}", "plant", "p/", templateVars{}, true},
		{"plant/#", "p/{1}", "plant", "", templateVars{}, false},
		{"plant/#", "p/{2}", "plant/a/b", "p/b", templateVars{}, true},
		{"a/+", "{topic}/{field}", "a/b", "a/b/f", templateVars{field: true}, true},
		// Influx: {tags} is the tag values in key order; bare names are tags.
		{"m/#", "{measurement}/{tags}/{field}:{tag.host}", "m/x", "cpu/x/h/usage:h", templateVars{field: true, influx: true}, true},
		{"m/#", "{measurement}/{host}/{field}", "m/x", "cpu/h/usage", templateVars{field: true, influx: true}, true},
		{"m/{dc}", "{measurement}/{dc}/{field}", "m/topic", "cpu/topic/usage", templateVars{field: true, influx: true}, true}, // a named level wins
		{"m/#", "{measurement}/{rack}/{field}", "m/x", "", templateVars{field: true, influx: true}, false},                    // no such tag
		{"m/#", "{tags}/{field}", "m/x", "x/h/usage", templateVars{field: true, influx: true}, true},
	} {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := parseTemplate(tc.tmpl, f, tc.vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		s := sample{field: "f", measurement: "cpu", tags: []tag{{"dc", "x"}, {"host", "h"}}}
		if tc.vars.field && !tc.vars.influx {
			s.field = "f"
		}
		if tc.vars.influx {
			s.field = "usage"
		}
		got, ok := tm.render(nil, tc.topic, &s)
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("%s on %s = %q, %v; want %q, %v", tc.tmpl, tc.topic, got, ok, tc.want, tc.ok)
		}
	}
}

// TestInfluxNames: the default influx stream name is measurement, tag
// values in tag-key order, field; a line without tags loses the level, a
// tag value with / stays one level.
func TestInfluxNames(t *testing.T) {
	f, _ := parseFilter("telegraf/#")
	def, err := parseTemplate("{measurement}/{tags}/{field}", f, templateVars{field: true, influx: true})
	if err != nil {
		t.Fatal(err)
	}
	d := &influxDecoder{kind: point.KindFloat, precision: 1}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"cpu,host=gw1 usage_idle=99", []string{"cpu/gw1/usage_idle"}},
		{"cpu,host=gw1,cpu=cpu0 usage_idle=99,usage_user=1", []string{"cpu/cpu0/gw1/usage_idle", "cpu/cpu0/gw1/usage_user"}},
		{"mem free=1i", []string{"mem/free"}},
		{"disk,path=/,host=gw1 used=1i", []string{"disk/gw1/-/used"}},
		{"disk,path=/var/log used=1i", []string{"disk/-var-log/used"}},
		{`net,interface=eth\ 0 bytes=1i`, []string{"net/eth 0/bytes"}},
	} {
		got := run(d, tc.line)
		var names []string
		for i := range got.samples {
			b, ok := def.render(nil, "telegraf/x", &got.samples[i])
			if !ok {
				t.Fatalf("%q: render failed", tc.line)
			}
			names = append(names, string(b))
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %q, want %q", tc.line, names, tc.want)
		}
	}
	for _, bad := range []string{"{measurement}{tags}/{field}", "{measurement}/{tags}{field}", "{measurement}/x{tags}/{field}"} {
		if _, err := parseTemplate(bad, f, templateVars{field: true, influx: true}); err == nil || !strings.Contains(err.Error(), "{tags} must be a level of its own") {
			t.Errorf("%s: %v, want the {tags} hint", bad, err)
		}
	}
}
