package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/connectors"
)

// runSluiceAgent runs `sluice agent args...` to its end with a hermetic
// environment (no SLUICE_* from outside, every listener on a free
// loopback port unless env says otherwise) and returns its stdout,
// stderr and exit code.
func runSluiceAgent(t *testing.T, dataDir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, append([]string{"agent"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0", "SLUICE_DATA_DIR="+dataDir,
		"SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_FEDERATION_LISTEN=127.0.0.1:0", "SLUICE_GOSSIP_LISTEN=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...) // later entries win
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noDataDir(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data dir was created: %v", err)
	}
}

// TestTakenPortTouchesNothing starts agents whose ports another program
// holds: each fails before it writes anything, naming the key and every
// way to change it.
func TestTakenPortTouchesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		udp  bool // hold the UDP port, not the TCP one
		// run returns the config file, flags and environment that set
		// the taken address.
		run  func(t *testing.T, addr string) (config string, args, env []string)
		want string // %[1]s is the address
	}{
		{
			name: "api.listen in the config",
			run: func(t *testing.T, addr string) (string, []string, []string) {
				return "api:\n  listen: " + addr + "\n", nil, []string{"SLUICE_API_LISTEN="}
			},
			want: "api.listen %[1]s: address already in use; set api.listen in the config, --api-listen or SLUICE_API_LISTEN",
		},
		{
			name: "api.listen from the environment",
			run: func(t *testing.T, addr string) (string, []string, []string) {
				return "", nil, []string{"SLUICE_API_LISTEN=" + addr}
			},
			want: "api.listen %[1]s: address already in use (from SLUICE_API_LISTEN); set api.listen in the config, --api-listen or SLUICE_API_LISTEN",
		},
		{
			name: "federation.listen from a flag",
			run: func(t *testing.T, addr string) (string, []string, []string) {
				return "", []string{"--federation-listen", addr}, nil
			},
			want: "federation.listen %[1]s: address already in use (from --federation-listen); set federation.listen in the config, --federation-listen or SLUICE_FEDERATION_LISTEN",
		},
		{
			name: "gossip TCP from the environment",
			run: func(t *testing.T, addr string) (string, []string, []string) {
				return "", nil, []string{"SLUICE_GOSSIP_LISTEN=" + addr}
			},
			want: "federation.gossip %[1]s (tcp): address already in use (from SLUICE_GOSSIP_LISTEN); set federation.gossip in the config, --gossip-listen or SLUICE_GOSSIP_LISTEN",
		},
		{
			name: "gossip UDP from a flag",
			udp:  true,
			run: func(t *testing.T, addr string) (string, []string, []string) {
				return "", []string{"--gossip-listen", addr}, nil
			},
			want: "federation.gossip %[1]s (udp): address already in use (from --gossip-listen); set federation.gossip in the config, --gossip-listen or SLUICE_GOSSIP_LISTEN",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr string
			if tc.udp {
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				addr = pc.LocalAddr().String()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				addr = ln.Addr().String()
			}
			config, args, env := tc.run(t, addr)
			if config != "" {
				args = append(args, "--config", writeConfig(t, config))
			}
			data := filepath.Join(t.TempDir(), "data")
			_, stderr, code := runSluiceAgent(t, data, env, args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1\n%s", code, stderr)
			}
			if want := fmt.Sprintf(tc.want, addr); !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say\n%s\n%s", want, stderr)
			}
			noDataDir(t, data)
		})
	}
}

