package mqtt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// mosquitto is a real broker started by a test on a free loopback port,
// with persistence in a temp dir. `make deps` installs it.
type mosquitto struct {
	t      testing.TB
	dir    string
	port   int
	conf   string // extra config lines
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    syncBuffer
}

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

func mosquittoBin(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	t.Fatal("mosquitto is not installed: run `make deps` (Debian package mosquitto)")
	return ""
}

// newMosquitto prepares a broker; add config to m.conf, then call start.
func newMosquitto(t testing.TB) *mosquitto {
	m := &mosquitto{t: t, dir: t.TempDir(), port: connectortest.FreePort(t, false)}
	t.Cleanup(func() {
		m.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.log.String())
		}
	})
	return m
}

// startMosquitto starts a broker with extra config lines.
func startMosquitto(t testing.TB, extra string) *mosquitto {
	m := newMosquitto(t)
	m.conf = extra
	m.start()
	return m
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

func (m *mosquitto) start() {
	m.t.Helper()
	conf := filepath.Join(m.dir, "mosquitto.conf")
	runAs := ""
	if u, err := user.Current(); err == nil && os.Geteuid() == 0 {
		runAs = "user " + u.Username + "\n" // else mosquitto drops to user mosquitto
	}
	body := fmt.Sprintf(`%s
per_listener_settings false
allow_anonymous true
persistence true
persistence_location %s/
persistence_file mosquitto.db
autosave_interval 1
max_queued_messages 1000000
log_dest stderr
log_type error
log_type warning
log_type notice
listener %d 127.0.0.1
%s
`, runAs, m.dir, m.port, m.conf)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command(mosquittoBin(m.t), "-c", conf)
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("starting mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited at start:\n%s", m.log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %d:\n%s", m.port, m.log.String())
		}
	}
}

// stop stops the broker with sig (SIGTERM saves its persistence file) and
// waits for it to exit.
func (m *mosquitto) stop(sig syscall.Signal) {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// pahoClient connects a plain paho client (publisher or bare subscriber).
func connectPaho(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting %s: %v", o.ClientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publisher(t testing.TB, broker string) paho.Client {
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(20 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond)
	return connectPaho(t, o)
}

// publish publishes and waits for the broker's acknowledgement.
func publish(t testing.TB, c paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

// source runs one Source against a real broker until stopped.
type source struct {
	t      testing.TB
	src    *Source
	m      *connectors.Metrics
	cancel context.CancelFunc
	done   chan struct{}
}

// runSource decodes yaml strictly, builds the source and runs it on sink.
func runSource(t testing.TB, name, yaml string, sink connectors.Sink, dataDir string) *source {
	t.Helper()
	cfg := DefaultConfig()
	if err := connectortest.DecodeYAML(yaml)(&cfg); err != nil {
		t.Fatal(err)
	}
	m := connectors.NewMetrics(nil)
	s, err := New(connectors.Env{Name: name, Metrics: m, DataDir: dataDir}, cfg)
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
	t.Cleanup(r.stop)
	return r
}

func (r *source) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

func (r *source) connected() bool {
	return gauge(r.m.Connected.WithLabelValues(r.src.env.Name)) == 1
}

// testPKI writes a CA, a server certificate for 127.0.0.1 and localhost,
// and a client certificate, as PEM files in dir.
func testPKI(t testing.TB, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, server bool) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost", "broker.test"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(name+".pem", "CERTIFICATE", der)
		writeKey(name+"-key.pem", k)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth, true)
	leaf("client", 3, x509.ExtKeyUsageClientAuth, false)
}

func itoa(i int) string { return strconv.Itoa(i) }

// cpu returns the broker process's CPU time so far (Linux).
func (m *mosquitto) cpu() time.Duration {
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name in parentheses; utime and stime are
	// fields 14 and 15 of the line, in clock ticks (100 Hz).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}
