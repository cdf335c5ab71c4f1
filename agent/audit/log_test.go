package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAppendVerify(t *testing.T) {
	key := newKey(1)
	clk := newClock()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	l := openLog(t, Options{Dir: dir, Signer: key, CheckpointEvery: 10, LazyCrossTenant: true, Now: clk.Now, Registerer: reg})
	for i := range 95 {
		e := read(i)
		if i%7 == 0 {
			e = Entry{Kind: KindAdmin, Actor: "admin", Detail: fmt.Sprintf("share stream %d <&> \"q\" \x01 \xff", i), Outcome: OutcomeOK}
		}
		mustAppend(t, l, e)
		clk.Add(time.Second)
	}
	if seq, _ := l.Head(); seq != 95+9 {
		t.Fatalf("head %d, want 104 (95 entries, 9 checkpoints)", seq)
	}
	mustClose(t, l)

	rep := mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.Entries != 105 || rep.FirstSeq != 1 || rep.LastSeq != 105 || rep.Checkpoints != 10 ||
		rep.SignedThrough != 105 || rep.Unsigned != 0 || rep.Torn != nil || rep.Anchor != 0 {
		t.Fatalf("report %+v", rep)
	}
	if want := "audit log " + dir + ": 105 entries (#1 to #105) in 1 segment, chain intact, signed through #105 (10 checkpoints).\n" +
		"Every entry is covered by a signed checkpoint: 0 unsigned.\n"; rep.String() != want {
		t.Fatalf("report text:\n%s\nwant\n%s", rep.String(), want)
	}

	// Without a key the chain still verifies; nothing counts as signed.
	rep = mustVerify(t, dir, nil)
	wantClean(t, rep)
	if rep.SignaturesChecked || rep.SignedThrough != 0 {
		t.Fatalf("unchecked report %+v", rep)
	}

	// The line format: fixed member order, hash last, canonical bytes hash.
	lines := readLines(t, segFiles(t, dir)[0])
	first := string(lines[0])
	wantPrefix := `{"seq":1,"time":"2026-03-01T09:00:00Z","kind":"admin","actor":"admin","outcome":"ok","detail":"share stream 0 <&> \"q\" \u0001 ` + "\uFFFD" + `","prev":"` + GenesisHash + `","hash":"`
	if !strings.HasPrefix(first, wantPrefix) {
		t.Fatalf("first line\n%s\nwant prefix\n%s", first, wantPrefix)
	}
	second := string(lines[1])
	if !strings.HasPrefix(second, `{"seq":2,"time":"2026-03-01T09:00:01Z","kind":"partner_read","actor":"user-7","tenant":"tenant-b","community":"refining","stream":"plant/boiler/temp","start":"2026-03-01T08:00:00Z","end":"2026-03-01T09:00:00Z","points":101,"outcome":"allowed","side":"owner","detail":"read x","prev":"`) {
		t.Fatalf("second line %s", second)
	}
	cp := string(lines[10])
	if !strings.Contains(cp, `"kind":"checkpoint","signature":"`) {
		t.Fatalf("line 11 is not a checkpoint: %s", cp)
	}

	if n := testutil.CollectAndCount(reg, "sluice_audit_entries_total"); n != len(knownKinds)+1 {
		t.Fatalf("entries_total has %d series, want one per known kind and other", n)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := openLog(t, Options{Signer: newKey(1), CheckpointEvery: 2, Registerer: reg})
	for range 3 {
		mustAppend(t, l, Entry{Kind: KindAdmin, Actor: "a"})
	}
	mustAppend(t, l, Entry{Kind: "custom_kind"})
	if got := testutil.ToFloat64(l.metrics.entries.WithLabelValues(KindAdmin)); got != 3 {
		t.Errorf("admin entries %v, want 3", got)
	}
	if got := testutil.ToFloat64(l.metrics.entries.WithLabelValues(KindCheckpoint)); got != 2 {
		t.Errorf("checkpoints %v, want 2", got)
	}
	if got := testutil.ToFloat64(l.metrics.entries.WithLabelValues("other")); got != 1 {
		t.Errorf("other %v, want 1", got)
	}
	if n := testutil.CollectAndCount(reg, "sluice_audit_append_duration_seconds"); n != 1 {
		t.Errorf("append duration histogram: %d series", n)
	}
	if got := testutil.ToFloat64(l.metrics.commits); got < 1 || got > 4 {
		t.Errorf("commits %v", got)
	}
}

func TestAppendRejects(t *testing.T) {
	l := openLog(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		e    Entry
		want error
	}{
		{"empty kind", Entry{Actor: "a"}, ErrInvalid},
		{"checkpoint is reserved", Entry{Kind: KindCheckpoint}, ErrInvalid},
		{"retention is reserved", Entry{Kind: KindRetention}, ErrInvalid},
		{"year out of range", Entry{Kind: KindPartnerRead, End: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalid},
		{"too large", Entry{Kind: KindAdmin, Detail: strings.Repeat("x", MaxLineBytes)}, ErrTooLarge},
		{"too large once escaped", Entry{Kind: KindAdmin, Detail: strings.Repeat("\x01", MaxLineBytes/5)}, ErrTooLarge},
	} {
		if err := l.Append(ctx, tc.e); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// A refused entry takes no seq.
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if seq, _ := l.Head(); seq != 1 {
		t.Fatalf("head %d, want 1", seq)
	}
	// Caller-set chain fields are overwritten.
	mustAppend(t, l, Entry{Kind: KindAdmin, Seq: 99, Prev: "x", Hash: "y", Signature: []byte("z"), AnchorSeq: 3})
	mustClose(t, l)
	wantClean(t, mustVerify(t, l.Dir(), nil))
	if err := l.Append(ctx, Entry{Kind: KindAdmin}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l2 := openLog(t, Options{})
	if err := l2.Append(cctx, Entry{Kind: KindAdmin}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
}

func TestOptionsAndLock(t *testing.T) {
	for _, o := range []Options{{}, {Dir: "x", CheckpointEvery: -1}, {Dir: "x", CheckpointInterval: -1}, {Dir: "x", SegmentSize: -1}} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
	l := openLog(t, Options{})
	if _, err := Open(Options{Dir: l.Dir()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	mustClose(t, l)
	l2 := openLog(t, Options{Dir: l.Dir()})
	mustClose(t, l2)
}

func TestCheckpointSchedule(t *testing.T) {
	key := newKey(1)
	clk := newClock()
	l := openLog(t, Options{Signer: key, CheckpointEvery: 1000, CheckpointInterval: 10 * time.Minute, Now: clk.Now})
	kinds := func() string {
		var ks []string
		got, _ := queryAll(t, l, Filter{})
		for _, e := range got {
			ks = append(ks, e.Kind)
		}
		return strings.Join(ks, ",")
	}
	mustAppend(t, l, Entry{Kind: KindAdmin})
	clk.Add(5 * time.Minute)
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if got := kinds(); got != "admin,admin" {
		t.Fatalf("after 5 minutes: %s", got)
	}
	clk.Add(6 * time.Minute)
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if got := kinds(); got != "admin,admin,admin,checkpoint" {
		t.Fatalf("after 11 minutes: %s", got)
	}
	// Checkpoint forces one; with nothing unsigned it does nothing.
	mustAppend(t, l, Entry{Kind: KindAdmin})
	for range 2 {
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := kinds(); got != "admin,admin,admin,checkpoint,admin,checkpoint" {
		t.Fatalf("after Checkpoint: %s", got)
	}
	mustClose(t, l) // nothing unsigned: no checkpoint
	rep := mustVerify(t, l.Dir(), key)
	wantClean(t, rep)
	if rep.LastSeq != 6 || rep.SignedThrough != 6 {
		t.Fatalf("report %+v", rep)
	}
}

// The interval timer signs an idle log on its own.
func TestCheckpointTimer(t *testing.T) {
	key := newKey(1)
	l := openLog(t, Options{Signer: key, CheckpointInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tail := l.Tail(ctx, 1)
	mustAppend(t, l, Entry{Kind: KindAdmin})
	if e := recv(t, tail); e.Kind != KindAdmin {
		t.Fatalf("first entry %+v", e)
	}
	if e := recv(t, tail); e.Kind != KindCheckpoint || e.Seq != 2 {
		t.Fatalf("second entry %+v, want the timer's checkpoint", e)
	}
}

func TestConcurrentAppends(t *testing.T) {
	key := newKey(1)
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Signer: key, CheckpointEvery: 100, SegmentSize: 64 << 10})
	const writers, each = 8, 250
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	// Verify is safe on a live log: what it sees is a valid chain.
	wg.Go(func() {
		for range 3 {
			rep, err := Verify(dir, key.Verify)
			if err == nil && !rep.OK() {
				err = errors.New(rep.String())
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := read(i)
				e.Actor = fmt.Sprintf("w%d", w)
				e.Points = int64(i)
				if err := l.Append(context.Background(), e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, st := queryAll(t, l, Filter{Kinds: []string{KindPartnerRead}})
	if len(got) != writers*each || st.Unreadable != 0 {
		t.Fatalf("query: %d entries, stats %+v", len(got), st)
	}
	// Each writer's entries are in its own order.
	next := map[string]int64{}
	for _, e := range got {
		if e.Points != next[e.Actor] {
			t.Fatalf("writer %s: entry %d has points %d, want %d", e.Actor, e.Seq, e.Points, next[e.Actor])
		}
		next[e.Actor]++
	}
	mustClose(t, l)
	rep := mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.Segments < 2 || rep.Entries != writers*each+int64(rep.Checkpoints) || rep.Checkpoints < writers*each/100 {
		t.Fatalf("report %+v", rep)
	}
}

func TestTornLastLine(t *testing.T) {
	key := newKey(1)
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Signer: key, CheckpointEvery: 5, LazyCrossTenant: true})
	for i := range 12 {
		mustAppend(t, l, read(i))
	}
	// A crash now: copy what is on disk, then add half of a line, as a
	// write cut short would.
	crash := copyDir(t, dir)
	mustClose(t, l)
	seg := segFiles(t, crash)[0]
	lines := readLines(t, seg)
	half := lines[len(lines)-1][:len(lines[len(lines)-1])/2]
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(half); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rep := mustVerify(t, crash, key)
	wantClean(t, rep)
	if rep.Torn == nil || rep.Torn.Line != len(lines)+1 || rep.Unsigned != 2 {
		t.Fatalf("before repair: %+v\n%s", rep, rep.String())
	}
	st := mustQueryDir(t, crash)
	if st.Unreadable != 1 {
		t.Fatalf("QueryDir on the torn log: %+v", st)
	}

	// Open repairs the line, and signs the two reads the crash left
	// unsigned at once, saying so.
	l2 := openLog(t, Options{Dir: crash, Signer: key, CheckpointEvery: 5, LazyCrossTenant: true})
	if seq, _ := l2.Head(); seq != 15 {
		t.Fatalf("head after repair %d, want 15 (14 and the checkpoint Open wrote)", seq)
	}
	mustAppend(t, l2, read(99))
	mustClose(t, l2)
	rep = mustVerify(t, crash, key)
	wantClean(t, rep)
	if rep.Torn != nil || rep.LastSeq != rep.SignedThrough || rep.Unsigned != 0 ||
		rep.SignedLate != 2 || !slices.Equal(rep.Late, []SeqRange{{13, 14}}) {
		t.Fatalf("after repair: %+v", rep)
	}
	if !strings.Contains(rep.String(), "2 entries (#13 to #14) were signed only when the agent restarted after an unclean stop") {
		t.Fatalf("report text:\n%s", rep.String())
	}
}

func mustQueryDir(t testing.TB, dir string) QueryStats {
	t.Helper()
	st, err := QueryDir(context.Background(), dir, Filter{}, func(Entry) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestOpenAfterCrash(t *testing.T) {
	key := newKey(1)
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr bool
		head    uint64
	}{
		{"clean crash", func(*testing.T, string) {}, false, 7},
		{"only a torn line in a new segment", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, segName(2)), []byte(`{"seq":8,"ti`), 0o640)
		}, false, 7},
		{"an empty new segment", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, segName(2)), nil, 0o640)
		}, false, 7},
		{"NUL bytes at the end", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, segName(1)), os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}, false, 7},
		{"last complete entry edited", func(t *testing.T, dir string) {
			p := filepath.Join(dir, segName(1))
			lines := readLines(t, p)
			lines[len(lines)-1] = bytes.Replace(lines[len(lines)-1], []byte(`"points":106`), []byte(`"points":999`), 1)
			writeLines(t, p, lines)
		}, true, 0},
		{"last complete line garbage", func(t *testing.T, dir string) {
			p := filepath.Join(dir, segName(1))
			lines := readLines(t, p)
			writeLines(t, p, append(lines, []byte("garbage\n")))
		}, true, 0},
		{"incomplete line in an older segment", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, segName(1)), os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte(`{"seq":8`))
			f.Close()
			os.WriteFile(filepath.Join(dir, segName(2)), nil, 0o640)
		}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, Options{Dir: dir, Signer: key, CheckpointEvery: 1000, LazyCrossTenant: true})
			for i := range 7 {
				mustAppend(t, l, read(i))
			}
			crash := copyDir(t, dir)
			mustClose(t, l)
			tc.damage(t, crash)
			l2, err := Open(Options{Dir: crash, Signer: key, CheckpointEvery: 1000, LazyCrossTenant: true})
			if tc.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The head is the last entry before the crash, and Open has
			// signed the unsigned tail the crash left, as such.
			got, _ := queryAll(t, l2, Filter{})
			if n := len(got); n != int(tc.head)+1 || got[n-2].Seq != tc.head ||
				got[n-1].Kind != KindCheckpoint || got[n-1].Reason != ReasonUncleanStop {
				t.Fatalf("entries after Open: %+v", got)
			}
			mustAppend(t, l2, read(50))
			mustClose(t, l2)
			rep := mustVerify(t, crash, key)
			wantClean(t, rep)
			if rep.Torn != nil || rep.Unsigned != 0 || rep.LastSeq != rep.SignedThrough ||
				rep.SignedLate != int64(tc.head) || !slices.Equal(rep.Late, []SeqRange{{1, tc.head}}) {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	key := newKey(1)
	clk := newClock()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	opts := Options{Dir: dir, Signer: key, Retention: 30 * 24 * time.Hour, CheckpointEvery: 1000, Now: clk.Now, Registerer: reg}
	l := openLog(t, opts)
	for day := range 40 {
		for i := range 10 {
			mustAppend(t, l, read(day*10+i))
			clk.Add(time.Hour)
		}
		clk.Add(14 * time.Hour)
	}
	// Retention runs after each daily rotation: about 30 days are left.
	files := segFiles(t, dir)
	if len(files) < 30 || len(files) > 32 {
		t.Fatalf("%d segments left, want about 31", len(files))
	}
	if _, err := os.Stat(filepath.Join(dir, segName(1))); !os.IsNotExist(err) {
		t.Fatalf("first segment still there: %v", err)
	}
	// One segment a day, 10 reads each; the oldest days are gone.
	got, _ := queryAll(t, l, Filter{Kinds: []string{KindPartnerRead}})
	if oldest := epoch.AddDate(0, 0, 40-len(files)); len(got) != 10*len(files) || !got[0].Time.Equal(oldest) {
		t.Fatalf("%d reads kept, oldest %v; want %d from %v", len(got), got[0].Time, 10*len(files), oldest)
	}
	if removed := testutil.ToFloat64(l.metrics.segmentsRemoved); removed != float64(40-len(files)) {
		t.Fatalf("segments removed metric %v, files left %d", removed, len(files))
	}
	rep := mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.Anchor == 0 || rep.FirstSeq != rep.Anchor+1 {
		t.Fatalf("report %+v", rep)
	}
	mustClose(t, l)

	// Deleting the first retained segment is not covered by any anchor.
	tampered := copyDir(t, dir)
	os.Remove(segFiles(t, tampered)[0])
	rep = mustVerify(t, tampered, key)
	if rep.OK() || !strings.Contains(rep.Problems[0].Msg, "no retention entry accounts for entries #1 to") {
		t.Fatalf("first segment deleted:\n%s", rep.String())
	}

	// A year later, Open removes every segment but the active one, which
	// then rotates for the retention entry's new day.
	clk.Add(365 * 24 * time.Hour)
	l2 := openLog(t, opts)
	mustClose(t, l2)
	if files := segFiles(t, dir); len(files) != 2 {
		t.Fatalf("%d segments after a year, want 2", len(files))
	}
	rep = mustVerify(t, dir, key)
	wantClean(t, rep)
	if rep.Anchor == 0 || rep.Segments != 2 {
		t.Fatalf("report %+v", rep)
	}

	// Negative retention keeps everything.
	keepDir := t.TempDir()
	l3 := openLog(t, Options{Dir: keepDir, Retention: -1, Now: clk.Now})
	for range 3 {
		mustAppend(t, l3, read(0))
		clk.Add(400 * 24 * time.Hour)
	}
	mustAppend(t, l3, read(0))
	mustClose(t, l3)
	if n := len(segFiles(t, keepDir)); n != 4 {
		t.Fatalf("retention -1 kept %d segments, want 4", n)
	}
}

func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, SegmentSize: 1000})
	for i := range 30 {
		mustAppend(t, l, read(i))
	}
	mustClose(t, l)
	files := segFiles(t, dir)
	if len(files) < 8 {
		t.Fatalf("%d segments", len(files))
	}
	for _, f := range files {
		fi, _ := os.Stat(f)
		if n := len(readLines(t, f)); fi.Size() > 1000 && n > 1 {
			t.Fatalf("%s: %d bytes in %d lines", f, fi.Size(), n)
		}
	}
	wantClean(t, mustVerify(t, dir, nil))
}

