package durable

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile: the directory is made if missing, the content replaced
// whole, the file private, and no temporary file left behind.
func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "model.json")
	for _, data := range []string{`{"v":1}`, `{"v":2,"longer":true}`, ``} {
		if err := WriteFile(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(filepath.Dir(path)); len(es) != 1 {
		t.Fatalf("directory holds %d entries, want only the file: %v", len(es), es)
	}
	if err := WriteFile(filepath.Join(path, "under-a-file"), nil); err == nil {
		t.Fatal("WriteFile under a regular file succeeded")
	}
}
