package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
)

const (
	// IDPrefix starts every tenant ID.
	IDPrefix = "t-"
	// idChars is the number of base32 characters after the prefix (130 bits).
	idChars = 26
	// IDLen is the length of a tenant ID in bytes.
	IDLen = len(IDPrefix) + idChars
	// shortChars is how many fingerprint characters ShortID keeps.
	shortChars = 8
)

// ErrInvalidID is wrapped by every error of ParseID.
var ErrInvalidID = errors.New("invalid tenant id")

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDFromKey returns the tenant ID of an Ed25519 public key. It returns ""
// for a key of the wrong length.
func IDFromKey(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	sum := sha256.Sum256(pub)
	return IDPrefix + idEncoding.EncodeToString(sum[:])[:idChars]
}

// ParseID checks that s has the form of a tenant ID and returns it in its
// canonical (lowercase) form; upper-case ASCII letters are accepted so that
// an ID read out or typed in still parses. Compare IDs only in canonical
// form. A well-formed ID says nothing about whether such a tenant exists.
func ParseID(s string) (string, error) {
	if len(s) != IDLen {
		return "", fmt.Errorf("%w %q: length %d, want %d", ErrInvalidID, clip(s), len(s), IDLen)
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	if string(b[:len(IDPrefix)]) != IDPrefix {
		return "", fmt.Errorf("%w %q: must start with %q", ErrInvalidID, s, IDPrefix)
	}
	for i, c := range b[len(IDPrefix):] {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return "", fmt.Errorf("%w %q: character %d is not in a-z, 2-7", ErrInvalidID, s, len(IDPrefix)+i+1)
		}
	}
	return string(b), nil
}

// ShortID returns a tenant ID shortened for display ("t-" and 8 characters,
// 40 bits). It is for people reading a screen: never use it to look up,
// compare or authorize a tenant. An invalid ID gives "t-?".
func ShortID(id string) string {
	id, err := ParseID(id)
	if err != nil {
		return IDPrefix + "?"
	}
	return id[:len(IDPrefix)+shortChars]
}

// clip shortens an untrusted string for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
