package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// mqttSection stands in for a connector's config struct.
type mqttSection struct {
	Brokers       []string      `yaml:"brokers"`
	ClientID      string        `yaml:"client_id"`
	QoS           int           `yaml:"qos"`
	KeepAlive     time.Duration `yaml:"keepalive"`
	Retention     Duration      `yaml:"retention"`
	Subscriptions []struct {
		Topic  string `yaml:"topic"`
		Stream string `yaml:"stream"`
		Format string `yaml:"format"`
		JSON   struct {
			Value string `yaml:"value"`
			Time  string `yaml:"time"`
		} `yaml:"json"`
	} `yaml:"subscriptions"`
}

// picky has its own UnmarshalYAML, as some connectors' types will.
type picky struct{ V string }

func (p *picky) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "boom" {
		return errors.New("boom is not allowed")
	}
	p.V = n.Value
	return nil
}

func parseSources(t *testing.T, text string) []SourceConfig {
	t.Helper()
	c, err := parse([]byte(text), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c.Sources
}

func noEnv(string) (string, bool) { return "", false }

func TestDecodeSection(t *testing.T) {
	srcs := parseSources(t, `# a comment
sources:
  - name: plant-mqtt
    type: mqtt
    mqtt:
      brokers: [tcp://127.0.0.1:1883]
      keepalive: 45s
      retention: 90d
      subscriptions:
        - topic: plant/+/+/temp
          stream: "plant/{1}/{2}/temp"
          format: json
          json: {value: v, time: t}
`)
	m := mqttSection{QoS: 1, ClientID: "default-id"}
	if err := srcs[0].Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.QoS != 1 || m.ClientID != "default-id" {
		t.Errorf("defaults of omitted keys lost: %+v", m)
	}
	if m.KeepAlive != 45*time.Second || m.Retention.Std() != 90*24*time.Hour {
		t.Errorf("durations: %v, %v", m.KeepAlive, m.Retention)
	}
	if len(m.Subscriptions) != 1 || m.Subscriptions[0].JSON.Value != "v" || m.Subscriptions[0].Stream != "plant/{1}/{2}/temp" {
		t.Errorf("subscriptions: %+v", m.Subscriptions)
	}
	// Decode is repeatable.
	var again mqttSection
	if err := srcs[0].Decode(&again); err != nil || !reflect.DeepEqual(again.Subscriptions, m.Subscriptions) {
		t.Errorf("second Decode: %v, %+v", err, again)
	}
}

func TestDecodeSectionErrors(t *testing.T) {
	// Line 1 is "sources:"; the section starts on line 4. Comments and
	// blank lines in between make sure lines are the file's, not those of
	// the re-encoded section.
	const head = "sources:\n  - name: plant-mqtt\n    type: mqtt\n    mqtt:\n"
	for _, tc := range []struct {
		name    string
		section string
		into    func() any
		want    []string
		count   int // problems expected; 0 means len(want)
	}{
		{
			name:    "unknown key",
			section: "      brokers: [tcp://a:1883]\n      # comment\n\n      qoss: 1\n",
			want:    []string{"sources[0].mqtt.qoss: unknown key; did you mean qos? (line 8)"},
		},
		{
			name: "unknown nested key",
			section: "      # comment\n      subscriptions:\n        - topic: a\n          # comment\n" +
				"          formt: json\n",
			want: []string{"sources[0].mqtt.subscriptions[0].formt: unknown key; did you mean format? (line 9)"},
		},
		{
			name:    "unknown key in a flow mapping",
			section: "      subscriptions: [{topic: a, json: {value: v, tim: t}}]\n",
			want:    []string{"sources[0].mqtt.subscriptions[0].json.tim: unknown key; did you mean time? (line 5)"},
		},
		{
			name:    "wrong type",
			section: "      brokers: [tcp://a:1883]\n      qos: high\n",
			want:    []string{`sources[0].mqtt.qos: want an integer, got a string "high" (line 6)`},
		},
		{
			name:    "list where a string goes",
			section: "      client_id: [a, b]\n",
			want:    []string{"sources[0].mqtt.client_id: want a string, got a list (line 5)"},
		},
		{
			name:    "bad durations",
			section: "      keepalive: 3 days\n      retention: 3x\n",
			want: []string{
				`sources[0].mqtt.keepalive: invalid duration "3 days": unknown unit " days" (want ns, us, ms, s, m or h) (line 5)`,
				`sources[0].mqtt.retention: invalid duration "3x": unknown unit "x"`, "(line 6)",
			},
			count: 2,
		},
		{
			name:    "duplicate key",
			section: "      qos: 1\n      qos: 2\n",
			want:    []string{"sources[0].mqtt.qos: duplicate key (line 6)"},
		},
		{
			name:    "duplicate key in a map",
			section: "      a: 1\n      a: 2\n",
			into:    func() any { return &map[string]int{} },
			want:    []string{"sources[0].mqtt.a: duplicate key (line 6)"},
		},
		{
			name:    "every problem",
			section: "      qos: x\n      nope: 1\n      subscriptions:\n        - nope2: 1\n",
			want: []string{
				"sources[0].mqtt.qos: want an integer",
				"sources[0].mqtt.nope: unknown key (line 6)",
				"sources[0].mqtt.subscriptions[0].nope2: unknown key (line 8)",
			},
		},
		{
			name:    "a connector's own unmarshal error",
			section: "      v: boom\n",
			into:    func() any { return &struct{ V picky }{} },
			want:    []string{"sources[0].mqtt: boom is not allowed"},
		},
		{
			name:    "alias to itself",
			section: "      a: &loop [*loop]\n",
			into:    func() any { return &map[string]any{} },
			want:    []string{`sources[0].mqtt: anchor "loop" contains itself (line 5)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := parseSources(t, head+tc.section)
			var into any = &mqttSection{}
			if tc.into != nil {
				into = tc.into()
			}
			err := srcs[0].Decode(into)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			count := tc.count
			if count == 0 {
				count = len(tc.want)
			}
			if n := len(fieldErrors(err)); n != count {
				t.Errorf("%d problems, want %d:\n%v", n, count, err)
			}
		})
	}
}

func TestDecodeErrorStartsWithPath(t *testing.T) {
	clearEnv(t)
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var into struct{}
	err = c.Sources[0].Decode(&into)
	if err == nil || !strings.HasPrefix(err.Error(), c.Sources[0].Path()+".brokers: unknown key (line 34)\n") {
		t.Errorf("Decode of a loaded source: %v", err)
	}
}

func TestDecodeAliases(t *testing.T) {
	clearEnv(t)
	c, err := Load("testdata/anchors.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range c.Sources {
		var m mqttSection
		if err := s.Decode(&m); err != nil {
			t.Fatalf("%s: %v", s.Path(), err)
		}
		got = append(got, fmt.Sprintf("%v %d %s", m.Brokers, m.QoS, m.Subscriptions[0].Topic))
	}
	want := []string{
		"[tcp://127.0.0.1:1883] 1 line1/#",
		"[tcp://127.0.0.1:1883] 1 line2/#",
		"[tcp://127.0.0.1:1883] 1 line1/#",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// The merged section is strict too: an unknown key that comes in
	// through an alias is reported at the alias.
	srcs := parseSources(t, `sources:
  - name: a
    type: mqtt
    mqtt: &base
      brokers: [tcp://a:1883]
      bogus: 1
  - name: b
    type: mqtt
    mqtt: *base
`)
	err = srcs[1].Decode(&mqttSection{})
	if err == nil || !strings.Contains(err.Error(), "sources[1].mqtt.bogus: unknown key") {
		t.Errorf("alias: %v", err)
	}
}

func TestDecodeAliasBomb(t *testing.T) {
	// Each level doubles: 2^30 nodes if expanded.
	var b strings.Builder
	b.WriteString("sources:\n  - name: a\n    type: mqtt\n    mqtt:\n      l0: &l0 [x, x]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "      l%d: &l%d [*l%d, *l%d]\n", i, i, i-1, i-1)
	}
	srcs := parseSources(t, b.String())
	err := srcs[0].Decode(&map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("alias bomb: %v", err)
	}
	if _, err := yaml.Marshal(Config{Sources: srcs}); err == nil {
		t.Error("marshalling an alias bomb succeeded")
	}
}

func TestDecodeNoSection(t *testing.T) {
	s := SourceConfig{Name: "a", Type: "mqtt"}
	if err := s.Decode(&mqttSection{}); err == nil || !strings.Contains(err.Error(), "no connector section") {
		t.Errorf("Decode without a section: %v", err)
	}
	// A section built in code decodes too.
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("qos: 2\n"), &n); err != nil {
		t.Fatal(err)
	}
	s.Section, s.Node = "mqtt", *n.Content[0]
	var m mqttSection
	if err := s.Decode(&m); err != nil || m.QoS != 2 {
		t.Errorf("Decode of a section built in code: %v, %+v", err, m)
	}
}
