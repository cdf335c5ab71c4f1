package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"mqqt", []string{"mqtt", "omf", "opcua", "pi-webapi"}, "mqtt"},
		{"MQTT", []string{"mqtt", "opcua"}, "mqtt"},
		{"pi_webapi", []string{"mqtt", "pi-webapi"}, "pi-webapi"}, // - for _
		{"opcau", []string{"mqtt", "opcua"}, "opcua"},             // a transposition
		{"lisen", []string{"listen", "max_body_bytes", "max_inflight"}, "listen"},
		{"maxinflight", []string{"max_body_bytes", "max_inflight"}, "max_inflight"},
		{"warning", []string{"debug", "info", "warn", "error"}, "warn"}, // a prefix
		{"inf", []string{"debug", "info", "warn", "error"}, "info"},
		{"verbose", []string{"debug", "info", "warn", "error"}, ""},
		{"enabled", []string{"name", "type", "mqtt"}, ""},
		{"x", []string{"a", "b"}, ""}, // a distance of the whole word means nothing
		{"qo", []string{"qos"}, "qos"},
		{"", []string{"a"}, ""},
	} {
		if got := suggest(tc.word, tc.candidates); got != tc.want {
			t.Errorf("suggest(%q, %q) = %q, want %q", tc.word, tc.candidates, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"mqtt", "mqtt", 0}, {"abc", "", 3}} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

// TestSyntaxErrorLines checks the line of YAML syntax errors: yaml.v3
// counts its parser's lines from 0 (and names none for the first line).
func TestSyntaxErrorLines(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		msg, hint  string
	}{
		{"unclosed flow list", "api:\n  listen: [127.0.0.1:7080\n", 2, "did not find expected ',' or ']'", "not closed with ]"},
		// Where the parser noticed: the mapping opened on line 1 lacks its }.
		{"unclosed flow mapping", "log: {level: info\nsources: []\n", 2, "did not find expected ',' or '}'", "not closed with }"},
		{"unclosed at the end", "api: {listen: x\n", 1, "did not find expected ',' or '}'", "not closed with }"},
		{"list item in a mapping", "tenant:\n  name: a\n- b\n", 3, "did not find expected key", "indentation"},
		{"indented less", "log:\n  level: info\n format: text\n", 3, "did not find expected key", "indentation"},
		{"mapping after a list", "- a\nb: 1\n", 2, "did not find expected '-' indicator", ""},
		{"extra bracket", "a: 1\nb: [x]]\n", 2, "did not find expected key", ""},
		{"block scalar dedent", "a: |\n  x\n d\n", 3, "did not find expected key", ""},
		{"duplicate directive", "%YAML 1.1\n%YAML 1.1\n---\na: 1\n", 2, "found duplicate %YAML directive", ""},
		{"scanner: unclosed quote", "a: 1\nb: \"x\nc: 3\n", 2, "found unexpected end of stream", "quoted string"},
		{"scanner: on line 1", "a: b: c\n", 1, "mapping values are not allowed in this context", "quote"},
		{"scanner: tab", "api:\n\tlisten: x\n", 2, "found character that cannot start any token", "spaces"},
		{"unknown anchor", "a: 1\n\nb: &x 1\nc: *y\n", 4, "unknown anchor 'y' referenced", "&y"},
		{"control character", "a: 1\nb: \"\x01\"\n", 2, "control characters are not allowed", ""},
		{"invalid UTF-8", "a: 1\nb: 2\n\xff\n", 3, "invalid leading UTF-8 octet", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.text), noEnv)
			fes := fieldErrors(err)
			if len(fes) != 1 {
				t.Fatalf("got %v, want one problem", err)
			}
			fe := fes[0]
			if fe.Line != tc.line || fe.Msg != tc.msg || !strings.Contains(fe.Hint, tc.hint) {
				t.Errorf("got %q (line %d, hint %q), want %q on line %d with a hint of %q", fe.Msg, fe.Line, fe.Hint, tc.msg, tc.line, tc.hint)
			}
		})
	}
}

