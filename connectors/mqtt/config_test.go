package mqtt

import (
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

func newFromYAML(t *testing.T, src string) (connectors.Source, error) {
	t.Helper()
	reg, ok := connectors.Lookup("mqtt")
	if !ok {
		t.Fatal("mqtt is not registered")
	}
	return reg.New(connectors.Env{Name: "test"}, connectortest.DecodeYAML(src))
}

func TestRegistration(t *testing.T) {
	reg, ok := connectors.Lookup("mqtt")
	if !ok || reg.Section != "mqtt" || reg.Sample == "" {
		t.Fatalf("registration = %+v, %v", reg, ok)
	}
	src, err := reg.New(connectors.Env{Name: "sample"}, connectortest.DecodeYAML(reg.Sample))
	if err != nil {
		t.Fatalf("the sample does not validate: %v", err)
	}
	s := src.(*Source)
	if len(s.subs) != 4 || s.cfg.ClientID != "sluice-gw1" || s.cfg.QoS != 1 {
		t.Fatalf("sample decoded to %+v", s.cfg)
	}
}

// The example in DESIGN.md must stay valid.
func TestDesignExample(t *testing.T) {
	_, err := newFromYAML(t, `
brokers: [tcp://127.0.0.1:1883]
client_id: sluice-gw1
qos: 1
subscriptions:
  - topic: plant/+/+/temp
    stream: "plant/{1}/{2}/temp"
    format: json
    json: {value: v, time: t}
`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	const base = "brokers: [tcp://h:1883]\nclient_id: c\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "subscriptions: [{topic: a}]\nqoss: 1\n", "field qoss not found"},
		{"unknown nested key", base + "subscriptions: [{topic: a, formt: json}]\n", "field formt not found"},
		{"no brokers", "client_id: c\nsubscriptions: [{topic: a}]\n", "brokers: empty"},
		{"bad scheme", "brokers: [http://h]\nclient_id: c\nsubscriptions: [{topic: a}]\n", `brokers[0]: unsupported scheme "http"`},
		{"no host", "brokers: [tcp://]\nclient_id: c\nsubscriptions: [{topic: a}]\n", `brokers[0]: "tcp://" has no host`},
		{"no client id", "brokers: [tcp://h:1]\nsubscriptions: [{topic: a}]\n", "client_id: required when clean_session is false"},
		{"qos", base + "qos: 3\nsubscriptions: [{topic: a}]\n", "qos: 3 is not 0, 1 or 2"},
		{"sub qos", base + "subscriptions: [{topic: a, qos: -1}]\n", "subscriptions[0].qos: -1 is not 0, 1 or 2"},
		{"no subscriptions", base, "subscriptions: empty"},
		{"empty topic", base + "subscriptions: [{topic: ''}]\n", "subscriptions[0].topic: empty"},
		{"hash not last", base + "subscriptions: [{topic: a}, {topic: 'a/#/b'}]\n", "subscriptions[1].topic: \"a/#/b\": # must be the last level"},
		{"mixed level", base + "subscriptions: [{topic: 'a/b+'}]\n", "mixes a wildcard"},
		{"reserved name", base + "subscriptions: [{topic: 'a/{field}'}]\n", `level name "field" is reserved`},
		{"duplicate filter", base + "subscriptions: [{topic: 'a/+'}, {topic: 'a/{x}'}]\n", `subscriptions[1].topic: filter "a/+" is already subscriptions[0]`},
		{"format", base + "subscriptions: [{topic: a, format: xml}]\n", `subscriptions[0].format: unknown "xml"`},
		{"kind", base + "subscriptions: [{topic: a, kind: complex}]\n", `subscriptions[0].kind: unknown value kind "complex"`},
		{"level out of range", base + "subscriptions: [{topic: a/+, stream: 'x/{2}'}]\n", "subscriptions[0].stream: \"x/{2}\": {2}: the filter \"a/+\" has no level 2"},
		{"rest without hash", base + "subscriptions: [{topic: a/+, stream: 'x/{#}'}]\n", "has no #"},
		{"unknown placeholder", base + "subscriptions: [{topic: a/+, stream: '{site}'}]\n", "unknown placeholder {site}"},
		{"field without fields", base + "subscriptions: [{topic: a, format: json, stream: 'a/{field}'}]\n", "unknown placeholder {field}"},
		{"fields need field", base + "subscriptions: [{topic: a, format: json, stream: 'a', json: {fields: [x, y]}}]\n", "subscriptions[0].stream: \"a\": must use {field}"},
		{"unmatched brace", base + "subscriptions: [{topic: a, stream: 'a/{1'}]\n", "unmatched {"},
		{"json on plain", base + "subscriptions: [{topic: a, json: {value: v}}]\n", "subscriptions[0].json: set, but format is not json"},
		{"time format", base + "subscriptions: [{topic: a, format: json, json: {time: t, time_format: iso}}]\n", `subscriptions[0].json.time_format: unknown "iso"`},
		{"bad path", base + "subscriptions: [{topic: a, format: json, json: {value: 'a..b'}}]\n", `subscriptions[0].json.value: "a..b" has an empty key`},
		{"value and fields", base + "subscriptions: [{topic: a, format: json, stream: '{field}', json: {value: v, fields: [x]}}]\n", "subscriptions[0].json.value: set together with json.fields"},
		{"star not alone", base + "subscriptions: [{topic: a, format: json, stream: '{field}', json: {fields: ['*', x]}}]\n", `subscriptions[0].json.fields[0]: "*" must be the only field`},
		{"time missing", base + "subscriptions: [{topic: a, format: json, json: {time: t, time_missing: now}}]\n", `subscriptions[0].json.time_missing: unknown "now" (want receive or drop)`},
		{"time missing without time", base + "subscriptions: [{topic: a, format: json, json: {time_missing: drop}}]\n", "subscriptions[0].json.time_missing: set, but json.time is empty"},
		{"label key", base + "subscriptions: [{topic: a, labels: {plant-site: x}}]\n", `subscriptions[0].labels.plant-site: bad stream label: key "plant-site"`},
		{"label reserved", base + "subscriptions: [{topic: a, labels: {__name__: x}}]\n", "subscriptions[0].labels.__name__: bad stream label: key \"__name__\": keys starting with __ are reserved"},
		{"label template", base + "subscriptions: [{topic: a/+, labels: {x: '{5}'}}]\n", `subscriptions[0].labels.x: "{5}": {5}: the filter "a/+" has no level 5`},
		{"label field", base + "subscriptions: [{topic: a, format: influx, labels: {x: '{field}'}}]\n", "subscriptions[0].labels.x: \"{field}\": unknown placeholder {field}"},
		{"influx legacy tags", base + "subscriptions: [{topic: a, format: influx, stream: '{measurement}{tags}/{field}'}]\n", "{tags} must be a level of its own"},
		{"precision", base + "subscriptions: [{topic: a, format: influx, influx: {precision: m}}]\n", `subscriptions[0].influx.precision: unknown "m"`},
		{"tls without ssl", base + "tls: {ca: ca.pem}\nsubscriptions: [{topic: a}]\n", "tls: set, but no broker uses ssl://"},
		{"cert without key", "brokers: [ssl://h:8883]\nclient_id: c\ntls: {cert: c.pem}\nsubscriptions: [{topic: a}]\n", "tls.key: empty while tls.cert is set"},
		{"password reference", base + "password: 'env:'\nsubscriptions: [{topic: a}]\n", `password: malformed secret reference "env:"`},
		{"password unexpanded", base + "password: '${MQTT_PW}'\nsubscriptions: [{topic: a}]\n", "password: malformed secret reference"},
		{"queue", base + "queue_size: 10\nbatch_size: 100\nsubscriptions: [{topic: a}]\n", "queue_size: 10 is less than batch_size 100"},
		{"keepalive", base + "keepalive: 10ms\nsubscriptions: [{topic: a}]\n", "keepalive: 10ms is less than 1s"},
		{"backoff", base + "reconnect_min: 2s\nreconnect_max: 1s\nsubscriptions: [{topic: a}]\n", "reconnect_max: 1s is less than reconnect_min 2s"},
		{"duration", base + "keepalive: soon\nsubscriptions: [{topic: a}]\n", "line 3: cannot unmarshal !!str `soon` into time.Duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newFromYAML(t, tc.yaml)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := newFromYAML(t, "qos: 5\nsubscriptions: [{topic: ''}, {topic: a, format: x}]\n")
	for _, want := range []string{"brokers: empty", "client_id: required", "qos: 5", "subscriptions[0].topic: empty", "subscriptions[1].format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

// TestSourceLabels: the labels and names a source gives the streams of a
// message, and the reasons it counts when it cannot name one.
func TestSourceLabels(t *testing.T) {
	src, err := newFromYAML(t, `brokers: [tcp://h:1]
clean_session: true
subscriptions:
  - {topic: "plant/{site}/{line}/#", format: json, json: {fields: ["*"]}, labels: {line: "L-{line}", area: "{2}"}}
  - {topic: "telegraf/{site}", format: influx, stream: "{site}/{measurement}/{host}/{field}"}
`)
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	for _, tc := range []struct {
		topic, payload string
		want           map[string]map[string]string // stream -> labels; nil map: not new, no spec
		reasons        map[string]float64
	}{
		{"plant/p1/l2/x", `{"a":1,"b":2}`, map[string]map[string]string{
			"plant/p1/l2/x/a": {"site": "p1", "line": "L-l2", "area": "l2"},
			"plant/p1/l2/x/b": {"site": "p1", "line": "L-l2", "area": "l2"},
		}, nil},
		{"plant/p1/l2/x", `{"a":3}`, map[string]map[string]string{"plant/p1/l2/x/a": nil}, nil},
		{"telegraf/p9", "cpu,host=gw1,cpu=cpu0 usage=1", map[string]map[string]string{
			"p9/cpu/gw1/usage": {"site": "p9", "host": "gw1", "cpu": "cpu0"},
		}, nil},
		{"telegraf/p9", "cpu,cpu=cpu0 usage=1", nil, map[string]float64{reasonMissingTag: 1}},
	} {
		pts, specs := s.decode(s.match(tc.topic), tc.topic, []byte(tc.payload), recv)
		if len(pts) != len(tc.want) {
			t.Fatalf("%s %s: points %+v, want streams %v", tc.topic, tc.payload, pts, tc.want)
		}
		for i, p := range pts {
			want, ok := tc.want[p.Stream]
			if !ok {
				t.Fatalf("%s: unexpected stream %q", tc.topic, p.Stream)
			}
			var got *point.StreamSpec
			if specs != nil {
				got = specs[i]
			}
			switch {
			case want == nil && got != nil:
				t.Errorf("%s: a spec for a stream met before: %+v", p.Stream, got)
			case want != nil && (got == nil || !maps.Equal(got.Labels, want) || got.Name != p.Stream || got.Source != tc.topic):
				t.Errorf("%s: spec %+v, want labels %v", p.Stream, got, want)
			}
		}
		for reason, n := range tc.reasons {
			if got := testutil.ToFloat64(s.m.all.Errors.WithLabelValues("test", reason)); got != n {
				t.Errorf("%s errors = %v, want %v", reason, got, n)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	src, err := newFromYAML(t, "brokers: [tcp://h:1]\nclean_session: true\nsubscriptions: [{topic: 'a/#'}, {topic: b, qos: 0, format: influx}, {topic: c, format: json, json: {fields: ['*']}}]\n")
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	if s.cfg.QoS != 1 || s.cfg.BatchSize != 5000 || s.cfg.QueueSize != 50000 {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
	if s.subs[0].qos != 1 || s.subs[1].qos != 0 || s.subs[0].kind != point.KindFloat {
		t.Fatalf("subscription qos/kind: %d %d %v", s.subs[0].qos, s.subs[1].qos, s.subs[0].kind)
	}
	for i, want := range []string{"a/b/c", "m/x/f", "c/f"} {
		smp := sample{field: "f", measurement: "m", tags: []tag{{"h", "x"}}}
		topic := []string{"a/b/c", "b", "c"}[i]
		got, ok := s.subs[i].stream.render(nil, topic, &smp)
		if !ok || string(got) != want {
			t.Errorf("default stream of subscription %d = %q, want %q", i, got, want)
		}
	}
}
