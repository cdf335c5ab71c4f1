package opcua

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// The integration tests run against node-opcua (a real third-party OPC UA
// server, testdata/nodeserver/server.js), which `make deps` installs from
// npm into $(NPM_CACHE)/node_modules; the tests find node on PATH and the
// modules through NODE_PATH (default: ~/.cache/sluice-npm/node_modules).

const waitLong = 30 * time.Second

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nodeModules returns the node_modules folder holding node-opcua-server.
func nodeModules(t testing.TB) string {
	t.Helper()
	dirs := filepath.SplitList(os.Getenv("NODE_PATH"))
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "sluice-npm", "node_modules"))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "node-opcua-server", "package.json")); err == nil {
			return d
		}
	}
	t.Fatalf("node-opcua-server is not installed (looked in NODE_PATH and ~/.cache/sluice-npm/node_modules): run `make deps`")
	return ""
}

func nodeBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node (Node.js) is not on PATH: run `make deps`")
	}
	return p
}

// nodeOpts are the server's options (see server.js).
type nodeOpts struct {
	Port      int               `json:"port"`
	PKI       string            `json:"pki"`
	Policies  []string          `json:"policies,omitempty"`
	Modes     []string          `json:"modes,omitempty"`
	Users     map[string]string `json:"users,omitempty"`
	Anonymous *bool             `json:"anonymous,omitempty"`
	TickMS    int               `json:"tickMs,omitempty"`
	Bench     *benchOpts        `json:"bench,omitempty"`
}

type benchOpts struct {
	Count      int `json:"count"`
	IntervalMS int `json:"intervalMs"`
}

// nodeServer is a node-opcua server process started by a test on a fixed
// loopback port, so that it can be killed and started again in place.
type nodeServer struct {
	t    testing.TB
	opts nodeOpts
	log  syncBuffer

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stdin    io.WriteCloser
	replies  chan map[string]any
	cmdMu    sync.Mutex
	endpoint string
	nsURI    string
	ns       int
	certFile string
}

var allPolicies = []string{"None", "Basic128Rsa15", "Basic256", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"}

func startNodeServer(t testing.TB, opts nodeOpts) *nodeServer {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = connectortest.FreePort(t, false)
	}
	if opts.PKI == "" {
		opts.PKI = filepath.Join(t.TempDir(), "server-pki")
	}
	n := &nodeServer{t: t, opts: opts}
	t.Cleanup(func() {
		n.stop(syscall.SIGTERM)
		if t.Failed() || os.Getenv("SLUICE_TEST_LOGS") != "" {
			t.Logf("node-opcua server output:\n%s", n.log.String())
		}
	})
	n.start()
	return n
}

func (n *nodeServer) start() {
	n.t.Helper()
	mods := nodeModules(n.t)
	opts, _ := json.Marshal(n.opts)
	// Node 20 refuses RSA PKCS#1 v1.5 decryption (CVE-2023-46809), which
	// Basic128Rsa15 needs; the flag turns it back on for this test server.
	args := []string{"--security-revert=CVE-2023-46809"}
	args = append(args, strings.Fields(os.Getenv("SLUICE_TEST_NODE_FLAGS"))...) // e.g. --cpu-prof
	args = append(args, "testdata/nodeserver/server.js", string(opts))
	cmd := exec.Command(nodeBin(n.t), args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stderr = &n.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting node: %v", err)
	}
	exited := make(chan struct{})
	replies := make(chan map[string]any, 16)
	ready := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var m map[string]any
			if json.Unmarshal(line, &m) != nil {
				n.log.Write(append(append([]byte(nil), line...), '\n'))
				continue
			}
			if m["ready"] == true {
				ready <- m
				continue
			}
			replies <- m
		}
		_ = cmd.Wait()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited, n.stdin, n.replies = cmd, exited, stdin, replies
	n.mu.Unlock()
	select {
	case m := <-ready:
		n.endpoint = fmt.Sprintf("opc.tcp://127.0.0.1:%d/sluice", n.opts.Port)
		n.nsURI, _ = m["namespaceUri"].(string)
		ns, _ := m["namespace"].(float64)
		n.ns = int(ns)
		n.certFile, _ = m["certificate"].(string)
	case <-exited:
		n.t.Fatalf("node-opcua server exited at start:\n%s", n.log.String())
	case <-time.After(60 * time.Second):
		n.t.Fatalf("node-opcua server not ready after 60s:\n%s", n.log.String())
	}
}

// command sends one JSON command and returns the reply.
func (n *nodeServer) command(c map[string]any) map[string]any {
	n.t.Helper()
	n.cmdMu.Lock()
	defer n.cmdMu.Unlock()
	b, _ := json.Marshal(c)
	n.mu.Lock()
	stdin, replies := n.stdin, n.replies
	n.mu.Unlock()
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		n.t.Fatalf("node-opcua command %s: %v", b, err)
	}
	select {
	case r := <-replies:
		if e, ok := r["error"]; ok {
			n.t.Fatalf("node-opcua command %s: %v", b, e)
		}
		return r
	case <-time.After(10 * time.Second):
		n.t.Fatalf("node-opcua command %s: no reply", b)
	}
	return nil
}