// A clock that steps back does not make time decrease along the chain.
func TestClockStepsBack(t *testing.T) {
	clk := newClock()
	l := openLog(t, Options{Now: clk.Now})
	mustAppend(t, l, Entry{Kind: KindAdmin})
	clk.Add(-time.Hour)
	mustAppend(t, l, Entry{Kind: KindAdmin})
	got, _ := queryAll(t, l, Filter{})
	if !got[1].Time.Equal(got[0].Time) {
		t.Fatalf("times %v then %v", got[0].Time, got[1].Time)
	}
	mustClose(t, l)
	wantClean(t, mustVerify(t, l.Dir(), nil))
}

// After a failed write the log refuses every Append until reopened; the
// entries before it stay valid.
func TestWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir})
	mustAppend(t, l, read(0))
	// The committer is idle and its last write happened before Append
	// returned, so the test may touch the file.
	l.f.Close()
	for range 2 {
		if err := l.Append(context.Background(), read(1)); err == nil || !strings.Contains(err.Error(), "reopen") {
			t.Fatalf("append after a failed write: %v", err)
		}
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close hid the failure")
	}
	l2 := openLog(t, Options{Dir: dir})
	mustAppend(t, l2, read(2))
	mustClose(t, l2)
	rep := mustVerify(t, dir, nil)
	wantClean(t, rep)
	if rep.LastSeq != 2 {
		t.Fatalf("report %+v", rep)
	}
}
