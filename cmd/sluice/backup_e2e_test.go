package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Backup and restore end to end: a real agent is backed up while a writer
// keeps ingesting, the archive is restored onto a fresh data dir, and an
// agent started there serves the same points, the same identity, and a
// partner's reads of a shared stream.

// backupBase is the first timestamp (s) of the points written during the
// backup; point i is at backupBase+i, so a read shows which are there.
const backupBase = 1795000000

func TestBackupRestoreWhileIngesting(t *testing.T) {
	quickExit(t)
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		t.Fatal(err)
	}
	// Fixed federation ports: the restored agent takes the owner's place
	// at the address the partner knows.
	cfg := fmt.Sprintf("tenant: {name: acme}\nfederation: {listen: 127.0.0.1:%d, gossip: 127.0.0.1:%d, advertise: 127.0.0.1}\n", ports[0], ports[1])
	dir := t.TempDir()
	owner := startAgent(t, filepath.Join(dir, "data"), cfg)
	partner := startFedAgent(t, "partner")

	// History, shared with the partner.
	const history = 50000
	fedFeed(owner, "site1/history", history)
	owner.ok("", "community", "create", testCommunity)
	owner.ok("", "share", "site1/history", "--community", testCommunity)
	fedJoin(owner, partner, "ops@partner.example", "acme/site1/history")
	ownerID, _ := fedCard(owner)

	// A writer that keeps going through the backup. acked counts the
	// points the agent has acknowledged, in order.
	owner.ok("", "stream", "create", "site1/live")
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		const batch = 2000
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var csv strings.Builder
			for j := 0; j < batch; j++ {
				fmt.Fprintf(&csv, "%d,%d\n", backupBase+i*batch+j, j)
			}
			if _, errs, code := owner.cli(csv.String(), "stream", "write", "site1/live"); code != 0 {
				t.Errorf("write during backup: exit %d: %s", code, errs)
				return
			}
			acked.Add(batch)
		}
	}()
	// Wait until ingest is under way, so the backup really races it.
	deadline := time.Now().Add(60 * time.Second)
	for acked.Load() < 4000 {
		if time.Now().After(deadline) {
			t.Fatal("the writer acknowledged nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}

	file := filepath.Join(dir, "acme.tgz")
	before := acked.Load() // acknowledged before the backup began
	start := time.Now()
	out := owner.ok("", "backup", file)
	took := time.Since(start)
	during := acked.Load() - before
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(out, "written to "+file) || !strings.Contains(out, "2 streams") || !strings.Contains(out, ownerID) {
		t.Fatalf("backup output: %s", out)
	}
	t.Logf("backup of %d+%d points: %d bytes in %s; %d points acknowledged during it\n%s",
		history, before, fi.Size(), took, during, out)
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".acme.tgz.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	wantHistory := owner.ok("", "stream", "read", "site1/history", "--start", "0", "--end", "now", "--time", "ns")

	// Restore refuses what it must, before writing anything.
	if _, errs, code := owner.cli("", "restore", file, "--data-dir", owner.dataDir, "--force"); code != 1 || !strings.Contains(errs, "an agent is running on the data dir") {
		t.Fatalf("restore over a running agent: exit %d: %s", code, errs)
	}
	busy := filepath.Join(dir, "busy")
	os.MkdirAll(busy, 0o700)
	os.WriteFile(filepath.Join(busy, "keep"), []byte("x"), 0o600)
	if _, errs, code := owner.cli("", "restore", file, "--data-dir", busy); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a non-empty dir: exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(file)
	damaged := filepath.Join(dir, "damaged.tgz")
	os.WriteFile(damaged, b[:len(b)*2/3], 0o600)
	if _, errs, code := owner.cli("", "restore", damaged, "--data-dir", filepath.Join(dir, "nothing")); code != 1 || errs == "" {
		t.Fatalf("restore of a cut archive: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Fatalf("a refused restore created the data dir: %v", err)
	}

	// The owner's gateway is replaced: stop it, restore, start on the copy.
	if err := owner.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("stop owner: %v", err)
	}
	restoredDir := filepath.Join(dir, "restored")
	out = owner.ok("", "restore", file, "--data-dir", restoredDir)
	if !strings.Contains(out, "restored the backup of tenant acme ("+ownerID+")") {
		t.Fatalf("restore output: %s", out)
	}
	checkPrivate(t, restoredDir)
	for _, f := range []string{"identity/tenant.crt", "identity/agent.crt", "identity/tenant.key", "users.json"} {
		if string(readFile(t, filepath.Join(owner.dataDir, f))) != string(readFile(t, filepath.Join(restoredDir, f))) {
			t.Errorf("%s differs after restore", f)
		}
	}
	restored := startAgent(t, restoredDir, cfg)
	if id, _ := fedCard(restored); id != ownerID {
		t.Fatalf("restored tenant id %s, want %s", id, ownerID)
	}
	if got := restored.ok("", "stream", "read", "site1/history", "--start", "0", "--end", "now", "--time", "ns"); got != wantHistory {
		t.Fatalf("history differs after restore: %d lines, want %d", strings.Count(got, "\n"), strings.Count(wantHistory, "\n"))
	}
	live := restored.ok("", "stream", "read", "site1/live", "--start", "0", "--end", "now", "--time", "ns")
	have := map[int64]bool{}
	for _, line := range strings.Split(live, "\n")[1:] {
		if ts, _, ok := strings.Cut(line, ","); ok {
			n, _ := strconv.ParseInt(ts, 10, 64)
			have[n/1e9-backupBase] = true
		}
	}
	for i := int64(0); i < before; i++ {
		if !have[i] {
			t.Fatalf("point %d, acknowledged before the backup began, is missing (%d of %d present)", i, len(have), before)
		}
	}
	// The restored agent's audit log holds the backup's own start.
	if out := restored.ok("", "audit", "log", "--kind", "admin"); !strings.Contains(out, "backup started") {
		t.Errorf("the restored audit log does not show the backup:\n%s", out)
	}
	restored.ok("", "audit", "verify")
	// The partner reads the shared stream from the restored agent, which
	// answers with the same identity the partner pinned.
	partner.eventually(fedHas("timestamp,value,quality\n", ".5,0\n"), "community", "read", testCommunity,
		"acme/site1/history", "--start", "-1h")
}

// checkPrivate: every directory under root is 0700 and every file 0600.
func checkPrivate(t *testing.T, root string) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
}