// TestCheckSource checks how the problems of Options.CheckSource become
// FieldErrors: each at its key's line, or the nearest enclosing key's.
func TestCheckSource(t *testing.T) {
	const text = `sources:
  - name: a
    type: t
    t:
      brokers: [tcp://x:1883, "tcp://y:1883"]
      qos: 1
      subscriptions:
        - topic: a/#
          format: jsn
  - name: b
    type: t
    t:
      qos: x
      nope: 1
`
	opts := Options{
		Connectors: map[string]string{"t": "t"},
		CheckSource: func(s SourceConfig) error {
			var m mqttSection
			if err := s.Decode(&m); err != nil {
				return err // never, under Options: Decode's problems are collected
			}
			if s.Name == "b" {
				// About a key that failed to decode: left out.
				return errors.Join(errors.New("qos: 0 is not 1 or 2"), errors.New("client_id: missing"))
			}
			return errors.Join(
				errors.New("subscriptions[0].format: unknown \"jsn\" (want plain, json or influx)"),
				fmt.Errorf("brokers[1]: %q has a bad host", m.Brokers[1]),
				errors.New(s.Path()+".qos: absolute path"),
				errors.New(s.Path()+": about the whole section"),
				errors.New("no key at all"),
				errors.New("tls.ca: not in the file"),
			)
		},
	}
	_, err := parseWith([]byte(text), noEnv, opts)
	var got []string
	for _, fe := range fieldErrors(err) {
		got = append(got, fe.Error())
	}
	want := []string{
		"sources[0].t: about the whole section (line 4)",
		"sources[0].t: no key at all (line 4)",
		"sources[0].t.tls.ca: not in the file (line 4)",
		`sources[0].t.brokers[1]: "tcp://y:1883" has a bad host (line 5)`,
		"sources[0].t.qos: absolute path (line 6)",
		`sources[0].t.subscriptions[0].format: unknown "jsn" (want plain, json or influx); did you mean json? (line 9)`,
		"sources[1].t.client_id: missing (line 12)",
		`sources[1].t.qos: want an integer, got a string "x" (line 13)`,
		"sources[1].t.nope: unknown key (line 14)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSourceTypes checks types and section keys against
// Options.Connectors.
func TestSourceTypes(t *testing.T) {
	opts := Options{Connectors: map[string]string{"mqtt": "mqtt", "opcua": "opcua", "pi-webapi": "pi_webapi"}}
	for _, tc := range []struct {
		entry string
		want  []string
	}{
		{"{name: a, type: mqqt, mqtt: {}}", []string{`sources[0].type: unknown source type "mqqt" (known: mqtt, opcua, pi-webapi); did you mean mqtt? (line 1)`}},
		// The section tells what the type was meant to be.
		{"{name: a, type: broker, opcua: {}}", []string{`sources[0].type: unknown source type "broker" (known: mqtt, opcua, pi-webapi); did you mean opcua? (line 1)`}},
		{"{name: a, type: MQTT, mqtt: {}}", []string{`sources[0].type: "MQTT" is not a connector type; did you mean mqtt? (line 1)`}},
		{"{name: a, type: pi-webapi, pi-webapi: {}}", []string{`sources[0].pi-webapi: type pi-webapi takes its settings under "pi_webapi:", not "pi-webapi:" (line 1)`}},
		{"{name: a, type: mqtt, opcua: {}}", []string{`sources[0].opcua: type mqtt takes its settings under "mqtt:", not "opcua:" (line 1)`}},
		{"{name: a, type: mqtt, nmae: b, mqtt: {}}", []string{"sources[0].nmae: unknown key; did you mean name? (line 1)"}},
		{"{name: a, type: mqtt, a: 1, b: 2}", []string{"sources[0]: 2 connector sections (a, b); a source has name, type and exactly one connector section; type mqtt takes mqtt: (line 1)"}},
		{"{name: a, type: pi-webapi}", []string{`sources[0]: no connector section (want one key with the pi-webapi settings, e.g. "pi_webapi:") (line 1)`}},
		{"{name: a, type: mqtt, mqtt: [x]}", []string{"sources[0].mqtt: want a mapping of mqtt settings, got a list (line 1)"}},
		{"{name: a, opcua: {}}", []string{"sources[0].type: missing (want the connector, such as mqtt, opcua or pi-webapi); the opcua: section is for type: opcua (line 1)"}},
	} {
		_, err := parseWith([]byte("sources: ["+tc.entry+"]\n"), noEnv, opts)
		var got []string
		for _, fe := range fieldErrors(err) {
			got = append(got, fe.Error())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.entry, got, tc.want)
		}
	}
}

func TestOverrides(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == EnvGossipListen {
			return "127.0.0.1:9946", true
		}
		return "", false
	}
	text := []byte("api:\n  listen: 127.0.0.1:7080\nfederation:\n  listen: 127.0.0.1:7443\n")
	c, err := parseWith(text, env, Options{Overrides: []Override{
		{Path: "federation.listen", Value: "127.0.0.1:9443", From: "--federation-listen"},
		{Path: "api.listen", Value: "", From: "--api-listen"}, // empty: the file's value stays
		{Path: "log.format", Value: "json", From: "--log-format"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Federation.Listen != "127.0.0.1:9443" || c.Federation.Gossip != "127.0.0.1:9946" || c.API.Listen != "127.0.0.1:7080" || c.Log.Format != "json" {
		t.Errorf("overrides not applied: %+v", c)
	}
	for path, want := range map[string]string{"federation.listen": "--federation-listen", "federation.gossip": EnvGossipListen, "api.listen": "", "log.format": "--log-format"} {
		if got := c.SetBy(path); got != want {
			t.Errorf("SetBy(%s) = %q, want %q", path, got, want)
		}
	}
	// A bad value names the flag, not the file's line.
	_, err = parseWith(text, noEnv, Options{Overrides: []Override{
		{Path: "api.listen", Value: "nowhere", From: "--api-listen"},
		{Path: "store.retention", Value: "1d", From: "--retention"},
	}})
	want := []string{
		"store.retention: cannot be overridden (from --retention)",
		`api.listen: "nowhere" is not host:port (from --api-listen)`,
	}
	var got []string
	for _, fe := range fieldErrors(err) {
		got = append(got, fe.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWarnings(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		name, text string
		env        map[string]string
		want       []string
	}{
		{name: "minimal", text: Minimal},
		{name: "defaults", text: ""},
		{name: "example", text: Example, want: []string{
			`federation.advertise: "gw1.acme.example" names gw1.acme.example, a made-up host of the example config; set the host name or IP that partners dial (line {gw1.acme.example})`,
			`smtp.server: "mail.acme.example:587" names mail.acme.example, a made-up host of the example config; replace it with the address of your own server (line {mail.acme.example:587})`,
			`smtp.from: "sluice@acme.example" names acme.example, a made-up host of the example config; use an address of your own domain (line {sluice@acme.example})`,
			`sources[1].opcua.endpoint: "opc.tcp://plc1:4840" names plc1, a made-up host of the example config; replace it with the address of your own server (line {opc.tcp://plc1:4840})`,
			`sources[2].pi_webapi.url: "https://pi.acme.example/piwebapi" names pi.acme.example, a made-up host of the example config; replace it with the address of your own server (line {https://pi.acme.example/piwebapi})`,
			`sources[2].pi_webapi.points[0]: '\\PISRV\Boiler.Temp' names PISRV, a made-up host of the example config; name the points of your own PI Data Archive (line {['\\PISRV})`,
		}},
		{name: "every interface without advertise", text: "federation:\n  listen: 0.0.0.0:7443\n  gossip: '[::]:7946'\n", want: []string{
			"federation.advertise: not set while federation.listen (0.0.0.0:7443) and federation.gossip ([::]:7946) listen on every interface, so partners are told this machine's host name, which they may not resolve; set it to the host name or IP that partners dial (line 1)",
		}},
		{name: "every interface with advertise", text: "federation:\n  listen: 0.0.0.0:7443\n  advertise: gw1.acme.com\n"},
		{name: "every interface from the environment", env: map[string]string{EnvGossipListen: ":7946"}, want: []string{
			"federation.advertise: not set while federation.gossip (:7946 from " + EnvGossipListen + ") listens on every interface, so partners are told this machine's host name, which they may not resolve; set it to the host name or IP that partners dial",
		}},
		{name: "hosts that are not made up", text: "smtp:\n  server: mail.example.net.au:25\n  from: a@plc1.local\nsources:\n  - {name: a, type: t, t: {url: 'https://example.company.com/', host: plc10:1, stream: plc1, path: 'x\\PISRV\\y'}}\n"},
		{name: "reserved names", text: "sources:\n  - name: a\n    type: t\n    t:\n      a: opc.tcp://PLC1.:4840\n      b: [broker.example.com, 'ws://x.example.org:80/mqtt']\n", want: []string{
			`sources[0].t.a: "opc.tcp://PLC1.:4840" names PLC1., a made-up host of the example config; replace it with the address of your own server (line 5)`,
			`sources[0].t.b[0]: "broker.example.com" names broker.example.com, a made-up host of the example config; replace it with the address of your own server (line 6)`,
			`sources[0].t.b[1]: "ws://x.example.org:80/mqtt" names x.example.org, a made-up host of the example config; replace it with the address of your own server (line 6)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(name string) (string, bool) { v, ok := tc.env[name]; return v, ok }
			c, err := parse([]byte(tc.text), env)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings() {
				got = append(got, w.Error())
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = lineOfText(tc.text, w)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// lineOfText replaces "{text}" in w by the number of the first line of
// file that contains text, so that expectations about the example files
// do not break when lines are added above.
func lineOfText(file, w string) string {
	i, j := strings.LastIndex(w, "{"), strings.LastIndex(w, "}")
	if i < 0 || j < i {
		return w
	}
	needle := w[i+1 : j]
	for n, line := range strings.Split(file, "\n") {
		if strings.Contains(line, needle) {
			return w[:i] + fmt.Sprint(n+1) + w[j+1:]
		}
	}
	return w
}
