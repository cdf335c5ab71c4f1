package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// signContext mirrors federation/identity: checkpoints are Ed25519ctx
// signatures with the tenant key, context "sluice record v1".
const signContext = "sluice record v1"

// testKey is a tenant key, as *identity.Tenant would sign and
// identity.Verify would check.
type testKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newKey(seed byte) *testKey {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return &testKey{priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

func (k *testKey) Sign(msg []byte) []byte {
	sig, err := k.priv.Sign(nil, msg, &ed25519.Options{Context: signContext})
	if err != nil {
		panic(err)
	}
	return sig
}

func (k *testKey) Verify(msg, sig []byte) error {
	if err := ed25519.VerifyWithOptions(k.pub, msg, sig, &ed25519.Options{Context: signContext}); err != nil {
		return errors.New("bad signature")
	}
	return nil
}

var _ Signer = (*testKey)(nil)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openLog(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, e Entry) {
	t.Helper()
	if err := l.Append(context.Background(), e); err != nil {
		t.Fatalf("Append(%+v): %v", e, err)
	}
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustVerify(t testing.TB, dir string, k *testKey) Report {
	t.Helper()
	var vf VerifyFunc
	if k != nil {
		vf = k.Verify
	}
	rep, err := Verify(dir, vf)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func wantClean(t testing.TB, rep Report) {
	t.Helper()
	if !rep.OK() {
		t.Fatalf("Verify found problems:\n%s", rep.String())
	}
}

// read is the i-th scripted partner read.
func read(i int) Entry {
	return Entry{
		Kind: KindPartnerRead, Actor: "user-7", Tenant: "tenant-b", Community: "refining",
		Stream: "plant/boiler/temp", Start: epoch.Add(-time.Hour), End: epoch,
		Points: int64(100 + i), Outcome: OutcomeAllowed, Side: SideOwner, Detail: "read x",
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

// relink rewrites every entry from seq from on, as an intruder without the
// tenant key would to hide an edit: each prev re-linked, each hash
// recomputed, each checkpoint re-signed with key (not the tenant's).
func relink(t testing.TB, dir string, from uint64, key *testKey) {
	t.Helper()
	enc := newEncoder()
	prev := ""
	for _, path := range segFiles(t, dir) {
		lines := readLines(t, path)
		for i, line := range lines {
			e, err := parseLine(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			if e.Seq >= from {
				if e.Seq > from {
					e.Prev = prev
				}
				if e.Kind == KindCheckpoint {
					e.Signature = key.Sign(checkpointMessage(e.Seq-1, e.Prev, e.Time, e.Reason))
				}
				nl, _, err := enc.encode(&e)
				if err != nil {
					t.Fatal(err)
				}
				lines[i] = nl
			}
			prev = lineHash(bytes.TrimSuffix(lines[i], []byte("\n")))
		}
		writeLines(t, path, lines)
	}
}

// copyDir copies the segment files of a live log: what a crash at this
// moment would leave on disk (every acknowledged entry is fsync'd).
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range segFiles(t, src) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func queryAll(t testing.TB, l *Log, f Filter) ([]Entry, QueryStats) {
	t.Helper()
	var got []Entry
	st, err := l.Query(context.Background(), f, func(e Entry) bool {
		got = append(got, e)
		return true
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	return got, st
}

// recv waits for the next entry on a Tail channel. The deadline only turns
// a hang into a failure; the test is synchronised by the channel.
func recv(t testing.TB, ch <-chan Entry) Entry {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("tail channel closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no entry from Tail within 10s")
	}
	return Entry{}
}
