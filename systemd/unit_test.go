package systemd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/configs"
)

// installedBinary is where README.md installs the agent; ExecStart= names
// it.
const installedBinary = "/usr/local/bin/sluice"

// maxExposure caps `systemd-analyze security` (0 to 100; it prints a
// tenth of it, "1.2 OK"), so that loosening the sandbox fails a test.
const maxExposure = 20

// TestUnit checks sluice.service with systemd's own tools, on a copy that
// runs a sluice binary built from this tree: `systemd-analyze verify`
// refuses a unit whose ExecStart= does not exist. No systemd needs to run
// here: verify and security --offline only load and analyse the file.
func TestUnit(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := t.TempDir()
	bin := buildSluice(t, dir)
	text := readUnit(t)
	if !strings.Contains(text, "ExecStart="+installedBinary+" ") {
		t.Fatalf("sluice.service: ExecStart= does not run %s", installedBinary)
	}
	local := strings.ReplaceAll(text, installedBinary, bin)
	path := writeUnit(t, dir, local)

	t.Run("verify", func(t *testing.T) {
		if out, err := verify(analyze, path); err != nil {
			t.Errorf("systemd-analyze verify sluice.service: %v\n%s", err, out)
		}
	})

	t.Run("exec paths", func(t *testing.T) {
		// verify checks ExecStart='s program only; a typo in ExecReload=
		// would surface at the first `systemctl reload`.
		if err := checkExecPaths(parseUnit(local)); err != nil {
			t.Error(err)
		}
	})

	t.Run("security", func(t *testing.T) {
		cmd := exec.Command(analyze, "security", "--offline=yes", "--no-pager",
			"--threshold="+strconv.Itoa(maxExposure), path)
		cmd.Env = analyzeEnv()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		level := regexp.MustCompile(`Overall exposure level for \S+: (.*)`).FindStringSubmatch(stdout.String())
		if err != nil || stderr.Len() > 0 || level == nil {
			t.Fatalf("systemd-analyze security --threshold=%d: %v\n%s%s", maxExposure, err, stderr.String(), stdout.String())
		}
		t.Logf("exposure: %s", level[1])
	})

	// Warnings leave verify's exit code at 0 and only show on stderr;
	// make sure they are caught here, in this environment, so that a
	// passing "verify" means something.
	t.Run("verify catches mistakes", func(t *testing.T) {
		for _, m := range []struct{ name, old, new string }{
			{"unknown key", "[Service]\n", "[Service]\nNoSuchKey=1\n"},
			{"bad value", "\nType=notify\n", "\nType=notfy\n"},
			{"bad time", "\nWatchdogSec=", "\nWatchdogSec=x"},
			{"unknown syscall group", "SystemCallFilter=@system-service", "SystemCallFilter=@system-servic"},
			{"unknown section", "[Install]", "[Instal]"},
			{"missing binary", "ExecStart=" + bin, "ExecStart=" + bin + "-missing"},
		} {
			if !strings.Contains(local, m.old) {
				t.Fatalf("%s: the unit has no %q to break", m.name, m.old)
			}
			bad := writeUnit(t, t.TempDir(), strings.Replace(local, m.old, m.new, 1))
			if out, err := verify(analyze, bad); err == nil {
				t.Errorf("%s: systemd-analyze verify found nothing wrong (output %q)", m.name, out)
			}
		}
		broken := strings.Replace(local, "ExecReload=/bin/kill ", "ExecReload=/bin/no-such-kill ", 1)
		if broken == local {
			t.Fatal("the unit has no ExecReload=/bin/kill to break")
		}
		if err := checkExecPaths(parseUnit(broken)); err == nil {
			t.Error("a missing ExecReload= program went unnoticed")
		}
	})
}

