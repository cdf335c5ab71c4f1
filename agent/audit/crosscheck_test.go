package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readPair is one partner read as both sides log it.
type readPair struct {
	owner, reader Entry
	ownerOnly     bool // logged by the owner only
	readerOnly    bool // logged by the reader only
}

// crossScript: tenant a's and tenant b's logs of the same reads, as
// federation writes them (owner side: Tenant the reader, the window it
// served; reader side: Tenant the owner, the window it asked for).
func crossScript() []readPair {
	t0 := epoch.Add(-time.Hour)
	pair := func(ownerT, readerT, community, stream, read string, start, end, rstart, rend time.Time, points int64) readPair {
		o := Entry{Kind: KindPartnerRead, Side: SideOwner, Actor: readerT + "/u1", Tenant: readerT, Community: community,
			Stream: stream, Detail: read, Start: start, End: end, Points: points, Outcome: OutcomeAllowed}
		r := Entry{Kind: KindPartnerRead, Side: SideReader, Actor: "u1", Tenant: ownerT, Community: community,
			Stream: stream, Detail: read, Start: rstart, End: rend, Points: points, Outcome: OutcomeAllowed}
		if community == "" {
			o.Connection, r.Connection = readerT, ownerT
		}
		return readPair{owner: o, reader: r}
	}
	denied := pair("a", "b", "refining", "s1", "window", t0, epoch, t0, epoch, 0)
	for _, e := range []*Entry{&denied.owner, &denied.reader} {
		e.Kind, e.Outcome, e.Reason = KindReadDenied, OutcomeDenied, "paused"
	}
	throttled := pair("a", "b", "refining", "s1", "window", t0, epoch, t0, epoch, 0)
	throttled.reader.Outcome, throttled.reader.Reason, throttled.readerOnly = OutcomeError, "throttled", true
	return []readPair{
		pair("a", "b", "refining", "s1", "window", t0, epoch, t0, epoch, 100),
		// The share allows one day: the owner clipped the window.
		pair("a", "b", "refining", "s1", "window", epoch.Add(-24*time.Hour), epoch, epoch.Add(-48*time.Hour), epoch, 50),
		denied,
		throttled,
		// Latest: the owner logs [0, now+1), the reader no window.
		pair("a", "b", "refining", "s2", "latest", time.Time{}, epoch.Add(1), time.Time{}, time.Time{}, 1),
		// Over a direct connection.
		pair("a", "b", "", "s3", "window", t0, epoch, t0, epoch, 7),
		// The other way: a reads b's stream.
		pair("b", "a", "refining", "b1", "window", t0, epoch, t0, epoch, 20),
		// The same as the first again.
		pair("a", "b", "refining", "s1", "window", t0, epoch, t0, epoch, 100),
	}
}

// crossLogs writes tenant a's and b's logs of the script, b's clock 2 s
// ahead, and returns their directories.
func crossLogs(t *testing.T) (aDir, bDir string) {
	t.Helper()
	aClk, bClk := newClock(), newClock()
	bClk.Add(2 * time.Second)
	aDir, bDir = t.TempDir(), t.TempDir()
	a := openLog(t, Options{Dir: aDir, Signer: newKey(1), Now: aClk.Now})
	b := openLog(t, Options{Dir: bDir, Signer: newKey(2), Now: bClk.Now})
	for _, p := range crossScript() {
		owner, reader := a, b
		if p.owner.Tenant == "a" { // b owns the stream
			owner, reader = b, a
		}
		if !p.readerOnly {
			mustAppend(t, owner, p.owner)
		}
		if !p.ownerOnly {
			mustAppend(t, reader, p.reader)
		}
		mustAppend(t, a, Entry{Kind: KindAdmin, Detail: "something else"})
		aClk.Add(time.Minute)
		bClk.Add(time.Minute)
	}
	mustClose(t, a)
	mustClose(t, b)
	return aDir, bDir
}

// export writes what `sluice audit export` writes: the header, then the
// entries of dir concerning partner, as the API serves them.
func export(t *testing.T, dir, tenant, partner string, since, until time.Time) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.Encode(ExportHeader{Version: ExportVersion, Tenant: tenant, Partner: partner, Since: since, Until: until})
	_, err := QueryDir(context.Background(), dir, Filter{Tenant: partner, Kinds: []string{KindPartnerRead, KindReadDenied}, Since: since, Until: until},
		func(e Entry) bool { enc.Encode(e); return true })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readExportFile(t *testing.T, path string) (ExportHeader, []Entry) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, es, err := ReadExport(f)
	if err != nil {
		t.Fatalf("ReadExport: %v", err)
	}
	return h, es
}

