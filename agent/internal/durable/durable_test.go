package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "users.json")
	for _, content := range []string{"one", "two, longer", "3"} {
		if err := WriteFile(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("after writing %q: %q, %v", content, got, err)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries in the directory, want only the file (no temporary left)", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "admin.token")
	if err := CreateFile(p, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(p, []byte("b")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a" {
		t.Fatalf("the existing file was changed to %q", got)
	}
	// An empty file, as a crash between create and write leaves it.
	empty := filepath.Join(dir, "metrics.token")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(empty, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(empty); string(got) != "c" {
		t.Fatalf("the empty file holds %q, want c", got)
	}
}
