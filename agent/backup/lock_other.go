//go:build !unix

package backup

// notInUse cannot tell a running agent here; the operator must stop it.
func notInUse(dataDir string) error { return nil }
