package backup

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sluice-edge/sluice/agent/internal/durable"
)

// Save writes the archive read from r to file so that file appears only
// once the archive is complete, synced and verified against its own
// manifest: an interrupted or damaged backup never leaves a file that
// looks like one. complete, called once r is read to its end, reports
// whether the sender finished (an HTTP trailer, say). Save returns the
// archive's manifest and its size in bytes.
func Save(r io.Reader, file string, complete func() error) (*Manifest, int64, error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*") // 0600
	if err != nil {
		return nil, 0, fmt.Errorf("create the backup file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return nil, n, fmt.Errorf("receive the backup (after %d bytes): %w", n, err)
	}
	if err := complete(); err != nil {
		return nil, n, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, n, fmt.Errorf("sync the backup file: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, n, err
	}
	m, err := Verify(tmp)
	if err != nil {
		return nil, n, fmt.Errorf("the backup received does not verify: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, n, fmt.Errorf("write the backup file: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return nil, n, fmt.Errorf("write the backup file: %w", err)
	}
	done = true
	if err := durable.SyncDir(dir); err != nil { // else the rename may not survive a power cut
		return nil, n, fmt.Errorf("the backup is at %s, but its directory could not be synced: %w", file, err)
	}
	return m, n, nil
}
