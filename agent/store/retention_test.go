package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/connectors/point"
)

// noisy returns n points of stream name, one a second from start, with
// random values: they compress badly, so bytes add up quickly.
func noisy(name string, start int64, n int, rng *rand.Rand) []point.Point {
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = point.Point{Stream: name, Time: start + int64(i)*int64(time.Second), Value: point.Float(rng.Float64())}
	}
	return pts
}

func mustWrite(t testing.TB, s *Store, pts []point.Point) {
	t.Helper()
	if err := s.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
}

// await polls cond until it holds or the deadline passes.
func await(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestRetentionRulesByPrefixAndSource(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(10_000_000, 0)
	s := openTest(t, Options{Retention: 10 * time.Hour, Now: func() time.Time { return now }, Rules: []RetentionRule{
		{Prefix: "site1/", MaxAge: time.Hour},
		{Source: "plant-mqtt", MaxAge: 2 * time.Hour},
		{Prefix: "site1/", Source: "plant-mqtt", MaxAge: time.Minute}, // never wins: the first rule matches first
	}})
	for _, spec := range []point.StreamSpec{
		{Name: "site1/a"},
		{Name: "site2/b", Source: "plant-mqtt:plant/b"},
		{Name: "site1/c", Source: "plant-mqtt:plant/c"},
		{Name: "site3/d", Source: "plant-mqtt-2:x"},
	} {
		if _, err := s.CreateStream(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	// One point a minute for 12 hours.
	start := now.Add(-12 * time.Hour).UnixNano()
	for _, name := range []string{"site1/a", "site2/b", "site1/c", "site3/d"} {
		var pts []point.Point
		for i := 0; i < 12*60; i++ {
			pts = append(pts, point.Point{Stream: name, Time: start + int64(i)*int64(time.Minute), Value: point.Float(float64(i))})
		}
		mustWrite(t, s, pts)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"site1/a": 60, "site2/b": 120, "site1/c": 60, "site3/d": 600} {
		if got := len(readAll(t, s, name, math.MinInt64, math.MaxInt64)); got != want {
			t.Errorf("%s: %d points served, want %d", name, got, want)
		}
	}
	sp := s.Space()
	if len(sp.Rules) != 4 || sp.Rules[0].Rule != "site1/" || sp.Rules[1].Rule != "source:plant-mqtt" || sp.Rules[3].Rule != DefaultRuleLabel {
		t.Fatalf("rules in status: %+v", sp.Rules)
	}
	if sp.Rules[0].StreamsMatch != 2 || sp.Rules[1].StreamsMatch != 1 || sp.Rules[2].StreamsMatch != 0 || sp.Rules[3].StreamsMatch != 1 {
		t.Errorf("streams per rule: %+v", sp.Rules)
	}
	// The oldest point served per rule follows each rule's age.
	s.measure()
	sp = s.Space()
	if got, want := sp.Rules[0].Oldest, now.Add(-time.Hour); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
		t.Errorf("oldest of site1/: %v, want about %v", got, want)
	}
	if got, want := sp.Rules[3].Oldest, now.Add(-10*time.Hour); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
		t.Errorf("oldest of default: %v, want about %v", got, want)
	}
}

func TestRuleMaxSizeDropsOldestAcrossStreams(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	const limit = 200 << 10
	s := openTest(t, Options{ChunkPoints: 256, Registerer: reg, Rules: []RetentionRule{{Prefix: "a/", MaxSize: limit}}})
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []string{"a/x", "a/y", "b/z"} {
		mustCreate(t, s, n, point.KindFloat)
	}
	// a/x holds the oldest hours, a/y the newer ones, interleaved a bit;
	// b/z is outside the rule and as old as a/x.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hour := int64(time.Hour)
	for h := int64(0); h < 6; h++ {
		mustWrite(t, s, noisy("a/x", t0+h*hour, 3600, rng))
		mustWrite(t, s, noisy("b/z", t0+h*hour, 3600, rng))
	}
	for h := int64(4); h < 10; h++ {
		mustWrite(t, s, noisy("a/y", t0+h*hour, 3600, rng))
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnforceSize(ctx); err != nil {
		t.Fatal(err)
	}
	sp := s.Space()
	if got := sp.Rules[0].StoredBytes; got > limit {
		t.Fatalf("rule a/ stores %d bytes after the sweep, over its %d", got, limit)
	}
	if sp.Rules[0].Refused != "" {
		t.Fatalf("writes refused: %s", sp.Rules[0].Refused)
	}
	x := readAll(t, s, "a/x", math.MinInt64, math.MaxInt64)
	y := readAll(t, s, "a/y", math.MinInt64, math.MaxInt64)
	z := readAll(t, s, "b/z", math.MinInt64, math.MaxInt64)
	if len(z) != 6*3600 {
		t.Errorf("b/z, outside the rule, lost points: %d of %d", len(z), 6*3600)
	}
	if len(y) == 0 || y[len(y)-1].Time != t0+10*hour-int64(time.Second) {
		t.Fatalf("a/y lost its newest points: %d left", len(y))
	}
	// Oldest first across both streams: whatever a/x still has is newer
	// than what a/y lost.
	if len(y) < 6*3600 && len(x) > 0 && x[0].Time < y[0].Time-int64(MaxChunkSpan) {
		t.Errorf("a/x keeps %v while a/y lost points from %v", time.Unix(0, x[0].Time), time.Unix(0, y[0].Time))
	}
	if len(x) >= 6*3600 {
		t.Errorf("a/x, the oldest, kept all its %d points", len(x))
	}
	// a/x keeps at least its newest chunk.
	if len(x) == 0 {
		t.Errorf("a/x lost its newest chunk")
	}
	if n := testutil.ToFloat64(s.metrics.sizeDropped); n == 0 {
		t.Error("sluice_store_size_dropped_chunks_total is 0")
	}
}

func TestMaxSizeWithNothingToDropRefusesWrites(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{Registerer: reg, Rules: []RetentionRule{{Prefix: "full/", MaxSize: 64 << 10}}})
	rng := rand.New(rand.NewPCG(3, 4))
	// Every stream one chunk: its newest, which size retention keeps.
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("full/s%d", i)
		mustCreate(t, s, name, point.KindFloat)
		mustWrite(t, s, noisy(name, 0, 1000, rng))
	}
	mustCreate(t, s, "free/s", point.KindFloat)
	if err := s.EnforceSize(ctx); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, noisy("full/s0", 2e12, 10, rng))
	if !errors.Is(err, ErrStorageFull) || !strings.Contains(err.Error(), `retention rule "full/" keeps at most 64.0 KiB`) {
		t.Fatalf("write over the rule's max_size: %v", err)
	}
	if n := testutil.ToFloat64(s.metrics.refusals.WithLabelValues(ReasonMaxSize)); n != 1 {
		t.Errorf("refusals{max_size} = %v, want 1", n)
	}
	// Streams outside the rule, and reads, go on.
	mustWrite(t, s, noisy("free/s", 0, 10, rng))
	if got := readAll(t, s, "full/s0", math.MinInt64, math.MaxInt64); len(got) != 1000 {
		t.Fatalf("read while refused: %d points", len(got))
	}
	// Space comes back when streams go: the next sweep lifts the refusal.
	for i := 1; i < 20; i++ {
		if err := s.DeleteStream(ctx, fmt.Sprintf("full/s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(ctx); err != nil { // drops the deleted streams' chunks
		t.Fatal(err)
	}
	if err := s.EnforceSize(ctx); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, noisy("full/s0", 2e12, 10, rng))
}

