package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger discards unless SLUICE_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
	}
	return slog.New(slog.DiscardHandler)
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

// newTestManager starts a Manager on 127.0.0.1 (port 0 unless bind says
// otherwise) and shuts it down at the end of the test.
func newTestManager(t testing.TB, bind string) *Manager {
	t.Helper()
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	m, err := NewManager(Options{BindAddr: bind, Logger: testLogger(), StreamLabelTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

func join(t testing.TB, m *Manager, id string, key []byte, name string, d Delegate, seeds ...string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Join(ctx, ClusterConfig{
		ID: id, Key: key, NodeName: name, Meta: []byte("meta-" + name),
		Delegate: d, Seeds: seeds, Timing: FastTiming(),
	})
	if err != nil {
		t.Fatalf("Join %s/%s: %v", id, name, err)
	}
	return c
}

// joinKeys is join with a keyring: keys[0] is the primary key, the rest
// secondary keys.
func joinKeys(t testing.TB, m *Manager, id string, keys [][]byte, name string, d Delegate, seeds ...string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Join(ctx, ClusterConfig{
		ID: id, Key: keys[0], SecondaryKeys: keys[1:], NodeName: name, Meta: []byte("meta-" + name),
		Delegate: d, Seeds: seeds, Timing: FastTiming(),
	})
	if err != nil {
		t.Fatalf("Join %s/%s: %v", id, name, err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// memberStates renders Members as "name=state" sorted, for comparisons.
func memberStates(c *Cluster) string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.Name+"="+m.State.String())
	}
	return strings.Join(out, ",")
}

// recorder is a Delegate that records messages and keeps a set of strings
// as its push/pull state (a stand-in for the signed record set).
type recorder struct {
	mu    sync.Mutex
	msgs  []string
	state map[string]bool
}

func newRecorder() *recorder { return &recorder{state: map[string]bool{}} }

func (r *recorder) LocalState() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.state))
	for k := range r.state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return []byte(strings.Join(keys, "\n"))
}

func (r *recorder) MergeRemoteState(buf []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range strings.SplitSeq(string(buf), "\n") {
		if k != "" {
			r.state[k] = true
		}
	}
}

func (r *recorder) NotifyMsg(msg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(msg))
}

func (r *recorder) set(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[k] = true
}

func (r *recorder) hasState(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[k]
}

func (r *recorder) got(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.msgs, msg)
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func testLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("SLUICE_TEST_LOG_LEVEL"))); err != nil {
		return slog.LevelDebug
	}
	return l
}