func entriesAbout(t *testing.T, dir, partner string) []Entry {
	t.Helper()
	var out []Entry
	if _, err := QueryDir(context.Background(), dir, Filter{Tenant: partner}, func(e Entry) bool { out = append(out, e); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompareReads(t *testing.T) {
	aDir, bDir := crossLogs(t)
	since, until := epoch.Add(-time.Hour), epoch.Add(time.Hour)
	h, theirs := readExportFile(t, export(t, bDir, "b", "a", since, until))
	if h.Tenant != "b" || h.Partner != "a" || !h.Until.Equal(until) || len(theirs) != 8 {
		t.Fatalf("export: %+v, %d entries", h, len(theirs))
	}

	// a's log and b's export agree: every read and denial both logged
	// pairs up; the reader's failed read is not compared.
	c := CompareReads(entriesAbout(t, aDir, "b"), theirs, h, DefaultSlack)
	if !c.OK() || c.Matched != 7 || c.Ours != 7 || c.Theirs != 7 || c.NotCompared != 1 || c.AtEdges != 0 {
		t.Fatalf("untouched: %+v\n%s", c, c.String())
	}
	if !strings.Contains(c.String(), "7 of this log's partner reads and denials and 7 of the partner's compared; 7 match.\n"+
		"Both logs agree on every read and denial they both cover.\n"+
		"1 failed read (outcome error) not compared") {
		t.Fatalf("untouched, text:\n%s", c.String())
	}

	// Cut a's log after its second read and the checkpoint that came with
	// it: the cut is signed through, verify alone cannot see it; b's
	// export shows which reads a's log lost.
	seg := segFiles(t, aDir)[0]
	lines := readLines(t, seg)
	cut, reads := 0, 0
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"kind":"partner_read"`)) {
			if reads++; reads == 2 {
				cut = i + 2
				break
			}
		}
	}
	if cut == 0 || cut > len(lines) || !bytes.Contains(lines[cut-1], []byte(`"kind":"checkpoint"`)) {
		t.Fatalf("no second read followed by its checkpoint in a's log")
	}
	writeLines(t, seg, lines[:cut])
	rep := mustVerify(t, aDir, newKey(1))
	wantClean(t, rep)
	if rep.Unsigned != 0 {
		t.Fatalf("cut at a checkpoint: %+v", rep)
	}
	c = CompareReads(entriesAbout(t, aDir, "b"), theirs, h, DefaultSlack)
	if c.OK() || c.Matched != 2 || c.MissingHere != 5 || c.MissingThere != 0 || len(c.OnlyTheirs) != 5 {
		t.Fatalf("a cut: %+v\n%s", c, c.String())
	}
	if !strings.Contains(c.String(), "5 entries of the partner's log have no counterpart in this one") ||
		!strings.Contains(c.String(), "reader side: window read of s3 via a direct connection, window 2026-03-01T08:00:00Z to 2026-03-01T09:00:00Z, 7 points") {
		t.Fatalf("a cut, text:\n%s", c.String())
	}

	// From b's side, the same cut shows as reads b's log holds and a's
	// export lacks; an edit of the points makes a read differ.
	ah, atheirs := readExportFile(t, export(t, aDir, "a", "b", since, until))
	ours := entriesAbout(t, bDir, "a")
	c = CompareReads(ours, atheirs, ah, DefaultSlack)
	if c.MissingThere != 5 || c.MissingHere != 0 {
		t.Fatalf("b against a's cut export: %+v\n%s", c, c.String())
	}
	atheirs[0].Points++
	c = CompareReads(ours, atheirs, ah, DefaultSlack)
	if c.MissingThere != 6 || c.MissingHere != 1 || c.OnlyTheirs[0].Points != 101 {
		t.Fatalf("b against an edited read: %+v\n%s", c, c.String())
	}

	// Unmatched entries within the slack of the period's end are not
	// counted: the exports were taken at different moments.
	h.Until = epoch.Add(7*time.Minute + 30*time.Second) // b logged its last read 28 s before
	c = CompareReads(entriesAbout(t, aDir, "b"), theirs, h, DefaultSlack)
	if c.AtEdges != 1 || c.MissingHere != 4 {
		t.Fatalf("edge: %+v\n%s", c, c.String())
	}
}

func TestReadExportRejects(t *testing.T) {
	for _, tc := range []struct{ name, text, err string }{
		{"empty", "", "empty export"},
		{"not a header", `{"seq":1}` + "\n", "not a sluice audit export header"},
		{"no partner", `{"sluice_audit_export":1,"tenant":"b","until":"2026-03-01T09:00:00Z"}` + "\n", "lacks tenant, partner or until"},
		{"bad entry", `{"sluice_audit_export":1,"tenant":"b","partner":"a","until":"2026-03-01T09:00:00Z"}` + "\n{}\n", "line 2 is not an audit entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadExport(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ReadExport: %v, want %q", err, tc.err)
			}
		})
	}
}
