package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

func TestBackupLoadAndCheckFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	pts := make([]point.Point, 3000)
	for i := range pts {
		pts[i] = point.Point{Stream: "x", Time: int64(i+1) * 1e9, Value: point.Float(float64(i) / 3)}
	}
	if _, err := s.CreateStream(ctx, point.StreamSpec{Name: "x", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Backup(cancelled, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup with a cancelled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Load(ctx, filepath.Join(dir, "a"), bytes.NewReader(buf.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("load into a used dir: %v", err)
	}
	b := filepath.Join(dir, "b")
	if err := Load(ctx, b, bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(b); err != nil {
		t.Fatalf("a loaded store does not check: %v", err)
	}
	r, err := Open(ctx, Options{Dir: b})
	if err != nil {
		t.Fatal(err)
	}
	it, err := r.Window(ctx, "x", WindowQuery{Start: 0, End: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		if p := it.At(); p.Time != pts[n].Time || p.Value.F != pts[n].Value.F {
			t.Fatalf("point %d: %+v, want %+v", n, p, pts[n])
		}
		n++
	}
	it.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n != len(pts) {
		t.Fatalf("loaded %d points, want %d", n, len(pts))
	}

	// Damage the loaded store's first table: CheckFiles names it.
	tables, _ := filepath.Glob(filepath.Join(b, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table file after close")
	}
	fi, _ := os.Stat(tables[0])
	if err := os.Truncate(tables[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(tables[0])) {
		t.Fatalf("CheckFiles on a cut table: %v", err)
	}
}

// BenchmarkCheckFiles measures the start-up check of a store's files
// (CheckFiles: every table's footer and index, not its data) on a store
// of 1,000 streams x 10,000 points, compacted. The page cache is warm,
// so this is the CPU and system-call cost; index-KiB/table is what a
// cold start reads from disk per table besides.
//
//	us/table        the check's time per table file
//	ms/GiB          per GiB of table files, for scaling to a large store
//	index-KiB/table bytes of footer and index read per table
//	index-MiB/GiB   the same per GiB of table files: what a cold start
//	                reads, divided by the disk's speed, is its wait
func BenchmarkCheckFiles(b *testing.B) {
	dir := b.TempDir()
	fillCompacted(b, dir, 1000, 10_000)
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	var sstBytes, indexBytes int64
	for _, p := range tables {
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		sstBytes += fi.Size()
		indexBytes += tableIndexBytes(b, p)
	}
	if len(tables) == 0 {
		b.Fatal("no table files")
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := CheckFiles(dir); err != nil {
			b.Fatal(err)
		}
	}
	per1 := time.Since(start) / time.Duration(b.N)
	gib := float64(sstBytes) / (1 << 30)
	b.ReportMetric(float64(per1.Nanoseconds())/1e3/float64(len(tables)), "us/table")
	b.ReportMetric(float64(per1.Nanoseconds())/1e6/gib, "ms/GiB")
	b.ReportMetric(float64(indexBytes)/(1<<20)/gib, "index-MiB/GiB")
	b.ReportMetric(float64(indexBytes)/1024/float64(len(tables)), "index-KiB/table")
	b.ReportMetric(float64(len(tables)), "tables")
}

// tableIndexBytes is the size of a table's footer and index: its last 4
// bytes give the checksum's length, the 4 before the checksum the
// index's (the layout checkTable reads).
func tableIndexBytes(b *testing.B, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	n := int64(len(data))
	chk := int64(binary.BigEndian.Uint32(data[n-4:]))
	idx := int64(binary.BigEndian.Uint32(data[n-8-chk : n-4-chk]))
	return 8 + chk + idx
}
