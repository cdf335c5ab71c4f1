// Package statefile saves the PI sources' state files (the OMF model,
// the PI Web API's read positions) so that a crash leaves the old file or
// the new one, never a torn one.
package statefile

import (
	"os"
	"path/filepath"
)

// Save writes data to path atomically and durably: a temporary file in
// the same directory, fsync, rename, fsync of the directory (without it
// the rename itself may be lost in a power cut).
func Save(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
