package mqtt

import (
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
)

var kinds = []point.Kind{point.KindFloat, point.KindInt, point.KindBool, point.KindString}

// checkSamples holds for every decoder: samples have the decoder's kind,
// floats are finite, and every bad part was reported with a reason.
func checkSamples(t *testing.T, kind point.Kind, got decoded) {
	t.Helper()
	for _, s := range got.samples {
		if s.value.Kind != kind {
			t.Fatalf("sample of kind %v from a %v decoder", s.value.Kind, kind)
		}
		if kind == point.KindFloat && (math.IsNaN(s.value.F) || math.IsInf(s.value.F, 0)) {
			t.Fatalf("non-finite float %v", s.value.F)
		}
	}
	for _, r := range got.reasons {
		if r == "" {
			t.Fatal("bad part without a reason")
		}
	}
}

func FuzzPlain(f *testing.F) {
	for _, s := range []string{"23.5", " 1e3 ", "true", "-0", "NaN", "0x1p-2", "9223372036854775808", "", "\xff", "running"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, k := range kinds {
			checkSamples(t, k, run(&plainDecoder{kind: k}, string(payload)))
		}
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`1`, `{"v":1,"t":"2024-05-01T12:00:00Z","q":"bad"}`, `[{"v":1,"t":1700000000},{"v":"2","t":1.5e9}]`,
		`{"rows":[{"id":"a","v":true,"t":"1700000000123"}]}`, `{"a":1,"b":{"c":2},"t":-1}`, `[[],{},null]`,
		`{"v":1e400}`, `{"t":9223372036854775807999,"v":1}`, `{"v":1} x`, `"text"`,
	} {
		f.Add([]byte(s))
	}
	cfgs := []JSONConfig{
		{},
		{Value: "v", Time: "t", Quality: "q"},
		{Value: "v", Time: "t", TimeFormat: "ms", ID: "id"},
		{Points: "rows", Value: "v", Time: "t", TimeFormat: "rfc3339"},
		{Fields: []string{"*"}, Time: "t", TimeFormat: "s"},
		{Fields: []string{"a", "b.c", "0"}, Time: "t", TimeFormat: "ns"},
	}
	var decs []*jsonDecoder
	for _, c := range cfgs {
		for _, k := range kinds {
			decs = append(decs, mustJSON(f, c, k))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, d := range decs {
			checkSamples(t, d.kind, run(d, string(payload)))
		}
	})
}

func FuzzInflux(f *testing.F) {
	for _, s := range []string{
		"cpu,host=a usage=1.5,idle=2i 1700000000000000000",
		`w\ s,l\,a=n\ p t=-3,ok=t,s="a \"b\" \\"` + "\n# c\n\nm f=1u",
		"m f=", "m,=x f=1", `m f="x`, "m f=1 x", "m f=1e999", "m\\", "m,a=b\\",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, k := range kinds {
			got := run(&influxDecoder{kind: k, precision: 1e6}, string(payload))
			checkSamples(t, k, got)
			for _, s := range got.samples {
				if s.measurement == "" || s.field == "" {
					t.Fatalf("sample without measurement or field: %+v", s)
				}
			}
		}
	})
}

func FuzzEpoch(f *testing.F) {
	for _, s := range []string{"1", "1.5", "-1.5", ".5", "1e3", "9223372036854775807", "1.0000000019", "-", "", "1.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tf := range []timeFormat{timeAuto, timeS, timeMS, timeUS, timeNS} {
			_, _ = parseEpoch(s, tf)
		}
		_, _ = parseRFC3339(s)
		_, _ = qualityText(s)
	})
}

// FuzzTopic checks that filters, templates and matching never panic, and
// that a topic built from a filter's own levels matches it.
func FuzzTopic(f *testing.F) {
	f.Add("plant/{area}/+/#", "{area}/{2}/{#}/{topic}/{5}", "plant/n/u/x/y")
	f.Add("+/+", "{0}{1}", "$SYS/a")
	f.Add("#", "{#}", "")
	f.Fuzz(func(t *testing.T, topic, tmpl, msgTopic string) {
		fl, err := parseFilter(topic)
		if err != nil {
			return
		}
		built := strings.ReplaceAll(strings.ReplaceAll(fl.filter, "+", "x"), "#", "y")
		if !strings.HasPrefix(built, "$") && !fl.match(built) {
			t.Fatalf("filter %q does not match %q", fl.filter, built)
		}
		tm, err := parseTemplate(tmpl, fl, templateVars{field: strings.Contains(tmpl, "{field}")})
		if err != nil {
			return
		}
		if fl.match(msgTopic) {
			_, _ = tm.render(nil, msgTopic, &sample{field: "f"})
		}
	})
}

// FuzzInfluxNamesAndLabels: whatever the line and the template, naming
// never panics, a name made by the default template has no empty level
// from the tags, and the labels a source builds are always valid.
func FuzzInfluxNamesAndLabels(f *testing.F) {
	f.Add("cpu,host=gw1,path=/ usage=1", "{measurement}/{host}/{field}", "{1}")
	f.Add("m,a=\\,b\\ c=d f=1i", "{tags}/{field}", "x{topic}")
	f.Add("m f=1", "{measurement}/{tags}/{field}", "")
	f.Fuzz(func(t *testing.T, line, tmpl, labelTmpl string) {
		fl, err := parseFilter("lp/{site}/#")
		if err != nil {
			t.Fatal(err)
		}
		def, err := parseTemplate("{measurement}/{tags}/{field}", fl, templateVars{field: true, influx: true})
		if err != nil {
			t.Fatal(err)
		}
		d := &influxDecoder{kind: point.KindFloat, precision: 1}
		var r report
		samples := d.decode([]byte(line), 1, nil, &r)
		tm, _ := parseTemplate(tmpl, fl, templateVars{field: true, influx: true})
		sub := &subscription{stream: def}
		if lt, err := parseTemplate(labelTmpl, fl, templateVars{}); err == nil {
			sub.labels = []labelTemplate{{key: "cfg", value: lt}}
		}
		src := &Source{logged: map[string]bool{}, env: connectors.Env{Logger: slog.New(slog.DiscardHandler)}}
		for i := range samples {
			s := &samples[i]
			name, ok := def.render(nil, "lp/p1/x", s)
			if !ok {
				t.Fatalf("default template failed on %+v", s)
			}
			if len(s.tags) > 0 && strings.Contains(string(name), "//") && !strings.Contains(s.measurement+s.field, "/") {
				t.Fatalf("empty level in %q from tags %v", name, s.tags)
			}
			if tm != nil {
				_, _ = tm.render(nil, "lp/p1/x", s)
			}
			if err := point.ValidateLabels(src.labels(sub, "lp/p1/x", s)); err != nil {
				t.Fatalf("labels of %+v: %v", s, err)
			}
		}
	})
}
