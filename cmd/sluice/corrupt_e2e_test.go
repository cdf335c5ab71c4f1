package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A data dir with a damaged file: the agent refuses to start, names the
// file and the way out, and exits non-zero; never a panic, never a start
// with less data than it had.

// damagedRun runs `sluice agent` on dataDir and returns its stderr and
// exit code. An agent that starts fails the test (it must refuse), and
// is killed after a deadline so that the test cannot hang.
func damagedRun(t *testing.T, dataDir string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, "agent")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0", "SLUICE_DATA_DIR="+dataDir,
		"SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_FEDERATION_LISTEN=127.0.0.1:0", "SLUICE_GOSSIP_LISTEN=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the agent did not exit on a damaged data dir:\n%s", stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), code
}

// copyDir copies a stopped agent's data dir.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDamagedDataDirRefusesToStart(t *testing.T) {
	quickExit(t)
	golden := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, golden, "")
	fedFeed(a, "site1/flow", 20000)
	a.ok("", "community", "create", testCommunity)
	a.ok("", "share", "site1/flow", "--community", testCommunity)
	a.ok("", "community", "create", "second")
	if err := a.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(golden, "store", "*.sst"))
	if len(tables) == 0 {
		t.Fatal("the stopped store has no table file to damage")
	}
	table := filepath.Join("store", filepath.Base(tables[0]))
	if n := strings.Count(readFile(t, filepath.Join(golden, "federation", "records.jsonl")), "\n"); n < 2 {
		t.Fatalf("records.jsonl holds %d records, want 2 or more", n)
	}
	segs, _ := filepath.Glob(filepath.Join(golden, "audit", "audit-*.jsonl"))
	if len(segs) == 0 {
		t.Fatal("no audit segment")
	}
	segment := filepath.Join("audit", filepath.Base(segs[len(segs)-1]))

	truncate := func(by int64) func(string) error {
		return func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()-by)
		}
	}
	half := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Truncate(p, fi.Size()/2)
	}
	overwrite := func(off int64, junk string) func(string) error {
		return func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte(junk), off)
			return err
		}
	}
	// garbleLine replaces line n (0-based) of a JSON Lines file, keeping
	// its newline: whole, so not what a crash leaves.
	garbleLine := func(n int) func(string) error {
		return func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			lines := strings.SplitAfter(string(b), "\n")
			lines[n] = `{"r":"not a record` + "\n"
			return os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600)
		}
	}
	cases := []struct {
		name   string
		file   string // relative to the data dir
		damage func(path string) error
	}{
		{"manifest cut mid-entry", "store/MANIFEST", truncate(3)},
		{"manifest bad magic", "store/MANIFEST", overwrite(0, "XXXX")},
		{"manifest missing", "store/MANIFEST", os.Remove},
		{"table cut short", table, half},
		{"key registry garbled", "store/KEYREGISTRY", overwrite(16, "Goodbye!")},
		{"tenant key garbled", "identity/tenant.key", overwrite(0, "garbage garbage garbage")},
		{"tenant certificate cut", "identity/tenant.crt", half},
		{"tenant info cut", "identity/tenant.json", half},
		{"record garbled", "federation/records.jsonl", garbleLine(0)},
		{"federation state cut", "federation/local.json", half},
		{"users file cut", "users.json", half},
		{"audit log's last entry garbled", segment, func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return overwrite(fi.Size()-10, "#")(p) // inside its hash
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			copyDir(t, golden, dir)
			if err := c.damage(filepath.Join(dir, c.file)); err != nil {
				t.Fatal(err)
			}
			stderr, code := damagedRun(t, dir)
			if code == 0 {
				t.Fatalf("exit 0 on a damaged %s:\n%s", c.file, stderr)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic on a damaged %s:\n%s", c.file, stderr)
			}
			if strings.Contains(stderr, "agent ready") {
				t.Fatalf("the agent served on a damaged %s:\n%s", c.file, stderr)
			}
			last := stderr[strings.LastIndex(strings.TrimRight(stderr, "\n"), "\n")+1:]
			if !strings.Contains(last, filepath.Join(dir, c.file)) && !strings.Contains(last, filepath.Base(c.file)) {
				t.Fatalf("the error does not name %s:\n%s", c.file, last)
			}
			if !strings.Contains(last, "sluice restore") {
				t.Fatalf("the error does not name the way out (sluice restore):\n%s", last)
			}
		})
	}

	// A torn last record is what a crash during an append leaves (never
	// acknowledged): the agent starts, says so, and keeps the bytes.
	t.Run("torn last record", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		copyDir(t, golden, dir)
		p := filepath.Join(dir, "federation", "records.jsonl")
		if err := truncate(10)(p); err != nil {
			t.Fatal(err)
		}
		a := startAgent(t, dir, "")
		if !strings.Contains(a.logs(), "dropped an incomplete last line") {
			t.Fatalf("no warning about the torn record:\n%s", a.logs())
		}
		if torn := readFile(t, p+".torn"); len(torn) == 0 {
			t.Fatal("the torn record's bytes were not kept")
		}
		if out := a.ok("", "community", "list"); !strings.Contains(out, testCommunity) {
			t.Fatalf("the records before the torn one are gone: %s", out)
		}
	})
}
