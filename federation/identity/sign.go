package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// signContext separates record signatures (Ed25519ctx) from the
// certificate signatures (pure Ed25519) the same tenant key makes.
const signContext = "sluice record v1"

// ErrBadSignature is wrapped when a signature does not verify.
var ErrBadSignature = errors.New("bad signature")

// Sign signs msg with the tenant key (Ed25519ctx, context "sluice record
// v1"). Check it with Verify.
func (t *Tenant) Sign(msg []byte) []byte {
	sig, err := t.key.Sign(rand.Reader, msg, &ed25519.Options{Context: signContext})
	if err != nil {
		// Only a malformed constant context can get here.
		panic("identity: sign: " + err.Error())
	}
	return sig
}

// Verify checks that pub is the key of tenant tenantID and that sig is its
// signature of msg made by Sign. It wraps ErrInvalidID, ErrWrongTenant or
// ErrBadSignature.
func Verify(tenantID string, pub ed25519.PublicKey, msg, sig []byte) error {
	id, err := ParseID(tenantID)
	if err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify signature: public key has %d bytes, want %d: %w", len(pub), ed25519.PublicKeySize, ErrWrongTenant)
	}
	if got := IDFromKey(pub); got != id {
		return fmt.Errorf("verify signature: %w: key belongs to tenant %s, not %s", ErrWrongTenant, got, id)
	}
	if err := ed25519.VerifyWithOptions(pub, msg, sig, &ed25519.Options{Context: signContext}); err != nil {
		return fmt.Errorf("verify signature of tenant %s: %w", id, ErrBadSignature)
	}
	return nil
}
