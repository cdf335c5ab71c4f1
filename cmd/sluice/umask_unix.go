//go:build unix

package main

import "golang.org/x/sys/unix"

// privateUmask adds 077 to the process umask, so that every file and
// directory the agent creates from now on is for its own user alone.
//
// The agent's own code creates its files 0600 and its directories 0700,
// but libraries do not: Badger opens its tables, value logs and LOCK file
// with 0666 and has no option for the mode, so under the usual umask 022
// the store would be world-readable. The umask is the one place that
// covers every file any library creates. It is process-wide state, which
// is why only this package sets it, once, in `sluice agent` before the
// agent starts any goroutine that creates files (umask(2) is not
// per-thread, and setting it twice is not atomic), and why the agent
// package leaves it alone: tests run agents in processes of their own.
// The old mask's bits are kept, so a stricter operator umask stays
// stricter. Files that exist from older versions are tightened by the
// agent at start; under systemd, UMask=0077 says the same.
func privateUmask() {
	old := unix.Umask(0o077)
	unix.Umask(old | 0o077)
}
