package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

var (
	// ErrUntrustedPeer is wrapped by every rejection of a presented
	// certificate chain; the message names the check that failed.
	ErrUntrustedPeer = errors.New("untrusted peer certificate chain")
	// ErrWrongTenant is wrapped when a peer, or a key, belongs to another
	// tenant than the one expected.
	ErrWrongTenant = errors.New("wrong tenant")
)

func untrusted(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUntrustedPeer}, args...)...)
}

// verifyChain applies the rules of the package documentation to a chain
// presented as [leaf, CA] and returns the tenant ID of the CA. The leaf must
// carry every extended key usage in usages.
func verifyChain(certs []*x509.Certificate, now time.Time, usages ...x509.ExtKeyUsage) (string, error) {
	if len(certs) != 2 {
		return "", untrusted("got %d certificates, want exactly 2 (agent leaf, tenant CA)", len(certs))
	}
	leaf, ca := certs[0], certs[1]
	if leaf == nil || ca == nil {
		return "", untrusted("missing certificate")
	}
	id, err := checkCA(ca)
	if err != nil {
		return "", err
	}
	if err := checkValidity("tenant CA", ca, now); err != nil {
		return "", err
	}
	if err := checkLeaf(leaf, ca, usages); err != nil {
		return "", err
	}
	if err := checkValidity("agent leaf", leaf, now); err != nil {
		return "", err
	}
	return id, nil
}

// checkCA checks everything about a tenant CA certificate but its validity
// period, and returns its tenant ID.
func checkCA(ca *x509.Certificate) (string, error) {
	pub, ok := ca.PublicKey.(ed25519.PublicKey)
	if !ok || ca.PublicKeyAlgorithm != x509.Ed25519 {
		return "", untrusted("tenant CA: key is %v, want Ed25519", ca.PublicKeyAlgorithm)
	}
	if len(ca.UnhandledCriticalExtensions) != 0 {
		return "", untrusted("tenant CA: unhandled critical extension %v", ca.UnhandledCriticalExtensions[0])
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return "", untrusted("tenant CA: not a CA certificate (basic constraints)")
	}
	if ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return "", untrusted("tenant CA: key usage lacks certificate signing")
	}
	if !bytes.Equal(ca.RawIssuer, ca.RawSubject) {
		return "", untrusted("tenant CA: not self-signed (issuer differs from subject)")
	}
	if ca.SignatureAlgorithm != x509.PureEd25519 {
		return "", untrusted("tenant CA: signature algorithm %v, want Ed25519", ca.SignatureAlgorithm)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		return "", untrusted("tenant CA: self-signature does not verify: %w", err)
	}
	return IDFromKey(pub), nil
}

// checkLeaf checks a leaf against the CA that signed it, but not its
// validity period.
func checkLeaf(leaf, ca *x509.Certificate, usages []x509.ExtKeyUsage) error {
	if len(leaf.UnhandledCriticalExtensions) != 0 {
		return untrusted("agent leaf: unhandled critical extension %v", leaf.UnhandledCriticalExtensions[0])
	}
	if leaf.IsCA {
		return untrusted("agent leaf: is a CA certificate")
	}
	switch k := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return untrusted("agent leaf: ECDSA curve %s, want P-256", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return untrusted("agent leaf: key is %v, want ECDSA P-256 or Ed25519", leaf.PublicKeyAlgorithm)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return untrusted("agent leaf: key usage lacks digital signature")
	}
	if !bytes.Equal(leaf.RawIssuer, ca.RawSubject) {
		return untrusted("agent leaf: issuer is not the presented tenant CA")
	}
	if leaf.SignatureAlgorithm != x509.PureEd25519 {
		return untrusted("agent leaf: signature algorithm %v, want Ed25519", leaf.SignatureAlgorithm)
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return untrusted("agent leaf: not signed by the presented tenant CA: %w", err)
	}
	for _, u := range usages {
		if !slices.Contains(leaf.ExtKeyUsage, u) {
			return untrusted("agent leaf: extended key usage lacks %s", usageName(u))
		}
	}
	return nil
}

func checkValidity(what string, c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return untrusted("%s: not valid before %s (now %s)", what, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return untrusted("%s: expired at %s (now %s)", what, c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	}
	return fmt.Sprintf("usage %d", u)
}
