package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/internal/durable"
	"github.com/sluice-edge/sluice/agent/store"
)

// ErrInUse is returned when an agent holds the target data dir.
var ErrInUse = errors.New("an agent is running on the data dir")

// ErrNotEmpty is returned when the target data dir holds files and
// RestoreOptions.Force is not set.
var ErrNotEmpty = errors.New("the data dir is not empty")

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Force restores over a data dir that holds files. They are not
	// deleted: the old dir is renamed aside (Result.Previous).
	Force  bool
	Logger *slog.Logger // nil: discard
	Now    func() time.Time
}

// Result says what Restore did.
type Result struct {
	Manifest *Manifest
	// Previous is where the data dir's old content went, if it had any.
	Previous string
}

// Restore writes the archive at archivePath into dataDir, which no agent
// may be using. The whole archive is verified against its manifest before
// anything is written; it is then unpacked into a new directory beside
// dataDir (files 0600, directories 0700, the store loaded with Badger's
// Load) and only when all of it is on disk does that directory take
// dataDir's name, so a failed restore leaves dataDir as it was.
func Restore(ctx context.Context, archivePath, dataDir string, opts RestoreOptions) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dataDir = filepath.Clean(dataDir)
	// Under DynamicUser= /var/lib/sluice is a link to the real dir: the
	// restore replaces the dir it names and keeps the link.
	if fi, err := os.Lstat(dataDir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(dataDir)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		dataDir = real
	}
	empty, err := emptyDir(dataDir)
	if err != nil {
		return nil, err
	}
	if !empty {
		if err := notInUse(dataDir); err != nil {
			return nil, err
		}
		if !opts.Force {
			return nil, fmt.Errorf("restore into %s: %w (use --force to move its content aside)", dataDir, ErrNotEmpty)
		}
	}
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	m, err := Verify(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", archivePath, err)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-*") // 0700
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(staging)
		}
	}()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := unpack(ctx, f, m, staging, opts.Logger); err != nil {
		return nil, fmt.Errorf("%s: %w", archivePath, err)
	}
	if err := syncTree(staging); err != nil {
		return nil, fmt.Errorf("restore: sync %s: %w", staging, err)
	}
	res := &Result{Manifest: m}
	if _, err := os.Lstat(dataDir); err == nil {
		if empty {
			if err := os.Remove(dataDir); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
		} else {
			res.Previous = fmt.Sprintf("%s.before-restore-%s", dataDir, opts.Now().UTC().Format("20060102T150405Z"))
			for i := 2; ; i++ { // never onto an earlier restore's leftovers
				if _, err := os.Lstat(res.Previous); errors.Is(err, fs.ErrNotExist) {
					break
				}
				res.Previous = fmt.Sprintf("%s.before-restore-%s-%d", dataDir, opts.Now().UTC().Format("20060102T150405Z"), i)
			}
			if err := os.Rename(dataDir, res.Previous); err != nil {
				return nil, fmt.Errorf("restore: move the old data dir aside: %w", err)
			}
		}
	}
	if err := os.Rename(staging, dataDir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	done = true
	if err := durable.SyncDir(parent); err != nil {
		return nil, fmt.Errorf("restore: sync %s: %w", parent, err)
	}
	return res, nil
}

// emptyDir reports whether dir is missing or empty.
func emptyDir(dir string) (bool, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	return len(des) == 0, nil
}

// unpack writes every entry of the (verified) archive under dir, hashing
// again as it writes, since the file could have changed since Verify.
func unpack(ctx context.Context, r io.Reader, m *Manifest, dir string, log *slog.Logger) error {
	tr, closeFn, err := openArchive(r)
	if err != nil {
		return err
	}
	defer closeFn()
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Name] = f
	}
	// The store's parts go, in order, through a pipe into Badger's Load.
	var (
		pw      *io.PipeWriter
		loadErr chan error
	)
	finishStore := func() error {
		if pw == nil {
			return nil
		}
		pw.Close()
		err := <-loadErr
		pw = nil
		return err
	}
	defer func() {
		if pw != nil {
			pw.CloseWithError(errors.New("restore stopped"))
			<-loadErr
		}
	}()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if h.Name == ManifestName {
			continue
		}
		f, ok := want[h.Name]
		if !ok {
			return fmt.Errorf("archive entry %s is not in the manifest (the file changed since it was verified?)", h.Name)
		}
		if strings.HasPrefix(h.Name, storePrefix) {
			if pw == nil {
				var pr *io.PipeReader
				pr, pw = io.Pipe()
				loadErr = make(chan error, 1)
				go func() {
					err := store.Load(ctx, filepath.Join(dir, storeDir), pr, log)
					pr.CloseWithError(err) // unblocks the writer if Load stopped early
					loadErr <- err
				}()
			}
			if err := copyChecked(pw, tr, f); err != nil {
				return err
			}
			continue
		}
		if err := finishStore(); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(h.Name)), tr, f); err != nil {
			return err
		}
	}
	return finishStore()
}

func copyChecked(w io.Writer, r io.Reader, f File) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("%s: does not match the manifest (the file changed since it was verified?)", f.Name)
	}
	return nil
}

func writeFile(p string, r io.Reader, f File) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = copyChecked(out, r, f)
	if err == nil {
		err = out.Chmod(0o600) // whatever the umask
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncTree makes every directory under root 0700 and fsyncs it, so the
// names of the files written in it are durable before the rename.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return err
		}
		return durable.SyncDir(p)
	})
}
