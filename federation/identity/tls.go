package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ServerConfig returns a TLS 1.3 server configuration for the agent's
// federation listener. It presents [leaf, tenant CA], requires a client
// certificate chain and accepts any well-formed tenant chain (see the package
// documentation); handlers learn which tenant called with PeerTenant. Every
// call returns a new *tls.Config that the caller may extend (NextProtos,
// ...), leaving the certificate and verification fields alone.
func (t *Tenant) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		Time:       t.now,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.leaf.Load(), nil
		},
		// Tenants share no root: crypto/tls only checks that the client
		// holds the leaf's key; VerifyConnection checks the chain, on every
		// handshake including resumptions.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyChain(cs.PeerCertificates, t.now(), x509.ExtKeyUsageClientAuth)
			if err != nil {
				return fmt.Errorf("client certificate: %w", err)
			}
			return nil
		},
	}
}

// ClientConfig returns a TLS 1.3 client configuration for dialing an agent
// of the tenant expectedPeer (from an invitation or the community state).
// It presents [leaf, tenant CA] and fails the handshake unless the server
// presents a well-formed chain of exactly that tenant (ErrWrongTenant for a
// well-formed chain of another). Host names are not checked: the pinned
// tenant is the identity. The error is for an invalid expectedPeer.
func (t *Tenant) ClientConfig(expectedPeer string) (*tls.Config, error) {
	want, err := ParseID(expectedPeer)
	if err != nil {
		return nil, fmt.Errorf("client config: expected peer: %w", err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		Time:       t.now,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return t.leaf.Load(), nil
		},
		// Tenants share no root: crypto/tls only checks that the server
		// holds the leaf's key; VerifyConnection checks the chain and the
		// pinned tenant, on every handshake including resumptions.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyChain(cs.PeerCertificates, t.now(), x509.ExtKeyUsageServerAuth)
			if err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			if id != want {
				return fmt.Errorf("server certificate: %w: peer is tenant %s, want %s", ErrWrongTenant, id, want)
			}
			return nil
		},
	}, nil
}

// PeerTenant returns the tenant ID of the client of a connection accepted
// with ServerConfig, for instance r.TLS in an HTTP handler. It verifies the
// presented chain again (clientAuth usage, validity by the Options clock)
// rather than trusting anything the peer sent besides it, so it is safe on
// a state from any TLS 1.3 configuration.
func (t *Tenant) PeerTenant(cs *tls.ConnectionState) (string, error) {
	switch {
	case cs == nil:
		return "", errors.New("peer tenant: not a TLS connection")
	case !cs.HandshakeComplete:
		return "", errors.New("peer tenant: TLS handshake not complete")
	case cs.Version != tls.VersionTLS13:
		return "", fmt.Errorf("peer tenant: TLS version %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	id, err := verifyChain(cs.PeerCertificates, t.now(), x509.ExtKeyUsageClientAuth)
	if err != nil {
		return "", fmt.Errorf("peer tenant: %w", err)
	}
	return id, nil
}
