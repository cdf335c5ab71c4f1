package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// clearEnv makes the environment overrides hermetic: an empty variable
// overrides nothing.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvDataDir, EnvAPIListen, EnvLogLevel, EnvFederationListen, EnvGossipListen} {
		t.Setenv(v, "")
	}
}

func TestGoodFiles(t *testing.T) {
	clearEnv(t)
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// badFiles maps every testdata/*.bad.yaml to the messages its error must
// contain (each a substring of the joined error).
var badFiles = map[string][]string{
	"unknown-top.bad.yaml":           {"unknown-top.bad.yaml: listen: unknown key; did you mean api.listen or federation.listen? (line 3)"},
	"unknown-nested.bad.yaml":        {"api.lisen: unknown key; did you mean listen? (line 4)"},
	"unknown-in-entry.bad.yaml":      {"sources[0]: 2 connector sections (mqtt, enabled)"},
	"duration-unit.bad.yaml":         {`store.retention: invalid duration "90x": unknown unit "x"`, "(line 2)"},
	"duration-no-unit.bad.yaml":      {`shutdown_timeout: invalid duration "30": missing unit`},
	"duration-mapping.bad.yaml":      {"store.gc_interval: want a duration", "got a mapping (line 3)"},
	"duration-flow.bad.yaml":         {`store.compact_interval: invalid duration "1x"`},
	"retention-negative.bad.yaml":    {"store.retention: negative (-1d)"},
	"size-unit.bad.yaml":             {`store.max_size: invalid size "20GX": unknown unit "GX"`, "(line 2)"},
	"interval-zero.bad.yaml":         {"store.compact_interval: 0s is not positive (line 2)"},
	"listen-no-port.bad.yaml":        {`api.listen: "127.0.0.1" is not host:port (line 2)`},
	"listen-bad-port.bad.yaml":       {`federation.listen: "0.0.0.0:99999": port "99999" is not a number from 0 to 65535`},
	"listen-named-port.bad.yaml":     {`api.listen: "127.0.0.1:http": port "http" is not a number`},
	"listen-bad-host.bad.yaml":       {`federation.gossip: "gw 1:7946": "gw 1" is not an IP or host name`},
	"listen-empty.bad.yaml":          {"federation.listen: empty"},
	"listen-clash.bad.yaml":          {`federation.listen: "127.0.0.1:7443" uses the port of api.listen ("0.0.0.0:7443")`},
	"advertise-port.bad.yaml":        {`federation.advertise: "gw1.acme.example:7443" has a port`},
	"source-duplicate.bad.yaml":      {`sources[1].name: duplicate "plant-mqtt" (also sources[0]) (line 5)`},
	"source-missing-type.bad.yaml":   {"sources[0].type: missing"},
	"source-two-sections.bad.yaml":   {"sources[0]: 2 connector sections (mqtt, opcua)"},
	"source-no-section.bad.yaml":     {`sources[0]: no connector section (want one key with the mqtt settings, e.g. "mqtt:")`},
	"source-empty-name.bad.yaml":     {"sources[0].name: empty"},
	"source-bad-name.bad.yaml":       {`sources[0].name: "Plant MQTT" is not a name`},
	"source-bad-type.bad.yaml":       {`sources[0].type: "MQTT 5" is not a connector type`},
	"source-name-list.bad.yaml":      {"sources[0].name: want a string, got a list (line 2)"},
	"source-duplicate-key.bad.yaml":  {"sources[0].name: duplicate key (line 4)"},
	"source-not-mapping.bad.yaml":    {"sources[0]: want a mapping with name, type and one connector section, got a scalar (line 2)"},
	"source-section-scalar.bad.yaml": {"sources[0].mqtt: want a mapping of mqtt settings, got a scalar (line 4)"},
	"source-merge-key.bad.yaml":      {`sources[1]: unsupported key "<<"`},
	"sources-mapping.bad.yaml":       {"sources: want a list, got a mapping"},
	"log-level.bad.yaml":             {`log.level: "verbose" is not a level (want debug, info, warn or error) (line 2)`},
	"log-format.bad.yaml":            {`log.format: "logfmt" is not a format`},
	"tenant-empty.bad.yaml":          {"tenant.name: empty"},
	"data-dir-empty.bad.yaml":        {"data_dir: empty"},
	"api-limits.bad.yaml":            {"api.max_body_bytes: 0 is not positive", "api.max_inflight: -1 is not positive"},
	"metrics-auth.bad.yaml":          {`metrics.auth: "basic" is not a mode (want none or token) (line 2)`},
	"metrics-auth-bool.bad.yaml":     {`metrics.auth: "true" is not a mode (want token, which requires the bearer token in <data_dir>/metrics.token, or none) (line 2)`},
	"metrics-auth-empty.bad.yaml":    {`metrics.auth: "" is not a mode (want none or token)`},
	"type-mismatch.bad.yaml":         {`api.max_inflight: want an integer, got a string "lots" (line 2)`},
	"duplicate-key.bad.yaml":         {"api: duplicate key (line 3)"},
	"not-a-mapping.bad.yaml":         {"want a mapping, got a list (line 1)"},
	"multi-doc.bad.yaml":             {"more than one YAML document"},
	"syntax.bad.yaml":                {"syntax.bad.yaml: did not find expected ',' or ']'; a [ list is not closed with ], or lacks a comma (line 2)"},
	"hints.bad.yaml": {
		"data-dir: unknown key; did you mean data_dir? (line 2)",
		`log.level: "warning" is not a level (want debug, info, warn or error); did you mean warn? (line 4)`,
		`log.format: "jsn" is not a format (want text or json); did you mean json? (line 5)`,
		"federation.advertize: unknown key; did you mean advertise? (line 7)",
		"source: unknown key; did you mean sources? (line 8)",
	},
	"tabs.bad.yaml": {"found character that cannot start any token; indent with spaces; YAML does not allow tabs there (line 2)"},
	"many.bad.yaml": {
		`log.level: "loud" is not a level (want debug, info, warn or error) (line 3)`,
		`api.listen: "nowhere" is not host:port (line 5)`,
		"api.colour: unknown key (line 6)",
		`store.retention: invalid duration "forever"`,
		`sources[1].name: duplicate "a" (also sources[0]) (line 13)`,
		"sources[1]: no connector section",
	},
	"downsample.bad.yaml": {
		"store.retention_rules[0].downsample: needs max_age (or store.retention): the age at which raw points give way to the summaries; without one they are kept forever and nothing is downsampled (line 5)",
		"store.retention_rules[1].downsample[0].interval: want a positive duration, e.g. 1m or 1h (line 10)",
		"store.retention_rules[1].downsample[1].interval: 90ms is not a whole number of seconds (line 11)",
		"store.retention_rules[1].downsample[3].interval: 1h30m is not a multiple of the level before it (1h): list the levels finest first, e.g. 1m then 1h (line 14)",
		"store.retention_rules[1].downsample[2].max_age: 1d is not longer than the raw points' 7d, so the summaries would go with them (line 13)",
		"store.retention_rules[1].downsample[3].max_age: negative (-1d); 0 keeps the summaries forever (line 15)",
	},
	"retention-rules.bad.yaml": {
		"store.max_size: 1MiB is too small for the store to run in (want at least 16MiB, or 0 for no bound) (line 2)",
		"store.retention_rules[0]: selects every stream: give a prefix (e.g. site1/) or a source (a source's name); store.retention and store.max_size cover every stream (line 4)",
		"store.retention_rules[1]: sets neither max_age nor max_size, so it changes nothing (line 5)",
		`store.retention_rules[2].max_size: invalid size "-1GiB": negative (line 7)`,
		"store.retention_rules[3]: selects the same streams as store.retention_rules[2], which comes first and wins (line 8)",
	},
}

func TestBadFiles(t *testing.T) {
	clearEnv(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := badFiles[name]
			if !ok {
				t.Fatalf("no expected error in badFiles for %s", name)
			}
			_, err := Load(f)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			fes := fieldErrors(err)
			if len(fes) == 0 {
				t.Fatalf("no *FieldError in %v", err)
			}
			for _, fe := range fes {
				if fe.File != f {
					t.Errorf("FieldError.File = %q, want %q", fe.File, f)
				}
				if !strings.HasPrefix(fe.Error(), f+": ") {
					t.Errorf("%q does not start with the file name", fe.Error())
				}
			}
		})
	}
	for name := range badFiles {
		if !seen[name] {
			t.Errorf("badFiles names %s, which is not in testdata", name)
		}
	}
}

