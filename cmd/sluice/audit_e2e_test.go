package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAuditReportsAgree: after a scripted set of partner reads and
// denials, the owner's and the reader's audit reports agree; the chain
// verifies, and so does the owner's log against the reader's export; a
// log cut at a checkpoint verifies alone, but not against the partner's
// export; an entry edited on disk is detected.
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
	if out := acme.ok("", "audit", "verify"); !strings.Contains(out, "chain intact") {
		t.Fatalf("verify: %s", out)
	}

	// The reader's export about acme: acme's log agrees with it. No slack:
	// the reads are seconds old, all of them within a minute of the export.
	acmeID := strings.SplitN(acme.ok("", "tenant", "card"), "\n", 2)[0]
	export := filepath.Join(t.TempDir(), "northwind-about-acme.ndjson")
	if err := os.WriteFile(export, []byte(north.ok("", "audit", "export", "--tenant", acmeID)), 0o600); err != nil {
		t.Fatal(err)
	}
	against := []string{"audit", "verify", "--against", export, "--slack", "0s"}
	out := acme.ok("", against...)
	m := regexp.MustCompile(`(\d+) match\.\n`).FindStringSubmatch(out)
	if m == nil || atoi(m[1]) < atoi(owner[0])+atoi(owner[2]) || !strings.Contains(out, "Both logs agree on every read and denial they both cover.") {
		t.Fatalf("verify --against the reader's export:\n%s", out)
	}

	// Cut acme's log right after the checkpoint that follows its first
	// served read: what is left is intact and signed, so verify alone
	// cannot tell, but northwind's export still holds the later reads.
	if err := acme.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-acme.exited
	seg, _ := filepath.Glob(filepath.Join(acme.dataDir, "audit", "audit-*.jsonl"))
	if len(seg) == 0 {
		t.Fatal("no audit segment on disk")
	}
	lines := strings.SplitAfter(readFile(t, seg[0]), "\n")
	cut := 0
	for i, l := range lines {
		if strings.Contains(l, `"kind":"partner_read"`) && strings.Contains(l, `"outcome":"allowed"`) {
			for j := i + 1; j < len(lines) && cut == 0; j++ {
				if strings.Contains(lines[j], `"kind":"checkpoint"`) {
					cut = j + 1
				}
			}
			break
		}
	}
	if cut == 0 {
		t.Fatalf("no served read followed by a checkpoint in acme's log:\n%s", strings.Join(lines, ""))
	}
	if err := os.WriteFile(seg[0], []byte(strings.Join(lines[:cut], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cutAgent := startAgent(t, acme.dataDir, "")
	if out := cutAgent.ok("", "audit", "verify"); !strings.Contains(out, "chain intact") || !strings.Contains(out, "0 unsigned") {
		t.Fatalf("verify of the cut log:\n%s", out)
	}
	out, errs, code := cutAgent.cli("", against...)
	if code != 1 || !regexp.MustCompile(`\d+ entries of the partner's log have no counterpart in this one`).MatchString(out) ||
		!strings.Contains(errs, "this log and the partner's disagree") {
		t.Fatalf("verify --against after the cut: exit %d\n%s%s", code, out, errs)
	}

	// Edit a byte of an entry in the middle of the chain: verify finds it.
	if err := cutAgent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-cutAgent.exited
	b, _ := os.ReadFile(seg[0])
	i := strings.Index(string(b), `"outcome":"allowed"`)
	if i < 0 {
		t.Fatalf("no allowed read in the log:\n%s", b)
	}
	copy(b[i:], []byte(`"outcome":"denied!"`))
	os.WriteFile(seg[0], b, 0o600)
	// Restarted on the tampered log, the agent's verify names the damage.
	again := startAgent(t, acme.dataDir, "")
	out, errs, code = again.cli("", "audit", "verify")
	if code == 0 || !strings.Contains(errs, "damaged") {
		t.Fatalf("verify after tampering: exit %d\n%s%s", code, out, errs)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rehash recomputes the hash of one audit line (without its newline), as
// an intruder without the tenant key can: SHA-256 of the line with its
// hash member taken out.
func rehash(t *testing.T, line string) string {
	t.Helper()
	i := strings.LastIndex(line, `,"hash":"`)
	if i < 0 {
		t.Fatalf("not an audit line: %s", line)
	}
	sum := sha256.Sum256([]byte(line[:i] + "}"))
	return line[:i] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`
}

// TestAuditVerifySentences: what `sluice audit verify` says, in
// sentences, about a running agent's unsigned tail, a cleanly stopped
// agent's log, a tail rewritten while it was stopped, and an edited entry.
func TestAuditVerifySentences(t *testing.T) {
	quickExit(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, dataDir, "")
	for _, s := range []string{"a/one", "a/two", "a/three"} {
		a.ok("", "stream", "create", s) // one admin entry each
	}
	out := a.ok("", "audit", "verify")
	if !strings.Contains(out, "chain intact") || strings.Contains(out, "{") ||
		!strings.Contains(out, "not yet signed. That is normal while the agent runs") && !strings.Contains(out, "0 unsigned") {
		t.Fatalf("verify of a running agent:\n%s", out)
	}
	segPath := func() string {
		seg, _ := filepath.Glob(filepath.Join(dataDir, "audit", "audit-*.jsonl"))
		if len(seg) != 1 {
			t.Fatalf("audit segments: %v", seg)
		}
		return seg[0]
	}
	stop := func() { // cleanly, as systemd would
		t.Helper()
		if err := a.stop(syscall.SIGTERM, 30*time.Second); err != nil {
			t.Fatalf("stop: %v\n%s", err, a.logs())
		}
	}

	// A clean stop signs everything: the last line is a checkpoint, and
	// the restarted agent finds nothing unsigned.
	stop()
	lines := strings.Split(strings.TrimSuffix(readFile(t, segPath()), "\n"), "\n")
	if n := len(lines); n < 4 || !strings.Contains(lines[n-1], `"kind":"checkpoint"`) {
		t.Fatalf("log after a clean stop:\n%s", strings.Join(lines, "\n"))
	}
	a = startAgent(t, dataDir, "")
	out = a.ok("", "audit", "verify")
	if !strings.Contains(out, "chain intact, signed through #"+strconv.Itoa(len(lines))+" ") ||
		!strings.Contains(out, "Every entry is covered by a signed checkpoint: 0 unsigned.") || strings.Contains(out, "restarted") {
		t.Fatalf("verify after a clean stop:\n%s", out)
	}

	// While it is stopped: drop the last checkpoint and rewrite the entry
	// before it. The agent signs what it finds at its next start, and
	// verify says those entries were signed late.
	stop()
	lines = strings.Split(strings.TrimSuffix(readFile(t, segPath()), "\n"), "\n")
	n := len(lines) - 1 // the checkpoint dropped
	lines = lines[:n]
	edited := strings.Replace(lines[n-1], "/api/v1/streams", "/api/v1/streamz", 1)
	if edited == lines[n-1] {
		t.Fatalf("entry %d is not a stream creation: %s", n, lines[n-1])
	}
	lines[n-1] = rehash(t, edited)
	if err := os.WriteFile(segPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a = startAgent(t, dataDir, "")
	out = a.ok("", "audit", "verify")
	want := regexp.MustCompile(`\n\d+ entries \(#\d+ to #` + strconv.Itoa(n) + `\) were signed only when the agent restarted after an unclean stop: ` +
		`a crash or kill explains that, but so would an edit made while the agent was stopped`)
	if !strings.Contains(out, "chain intact") || !want.MatchString(out) {
		t.Fatalf("verify after the tail was rewritten:\n%s", out)
	}

	// Edit an entry without fixing its hash: verify fails, in a sentence.
	stop()
	lines = strings.Split(strings.TrimSuffix(readFile(t, segPath()), "\n"), "\n")
	lines[1] = strings.Replace(lines[1], "/api/v1/streams", "/api/v1/streamz", 1)
	if err := os.WriteFile(segPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a = startAgent(t, dataDir, "")
	out, errs, code := a.cli("", "audit", "verify")
	first := "audit log: entry #2 in segment audit-000001.jsonl, line 2: its hash does not match its content: the entry was edited after it was written.\n"
	if code != 1 || !strings.HasPrefix(out, first) || strings.Contains(out, "{") || !strings.Contains(out, "chain BROKEN") ||
		errs != "sluice audit verify: the audit log is damaged (see above)\n" {
		t.Fatalf("verify of an edited entry: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
