package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAuditReportsAgree: after a scripted set of partner reads and
// denials, the owner's and the reader's audit reports agree; the chain
// verifies; an entry edited on disk is detected.
func TestAuditReportsAgree(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	fedFeed(acme, "site1/boiler/temp", 100)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	const stream = "acme-refinery/site1/boiler/temp"
	fedJoin(acme, north, "ops@northwind.example", stream)
	read := []string{"community", "read", testCommunity, stream, "--start", "-1h"}
	for i := 0; i < 3; i++ {
		north.ok("", read...)
	}
	acme.ok("", "community", "pause", testCommunity)
	north.denied("paused", read...)
	north.denied("paused", read...)
	acme.ok("", "community", "resume", testCommunity)

	row := func(a *agentProc, side string) []string {
		t.Helper()
		out := a.ok("", "audit", "report", "--community", testCommunity)
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("report is not CSV: %v\n%s", err, out)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for _, r := range recs[1:] {
			if r[col["side"]] == side && r[col["stream"]] == "site1/boiler/temp" {
				return []string{r[col["reads"]], r[col["points"]], r[col["denials"]]}
			}
		}
		t.Fatalf("no %s row for the stream in:\n%s", side, out)
		return nil
	}
	owner, reader := row(acme, "owner"), row(north, "reader")
	// The first read of fedJoin's wait may have been retried: compare the
	// two sides, and check at least the scripted reads are there.
	// fedJoin's first read (retried until it works) plus the three
	// scripted ones, 100 points each, and the two denials while paused:
	// both sides must count exactly the same.
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if strings.Join(owner, ",") != strings.Join(reader, ",") || atoi(owner[0]) < 4 || atoi(owner[1]) != 100*atoi(owner[0]) || atoi(owner[2]) < 2 {
		t.Fatalf("reports: owner %v, reader %v (reads, points, denials)", owner, reader)
	}
	if out := acme.ok("", "audit", "verify"); !strings.Contains(strings.ToLower(out), "ok") {
		t.Fatalf("verify: %s", out)
	}

	// Edit a byte of an entry in the middle of the chain: verify finds it.
	if err := acme.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-acme.exited
	seg, _ := filepath.Glob(filepath.Join(acme.dataDir, "audit", "audit-*.jsonl"))
	if len(seg) == 0 {
		t.Fatal("no audit segment on disk")
	}
	b, _ := os.ReadFile(seg[0])
	i := strings.Index(string(b), `"outcome":"allowed"`)
	if i < 0 {
		t.Fatalf("no allowed read in the log:\n%s", b)
	}
	copy(b[i:], []byte(`"outcome":"denied!"`))
	os.WriteFile(seg[0], b, 0o600)
	// Restarted on the tampered log, the agent's verify names the damage.
	again := startAgent(t, acme.dataDir, "")
	out, errs, code := again.cli("", "audit", "verify")
	if code == 0 || !strings.Contains(errs, "damaged") {
		t.Fatalf("verify after tampering: exit %d\n%s%s", code, out, errs)
	}
}