func TestManyErrorsInFileOrder(t *testing.T) {
	clearEnv(t)
	_, err := Load("testdata/many.bad.yaml")
	fes := fieldErrors(err)
	if len(fes) != 6 {
		t.Fatalf("got %d problems, want 6:\n%v", len(fes), err)
	}
	if !sort.SliceIsSorted(fes, func(i, j int) bool { return sortLine(fes[i].Line) < sortLine(fes[j].Line) }) {
		t.Errorf("problems not in file order:\n%v", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "log.level" || fe.Line != 3 {
		t.Errorf("errors.As gives %+v, want log.level at line 3", fe)
	}
}

func TestFullFile(t *testing.T) {
	clearEnv(t)
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("tenant.name", c.Tenant.Name, "Acme Refinery (Rotterdam)")
	check("data_dir", c.DataDir, "/srv/sluice")
	check("log", c.Log, LogConfig{Level: "debug", Format: "json"})
	check("api", c.API, APIConfig{Listen: "[::1]:8080", MaxBodyBytes: 1 << 20, MaxInflight: 8})
	check("metrics", c.Metrics, MetricsConfig{Auth: MetricsAuthToken})
	check("federation", c.Federation, FederationConfig{Listen: "0.0.0.0:8443", Gossip: "0.0.0.0:8946", Advertise: "192.0.2.10", PartnerReads: 8})
	check("store", c.Store, StoreConfig{
		SyncWrites:      false,
		Retention:       Duration(14 * 24 * time.Hour),
		CompactInterval: Duration(30 * time.Second),
		GCInterval:      Duration(time.Hour),
		MaxSize:         20 << 30,
		MinFree:         500e6,
		RetentionRules: []RetentionRule{
			{Prefix: "site1/", MaxAge: Duration(30 * 24 * time.Hour), MaxSize: 3 << 29},
			{Source: "plant-mqtt", MaxAge: Duration(7 * 24 * time.Hour)},
		},
	})
	check("shutdown_timeout", c.ShutdownTimeout, Duration(90*time.Second))
	var got [][3]string
	for _, s := range c.Sources {
		got = append(got, [3]string{s.Name, s.Type, s.Section})
	}
	check("sources", got, [][3]string{
		{"plant-mqtt", "mqtt", "mqtt"},
		{"boiler-opcua", "opcua", "opcua"},
		{"pi", "pi-webapi", "pi_webapi"},
	})
	check("sources[2].Path()", c.Sources[2].Path(), "sources[2].pi_webapi")
	var pi struct {
		URL    string   `yaml:"url"`
		Points []string `yaml:"points"`
	}
	if err := c.Sources[2].Decode(&pi); err != nil {
		t.Fatal(err)
	}
	check("pi points", pi.Points, []string{`\\PISRV\Boiler.Temp`})
}

func TestNoFileIsDefault(t *testing.T) {
	clearEnv(t)
	want := Default()
	for _, text := range []string{"", "\n", "# only a comment\n", "---\n", "---\n...\n"} {
		c, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		c.lines = nil
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Parse(%q) = %+v, want the defaults %+v", text, c, want)
		}
	}
	c, err := Load("")
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf(`Load("") = %+v, %v; want the defaults`, c, err)
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	if d.DataDir != "./sluice-data" || d.API.Listen != "127.0.0.1:7080" ||
		d.Federation.Listen != "127.0.0.1:7443" || d.Federation.Gossip != "127.0.0.1:7946" ||
		!d.Store.SyncWrites || d.Store.Retention != 0 || len(d.Sources) != 0 ||
		d.Log != (LogConfig{Level: "info", Format: "text"}) || d.ShutdownTimeout.Std() != 30*time.Second ||
		d.Metrics.Auth != MetricsAuthNone {
		t.Errorf("unexpected defaults: %+v", d)
	}
	host, err := os.Hostname()
	want, _, _ := strings.Cut(host, ".")
	if err != nil || want == "" {
		want = "sluice"
	}
	if d.Tenant.Name != want {
		t.Errorf("tenant.name = %q, want %q", d.Tenant.Name, want)
	}
}

func TestNullKeepsDefaults(t *testing.T) {
	clearEnv(t)
	c, err := Load("testdata/nulls.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Tenant != d.Tenant || c.API != d.API || !reflect.DeepEqual(c.Store, d.Store) || c.Metrics != d.Metrics {
		t.Errorf("null keys changed defaults: %+v", c)
	}
	type omf struct {
		Listen string `yaml:"listen"`
	}
	o := omf{Listen: "default"}
	if err := c.Sources[0].Decode(&o); err != nil || o.Listen != "default" {
		t.Errorf("empty section: Decode = %v, %+v; want the connector's defaults kept", err, o)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv(EnvDataDir, "/tmp/sluice-env")
	t.Setenv(EnvAPIListen, "127.0.0.1:9999")
	t.Setenv(EnvLogLevel, "debug")
	c, err := Parse([]byte("data_dir: /var/lib/sluice\nlog: {level: warn, format: json}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/tmp/sluice-env" || c.API.Listen != "127.0.0.1:9999" || c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("overrides not applied: %+v", c)
	}
	// Also with no file at all.
	c, err = Load("")
	if err != nil || c.DataDir != "/tmp/sluice-env" {
		t.Errorf(`Load("") = %+v, %v; want data_dir from the environment`, c, err)
	}

	// A bad value names the variable instead of a line of the file.
	t.Setenv(EnvAPIListen, "nowhere")
	t.Setenv(EnvLogLevel, "loud")
	_, err = Parse([]byte("api:\n  listen: 127.0.0.1:7080\n"))
	for _, want := range []string{
		`api.listen: "nowhere" is not host:port (from SLUICE_API_LISTEN)`,
		`log.level: "loud" is not a level (want debug, info, warn or error) (from SLUICE_LOG_LEVEL)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "(line") {
		t.Errorf("an overridden key is reported with a line: %v", err)
	}

	// Empty variables override nothing.
	clearEnv(t)
	c, err = Parse([]byte("data_dir: /var/lib/sluice\n"))
	if err != nil || c.DataDir != "/var/lib/sluice" || c.API.Listen != DefaultAPIListen || c.Log.Level != "info" {
		t.Errorf("empty variables changed the config: %+v, %v", c, err)
	}
}

func TestLoadErrors(t *testing.T) {
	clearEnv(t)
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestValidateInCode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-created")
	c := Default()
	c.DataDir = dir
	c.Store.Retention = Duration(-time.Hour)
	c.Federation.Gossip = c.Federation.Listen
	c.Metrics.Auth = "bearer"
	c.Sources = []SourceConfig{
		{Name: "a", Type: "mqtt", Section: "mqtt"},
		{Name: "a", Type: "opcua"},
		{Type: "mqtt", Section: "mqtt"},
	}
	err := c.Validate()
	for _, want := range []string{
		"store.retention: negative (-1h)",
		`federation.gossip: "127.0.0.1:7443" uses the port of federation.listen`,
		`sources[1].name: duplicate "a" (also sources[0])`,
		"sources[1]: no connector section",
		"sources[2].name: empty",
		`metrics.auth: "bearer" is not a mode (want none or token)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\ndoes not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "(line") {
		t.Errorf("a config built in code has no lines: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Validate touched data_dir: %v", err)
	}
	// Programmatic sources have no index path until they are in a file.
	if p := c.Sources[0].Path(); p != "mqtt" {
		t.Errorf("Path() of a source built in code = %q, want %q", p, "mqtt")
	}
}

func TestExampleFiles(t *testing.T) {
	clearEnv(t)
	for name, text := range map[string]string{"agent.example.yaml": Example, "agent.minimal.yaml": Minimal} {
		t.Run(name, func(t *testing.T) {
			disk, err := os.ReadFile(name)
			if err != nil || string(disk) != text {
				t.Fatalf("embedded %s differs from the file (%v)", name, err)
			}
			c, err := Parse([]byte(text))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(c.Sources) == 0 {
				t.Fatal("no sources")
			}
			for _, s := range c.Sources {
				var m map[string]any
				if err := s.Decode(&m); err != nil || len(m) == 0 {
					t.Errorf("%s: Decode = %v, %v", s.Path(), m, err)
				}
			}
		})
	}
	c, _ := Parse([]byte(Example))
	var types []string
	for _, s := range c.Sources {
		types = append(types, s.Type+"/"+s.Section)
	}
	if want := []string{"mqtt/mqtt", "opcua/opcua", "pi-webapi/pi_webapi"}; !reflect.DeepEqual(types, want) {
		t.Errorf("example sources %v, want %v (DESIGN.md's shape)", types, want)
	}
}

// TestExampleDocumentsEveryKey checks that agent.example.yaml sets every
// key of Config and that each of the agent's own keys has a comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(Example), &root); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*yaml.Node{} // key path -> key node, the agent's keys only
	vals := map[string]*yaml.Node{} // key path -> value node
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			keys[p], vals[p] = n.Content[i], n.Content[i+1]
			if p != "sources" {
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(root.Content[0], "")

	var want []string
	var fields func(t reflect.Type, path string)
	fields = func(typ reflect.Type, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || tag == "" {
				continue
			}
			p := joinPath(path, tag)
			want = append(want, p)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(yaml.Node{}) {
				fields(f.Type, p)
			}
		}
	}
	fields(reflect.TypeOf(Config{}), "")
	if len(want) < 18 {
		t.Fatalf("found only %d keys in Config: %v", len(want), want)
	}
	for _, p := range want {
		k, ok := keys[p]
		if !ok {
			t.Errorf("agent.example.yaml does not set %s", p)
			continue
		}
		if k.HeadComment == "" && k.LineComment == "" && vals[p].LineComment == "" {
			t.Errorf("agent.example.yaml: %s (line %d) has no comment", p, k.Line)
		}
	}
	for p := range keys {
		if !slices.Contains(want, p) {
			t.Errorf("agent.example.yaml sets %s, which Config does not have", p)
		}
	}
	// Every source entry is introduced by a comment.
	var sources *yaml.Node
	for i := 0; i+1 < len(root.Content[0].Content); i += 2 {
		if root.Content[0].Content[i].Value == "sources" {
			sources = root.Content[0].Content[i+1]
		}
	}
	for i, e := range sources.Content {
		if e.HeadComment == "" && e.Content[0].HeadComment == "" {
			t.Errorf("agent.example.yaml: sources[%d] has no comment", i)
		}
	}
}

// TestMarshalRoundTrip writes loaded configs back as YAML and reads them
// again: the printed effective config is itself a valid config.
func TestMarshalRoundTrip(t *testing.T) {
	clearEnv(t)
	inputs := map[string]string{"example": Example, "minimal": Minimal}
	for _, f := range []string{"full.good.yaml", "anchors.good.yaml", "nulls.good.yaml", "durations.good.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = string(b)
	}
	for name, text := range inputs {
		t.Run(name, func(t *testing.T) {
			c1, err := Parse([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			out1, err := yaml.Marshal(c1)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := Parse(out1)
			if err != nil {
				t.Fatalf("Parse of the marshalled config: %v\n%s", err, out1)
			}
			out2, err := yaml.Marshal(c2)
			if err != nil {
				t.Fatal(err)
			}
			if string(out1) != string(out2) {
				t.Errorf("not stable:\n%s\n---\n%s", out1, out2)
			}
			for i := range c1.Sources {
				var a, b any
				if err := c1.Sources[i].Decode(&a); err != nil {
					t.Fatal(err)
				}
				if err := c2.Sources[i].Decode(&b); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Errorf("sources[%d] section changed: %v -> %v", i, a, b)
				}
			}
		})
	}
}