// TestMaxSizeGivesSpaceBackOnDisk checks the bound on the disk itself:
// with writes going on, the store's allocated bytes come back under
// max_size once Badger has compacted the drops away.
func TestMaxSizeGivesSpaceBackOnDisk(t *testing.T) {
	// A test of disk space, not of concurrency: `make test` runs it
	// without -race (the other retention tests and the agent's full-disk
	// test run under it), since at a tenth of the speed its 50 MiB of
	// writes take minutes.
	ctx := context.Background()
	dir := t.TempDir()
	const maxSize = 32 << 20
	s := openTest(t, Options{Dir: dir, MaxSize: maxSize, MemTableSize: 1 << 20, NoSync: true,
		SizeInterval: time.Hour, CompactInterval: time.Hour})
	rng := rand.New(rand.NewPCG(5, 6))
	const streams = 20
	for i := 0; i < streams; i++ {
		mustCreate(t, s, fmt.Sprintf("s%d", i), point.KindFloat)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	next := t0
	write := func(seconds int) {
		var pts []point.Point
		for i := 0; i < streams; i++ {
			pts = append(pts, noisy(fmt.Sprintf("s%d", i), next, seconds, rng)...)
		}
		mustWrite(t, s, pts)
		next += int64(seconds) * int64(time.Second)
	}
	for i := 0; s.Size() < 3*maxSize/2; i++ {
		write(300)
		if i%20 == 0 { // as the compaction job would, every so often
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		s.measure()
	}
	before := s.Size()
	if err := s.EnforceSize(ctx); err != nil {
		t.Fatal(err)
	}
	dropped := testutil.ToFloat64(s.metrics.sizeDropped)
	if dropped == 0 {
		t.Fatalf("nothing dropped at %d bytes on disk over max_size %d", before, maxSize)
	}
	// Ingest goes on (as it does on a gateway), and with it Badger's
	// flushes and compactions, which carry the tombstones down and free
	// the dropped chunks' space.
	round := 0
	await(t, 120*time.Second, "the disk did not come back under max_size", func() bool {
		write(300)
		if round++; round%20 == 0 {
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.EnforceSize(ctx); err != nil {
			t.Fatal(err)
		}
		du, err := DiskUsage(dir)
		if err != nil {
			t.Fatal(err)
		}
		return du < maxSize
	})
	after, _ := DiskUsage(dir)
	t.Logf("disk %.1f MiB before the sweep, %.1f MiB after (max_size %.0f MiB); %v chunks dropped",
		float64(before)/(1<<20), float64(after)/(1<<20), float64(maxSize)/(1<<20), testutil.ToFloat64(s.metrics.sizeDropped))
	// The newest data survived; the oldest is gone.
	got := readAll(t, s, "s0", math.MinInt64, math.MaxInt64)
	if len(got) == 0 || got[len(got)-1].Time != next-int64(time.Second) {
		t.Fatalf("newest point of s0 lost")
	}
	if got[0].Time == t0 {
		t.Fatalf("oldest point of s0 kept")
	}
}

// mountSmall mounts a file system of size bytes on dir for the test: a
// tmpfs, or a loop-mounted ext4 image where tmpfs cannot be mounted. It
// fails the test when neither works (not root, no mount in a container).
func mountSmall(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small file system, which needs root")
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		img := filepath.Join(t.TempDir(), "fs.img")
		if out2, err2 := exec.Command("sh", "-c", fmt.Sprintf("fallocate -l %d %s && mkfs.ext4 -q %s && mount -o loop %s %s", size, img, img, img, dir)).CombinedOutput(); err2 != nil {
			t.Fatalf("cannot mount a small file system: tmpfs: %v %s; loop ext4: %v %s", err, out, err2, out2)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// fill takes all but keep bytes of the free space of dir's file system
// with a file, as another program filling the disk would.
func fill(t *testing.T, path string, keep int64) {
	t.Helper()
	free, err := freeBytes(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := free - keep; n > 0 {
		// Write, not truncate: a sparse file would take nothing.
		buf := make([]byte, 64<<10)
		for n > 0 {
			m := min(int64(len(buf)), n)
			if _, err := f.Write(buf[:m]); err != nil {
				t.Fatal(err)
			}
			n -= m
		}
	}
}

// TestFullFileSystemRefusesAndRecovers runs the store on an 8 MiB file
// system that another file fills: writes are refused with ErrStorageFull
// (no crash, though Badger writes through memory maps), what was
// acknowledged stays readable and survives a reopen, and writes resume by
// themselves when the space is freed.
func TestFullFileSystemRefusesAndRecovers(t *testing.T) {
	ctx := context.Background()
	mnt := t.TempDir()
	mountSmall(t, mnt, 8<<20)
	dir := filepath.Join(mnt, "store")
	reg := prometheus.NewRegistry()
	opts := Options{Dir: dir, MinFree: 512 << 10, Registerer: reg}
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	mustCreate(t, s, "f", point.KindFloat)
	rng := rand.New(rand.NewPCG(7, 8))
	fill(t, filepath.Join(mnt, "filler"), 3<<20)

	// Write until refused: every acknowledged batch is counted.
	acked, next := 0, int64(0)
	var refusal error
	for i := 0; i < 10000 && refusal == nil; i++ {
		pts := noisy("f", next, 500, rng)
		err := s.Write(ctx, pts)
		switch {
		case err == nil:
			acked += len(pts)
			next += 500 * int64(time.Second)
		case errors.Is(err, ErrStorageFull):
			refusal = err
		default:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "file system full") {
		t.Fatalf("never refused (%d points acknowledged): %v", acked, refusal)
	}
	if acked == 0 {
		t.Fatal("nothing written before the refusal")
	}
	t.Logf("refused after %d points: %v", acked, refusal)
	if n := testutil.ToFloat64(s.metrics.refusals.WithLabelValues(ReasonDiskFull)); n < 1 {
		t.Errorf("refusals{disk_full} = %v", n)
	}
	// Reads go on; a second refusal is still a refusal, not a crash.
	if got := len(readAll(t, s, "f", math.MinInt64, math.MaxInt64)); got != acked {
		t.Fatalf("read while full: %d points, want %d", got, acked)
	}
	if err := s.Write(ctx, noisy("f", next, 500, rng)); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("second write while full: %v", err)
	}
	// Space returns: writes resume, without a reopen.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	pts := noisy("f", next, 500, rng)
	if err := s.Write(ctx, pts); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
	acked += len(pts)
	// Everything acknowledged survives a close (which flushes the
	// memtable on the small file system) and a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{Dir: dir, MinFree: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, s, "f", math.MinInt64, math.MaxInt64)); got != acked {
		t.Fatalf("after reopen: %d points, want %d", got, acked)
	}
}

// TestSizeGaugeIsTheAllocatedSize: sluice_store_size_bytes reads what du
// reads, not 0 and not the sparse files' apparent size.
func TestSizeGaugeIsTheAllocatedSize(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := openTest(t, Options{Dir: dir, Registerer: reg})
	mustCreate(t, s, "g", point.KindFloat)
	mustWrite(t, s, noisy("g", 0, 100000, rand.New(rand.NewPCG(9, 10))))
	if err := s.ApplyRetention(context.Background()); err != nil { // measures after the sweep
		t.Fatal(err)
	}
	s.measure()
	got := s.Size()
	var apparent, blocks int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			apparent += fi.Size()
			blocks += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	if got < 500<<10 || got > apparent/4 {
		t.Fatalf("size %d bytes: want the allocated bytes (%d, du) of 100,000 random floats, well below the apparent %d", got, blocks, apparent)
	}
	if diff := got - blocks; diff < -(1<<20) || diff > 1<<20 {
		t.Fatalf("size %d, du says %d", got, blocks)
	}
	if v := testutil.ToFloat64(prometheusGauge(t, reg, "sluice_store_size_bytes")); int64(v) != got {
		t.Fatalf("sluice_store_size_bytes = %v, Size() = %d", v, got)
	}
}

// prometheusGauge finds a registered gauge by name.
func prometheusGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	var once sync.Once
	var found prometheus.Collector
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			once.Do(func() {
				found = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"}, func() float64 { return mf.Metric[0].GetGauge().GetValue() })
			})
		}
	}
	if found == nil {
		t.Fatalf("%s not registered", name)
	}
	return found
}

// TestSweepPacesItselfUnlessWritesAreRefused: a size sweep rests for most
// of the wall time while ingest goes on, and runs flat out while writes
// are refused for space or the store is over max_size on disk.
func TestSweepPacesItselfUnlessWritesAreRefused(t *testing.T) {
	s := openTest(t, Options{MinFree: -1})
	if p := s.newPacer(false); p.duty != sweepDuty || p.due() {
		t.Fatalf("pacer of a store taking writes: duty %v, due %v", p.duty, p.due())
	}
	p := s.newPacer(false)
	p.began = time.Now().Add(-2 * sweepSlice)
	if !p.due() {
		t.Fatal("slice over, pacer not due")
	}
	start := time.Now()
	if err := p.rest(context.Background()); err != nil {
		t.Fatal(err)
	}
	duty := sweepDuty
	if rested, want := time.Since(start), time.Duration(float64(2*sweepSlice)*(1-duty)/duty); rested < want {
		t.Errorf("rested %v after %v of work, want at least %v", rested, 2*sweepSlice, want)
	}
	e := error(&fullError{reason: ReasonMaxSize, msg: "test"})
	s.sizeRefused.Store(&e)
	if p := s.newPacer(true); p.duty != 1 || p.due() {
		t.Fatalf("pacer of a store over max_size: duty %v", p.duty)
	}
	if p := s.newPacer(false); p.duty != 1 || p.due() {
		t.Fatalf("pacer while writes are refused: duty %v", p.duty)
	}
}
