//go:build !unix

package audit

import (
	"os"
	"path/filepath"
)

// lockDir only creates <dir>/LOCK: there is no flock here, so keeping to
// one appending process is up to the operator.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
}
