package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tamperLog is the log every tampering case starts from: 60 reads, a
// checkpoint after every 10 entries (seqs 11, 22, ...; reads wait for it,
// LazyCrossTenant), about 9 lines per segment.
func tamperLog(t *testing.T, key *testKey) string {
	t.Helper()
	clk := newClock()
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Signer: key, CheckpointEvery: 10, LazyCrossTenant: true, SegmentSize: 4000, Now: clk.Now})
	for i := range 60 {
		e := read(i)
		e.Detail = fmt.Sprintf("read %d", i)
		mustAppend(t, l, e)
		clk.Add(time.Second)
	}
	mustClose(t, l)
	wantClean(t, mustVerify(t, dir, key))
	return dir
}

// locate returns the file and 1-based line holding entry seq.
func locate(t *testing.T, dir string, seq uint64) (path string, line int) {
	t.Helper()
	for _, p := range segFiles(t, dir) {
		for i, l := range readLines(t, p) {
			if e, err := parseLine(bytes.TrimSuffix(l, []byte("\n"))); err == nil && e.Seq == seq {
				return p, i + 1
			}
		}
	}
	t.Fatalf("entry %d not found", seq)
	return "", 0
}

// editLine replaces old by new in the line of entry seq.
func editLine(t *testing.T, dir string, seq uint64, old, new string) {
	t.Helper()
	p, n := locate(t, dir, seq)
	lines := readLines(t, p)
	if !bytes.Contains(lines[n-1], []byte(old)) {
		t.Fatalf("entry %d has no %q: %s", seq, old, lines[n-1])
	}
	lines[n-1] = bytes.Replace(lines[n-1], []byte(old), []byte(new), 1)
	writeLines(t, p, lines)
}

func TestVerifyDetectsTampering(t *testing.T) {
	key, intruder := newKey(1), newKey(2)
	base := tamperLog(t, key)
	seg := func(n int) string { return segName(n) }

	type want struct {
		file string
		line int
		seq  uint64
		msg  string
	}
	for _, tc := range []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		first    want // the first broken link
		problems int  // how many problems in all
	}{
		{
			name:     "edit one byte of a middle entry",
			tamper:   func(t *testing.T, dir string) { editLine(t, dir, 15, `"read 13"`, `"read 93"`) },
			first:    want{seg(2), 6, 15, "its hash does not match its content: the entry was edited after it was written"},
			problems: 1,
		},
		{
			name:     "edit one byte of a stored hash",
			tamper:   func(t *testing.T, dir string) { flipHashByte(t, dir, 15) },
			first:    want{seg(2), 6, 15, "its hash does not match its content"},
			problems: 1,
		},
		{
			name: "delete a line",
			tamper: func(t *testing.T, dir string) {
				p, n := locate(t, dir, 4)
				lines := readLines(t, p)
				writeLines(t, p, append(lines[:n-1], lines[n:]...))
			},
			first:    want{seg(1), 4, 5, "expected entry #4 here: entry #4 is missing or out of place: entries were removed or moved"},
			problems: 1,
		},
		{
			name: "reorder two lines",
			tamper: func(t *testing.T, dir string) {
				p, n := locate(t, dir, 4)
				lines := readLines(t, p)
				lines[n-1], lines[n] = lines[n], lines[n-1]
				writeLines(t, p, lines)
			},
			first:    want{seg(1), 4, 5, "expected entry #4 here"},
			problems: 2, // and entry 4: "out of order, after entry #5"
		},
		{
			name: "replay a line",
			tamper: func(t *testing.T, dir string) {
				p, n := locate(t, dir, 4)
				lines := readLines(t, p)
				lines = append(lines[:n], append([][]byte{lines[n-1]}, lines[n:]...)...)
				writeLines(t, p, lines)
			},
			first:    want{seg(1), 5, 4, "out of order, after entry #4: entries were moved or replayed"},
			problems: 1,
		},
		{
			name: "delete a middle segment",
			tamper: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, seg(3))); err != nil {
					t.Fatal(err)
				}
			},
			first:    want{seg(4), 1, 28, "expected entry #19 here: entries #19 to #27 are missing or out of place (segment audit-000003.jsonl is missing): entries were removed or moved"},
			problems: 1,
		},
		{
			name: "delete the first segment",
			tamper: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, seg(1))); err != nil {
					t.Fatal(err)
				}
			},
			first:    want{seg(2), 1, 10, "the log starts here, but no retention entry accounts for entries #1 to #9: segments were removed"},
			problems: 1,
		},
		{
			name: "forge a checkpoint",
			tamper: func(t *testing.T, dir string) {
				relink(t, dir, 11, intruder) // re-signs 11 and every later checkpoint
			},
			first:    want{seg(2), 2, 11, "the checkpoint's signature does not verify with the tenant key: it was forged"},
			problems: 6, // every checkpoint from 11 on
		},
		{
			name: "edit an entry and re-link the rest without the key",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, 15, `"points":113`, `"points":1`)
				relink(t, dir, 15, intruder)
			},
			first:    want{seg(3), 4, 22, "the checkpoint's signature does not verify with the tenant key"},
			problems: 5,
		},
		{
			name: "edit an entry and fix its own hash",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, 15, `"points":113`, `"points":1`)
				rehashOne(t, dir, 15)
			},
			first:    want{seg(2), 7, 16, "its prev hash does not match entry #15: the entry before it was changed"},
			problems: 1,
		},
		{
			name: "time moved back, chain re-signed",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, 30, `"time":"2026-03-01T09:00:27Z"`, `"time":"2026-03-01T08:00:27Z"`)
				relink(t, dir, 30, key)
			},
			first:    want{seg(4), 3, 30, "its time 2026-03-01T08:00:27Z is before entry #29's 2026-03-01T09:00:26Z: the log was edited"},
			problems: 1,
		},
		{
			name: "corrupt middle line",
			tamper: func(t *testing.T, dir string) {
				p, n := locate(t, dir, 12)
				lines := readLines(t, p)
				lines[n-1] = []byte("{not json\n")
				writeLines(t, p, lines)
			},
			first:    want{seg(2), 3, 0, "corrupt line (not an entry): the file was damaged or edited"},
			problems: 1,
		},
		{
			name: "incomplete line before the end",
			tamper: func(t *testing.T, dir string) {
				p := filepath.Join(dir, seg(2))
				b, _ := os.ReadFile(p)
				os.WriteFile(p, b[:len(b)-40], 0o640)
			},
			first:    want{seg(2), 9, 0, "the line is incomplete (no newline) but is not the end of the log"},
			problems: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tc.tamper(t, dir)
			rep := mustVerify(t, dir, key)
			if rep.OK() {
				t.Fatalf("tampering not detected:\n%s", rep.String())
			}
			p := rep.Problems[0]
			if p.File != tc.first.file || p.Line != tc.first.line || p.Seq != tc.first.seq || !strings.HasPrefix(p.Msg, tc.first.msg) {
				t.Fatalf("first problem %+v\nwant %+v\n%s", p, tc.first, rep.String())
			}
			if len(rep.Problems) != tc.problems {
				t.Fatalf("%d problems, want %d:\n%s", len(rep.Problems), tc.problems, rep.String())
			}
			if !strings.HasPrefix(rep.String(), "audit log: "+p.String()+".\n") || !strings.Contains(rep.String(), "chain BROKEN") {
				t.Fatalf("report text:\n%s", rep.String())
			}
		})
	}
}

