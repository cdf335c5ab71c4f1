//go:build !unix

package main

// privateUmask does nothing where there is no umask; file access there is
// the data dir's ACL's business.
func privateUmask() {}
