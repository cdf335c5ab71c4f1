//go:build unix

package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// notInUse fails with ErrInUse if a process holds the audit log's or
// Badger's lock in dataDir (both are flock locks, released when their
// process ends, however it ends).
func notInUse(dataDir string) error {
	for _, p := range []string{filepath.Join(dataDir, "audit", "LOCK"), filepath.Join(dataDir, "store", "LOCK")} {
		f, err := os.OpenFile(p, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("restore into %s: %w (%s is locked); stop it first", dataDir, ErrInUse, p)
		}
		if err != nil {
			return fmt.Errorf("restore: lock %s: %w", p, err)
		}
	}
	return nil
}
