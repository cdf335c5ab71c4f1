package audit

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// kindsOf lists the kinds of every entry of l, comma-separated.
func kindsOf(t *testing.T, l *Log) string {
	t.Helper()
	var ks []string
	got, _ := queryAll(t, l, Filter{})
	for _, e := range got {
		ks = append(ks, e.Kind)
	}
	return strings.Join(ks, ",")
}

// With the default options a commit that holds a partner read ends with a
// checkpoint, in the same fsync; other entries wait for 64 entries or 30 s.
func TestCheckpointCrossTenant(t *testing.T) {
	clk := newClock()
	l := openLog(t, Options{Signer: newKey(1), Now: clk.Now})
	mustAppend(t, l, Entry{Kind: KindAdmin})
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if got := kindsOf(t, l); got != "admin,admin" {
		t.Fatalf("after two admin entries: %s", got)
	}
	commits := testutil.ToFloat64(l.metrics.commits)
	mustAppend(t, l, read(1))
	if got := kindsOf(t, l); got != "admin,admin,partner_read,checkpoint" {
		t.Fatalf("after a partner read: %s", got)
	}
	if n := testutil.ToFloat64(l.metrics.commits) - commits; n != 1 {
		t.Fatalf("the read and its checkpoint took %v fsyncs, want 1", n)
	}
	// Any entry naming a side or a partner tenant counts.
	mustAppend(t, l, Entry{Kind: "handshake", Tenant: "tenant-b"})
	if got := kindsOf(t, l); !strings.HasSuffix(got, ",handshake,checkpoint") {
		t.Fatalf("after a cross-tenant entry of another kind: %s", got)
	}
	// 64 admin entries: one checkpoint, after the 64th.
	for range DefaultCheckpointEvery {
		mustAppend(t, l, Entry{Kind: KindAdmin})
	}
	if got := kindsOf(t, l); strings.Count(got, "checkpoint") != 3 || !strings.HasSuffix(got, "admin,checkpoint") {
		t.Fatalf("after 64 admin entries: %s", got)
	}
	// 30 s after the last checkpoint, the next entry brings one.
	mustAppend(t, l, Entry{Kind: KindAdmin})
	clk.Add(DefaultCheckpointInterval)
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if got := kindsOf(t, l); strings.Count(got, "checkpoint") != 4 || !strings.HasSuffix(got, "admin,admin,checkpoint") {
		t.Fatalf("after 30 s: %s", got)
	}
	mustAppend(t, l, Entry{Kind: KindAdmin})
	mustClose(t, l)
	rep := mustVerify(t, l.Dir(), newKey(1))
	wantClean(t, rep)
	if rep.Checkpoints != 5 || rep.Unsigned != 0 || rep.SignedThrough != rep.LastSeq {
		t.Fatalf("after Close: %+v", rep)
	}

	// LazyCrossTenant: reads wait like the rest.
	lazy := openLog(t, Options{Signer: newKey(1), LazyCrossTenant: true})
	mustAppend(t, lazy, read(1))
	if got := kindsOf(t, lazy); got != "partner_read" {
		t.Fatalf("lazy: %s", got)
	}
}

