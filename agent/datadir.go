package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The data dir holds the tenant's private key, the admin token, the
// users file, the audit log and the store: nothing in it is for other
// local users. The agent creates every directory 0700 and every file 0600
// (cmd/sluice sets umask 077 for what libraries create, Badger's files
// among them), and tightens what older versions left more open.

// privateDataDir creates the data dir (0700) or, if it exists, makes it
// 0700, then takes group and other permissions off every directory and
// regular file under it, logging what it changed. Owner bits are kept, so
// a file placed there by hand keeps working for the agent's user;
// symbolic links are neither followed nor changed. Only a data dir that
// cannot be created is an error: a mode the agent may not change (a file
// owned by another user) is logged and left alone.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// /var/lib/sluice is a link to /var/lib/private/sluice under
	// DynamicUser=: tighten and walk the directory it names.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if old := fi.Mode().Perm(); old&0o077 != 0 {
		if err := os.Chmod(root, old&^0o077); err != nil {
			log.Warn("data dir is open to other users and its mode cannot be changed", "path", dir, "mode", old.String(), "err", err)
		} else {
			log.Warn("data dir was open to other users; made it owner-only", "path", dir,
				"mode", old.String(), "now", (old &^ 0o077).String())
		}
	}
	var changed int
	var errs []error
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if path == root || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // removed meanwhile
				errs = append(errs, err)
			}
			return nil
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(path, perm&^0o077); err != nil {
				errs = append(errs, err)
				return nil
			}
			changed++
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	if changed > 0 {
		log.Warn("files in the data dir were open to other users; made them owner-only", "path", dir, "count", changed)
	}
	if len(errs) > 0 {
		log.Warn("could not make everything in the data dir owner-only", "path", dir, "problems", len(errs), "first", errs[0])
	}
	return nil
}