// set sets a variable (by its string id) with a status code name.
func (n *nodeServer) set(node string, value any, status string) {
	n.t.Helper()
	c := map[string]any{"cmd": "set", "node": node, "value": value}
	if status != "" {
		c["status"] = status
	}
	n.command(c)
}

// signal sends sig to the server process.
func (n *nodeServer) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// stop ends the server with sig (SIGKILL: as a crash) and waits.
func (n *nodeServer) stop(sig syscall.Signal) {
	n.mu.Lock()
	cmd, exited, stdin := n.cmd, n.exited, n.stdin
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = stdin.Close()
}

// certDER is the server's certificate.
func (n *nodeServer) certDER() []byte {
	n.t.Helper()
	der, err := loadCert(n.certFile)
	if err != nil {
		n.t.Fatal(err)
	}
	return der
}

// trust writes the server's certificate into a source's trusted/ folder.
func (n *nodeServer) trust(dataDir, source string) {
	n.t.Helper()
	dir := filepath.Join(DefaultPKIDir(dataDir, source), trustedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.der"), n.certDER(), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// source runs one Source until stopped.
type source struct {
	t      testing.TB
	src    *Source
	m      *connectors.Metrics
	cancel context.CancelFunc
	done   chan struct{}
}

// testConfig is a section with fast timings for tests; the top-level
// keys of extra replace those of the defaults here.
func testConfig(endpoint, security, extra string) string {
	base := []string{
		"endpoint: " + endpoint,
		"security: " + security,
		"dial_timeout: 2s",
		"request_timeout: 3s",
		"reconnect_min: 50ms",
		"reconnect_max: 500ms",
		"watchdog_margin: 500ms",
		"subscription: {publishing_interval: 50ms, sampling_interval: 0s, queue_size: 100, max_keepalive_count: 10, lifetime_count: 100}",
	}
	var b strings.Builder
	for _, l := range base {
		key, _, _ := strings.Cut(l, ":")
		if strings.HasPrefix(extra, key+":") || strings.Contains(extra, "\n"+key+":") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String() + extra
}

const noSecurity = "{policy: None, mode: None}"

// runSource decodes yaml strictly, builds the source and runs it on sink.
func runSource(t testing.TB, name, yaml string, sink connectors.Sink, dataDir string) *source {
	t.Helper()
	cfg := DefaultConfig()
	if err := connectortest.DecodeYAML(yaml)(&cfg); err != nil {
		t.Fatal(err)
	}
	m := connectors.NewMetrics(nil)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(connectors.Env{Name: name, Metrics: m, DataDir: dataDir, Logger: logger}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &source{t: t, src: s, m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := s.Run(ctx, sink); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() || os.Getenv("SLUICE_TEST_LOGS") != "" {
			t.Logf("source %s log:\n%s", name, logs.String())
		}
	})
	return r
}

func (r *source) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

func gauge(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (r *source) connected() bool { return gauge(r.m.Connected.WithLabelValues(r.src.env.Name)) == 1 }

func (r *source) errors(reason string) float64 {
	return gauge(r.m.Errors.WithLabelValues(r.src.env.Name, reason))
}

func (r *source) counter(v *prometheus.CounterVec) float64 {
	return gauge(v.WithLabelValues(r.src.env.Name))
}

// waitPoints waits until stream has at least n points.
func waitPoints(t testing.TB, sink *connectortest.Sink, stream string, n int) []point.Point {
	t.Helper()
	sink.WaitFor(t, waitLong, fmt.Sprintf("%d points of %s (streams: %v)", n, stream, sink.StreamNames()), func() bool {
		return len(sink.Points(stream)) >= n
	})
	return sink.Points(stream)
}

// waitEvery waits until each of streams has a point. Waiting for the
// streams to exist is not enough: the writer creates every stream of a
// batch (EnsureStream) before it writes the batch, so a stream can exist
// while its points are still on their way.
func waitEvery(t testing.TB, sink *connectortest.Sink, streams []string) {
	t.Helper()
	sink.WaitFor(t, waitLong, fmt.Sprintf("a point of each of %d streams", len(streams)), func() bool {
		for _, s := range streams {
			if len(sink.Points(s)) == 0 {
				return false
			}
		}
		return true
	})
}

// resolved lists the streams the source's last session resolved, sorted.
func (r *source) resolved() []string {
	r.src.streamsMu.Lock()
	defer r.src.streamsMu.Unlock()
	out := make([]string, 0, len(r.src.streams))
	for name := range r.src.streams {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