// The attack: with write access but not the key, drop the last
// checkpoints and rewrite what follows the one before. Every link is then
// intact, but verify says how much is unsigned, that a clean stop leaves
// nothing unsigned, and, once the agent has restarted on the edited log
// and signed what it found, that those entries were signed late.
func TestTruncatedTailIsReported(t *testing.T) {
	key := newKey(1)
	clk := newClock()
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Signer: key, Now: clk.Now})
	step := func(e Entry) { mustAppend(t, l, e); clk.Add(time.Second) }
	for i := range 10 {
		step(Entry{Kind: KindAdmin, Detail: fmt.Sprintf("admin %d", i)}) // 1-10
	}
	step(read(11)) // 11, checkpoint 12
	for i := range 5 {
		step(Entry{Kind: KindAdmin, Detail: fmt.Sprintf("admin %d", 13+i)}) // 13-17
	}
	step(read(18)) // 18, checkpoint 19
	for i := range 3 {
		step(Entry{Kind: KindAdmin, Detail: fmt.Sprintf("admin %d", 20+i)}) // 20-22
	}
	mustClose(t, l) // checkpoint 23

	rep := mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.LastSeq != 23 || rep.SignedThrough != 23 || rep.Unsigned != 0 || rep.SignedLate != 0 || rep.Checkpoints != 3 {
		t.Fatalf("cleanly closed: %+v", rep)
	}
	if !strings.Contains(rep.String(), "chain intact, signed through #23 (3 checkpoints).\nEvery entry is covered by a signed checkpoint: 0 unsigned.\n") {
		t.Fatalf("cleanly closed, report text:\n%s", rep.String())
	}

	// Cut checkpoints 19 and 23 and what is between them, lower the points
	// of read 18 and re-link it: the chain is intact up to the end.
	seg := segFiles(t, dir)[0]
	lines := readLines(t, seg)
	writeLines(t, seg, lines[:18])
	editLine(t, dir, 18, `"points":118`, `"points":1`)
	relink(t, dir, 18, newKey(2))
	rep = mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.LastSeq != 18 || rep.SignedThrough != 12 || rep.Unsigned != 6 || rep.UnsignedCross != 1 {
		t.Fatalf("tail rewritten: %+v", rep)
	}
	want := "6 entries after the last checkpoint (#13 to #18) are not signed (1 of them partner reads or other cross-tenant events). " +
		"A cleanly stopped agent leaves none"
	if !strings.Contains(rep.String(), want) {
		t.Fatalf("tail rewritten, report text:\n%s\nwant it to contain\n%s", rep.String(), want)
	}

	// The agent starts again on the edited log: it signs what it found,
	// and says it does so after an unclean stop.
	l2 := openLog(t, Options{Dir: dir, Signer: key, Now: clk.Now})
	mustAppend(t, l2, Entry{Kind: KindAdmin, Detail: "after the restart"})
	mustClose(t, l2)
	rep = mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.Unsigned != 0 || rep.SignedLate != 6 || !slices.Equal(rep.Late, []SeqRange{{13, 18}}) {
		t.Fatalf("after the restart: %+v", rep)
	}
	want = "6 entries (#13 to #18) were signed only when the agent restarted after an unclean stop: " +
		"a crash or kill explains that, but so would an edit made while the agent was stopped"
	if !strings.Contains(rep.String(), want) {
		t.Fatalf("after the restart, report text:\n%s\nwant it to contain\n%s", rep.String(), want)
	}

	// The checkpoint's reason is signed: taking it out (and fixing the
	// hashes) breaks the signature.
	cp, line := locate(t, dir, 19)
	lines = readLines(t, cp)
	if !bytes.Contains(lines[line-1], []byte(`"reason":"unclean_stop"`)) {
		t.Fatalf("entry 19 is not the restart's checkpoint: %s", lines[line-1])
	}
	editLine(t, dir, 19, `"reason":"unclean_stop",`, ``)
	e, err := parseLine(bytes.TrimSuffix(readLines(t, cp)[line-1], []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	relinkKeepSignatures(t, dir, 19)
	rep = mustVerify(t, dir, key)
	if rep.OK() || rep.Problems[0].Seq != 19 || !strings.Contains(rep.Problems[0].Msg, "signature does not verify") || e.Reason != "" {
		t.Fatalf("reason taken out:\n%s", rep.String())
	}
}

// relinkKeepSignatures re-links every entry from seq from on without
// re-signing anything, as an intruder who only edits would.
func relinkKeepSignatures(t *testing.T, dir string, from uint64) {
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
				if lines[i], _, err = enc.encode(&e); err != nil {
					t.Fatal(err)
				}
			}
			prev = lineHash(bytes.TrimSuffix(lines[i], []byte("\n")))
		}
		writeLines(t, path, lines)
	}
}

// On a running log, Log.Verify compares the files with the head the log
// holds: an edit of entries no checkpoint signs yet is found, and so is a
// cut tail; the unsigned tail of an untouched live log is called normal.
func TestLiveVerify(t *testing.T) {
	key := newKey(1)
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Signer: key})
	mustAppend(t, l, read(1)) // 1, checkpoint 2
	for i := range 5 {
		mustAppend(t, l, Entry{Kind: KindAdmin, Detail: fmt.Sprintf("admin %d", i)}) // 3-7
	}
	rep, err := l.Verify(key.Verify)
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, rep)
	if rep.Live == nil || rep.Live.Head != 7 || rep.Unsigned != 5 || rep.SignedThrough != 2 {
		t.Fatalf("live: %+v", rep)
	}
	want := "5 entries after the last checkpoint (#3 to #7) are not yet signed. That is normal while the agent runs: " +
		"it signs every 64 entries or 30s, at once after partner reads and other cross-tenant events, and everything when it stops cleanly; " +
		"and it checked that the log on disk ends with the entries it wrote.\n"
	if !strings.Contains(rep.String(), want) {
		t.Fatalf("live, report text:\n%s\nwant it to contain\n%s", rep.String(), want)
	}

	// Rewrite unsigned entries under the running log: the files alone
	// verify, the log knows better.
	editLine(t, dir, 5, `"admin 2"`, `"admin X"`)
	relink(t, dir, 5, newKey(2))
	wantClean(t, mustVerify(t, dir, key))
	rep, err = l.Verify(key.Verify)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problems[0].Seq != 7 || !strings.Contains(rep.Problems[0].Msg, "the files were changed under the running agent") {
		t.Fatalf("rewritten under the log:\n%s", rep.String())
	}

	// Cut the last two entries.
	seg := segFiles(t, dir)[0]
	writeLines(t, seg, readLines(t, seg)[:5])
	rep, err = l.Verify(key.Verify)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.HasPrefix(rep.String(), "audit log: entry #5 in segment audit-000001.jsonl, line 5: "+
		"the log ends here, but the running agent has written up to #7: entries were removed under it.\n") {
		t.Fatalf("cut under the log:\n%s", rep.String())
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 12345: "12,345", 1234567: "1,234,567"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}
