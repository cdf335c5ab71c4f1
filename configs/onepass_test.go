package configs_test

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/agent"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
	_ "github.com/sluice-edge/sluice/connectors/all"
)

// These tests load files the way `sluice agent` does, with the real
// connectors checking their own sections (agent.ConfigOptions), and check
// that one pass reports every problem, each with the file, key, line and,
// where there is one, a hint.

// onePassFiles maps each testdata/sources/*.bad.yaml to every problem it
// has, in order: "file: " is prefixed, " * " matches any text (for the
// wording of a connector's own message), {known} is the registered types.
var onePassFiles = map[string][]string{
	"first-try.bad.yaml": {
		"tenant.nam: unknown key; did you mean name? (line 4)",
		"api.lisen: unknown key; did you mean listen? (line 6)",
		`store.retention: invalid duration "90": missing unit (ns, us, ms, s, m, h, d or w) (line 8)`,
		// The value whole, not yaml's "tcp://1...".
		`sources[0].mqtt.brokers: want a list, got a string "tcp://127.0.0.1:1883" (line 13)`,
		// A Go duration of a connector, explained as well as the file's own.
		`sources[0].mqtt.keepalive: invalid duration "30": missing unit (ns, us, ms, s, m or h) (line 15)`,
		"sources[0].mqtt.qoss: unknown key; did you mean qos? (line 16)",
		// The connector's own check, although the section had decode errors.
		`sources[0].mqtt.subscriptions[0].format: * "jsn" * did you mean json? (line 19)`,
		`sources[1].type: unknown source type "mqqt" (known: {known}); did you mean mqtt? (line 21)`,
		"sources[2].name: empty * (line 24)",
		"sources[2].nme: unknown key; did you mean name? (line 24)",
		`sources[2].pi-webapi: type pi-webapi takes its settings under "pi_webapi:", not "pi-webapi:" (line 26)`,
		// A required key that is not there: the line of its section.
		"sources[2].pi-webapi.points: * (line 26)",
		`sources[2].pi-webapi.poll_interval: invalid duration "5": missing unit * (line 28)`,
	},
	"entries.bad.yaml": {
		"sources[0].enabled: unknown key (line 9)",
		`sources[1]: no connector section (want one key with the pi-webapi settings, e.g. "pi_webapi:") (line 10)`,
		"sources[2].type: missing (want the connector, such as mqtt, opcua or pi-webapi); the mqtt: section is for type: mqtt (line 12)",
		"sources[3].opcua: want a mapping of opcua settings, got a scalar (line 17)",
		"sources[4].mqtt: unknown key (line 20)",
		"sources[4].opcua.nodes: * (line 21)",
	},
}

func TestOnePass(t *testing.T) {
	for _, v := range []string{configs.EnvDataDir, configs.EnvAPIListen, configs.EnvLogLevel, configs.EnvFederationListen, configs.EnvGossipListen} {
		t.Setenv(v, "")
	}
	files, err := filepath.Glob("testdata/sources/*.bad.yaml")
	if err != nil || len(files) != len(onePassFiles) {
		t.Fatalf("testdata/sources has %v (%v), want the %d files of onePassFiles", files, err, len(onePassFiles))
	}
	known := strings.Join(connectors.Types(), ", ")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := onePassFiles[name]
			if !ok {
				t.Fatalf("no expected problems in onePassFiles for %s", name)
			}
			_, err := configs.LoadWith(f, agent.ConfigOptions())
			var got []*configs.FieldError
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var fe *configs.FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("not a *FieldError: %v", e)
					}
					got = append(got, fe)
				}
			}
			for i, fe := range got {
				if fe.File != f || fe.Path == "" || fe.Line <= 0 {
					t.Errorf("problem %d lacks its file, key or line: %+v", i, fe)
				}
				if i >= len(want) {
					t.Errorf("unexpected problem %d: %v", i, fe)
					continue
				}
				pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(f+": "+strings.ReplaceAll(want[i], "{known}", known)), ` \* `, " .* ") + "$"
				if !regexp.MustCompile(pattern).MatchString(fe.Error()) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, fe, want[i])
				}
			}
			if len(got) < len(want) {
				t.Errorf("%d problems, want %d:\n%v", len(got), len(want), err)
			}
		})
	}
}

// TestOnePassGood checks a file that uses every connector: the check of
// the sections accepts what is valid, and LoadWith returns the config.
func TestOnePassGood(t *testing.T) {
	c, err := configs.LoadWith("testdata/sources/good.good.yaml", agent.ConfigOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 4 {
		t.Fatalf("%d sources, want 4", len(c.Sources))
	}
	// What LoadWith accepted, New accepts too.
	if _, err := agent.New(agent.Options{Config: c}); err != nil {
		t.Fatalf("agent.New: %v", err)
	}
}

// TestExamplesWithConnectors checks the example files with their
// connectors, as `sluice agent --check-config` would.
func TestExamplesWithConnectors(t *testing.T) {
	for name, text := range map[string]string{"example": configs.Example, "minimal": configs.Minimal} {
		if _, err := configs.ParseWith([]byte(text), agent.ConfigOptions()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
