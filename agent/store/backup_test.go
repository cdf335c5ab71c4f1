package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
