package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// TestOpenMakesFilesPrivate: Badger creates its files 0666 minus the
// umask and has no option for the mode; Open takes group and other
// permissions off whatever is in its directory, so a store written by an
// older version (or under umask 022, as this test process likely runs)
// is the owner's alone after the next open.
func TestOpenMakesFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(context.Background(), Options{Dir: dir, CompactInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a", point.KindFloat)
	if err := s.Write(context.Background(), []point.Point{{Stream: "a", Time: 1, Value: point.Float(1)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As an older version left them: a group-readable directory and
	// world-readable files, one of them executable by its owner.
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < 3 {
		t.Fatalf("store dir holds %d entries (%v), want Badger's files", len(entries), err)
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, entries[0].Name())
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, Options{Dir: dir})
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if os.IsNotExist(err) {
			continue // Badger may drop a file on open
		}
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if filepath.Join(dir, e.Name()) == exe {
			want = 0o700 // owner bits are kept
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v after open, want %v", e.Name(), got, want)
		}
	}
	if got := readAll(t, s, "a", 0, 10); len(got) != 1 {
		t.Fatalf("read %d points after reopening, want 1", len(got))
	}
}
