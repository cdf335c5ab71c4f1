package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests build the real binary and run agents as separate processes
// on 127.0.0.1, driven through the CLI as an operator would.

var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	// -buildvcs=auto over a GOFLAGS=-buildvcs=false: `sluice version`
	// shows the commit when there is a checkout to take it from.
	out, err := exec.Command("go", "build", "-race", "-buildvcs=auto", "-o", sluiceBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentProc is a running agent process.
type agentProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string // http://host:port
	dataDir string
	logMu   sync.Mutex
	log     bytes.Buffer
	exited  chan error
}

var readyRE = regexp.MustCompile(`msg="agent ready" api=(\S+)`)

// startAgent runs `sluice agent` with the given config (YAML; empty means
// no --config at all) and waits until it logs that it is ready.
func startAgent(t *testing.T, dataDir, config string, extraEnv ...string) *agentProc {
	t.Helper()
	if config == "" {
		return startAgentArgs(t, dataDir, nil, extraEnv...)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startAgentArgs(t, dataDir, []string{"--config", path}, extraEnv...)
}

// fixedFederationPorts reports whether the agent's config file names its
// federation ports (tests that restart an agent on the same ports).
func fixedFederationPorts(args []string) bool {
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			b, err := os.ReadFile(args[i+1])
			return err == nil && strings.Contains(string(b), "federation:")
		}
	}
	return false
}

func startAgentArgs(t *testing.T, dataDir string, args []string, extraEnv ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, dataDir: dataDir, exited: make(chan error, 1)}
	a.cmd = exec.Command(sluiceBin, append([]string{"agent"}, args...)...)
	a.cmd.Dir = filepath.Dir(dataDir)
	a.cmd.Env = append(os.Environ(), "SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_DATA_DIR="+dataDir,
		"GORACE=atexit_sleep_ms=0") // race builds otherwise sleep 1 s at every exit
	if !fixedFederationPorts(args) {
		// Agents of parallel tests must not fight over 7443 and 7946.
		a.cmd.Env = append(a.cmd.Env, "SLUICE_FEDERATION_LISTEN=127.0.0.1:0", "SLUICE_GOSSIP_LISTEN=127.0.0.1:0")
	}
	a.cmd.Env = append(a.cmd.Env, extraEnv...)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			a.logMu.Lock()
			a.log.WriteString(line + "\n")
			a.logMu.Unlock()
			if m := readyRE.FindStringSubmatch(line); m != nil {
				ready <- m[1]
			}
		}
		a.exited <- a.cmd.Wait()
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs())
		}
	})
	select {
	case addr := <-ready:
		a.addr = "http://" + addr
	case err := <-a.exited:
		t.Fatalf("agent exited before ready: %v\n%s", err, a.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("agent not ready after 60s\n%s", a.logs())
	}
	return a
}

func (a *agentProc) logs() string {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	return a.log.String()
}

