package mqtt

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

func TestSparkplugDecode(t *testing.T) {
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	bytesField := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), v)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	birth := tPayload{ts: u64(1700000000123), seq: u64(0), uuid: str("u-1"), body: []byte{1, 2}, metrics: []tMetric{
		{name: str("Flow/Rate"), alias: u64(7), ts: u64(1700000000100), datatype: u32(spDouble), desc: str("outlet"),
			props: []tProp{{"engUnit", spString, "m3/h"}, {"Quality", spInt32, tInt(192)}}, value: 1.5},
		{name: str("Running"), datatype: u32(spBoolean), hist: true, transient: true, value: true},
		{alias: u64(3), null: true},
	}}.encode()

	for _, tc := range []struct {
		name    string
		payload []byte
		err     string // substring; "" decodes
		check   func(t *testing.T, p *spPayload)
	}{
		{name: "empty", payload: nil, check: func(t *testing.T, p *spPayload) {
			if p.hasTime || p.hasSeq || len(p.metrics) != 0 {
				t.Errorf("%+v", p)
			}
		}},
		{name: "birth", payload: birth, check: func(t *testing.T, p *spPayload) {
			if !p.hasTime || p.timestamp != 1700000000123 || !p.hasSeq || p.seq != 0 || string(p.uuid) != "u-1" || !bytes.Equal(p.body, []byte{1, 2}) {
				t.Errorf("header %+v", p)
			}
			if len(p.metrics) != 3 {
				t.Fatalf("%d metrics", len(p.metrics))
			}
			m := &p.metrics[0]
			if string(m.name) != "Flow/Rate" || !m.hasAlias || m.alias != 7 || m.timestamp != 1700000000100 || m.datatype != spDouble ||
				string(m.description) != "outlet" || m.value.field != spDoubleValue || math.Float64frombits(m.value.u) != 1.5 {
				t.Errorf("metric 0 %+v", m)
			}
			keys, vals := p.props(m)
			if len(keys) != 2 || string(keys[0]) != "engUnit" || string(vals[0].value.b) != "m3/h" || vals[1].value.u != 192 || vals[1].typ != spInt32 {
				t.Errorf("properties %q %+v", keys, vals)
			}
			if spQuality(p, m) != point.QualityGood {
				t.Error("quality")
			}
			if m := &p.metrics[1]; m.hasAlias || !m.isHistorical || !m.isTransient || m.value.field != spBoolValue || m.value.u != 1 {
				t.Errorf("metric 1 %+v", m)
			}
			if m := &p.metrics[2]; m.hasName || !m.isNull || m.value.field != spNoValue || m.alias != 3 {
				t.Errorf("metric 2 %+v", m)
			}
			if keys, _ := p.props(&p.metrics[1]); len(keys) != 0 {
				t.Errorf("metric 1 has properties %q", keys)
			}
		}},
		{name: "last scalar and oneof member win", payload: cat(
			appendVarintField(nil, 3, 5), appendVarintField(nil, 3, 6),
			bytesField(2, cat(appendVarintField(nil, 10, 1), appendValue(nil, 10, "x"), appendVarintField(nil, 2, 9), appendVarintField(nil, 2, 4))),
		), check: func(t *testing.T, p *spPayload) {
			if p.seq != 6 || p.metrics[0].value.field != spStringValue || p.metrics[0].alias != 4 {
				t.Errorf("%+v", p)
			}
		}},
		{name: "two properties fields merge", payload: bytesField(2, cat(
			bytesField(9, encodeProps([]tProp{{"a", spString, "1"}})),
			appendVarintField(nil, 2, 1),
			bytesField(9, encodeProps([]tProp{{"b", spString, "2"}})),
		)), check: func(t *testing.T, p *spPayload) {
			keys, vals := p.props(&p.metrics[0])
			if len(keys) != 2 || string(keys[1]) != "b" || string(vals[1].value.b) != "2" {
				t.Errorf("%q %+v", keys, vals)
			}
		}},
		{name: "wrong wire type is an unknown field", payload: cat(
			tag(nil, 1, protowire.Fixed64Type), make([]byte, 8), // timestamp as fixed64
			bytesField(3, []byte("seq as bytes")),
			bytesField(2, cat(tag(nil, 13, protowire.Fixed32Type), []byte{0, 0, 0, 0})), // double as fixed32
		), check: func(t *testing.T, p *spPayload) {
			if p.hasTime || p.hasSeq || p.metrics[0].value.field != spNoValue {
				t.Errorf("%+v", p)
			}
		}},
		{name: "unknown fields and groups are skipped", payload: cat(
			appendVarintField(nil, 99, 1), bytesField(6, []byte("ext")),
			tag(nil, 7, protowire.StartGroupType), appendVarintField(nil, 1, 2), tag(nil, 7, protowire.EndGroupType),
			appendVarintField(nil, 3, 8),
		), check: func(t *testing.T, p *spPayload) {
			if p.seq != 8 {
				t.Errorf("%+v", p)
			}
		}},
		{name: "packed data set types", payload: bytesField(2, bytesField(17, cat(bytesField(3, []byte{1, 2, 0x80, 1}), appendVarintField(nil, 3, 9)))),
			check: func(t *testing.T, p *spPayload) {
				if p.metrics[0].value.field != spDataSetValue {
					t.Errorf("%+v", p.metrics[0])
				}
			}},
		{name: "template member metrics are validated", payload: bytesField(2, bytesField(18, bytesField(2, appendVarintField(nil, 2, 1)))),
			check: func(t *testing.T, p *spPayload) {
				if p.metrics[0].value.field != spTemplateValue {
					t.Errorf("%+v", p.metrics[0])
				}
			}},
		{name: "truncated varint", payload: []byte{0x08, 0x80}, err: "unexpected EOF"},
		{name: "truncated length", payload: []byte{0x12, 0x05, 0x08}, err: "unexpected EOF"},
		{name: "field number zero", payload: []byte{0x00}, err: "invalid field number"},
		{name: "field number too large", payload: protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), err: "out of range"},
		{name: "stray end group", payload: tag(nil, 4, protowire.EndGroupType), err: "end group"},
		{name: "unterminated group", payload: tag(nil, 9, protowire.StartGroupType), err: "unexpected EOF"},
		{name: "reserved wire type", payload: []byte{0x0e}, err: "reserved"},
		{name: "bad nested metric", payload: bytesField(2, []byte{0x08}), err: "metric 0"},
		{name: "bad property value", payload: bytesField(2, bytesField(9, bytesField(2, []byte{0xff}))), err: "unexpected EOF"},
		{name: "bad data set row", payload: bytesField(2, bytesField(17, bytesField(4, []byte{0x0a, 0x01}))), err: "unexpected EOF"},
		{name: "bad packed types", payload: bytesField(2, bytesField(17, bytesField(3, []byte{0x80}))), err: "field 3"},
		{name: "bad template member", payload: bytesField(2, bytesField(18, bytesField(2, []byte{0x10}))), err: "unexpected EOF"},
		{name: "bad extension", payload: bytesField(2, bytesField(19, []byte{0x00})), err: "invalid field number"},
		{name: "too deep", payload: func() []byte {
			ps := []byte{}
			for range spMaxDepth {
				ps = bytesField(9, bytesField(2, ps)) // property set in property value
			}
			return bytesField(2, ps)
		}(), err: errSPDepth.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p spPayload
			err := p.decode(tc.payload)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.check != nil:
				tc.check(t, &p)
			}
		})
	}
}