// TestUnitMatchesAgent checks the values the unit shares with the agent's
// code, which verify cannot know about.
func TestUnitMatchesAgent(t *testing.T) {
	u := parseUnit(readUnit(t))
	svc := u["Service"]
	one := func(key string) string {
		t.Helper()
		if len(svc[key]) != 1 {
			t.Fatalf("[Service] %s= set %d times, want once", key, len(svc[key]))
		}
		return svc[key][0]
	}
	for key, want := range map[string]string{
		"Type":           "notify", // the agent sends READY=1
		"NotifyAccess":   "main",
		"StateDirectory": "sluice",
		// The data dir and everything in it are the agent's alone.
		"StateDirectoryMode": "0700",
		"UMask":              "0077",
		"ExecStart":          installedBinary + " agent --config " + configs.DefaultPath,
		"Restart":            "on-failure",
	} {
		if got := one(key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if !slices.Contains(svc["ExecReload"], "/bin/kill -HUP $MAINPID") {
		t.Errorf("ExecReload= %q: no SIGHUP to the agent, which is how it reloads", svc["ExecReload"])
	}
	// systemd must not kill the agent in the middle of its own graceful
	// stop, which takes up to shutdown_timeout.
	stop, err := timespan(one("TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop < configs.DefaultShutdownTimeout+30*time.Second {
		t.Errorf("TimeoutStopSec=%s: want well above the default shutdown_timeout (%s)", stop, configs.DefaultShutdownTimeout)
	}
	if wd, err := timespan(one("WatchdogSec")); err != nil || wd < 2*time.Second {
		t.Errorf("WatchdogSec=%s (%v): the agent pings at half of it; want a few seconds at least", wd, err)
	}
	// The data dir is the state directory (%S is /var/lib), forced
	// through the agent's environment override, and the same path the
	// documented config uses.
	stateDir := "/var/lib/" + one("StateDirectory")
	if !slices.Contains(svc["Environment"], configs.EnvDataDir+"=%S/"+one("StateDirectory")) {
		t.Errorf("Environment= %q does not set %s to the state directory", svc["Environment"], configs.EnvDataDir)
	}
	for _, k := range []string{configs.EnvDataDir, configs.EnvAPIListen, configs.EnvLogLevel} {
		t.Setenv(k, "")
	}
	for _, k := range []string{configs.EnvFederationListen, configs.EnvGossipListen} {
		t.Setenv(k, "")
	}
	for name, text := range map[string]string{"agent.example.yaml": configs.Example, "agent.minimal.yaml": configs.Minimal} {
		c, err := configs.Parse([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if c.DataDir != stateDir {
			t.Errorf("configs/%s data_dir is %s, but the unit's state directory is %s", name, c.DataDir, stateDir)
		}
	}
}

// TestReadmeInstallsMinimalConfig checks the config README.md installs:
// the minimal one, printed by the binary, which starts safely as it is
// (no warnings: no made-up host, federation not open to the network).
func TestReadmeInstallsMinimalConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	install := "sluice agent --print-minimal-config > " + configs.DefaultPath
	if !strings.Contains(string(readme), install) {
		t.Fatalf("README.md does not install the minimal config with %q", install)
	}
	if strings.Contains(string(readme), "--print-example-config >") {
		t.Error("README.md installs the example config, whose hosts are made up")
	}
	bin := buildSluice(t, t.TempDir())
	out, err := exec.Command(bin, "agent", "--print-minimal-config").Output()
	if err != nil || string(out) != configs.Minimal {
		t.Fatalf("sluice agent --print-minimal-config: %v, printed something else than configs.Minimal", err)
	}
	for _, k := range []string{configs.EnvDataDir, configs.EnvAPIListen, configs.EnvLogLevel, configs.EnvFederationListen, configs.EnvGossipListen} {
		t.Setenv(k, "")
	}
	c, err := configs.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Warnings() {
		t.Errorf("the installed config warns: %v", w)
	}
	// And the example, which it replaced, does.
	ex, err := configs.Parse([]byte(configs.Example))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Warnings()) == 0 {
		t.Error("the example config has no warnings: then installing it would do")
	}
}

// systemdAnalyze finds systemd-analyze, which `make deps` installs.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/systemd-analyze", "/bin/systemd-analyze"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("systemd-analyze not found: run `make deps`, which installs Debian's systemd package")
	return ""
}

// buildSluice builds ./cmd/sluice from this module into dir.
func buildSluice(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: %q %v", gomod, err)
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("sluice.service")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeUnit writes text as dir/sluice.service: the file name is the unit
// name, which specifiers and dependencies go by.
func writeUnit(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "sluice.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// analyzeEnv makes systemd-analyze log every warning, plainly, to stderr,
// whatever the caller's environment says.
func analyzeEnv() []string {
	return append(os.Environ(),
		"SYSTEMD_LOG_LEVEL=info", "SYSTEMD_LOG_TARGET=console", "SYSTEMD_LOG_COLOR=0",
		"SYSTEMD_LOG_TIME=0", "SYSTEMD_LOG_LOCATION=0", "SYSTEMD_PAGER=")
}

// verify runs `systemd-analyze verify` on path. It reports a problem for
// a non-zero exit and for any output at all: verify is silent about a
// good unit, and says what it ignored (unknown keys, values it cannot
// parse) only as warnings, with exit code 0.
func verify(analyze, path string) (string, error) {
	// --man=no: Documentation= pages need not be installed here.
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	cmd.Env = analyzeEnv()
	cmd.Dir = filepath.Dir(path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), err
	}
	if len(bytes.TrimSpace(out)) > 0 {
		return string(out), errors.New("warnings")
	}
	return "", nil
}

// unit is a unit file: section -> key -> values in order.
type unit map[string]map[string][]string

// parseUnit reads the systemd unit syntax this file uses: sections,
// key=value, comments, backslash continuations.
func parseUnit(text string) unit {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section != "" {
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// checkExecPaths checks that every Exec*= line of [Service] runs an
// absolute path to an executable file.
func checkExecPaths(u unit) error {
	var errs []error
	for key, values := range u["Service"] {
		if !strings.HasPrefix(key, "Exec") {
			continue
		}
		for _, v := range values {
			prog := strings.TrimLeft(v, "@-:+!|")
			if f := strings.Fields(prog); len(f) > 0 {
				prog = f[0]
			}
			if !filepath.IsAbs(prog) {
				errs = append(errs, fmt.Errorf("%s=%s: %q is not an absolute path", key, v, prog))
				continue
			}
			fi, err := os.Stat(prog)
			if err == nil && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0) {
				err = errors.New("not an executable file")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%s: %v", key, v, err))
			}
		}
	}
	return errors.Join(errs...)
}

// timespan parses the systemd time spans this unit uses: "90" (seconds),
// "30s", "5min", "1min 30s".
func timespan(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	g := strings.NewReplacer(" ", "", "min", "m", "sec", "s").Replace(s)
	d, err := time.ParseDuration(g)
	if err != nil {
		return 0, fmt.Errorf("time span %q: %v", s, err)
	}
	return d, nil
}
