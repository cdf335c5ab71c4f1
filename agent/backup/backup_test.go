package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/agent/audit"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// newDataDir makes a data dir with a real store holding n points of one
// stream, a real audit log, and a few plain files; the store and log
// stay open, as in a running agent.
func newDataDir(t *testing.T, n int) (string, *store.Store, *audit.Log) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateStream(ctx, point.StreamSpec{Name: "s", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = point.Point{Stream: "s", Time: int64(i+1) * 1e9, Value: point.Float(float64(i))}
	}
	if err := st.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	al, err := audit.Open(audit.Options{Dir: filepath.Join(dir, "audit")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	for i := 0; i < 3; i++ {
		if err := al.Append(ctx, audit.Entry{Kind: audit.KindAdmin, Actor: "admin", Detail: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"identity/tenant.key":      "KEY",
		"federation/records.jsonl": "{\"r\":1}\n{\"r\":2}\n{\"r\":", // an append in flight
		"users.json":               `{"users":[{"name":"admin"},{"name":"bob"}]}`,
		".users.json.tmp-1":        "a temporary file",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, st, al
}

func TestWriteVerifyRestore(t *testing.T) {
	ctx := context.Background()
	const n = 5000
	dir, st, al := newDataDir(t, n)
	for _, gz := range []bool{false, true} {
		var buf bytes.Buffer
		m, err := Write(ctx, &buf, Source{DataDir: dir, Store: st, Audit: al, TenantID: "t-x", Streams: 1, Gzip: gz})
		if err != nil {
			t.Fatal(err)
		}
		if m.Counts.Records != 2 || m.Counts.Users != 2 || m.Counts.AuditEntries != 3 || m.Counts.StoreBytes == 0 {
			t.Fatalf("counts %+v", m.Counts)
		}
		for _, f := range m.Files {
			if strings.Contains(f.Name, ".tmp") || strings.HasPrefix(f.Name, "store/") || strings.HasSuffix(f.Name, "LOCK") {
				t.Errorf("archive holds %s", f.Name)
			}
		}
		vm, err := Verify(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("verify (gzip %v): %v", gz, err)
		}
		if len(vm.Files) != len(m.Files) || vm.TenantID != "t-x" {
			t.Fatalf("verified manifest %+v", vm)
		}
		archive := filepath.Join(t.TempDir(), "b.tar")
		os.WriteFile(archive, buf.Bytes(), 0o600)
		target := filepath.Join(t.TempDir(), "restored")
		if _, err := Restore(ctx, archive, target, RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(target, "federation", "records.jsonl")); string(got) != "{\"r\":1}\n{\"r\":2}\n" {
			t.Errorf("records restored as %q, want the whole lines", got)
		}
		// The restored store serves every point.
		rs, err := store.Open(ctx, store.Options{Dir: filepath.Join(target, "store")})
		if err != nil {
			t.Fatal(err)
		}
		it, err := rs.Window(ctx, "s", store.WindowQuery{Start: 0, End: 1 << 62})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for it.Next() {
			if it.At().Time != int64(count+1)*1e9 {
				t.Fatalf("point %d at %d", count, it.At().Time)
			}
			count++
		}
		it.Close()
		rs.Close()
		if count != n {
			t.Fatalf("restored store holds %d points, want %d", count, n)
		}
		// The audit log restored is a whole chain.
		rl, err := audit.Open(audit.Options{Dir: filepath.Join(target, "audit")})
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := rl.Head(); seq < m.Counts.AuditEntries {
			t.Errorf("restored audit head %d, want %d or more", seq, m.Counts.AuditEntries)
		}
		rl.Close()
	}
}

func TestVerifyRefusesDamage(t *testing.T) {
	ctx := context.Background()
	dir, st, al := newDataDir(t, 100)
	var buf bytes.Buffer
	if _, err := Write(ctx, &buf, Source{DataDir: dir, Store: st, Audit: al}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	// flip changes the last byte of the first sub in the archive.
	flip := func(sub string) []byte {
		b := bytes.Clone(good)
		i := bytes.Index(b, []byte(sub))
		if i < 0 {
			t.Fatalf("%q not in the archive", sub)
		}
		b[i+len(sub)-1] ^= 1
		return b
	}
	cases := map[string]struct {
		archive []byte
		want    string
	}{
		"cut short":        {good[:len(good)/2], "cut short"},
		"no manifest":      {good[:bytes.Index(good, []byte(ManifestName))-200], ""},
		"content changed":  {flip("KEY"), "identity/tenant.key: SHA-256 does not match"},
		"manifest changed": {flip(`"format": 1`), "archive format 0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(c.archive))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify: %v, want an error containing %q", err, c.want)
			}
			archive := filepath.Join(t.TempDir(), "b.tar")
			os.WriteFile(archive, c.archive, 0o600)
			target := filepath.Join(t.TempDir(), "restored")
			if _, err := Restore(ctx, archive, target, RestoreOptions{}); err == nil {
				t.Fatal("Restore accepted a damaged archive")
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("a refused restore wrote %s: %v", target, err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".restored.restore-*")); len(left) > 0 {
				t.Fatalf("staging left behind: %v", left)
			}
		})
	}
}

func TestRestoreForceKeepsTheOldDir(t *testing.T) {
	ctx := context.Background()
	dir, st, al := newDataDir(t, 10)
	var buf bytes.Buffer
	if _, err := Write(ctx, &buf, Source{DataDir: dir, Store: st, Audit: al}); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "b.tar")
	os.WriteFile(archive, buf.Bytes(), 0o600)
	target := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(target, 0o700)
	os.WriteFile(filepath.Join(target, "old"), []byte("old"), 0o600)
	if _, err := Restore(ctx, archive, target, RestoreOptions{}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty dir: %v, want ErrNotEmpty", err)
	}
	res, err := Restore(ctx, archive, target, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(res.Previous, "old")); err != nil || string(b) != "old" {
		t.Fatalf("old content not kept in %q: %v", res.Previous, err)
	}
	if _, err := os.Stat(filepath.Join(target, "identity", "tenant.key")); err != nil {
		t.Fatal(err)
	}
	// Through a symbolic link (DynamicUser's /var/lib/sluice): the link
	// stays, the directory it names is replaced.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, archive, link, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if _, err := os.Stat(filepath.Join(link, "identity", "tenant.key")); err != nil {
		t.Fatal(err)
	}
	// A running agent's dir (the audit log is locked) is refused.
	if _, err := Restore(ctx, archive, dir, RestoreOptions{Force: true}); !errors.Is(err, ErrInUse) {
		t.Fatalf("restore over a running agent: %v, want ErrInUse", err)
	}
}

// TestSave: the archive file appears only when the archive is whole, the
// sender says it finished, and it verifies; otherwise nothing is left in
// the directory, not even the temporary file.
func TestSave(t *testing.T) {
	ctx := context.Background()
	dir, st, al := newDataDir(t, 100)
	var buf bytes.Buffer
	if _, err := Write(ctx, &buf, Source{DataDir: dir, Store: st, Audit: al, TenantID: "t-x"}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	ok := func() error { return nil }
	for name, c := range map[string]struct {
		archive  []byte
		complete func() error
		want     string
	}{
		"short":       {good[:len(good)/2], ok, "does not verify"},
		"unfinished":  {good, func() error { return errors.New("the agent failed") }, "the agent failed"},
		"bit flipped": {append(bytes.Clone(good[:len(good)-600]), append([]byte{good[len(good)-600] ^ 1}, good[len(good)-599:]...)...), ok, "does not verify"},
	} {
		out := t.TempDir()
		_, _, err := Save(bytes.NewReader(c.archive), filepath.Join(out, "b.tar"), c.complete)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
		if es, _ := os.ReadDir(out); len(es) != 0 {
			t.Errorf("%s: left %v behind", name, es)
		}
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	m, n, err := Save(bytes.NewReader(good), out, ok)
	if err != nil || m.TenantID != "t-x" || n != int64(len(good)) {
		t.Fatalf("Save = %+v, %d, %v; want tenant t-x, %d bytes", m, n, err, len(good))
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("saved file differs from the archive (%v)", err)
	}
}
