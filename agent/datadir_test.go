package agent

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivateDataDirThroughLink: under DynamicUser= the data dir
// /var/lib/sluice is a link to /var/lib/private/sluice. The directory it
// names is made 0700 and walked; links inside are left alone, and so are
// the files they point to.
func TestPrivateDataDirThroughLink(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "private", "sluice")
	mkdir := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(real, 0o755)
	mkdir(filepath.Join(real, "store"), 0o750)
	write(filepath.Join(real, "store", "000001.vlog"), 0o644)
	write(filepath.Join(real, "tool"), 0o755) // owner's x bit stays
	write(filepath.Join(root, "elsewhere"), 0o644)
	if err := os.Symlink(filepath.Join(root, "elsewhere"), filepath.Join(real, "link")); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(root, "sluice")
	if err := os.Symlink(real, dataDir); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	if err := privateDataDir(dataDir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		real:                         0o700,
		filepath.Join(real, "store"): 0o700,
		filepath.Join(real, "store", "000001.vlog"): 0o600,
		filepath.Join(real, "tool"):                 0o700,
		filepath.Join(root, "elsewhere"):            0o644,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if fi, err := os.Lstat(dataDir); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the data dir link itself: %v %v, want it still a link", fi.Mode(), err)
	}
	for _, want := range []string{`msg="data dir was open to other users; made it owner-only"`, "mode=-rwxr-xr-x", "count=3"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	// A second start finds nothing to change and says nothing.
	logs.Reset()
	if err := privateDataDir(dataDir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("second start logged:\n%s", logs.String())
	}
	// A data dir that is a file is an error, not a walk.
	write(filepath.Join(root, "file"), 0o600)
	if err := privateDataDir(filepath.Join(root, "file"), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a file as data dir: no error")
	}
}