func TestSparkplugValues(t *testing.T) {
	f32 := func(f float32) spValue { return spValue{field: spFloatValue, u: uint64(math.Float32bits(f))} }
	f64 := func(f float64) spValue { return spValue{field: spDoubleValue, u: math.Float64bits(f)} }
	in := func(u uint64) spValue { return spValue{field: spIntValue, u: u} }
	long := func(u uint64) spValue { return spValue{field: spLongValue, u: u} }
	for _, tc := range []struct {
		dt   uint32
		v    spValue
		want point.Value
		bad  bool
	}{
		{dt: spInt8, v: in(0xFFFFFFFF), want: point.Int(-1)},
		{dt: spInt8, v: in(0xFF), want: point.Int(-1)},
		{dt: spInt8, v: in(0x7F), want: point.Int(127)},
		{dt: spInt16, v: in(0xFFFF8000), want: point.Int(-32768)},
		{dt: spInt32, v: in(0xFFFFFFFE), want: point.Int(-2)},
		{dt: spInt32, v: long(0xFFFFFFFFFFFFFFFE), want: point.Int(-2)},
		{dt: spInt64, v: long(math.MaxUint64), want: point.Int(-1)},
		{dt: spUInt8, v: in(0x1FF), want: point.Int(255)},
		{dt: spUInt16, v: in(65535), want: point.Int(65535)},
		{dt: spUInt32, v: in(0xFFFFFFFF), want: point.Int(4294967295)},
		{dt: spUInt64, v: long(math.MaxInt64), want: point.Int(math.MaxInt64)},
		{dt: spUInt64, v: long(math.MaxInt64 + 1), bad: true},
		{dt: spDateTime, v: long(1700000000123), want: point.Int(1700000000123)},
		{dt: spFloat, v: f32(12.1), want: point.Float(12.1)},
		{dt: spFloat, v: f32(-0.3), want: point.Float(-0.3)},
		{dt: spFloat, v: f64(2.5), want: point.Float(2.5)},
		{dt: spFloat, v: f32(float32(math.Inf(1))), bad: true},
		{dt: spDouble, v: f64(0.1), want: point.Float(0.1)},
		{dt: spDouble, v: f64(math.NaN()), bad: true},
		{dt: spDouble, v: in(3), bad: true},
		{dt: spBoolean, v: spValue{field: spBoolValue, u: 1}, want: point.Bool(true)},
		{dt: spBoolean, v: in(1), bad: true},
		{dt: spString, v: spValue{field: spStringValue, b: []byte("héllo")}, want: point.String("héllo")},
		{dt: spText, v: spValue{field: spStringValue, b: []byte("t")}, want: point.String("t")},
		{dt: spUUID, v: spValue{field: spStringValue, b: []byte("0f")}, want: point.String("0f")},
		{dt: spString, v: spValue{field: spStringValue, b: []byte{0xff}}, bad: true},
		{dt: spString, v: in(1), bad: true},
		{dt: 17 /* Bytes */, v: spValue{field: spBytesValue, b: []byte{1}}, bad: true},
	} {
		got, err := spMetricValue(tc.dt, tc.v)
		if tc.bad != (err != nil) || (!tc.bad && got != tc.want) {
			t.Errorf("datatype %d, %+v: %v, %v; want %v (bad %v)", tc.dt, tc.v, got, err, tc.want, tc.bad)
		}
	}
	if spKind(spFloat) != point.KindFloat || spKind(spUInt64) != point.KindInt || spKind(spText) != point.KindString ||
		spKind(spBoolean) != point.KindBool || spKind(16) != 0 || spKind(0) != 0 || spKind(33) != 0 {
		t.Error("spKind")
	}
}