// TestConfigErrorsInOnePass gives the agent a file with problems in the
// file's own keys, a flag and the sources' sections: one run names them
// all, each with the file, key, line and a hint.
func TestConfigErrorsInOnePass(t *testing.T) {
	path := writeConfig(t, `tenant:
  nam: acme
sources:
  - name: plant-mqtt
    type: mqtt
    mqtt:
      brokers: [tcp://127.0.0.1:1883]
      client_id: sluice-gw1
      keepalive: 10
      qoss: 1
      subscriptions:
        - topic: plant/+/temp
  - name: boiler
    type: mqqt
    mqtt: {}
`)
	data := filepath.Join(t.TempDir(), "data")
	_, stderr, code := runSluiceAgent(t, data, nil, "--config", path, "--gossip-listen", "nowhere")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := []string{
		"sluice agent: invalid config:",
		path + ": tenant.nam: unknown key; did you mean name? (line 2)",
		path + `: sources[0].mqtt.keepalive: invalid duration "10": missing unit (ns, us, ms, s, m or h) (line 9)`,
		path + ": sources[0].mqtt.qoss: unknown key; did you mean qos? (line 10)",
		path + `: sources[1].type: unknown source type "mqqt" (known: ` + strings.Join(connectors.Types(), ", ") + `); did you mean mqtt? (line 14)`,
		path + `: federation.gossip: "nowhere" is not host:port (from --gossip-listen)`,
	}
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	noDataDir(t, data)

	// A syntax error is on the line an editor shows.
	path = writeConfig(t, "api:\n  listen: [127.0.0.1:7080\n")
	_, stderr, code = runSluiceAgent(t, data, nil, "--config", path)
	if want := path + ": did not find expected ',' or ']'; a [ list is not closed with ], or lacks a comma (line 2)"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit code %d, stderr\n%s\nwant %s", code, stderr, want)
	}
	noDataDir(t, data)
}

// TestCheckConfigWarns checks that --check-config passes the example and
// minimal configs and warns, on stderr, about what an operator should not
// keep: the example's made-up hosts, federation on every interface with
// no advertise.
func TestCheckConfigWarns(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	print := func(flag string) string {
		stdout, stderr, code := runSluiceAgent(t, data, nil, flag)
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit %d\n%s", flag, code, stderr)
		}
		return writeConfig(t, stdout)
	}
	example, minimal := print("--print-example-config"), print("--print-minimal-config")

	stdout, stderr, code := runSluiceAgent(t, data, nil, "--config", example, "--check-config")
	if code != 0 || stdout != "config ok, with 6 warning(s)\n" {
		t.Errorf("example: exit %d, stdout %q", code, stdout)
	}
	text, _ := os.ReadFile(example)
	lines := strings.Split(string(text), "\n")
	lineRE := regexp.MustCompile(`^warning: ` + regexp.QuoteMeta(example) + `: (\S+): (.*) (names \S+), a made-up host of the example config; .* \(line (\d+)\)$`)
	var keys []string
	for _, w := range strings.Split(strings.TrimSpace(stderr), "\n") {
		m := lineRE.FindStringSubmatch(w)
		if m == nil {
			t.Errorf("warning not in the form file: key: value names host ... (line N): %s", w)
			continue
		}
		keys = append(keys, m[1])
		var n int
		fmt.Sscan(m[4], &n)
		// The line is the one with the value, as the file writes it.
		value := strings.Trim(m[2], `"'`)
		if n < 1 || n > len(lines) || !strings.Contains(lines[n-1], value) {
			t.Errorf("%s: line %d is not the line of %s", m[1], n, value)
		}
	}
	wantKeys := []string{"federation.advertise", "smtp.server", "smtp.from", "sources[1].opcua.endpoint", "sources[2].pi_webapi.url", "sources[2].pi_webapi.points[0]"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("warnings about %q, want %q\n%s", keys, wantKeys, stderr)
	}

	// The minimal config, as systemd/README.md installs it: nothing to
	// warn about. --check-config binds no port, so it works beside a
	// running agent: a taken api.listen does not matter.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stdout, stderr, code = runSluiceAgent(t, data, []string{"SLUICE_API_LISTEN=" + ln.Addr().String()}, "--config", minimal, "--check-config")
	if code != 0 || stdout != "config ok\n" || stderr != "" {
		t.Errorf("minimal: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Opened to partners by a flag, without federation.advertise.
	stdout, stderr, code = runSluiceAgent(t, data, nil, "--config", minimal, "--check-config", "--federation-listen", "0.0.0.0:7443")
	want := "warning: " + minimal + ": federation.advertise: not set while federation.listen (0.0.0.0:7443 from --federation-listen) listens on every interface"
	if code != 0 || stdout != "config ok, with 1 warning(s)\n" || !strings.HasPrefix(stderr, want) {
		t.Errorf("0.0.0.0: exit %d, stdout %q, stderr %q\nwant %s", code, stdout, stderr, want)
	}
	noDataDir(t, data)
}
