// Package durable writes the connectors' files (the OMF model, the PI
// Web API's read positions, the OPC UA client's key and trusted
// certificates) so that a crash or a power cut leaves the old file or the
// new one, never a torn file or a lost rename. Files are 0600.
//
// It is the connectors' copy of the agent's agent/internal/durable (and
// federation/identity's writer): the fixed top level has no place below
// all three layers for one shared package.
package durable

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with data: a temporary file in the same
// directory (made, 0700, if missing), fsync, rename, fsync of the
// directory (without it the rename itself may be lost in a power cut).
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // 0600
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
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