func TestSparkplugTopic(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  spTopic
		ok    bool
	}{
		{"spBv1.0/g/NBIRTH/n", spTopic{group: "g", typ: "NBIRTH", node: "n"}, true},
		{"spBv1.0/g/DDATA/n/d", spTopic{group: "g", typ: "DDATA", node: "n", device: "d", hasDevice: true}, true},
		{"spBv1.0/g/NDATA/n/d", spTopic{}, false},
		{"spBv1.0/g/DDATA/n", spTopic{}, false},
		{"spBv1.0/g/DDATA/n/d/x", spTopic{}, false},
		{"spBv1.0/g/DDATA/n/", spTopic{}, false},
		{"spBv1.0//NDATA/n", spTopic{}, false},
		{"spBv1.0/g/NDATA/", spTopic{}, false},
		{"spBv1.0/g/XDATA/n", spTopic{}, false},
		{"spAv1.0/g/NDATA/n", spTopic{}, false},
		{"spBv1.0/g", spTopic{}, false},
		{"spBv1.0/STATE/host", spTopic{}, false},
	} {
		got, ok := parseSPTopic(tc.topic)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: %+v %v, want %+v %v", tc.topic, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSparkplugStreamTemplate(t *testing.T) {
	for _, tc := range []struct{ tmpl, prefix, topic, want string }{
		{"{group}/{node}/{device}/{metric}", "", "spBv1.0/g/DBIRTH/n/d", "g/n/d/Flow/Rate"},
		{"{group}/{node}/{device}/{metric}", "", "spBv1.0/g/NBIRTH/n", "g/n/Flow/Rate"},
		{"{device}/{metric}", "site/", "spBv1.0/g/NBIRTH/n", "site/Flow/Rate"},
		{"{device}/{metric}", "", "spBv1.0/g/NBIRTH/n", "Flow/Rate"},
		{"{metric}/{device}", "", "spBv1.0/g/NBIRTH/n", "Flow/Rate"},
		{"{metric}@{node}.{device}", "", "spBv1.0/g/NBIRTH/n", "Flow/Rate@n."},
		{"{node}-{device}:{metric}", "", "spBv1.0/g/DBIRTH/n/d", "n-d:Flow/Rate"},
	} {
		f, err := parseFilter("spBv1.0/#")
		if err != nil {
			t.Fatal(err)
		}
		tm, err := parseTemplate(tc.tmpl, f, templateVars{sparkplug: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		got, ok := tm.render([]byte(tc.prefix), tc.topic, &sample{field: "Flow/Rate"})
		if !ok || string(got) != tc.want {
			t.Errorf("%s on %s: %q, want %q", tc.tmpl, tc.topic, got, tc.want)
		}
	}
}

func TestSparkplugConfigErrors(t *testing.T) {
	const base = "brokers: [tcp://h:1883]\nclient_id: c\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"not under spBv1.0", base + "subscriptions: [{topic: 'plant/#', format: sparkplug}]\n", `subscriptions[0].topic: "plant/#": format sparkplug needs a topic under spBv1.0/`},
		{"wildcard namespace", base + "subscriptions: [{topic: '#', format: sparkplug}]\n", "subscriptions[0].topic"},
		{"named level", base + "subscriptions: [{topic: 'spBv1.0/{site}/#', format: sparkplug}]\n", "names the levels itself"},
		{"kind", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug, kind: int}]\n", "subscriptions[0].kind: set, but format sparkplug takes kinds"},
		{"json", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug, json: {value: v}}]\n", "subscriptions[0].json: set, but format is not json"},
		{"no metric", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug, stream: '{group}/{node}'}]\n", "must use {metric}"},
		{"other placeholder", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug, stream: '{1}/{metric}'}]\n", "unknown placeholder {1} (format sparkplug has"},
		{"host id without clean session", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug}]\nsparkplug: {host_id: h}\n", "sparkplug.host_id: needs clean_session: true"},
		{"host id with slash", base + "clean_session: true\nsubscriptions: [{topic: 'spBv1.0/#', format: sparkplug}]\nsparkplug: {host_id: a/b}\n", `sparkplug.host_id: "a/b" contains`},
		{"interval", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug}]\nsparkplug: {rebirth_interval: 0s}\n", "sparkplug.rebirth_interval: must be positive"},
		{"section without subscription", base + "subscriptions: [{topic: a}]\nsparkplug: {host_id: h}\n", "sparkplug: set, but no subscription has format sparkplug"},
		{"unknown key", base + "subscriptions: [{topic: 'spBv1.0/#', format: sparkplug}]\nsparkplug: {hostid: h}\n", "field hostid not found"},
	} {
		_, err := newFromYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	ok := base + "clean_session: true\nsubscriptions: [{topic: 'spBv1.0/plant1/#', format: sparkplug, unit: '', stream: 'sp/{group}/{node}/{device}/{metric}'}]\nsparkplug: {host_id: sluice-gw1, rebirth: false, rebirth_interval: 1m}\n"
	if _, err := newFromYAML(t, ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// spSource builds a source with one sparkplug subscription, for driving
// Source.sparkplug without a broker (rebirth requests then go nowhere).
func spSource(t testing.TB, extra string) *Source {
	t.Helper()
	cfg := DefaultConfig()
	if err := connectortest.DecodeYAML("brokers: [tcp://x:1]\nclient_id: c\nsubscriptions: [{topic: 'spBv1.0/#', format: sparkplug}]\n" + extra)(&cfg); err != nil {
		t.Fatal(err)
	}
	s, err := New(connectors.Env{Name: "sp"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type spResult struct {
	pts   []point.Point
	specs []*point.StreamSpec
}

func (r spResult) value(stream string) (point.Point, bool) {
	for _, p := range r.pts {
		if p.Stream == stream {
			return p, true
		}
	}
	return point.Point{}, false
}

func spFeed(s *Source, topic string, p tPayload) spResult {
	pts, specs := s.sparkplug(s.match(topic), topic, p.encode(), recv)
	return spResult{pts, specs}
}

func spErrors(s *Source, reason string) float64 {
	return gauge(s.m.all.Errors.WithLabelValues("sp", reason))
}

// The host logic without a broker: births define streams and specs, data
// by alias, gaps, unknown aliases, deaths and bdSeq.
func TestSparkplugHost(t *testing.T) {
	s := spSource(t, "")
	const ts = 1_700_000_000_000
	r := spFeed(s, "spBv1.0/g/NBIRTH/n", tPayload{ts: u64(ts), seq: u64(0), metrics: []tMetric{
		metric("bdSeq", 0, spUInt64, uint64(3)),
		metric("Node Control/Rebirth", 1, spBoolean, false),
		{name: str("Supply Voltage"), alias: u64(2), datatype: u32(spFloat), value: float32(12.1),
			props: []tProp{{"engUnit", spString, "V"}, {"Quality", spInt32, tInt(500)}}},
		{name: str("Properties/OS"), alias: u64(3), ts: u64(ts - 5), datatype: u32(spString), value: "Linux", desc: str("the OS")},
		metric("Table", 4, 16 /* DataSet */, tRaw{17, nil}),
		{name: str("Maybe"), alias: u64(5), datatype: u32(spInt32), null: true},
		{name: str("Scratch"), alias: u64(6), datatype: u32(spInt32), transient: true, value: tInt(1)},
	}})
	if len(r.pts) != 2 || len(r.specs) != 2 {
		t.Fatalf("birth points %+v", r.pts)
	}
	if p, ok := r.value("g/n/Supply Voltage"); !ok || p.Value != point.Float(12.1) || p.Time != ts*1e6 || p.Quality != QualitySparkplugStale {
		t.Errorf("Supply Voltage %+v", p)
	}
	if p, ok := r.value("g/n/Properties/OS"); !ok || p.Time != (ts-5)*1e6 {
		t.Errorf("OS %+v", p)
	}
	if sp := r.specs[0]; sp.Kind != point.KindFloat || sp.Unit != "V" || sp.Source != "spBv1.0/g/n:Supply Voltage" {
		t.Errorf("spec %+v", sp)
	}
	if sp := r.specs[1]; sp.Kind != point.KindString || sp.Description != "the OS" {
		t.Errorf("spec %+v", sp)
	}
	if got := gauge(s.m.all.Dropped.WithLabelValues("sp", reasonSPUnsupported)); got != 1 {
		t.Errorf("unsupported dropped %v", got)
	}

	r = spFeed(s, "spBv1.0/g/DBIRTH/n/d", tPayload{ts: u64(ts), seq: u64(1), metrics: []tMetric{
		metric("Count", 10, spInt16, tInt(0xFFFF)),
	}})
	if p, ok := r.value("g/n/d/Count"); !ok || p.Value != point.Int(-1) {
		t.Errorf("device birth %+v", r.pts)
	}
	// Data by alias only; the metric timestamp wins over the payload's.
	r = spFeed(s, "spBv1.0/g/NDATA/n", tPayload{ts: u64(ts + 10), seq: u64(2), metrics: []tMetric{
		{alias: u64(2), ts: u64(ts + 9), value: float32(11.5)}, aliased(3, "BSD"),
	}})
	if p, ok := r.value("g/n/Supply Voltage"); !ok || p.Value != point.Float(11.5) || p.Time != (ts+9)*1e6 || p.Quality != point.QualityGood {
		t.Errorf("data %+v", r.pts)
	}
	if p, ok := r.value("g/n/Properties/OS"); !ok || p.Time != (ts+10)*1e6 {
		t.Errorf("data %+v", r.pts)
	}
	// By name, in a device.
	r = spFeed(s, "spBv1.0/g/DDATA/n/d", tPayload{seq: u64(3), metrics: []tMetric{{name: str("Count"), value: tInt(4)}}})
	if p, ok := r.value("g/n/d/Count"); !ok || p.Value != point.Int(4) || p.Time != recv {
		t.Errorf("data by name %+v", r.pts)
	}
	if spErrors(s, reasonSPSeqGap) != 0 || spErrors(s, reasonSPUnknownAlias) != 0 {
		t.Fatal("errors so far")
	}
	// A gap, and an unknown alias beside a known one.
	r = spFeed(s, "spBv1.0/g/NDATA/n", tPayload{seq: u64(6), metrics: []tMetric{aliased(99, tInt(1)), aliased(2, float32(1))}})
	if len(r.pts) != 1 || spErrors(s, reasonSPSeqGap) != 1 || spErrors(s, reasonSPUnknownAlias) != 1 {
		t.Errorf("gap: %+v, gaps %v, unknown %v", r.pts, spErrors(s, reasonSPSeqGap), spErrors(s, reasonSPUnknownAlias))
	}
	// Wrapping at 255.
	s.sp.nodes[spKey{"g", "n"}].seq = 255
	spFeed(s, "spBv1.0/g/NDATA/n", tPayload{seq: u64(0), metrics: []tMetric{aliased(2, float32(1))}})
	if spErrors(s, reasonSPSeqGap) != 1 {
		t.Error("255 -> 0 counted as a gap")
	}
	// DDEATH at its timestamp.
	r = spFeed(s, "spBv1.0/g/DDEATH/n/d", tPayload{ts: u64(ts + 20), seq: u64(1)})
	if p, ok := r.value("g/n/d/Count"); len(r.pts) != 1 || !ok || p.Quality != QualitySparkplugDead || p.Time != (ts+20)*1e6 || p.Value.Kind.Valid() {
		t.Errorf("DDEATH %+v", r.pts)
	}
	r = spFeed(s, "spBv1.0/g/DDATA/n/d", tPayload{seq: u64(2), metrics: []tMetric{aliased(10, tInt(1))}})
	if len(r.pts) != 0 || spErrors(s, reasonSPNoBirth) != 1 {
		t.Errorf("data of a dead device %+v", r.pts)
	}
	// An NDEATH of another session is ignored; the node's own marks its streams.
	bd := func(v uint64) tPayload {
		return tPayload{metrics: []tMetric{{name: str("bdSeq"), datatype: u32(spUInt64), value: v}}}
	}
	if r = spFeed(s, "spBv1.0/g/NDEATH/n", bd(2)); len(r.pts) != 0 {
		t.Errorf("stale NDEATH %+v", r.pts)
	}
	r = spFeed(s, "spBv1.0/g/NDEATH/n", bd(3))
	if len(r.pts) != 2 {
		t.Fatalf("NDEATH %+v", r.pts)
	}
	for _, p := range r.pts {
		if p.Quality != QualitySparkplugDead || p.Time != recv {
			t.Errorf("NDEATH %+v", p)
		}
	}
	if r = spFeed(s, "spBv1.0/g/NDEATH/n", bd(3)); len(r.pts) != 0 {
		t.Errorf("second NDEATH %+v", r.pts)
	}
	if r = spFeed(s, "spBv1.0/g/NDATA/n", tPayload{seq: u64(3), metrics: []tMetric{aliased(2, float32(1))}}); len(r.pts) != 0 || spErrors(s, reasonSPNoBirth) != 2 {
		t.Errorf("data after death %+v", r.pts)
	}
	// Bad payloads and topics are counted, commands ignored.
	spFeed(s, "spBv1.0/g/NCMD/n", tPayload{metrics: []tMetric{metric("Node Control/Rebirth", 0, spBoolean, true)}})
	s.sparkplug(s.match("spBv1.0/g/NDATA/n"), "spBv1.0/g/NDATA/n", []byte{0xff}, recv)
	s.sparkplug(s.match("spBv1.0/g/NDATA"), "spBv1.0/g/NDATA", nil, recv)
	if spErrors(s, reasonBadSparkplug) != 1 || spErrors(s, reasonBadTopic) != 1 {
		t.Errorf("bad payload %v, bad topic %v", spErrors(s, reasonBadSparkplug), spErrors(s, reasonBadTopic))
	}
	// A birth metric without a datatype is refused.
	spFeed(s, "spBv1.0/g/NBIRTH/n2", tPayload{seq: u64(0), metrics: []tMetric{{name: str("x"), value: tInt(1)}}})
	if spErrors(s, reasonSPBadMetric) != 1 {
		t.Error("birth metric without datatype")
	}
}

// The rebirth request the source publishes is a Sparkplug NCMD.
func TestSparkplugRebirthPayload(t *testing.T) {
	var p spPayload
	if err := p.decode(spRebirthPayload(1700000000123)); err != nil {
		t.Fatal(err)
	}
	if !p.hasTime || p.timestamp != 1700000000123 || len(p.metrics) != 1 {
		t.Fatalf("%+v", p)
	}
	m := p.metrics[0]
	if string(m.name) != "Node Control/Rebirth" || m.datatype != spBoolean || m.value.field != spBoolValue || m.value.u != 1 || m.timestamp != 1700000000123 {
		t.Errorf("%+v", m)
	}
}