// cli runs a sluice command against the agent and returns stdout, stderr
// and the exit code.
func (a *agentProc) cli(stdin string, args ...string) (string, string, int) {
	a.t.Helper()
	cmd := exec.Command(sluiceBin, args...)
	cmd.Env = append(os.Environ(), "SLUICE_ADDR="+a.addr, "SLUICE_DATA_DIR="+a.dataDir, "SLUICE_TOKEN=", "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		a.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed.
func (a *agentProc) ok(stdin string, args ...string) string {
	a.t.Helper()
	out, errs, code := a.cli(stdin, args...)
	if code != 0 {
		a.t.Fatalf("sluice %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (a *agentProc) stop(sig syscall.Signal, within time.Duration) error {
	a.t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatal(err)
	}
	select {
	case err := <-a.exited:
		return err
	case <-time.After(within):
		a.t.Fatalf("agent did not exit within %s of %s\n%s", within, sig, a.logs())
		return nil
	}
}

func TestCLIEndToEnd(t *testing.T) {
	a := startAgent(t, filepath.Join(t.TempDir(), "data"), "")
	if out := a.ok("", "version"); !strings.HasPrefix(out, "sluice ") {
		t.Fatalf("version: %q", out)
	}
	a.ok("", "stream", "create", "site1/boiler/temp", "--unit", "degC", "--description", "boiler outlet")
	if out := a.ok("", "stream", "list"); !strings.Contains(out, "site1/boiler/temp") || !strings.Contains(out, "degC") {
		t.Fatalf("list: %s", out)
	}
	if out := a.ok("", "stream", "show", "site1/boiler/temp", "-o", "json"); !strings.Contains(out, `"description": "boiler outlet"`) {
		t.Fatalf("show -o json: %s", out)
	}
	if out := a.ok("", "stream", "show", "site1/boiler/temp"); !regexp.MustCompile(`(?m)^description +boiler outlet$`).MatchString(out) {
		t.Fatalf("show: %s", out)
	}
	// The API's hint is ?create=1; the CLI's user hears of --create.
	_, errs, code := a.cli("-1m,1\n", "stream", "write", "site1/boiler/missing")
	if code != 1 || !strings.Contains(errs, "add --create") || strings.Contains(errs, "?create=1") {
		t.Fatalf("write to a missing stream: %d %q", code, errs)
	}
	// 10,000 lines through stdin in 3 batches.
	var csv strings.Builder
	csv.WriteString("timestamp,value\n")
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&csv, "%s,%d.%02d\n", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 20+i%7, i%100)
	}
	_, errs, code = a.cli(csv.String(), "stream", "write", "site1/boiler/temp", "--batch", "4000")
	if code != 0 || !strings.Contains(errs, "wrote 10000 points") {
		t.Fatalf("write: %d %s", code, errs)
	}
	out := a.ok("", "stream", "read", "site1/boiler/temp", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-01T00:00:03Z")
	if out != "timestamp,value,quality\n2026-11-01T00:00:00Z,20,0\n2026-11-01T00:00:01Z,21.01,0\n2026-11-01T00:00:02Z,22.02,0\n" {
		t.Fatalf("read csv: %q", out)
	}
	out = a.ok("", "stream", "read", "site1/boiler/temp", "--start", "2026-11-01T00:00:00Z", "--end", "now", "--format", "json", "--limit", "2")
	if !strings.Contains(out, `"next_page_token"`) || strings.Count(out, `"time"`) != 2 {
		t.Fatalf("read json with limit: %s", out)
	}
	if out := a.ok("", "stream", "latest", "site1/boiler/temp"); !strings.Contains(out, "2026-11-01T02:46:39Z,23.99,0") {
		t.Fatalf("latest: %q", out)
	}
	out = a.ok("", "stream", "summaries", "site1/boiler/temp", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-01T01:00:00Z", "--interval", "30m")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "2026-11-01T00:00:00Z,2026-11-01T00:30:00Z,1800,0,") {
		t.Fatalf("summaries: %s", out)
	}
	out = a.ok("", "stream", "interpolated", "site1/boiler/temp", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-01T00:00:01Z", "--count", "3")
	if !strings.Contains(out, "2026-11-01T00:00:00.5Z,20.50") {
		t.Fatalf("interpolated: %s", out)
	}
	if out := a.ok("", "status"); !strings.Contains(out, "streams     1") || !strings.Contains(out, "up at") {
		t.Fatalf("status: %s", out)
	}

	// Failures: one line, non-zero.
	_, errs, code = a.cli("", "stream", "read", "no/such/stream")
	if code != 1 || !strings.Contains(errs, `stream not found: "no/such/stream"`) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("read missing stream: %d %q", code, errs)
	}
	_, errs, code = a.cli("", "stream", "read", "site1/boiler/temp", "--token", "wrong")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("wrong token: %d %q", code, errs)
	}
	_, errs, code = a.cli("", "stream", "read")
	if code != 2 || !strings.Contains(errs, "Usage: sluice stream read NAME") {
		t.Fatalf("missing argument: %d %q", code, errs)
	}
	_, errs, code = a.cli("not,a,time\n", "stream", "write", "site1/boiler/temp")
	if code != 1 || !strings.Contains(errs, "line 1") {
		t.Fatalf("bad csv: %d %q", code, errs)
	}
	a.ok("", "stream", "delete", "site1/boiler/temp")
	if out := a.ok("", "stream", "list"); strings.Contains(out, "site1/boiler/temp") {
		t.Fatalf("deleted stream still listed: %s", out)
	}
	// Prometheus sees the agent.
	resp, err := http.Get(a.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"sluice_build_info{", "sluice_store_points_written_total 10000", `sluice_http_requests_total{code="404",route="read_window"} 1`} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestSIGTERMKeepsData stops an agent with SIGTERM while a writer is
// busy, and finds every acknowledged point after a restart.
func TestSIGTERMKeepsData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, data, "")
	a.ok("", "stream", "create", "w")
	acked := 0
	for i := 0; i < 20; i++ {
		var csv strings.Builder
		for j := 0; j < 500; j++ {
			fmt.Fprintf(&csv, "%d,%d\n", 1795000000+i*500+j, i)
		}
		a.ok(csv.String(), "stream", "write", "w")
		acked += 500
	}
	if err := a.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, a.logs())
	}
	if !strings.Contains(a.logs(), "msg=stopped") {
		t.Fatalf("no clean stop logged:\n%s", a.logs())
	}
	b := startAgent(t, data, "")
	out := b.ok("", "stream", "read", "w", "--start", "0", "--end", "now", "--time", "ns")
	if n := strings.Count(out, "\n") - 1; n != acked {
		t.Fatalf("after restart %d points, want %d", n, acked)
	}
}

func TestBadConfigTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := fmt.Sprintf("data_dir: %s\napi:\n  listen: nowhere\nstore:\n  retention: -1d\n  colour: red\n", data)
	path := filepath.Join(dir, "agent.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	cmd := exec.Command(sluiceBin, "agent", "--config", path)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("bad config accepted: %v\n%s", err, out)
	}
	for _, want := range []string{"api.listen", "store.colour", "store.retention"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not name %s:\n%s", want, out)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("bad config created the data dir: %v", err)
	}
	// A source section the connector rejects is caught before start too.
	cfg = fmt.Sprintf("data_dir: %s\nsources:\n  - name: plant\n    type: mqtt\n    mqtt:\n      brokers: [tcp://127.0.0.1:1]\n      client_id: x\n      subscriptions: []\n", data)
	os.WriteFile(path, []byte(cfg), 0o600)
	out, err = exec.Command(sluiceBin, "agent", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sources[0].mqtt.subscriptions") {
		t.Fatalf("bad mqtt section: %v\n%s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("bad source config created the data dir: %v", err)
	}
}

// TestNoConfigAndReload starts an agent with no config file at all, then
// one with a file, and adds a source with SIGHUP.
func TestNoConfigAndReload(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, filepath.Join(dir, "data"), "")
	if _, err := os.Stat(filepath.Join(dir, "data", "admin.token")); err != nil {
		t.Fatalf("admin token not written: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "data", "admin.token"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token mode %v", fi.Mode().Perm())
	}
	a.stop(syscall.SIGTERM, 30*time.Second)

	cfgPath := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfgPath, []byte("tenant: {name: reload-test}\n"), 0o600)
	p := startAgentArgs(t, filepath.Join(dir, "data2"), []string{"--config", cfgPath})
	if out := p.ok("", "status"); strings.Contains(out, "plant") || !strings.Contains(out, "tenant      reload-test") {
		t.Fatalf("status before reload: %s", out)
	}
	os.WriteFile(cfgPath, []byte("tenant: {name: reload-test}\nsources:\n  - name: plant\n    type: mqtt\n    mqtt:\n      brokers: [tcp://127.0.0.1:1]\n      client_id: reload-test\n      subscriptions:\n        - topic: a/#\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := p.ok("", "status")
		if strings.Contains(out, "plant") && strings.Contains(out, "mqtt") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source not started after SIGHUP: %s\n%s", out, p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs(), `msg="source started" source=plant`) {
		t.Fatalf("no source start logged:\n%s", p.logs())
	}
}

// TestTenantCAOnTwoAgents: two agents of one tenant share its CA (export,
// import) and so its id, each with a certificate of its own.
func TestTenantCAOnTwoAgents(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(sluiceBin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sluice %v: %v", args, err)
		}
		return string(out)
	}
	run("", "tenant", "init", "--name", "acme", "--data-dir", a)
	bundle := run("", "tenant", "export-ca", "--data-dir", a)
	if !strings.Contains(bundle, "PRIVATE KEY") {
		t.Fatalf("export-ca printed no key:\n%s", bundle)
	}
	run(bundle, "tenant", "import-ca", "--data-dir", b)
	pa, pb := startAgent(t, a, ""), startAgent(t, b, "")
	ida := pa.ok("", "tenant", "card")
	idb := pb.ok("", "tenant", "card")
	if strings.Split(ida, "\n")[0] != strings.Split(idb, "\n")[0] {
		t.Fatalf("two agents of one tenant have different ids:\n%s\n%s", ida, idb)
	}
	ca, _ := os.ReadFile(filepath.Join(a, "identity", "agent.crt"))
	cb, _ := os.ReadFile(filepath.Join(b, "identity", "agent.crt"))
	if len(ca) == 0 || bytes.Equal(ca, cb) {
		t.Fatal("the two agents must have leaf certificates of their own")
	}
}