// flipHashByte changes one hex digit of entry seq's stored hash.
func flipHashByte(t *testing.T, dir string, seq uint64) {
	t.Helper()
	p, n := locate(t, dir, seq)
	lines := readLines(t, p)
	l := lines[n-1]
	i := len(l) - 4 // a hex digit near the end of the hash
	if l[i] == '0' {
		l[i] = '1'
	} else {
		l[i] = '0'
	}
	writeLines(t, p, lines)
}

// rehashOne recomputes the stored hash of entry seq only.
func rehashOne(t *testing.T, dir string, seq uint64) {
	t.Helper()
	p, n := locate(t, dir, seq)
	lines := readLines(t, p)
	e, err := parseLine(bytes.TrimSuffix(lines[n-1], []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if lines[n-1], _, err = newEncoder().encode(&e); err != nil {
		t.Fatal(err)
	}
	writeLines(t, p, lines)
}

func TestVerifyTruncatedEnd(t *testing.T) {
	key := newKey(1)
	dir := copyDir(t, tamperLog(t, key))
	// 60 reads and 6 checkpoints (11, 22, ... 66; nothing left unsigned
	// for Close): cut checkpoint 66 and reads 65 and 64. Checkpoint 55 is
	// then the last, and the 8 entries after it are unsigned.
	files := segFiles(t, dir)
	last := files[len(files)-1]
	lines := readLines(t, last)
	writeLines(t, last, lines[:len(lines)-3])
	rep := mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.LastSeq != 63 || rep.SignedThrough != 55 || rep.Unsigned != 8 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(rep.String(), "8 entries after the last checkpoint (#56 to #63) are not signed (8 of them partner reads or other cross-tenant events). A cleanly stopped agent leaves none") {
		t.Fatalf("report text:\n%s", rep.String())
	}
}

func TestVerifyEmptyAndMissing(t *testing.T) {
	rep := mustVerify(t, t.TempDir(), nil)
	wantClean(t, rep)
	if rep.Entries != 0 || !strings.Contains(rep.String(), "no entries") {
		t.Fatalf("empty log: %+v", rep)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "nope"), nil); err == nil {
		t.Fatal("Verify of a missing directory succeeded")
	}
	// Corrupt lines are skipped and counted by Query.
	dir := copyDir(t, tamperLog(t, newKey(1)))
	p, n := locate(t, dir, 12)
	lines := readLines(t, p)
	lines[n-1] = []byte("{not json\n")
	writeLines(t, p, lines)
	var count int
	st, err := QueryDir(context.Background(), dir, Filter{}, func(Entry) bool { count++; return true })
	if err != nil || st.Unreadable != 1 || count != 65 || st.Matched != 65 {
		t.Fatalf("QueryDir: %d entries, %+v, %v", count, st, err)
	}
}
