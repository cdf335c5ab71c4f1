package opcua

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // OPC UA names certificates by their SHA-1 thumbprint
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/connectors/internal/durable"
)

// The folders of a PKI directory (OPC UA Part 12 keeps certificates in a
// certs/ folder inside each; both layouts are read).
const (
	trustedDir  = "trusted"
	issuersDir  = "issuers"
	rejectedDir = "rejected"
)

// DefaultPKIDir is the PKI folder of a source whose config leaves pki
// empty: <dataDir>/opcua/<source>/pki.
func DefaultPKIDir(dataDir, source string) string {
	return filepath.Join(dataDir, "opcua", source, "pki")
}

// Trust moves every certificate that the OPC UA source named source has
// rejected (in the default PKI folder under dataDir) to its trusted/
// folder, and returns the file names moved. The source connects at its
// next attempt. It is what `sluice opcua trust SOURCE` runs; TrustDir does
// the same for a source with its own pki folder.
func Trust(dataDir, source string) (moved []string, err error) {
	if source == "" || strings.ContainsAny(source, `/\`) || source == "." || source == ".." {
		return nil, fmt.Errorf("invalid source name %q", source)
	}
	return TrustDir(DefaultPKIDir(dataDir, source))
}

// TrustDir moves every certificate in pkiDir/rejected to pkiDir/trusted.
func TrustDir(pkiDir string) (moved []string, err error) {
	rej := filepath.Join(pkiDir, rejectedDir)
	ents, err := os.ReadDir(rej)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(pkiDir, trustedDir), 0o700); err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Rename(filepath.Join(rej, e.Name()), filepath.Join(pkiDir, trustedDir, e.Name())); err != nil {
			return moved, err
		}
		moved = append(moved, e.Name())
	}
	return moved, nil
}

// UntrustedError is returned when a server presents a certificate that is
// neither in trusted/ nor issued by a CA in trusted/. The certificate has
// been written to Path, in rejected/.
type UntrustedError struct {
	Subject    string
	Thumbprint string // SHA-1, hex, as OPC UA tools show it
	Path       string
	Reason     string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("server certificate %q (SHA-1 %s) is not trusted (%s); it was saved to %s: move it to %s/ (or run `sluice opcua trust SOURCE`) to trust it",
		e.Subject, e.Thumbprint, e.Reason, e.Path, filepath.Join(filepath.Dir(filepath.Dir(e.Path)), trustedDir))
}

// pkiStore is a PKI folder. It is read at every connection attempt, so an
// operator's change takes effect at the next attempt.
type pkiStore struct{ dir string }

func (p pkiStore) ensure() error {
	for _, d := range []string{trustedDir, issuersDir, rejectedDir} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o700); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

// verify accepts a server certificate (DER) that is in trusted/, or that
// chains to a CA in trusted/ (with issuers/ supplying intermediates). An
// unknown certificate is written to rejected/ and an *UntrustedError
// returned. A trusted certificate outside its validity period is an error
// too, but it is not moved.
func (p pkiStore) verify(der []byte, now time.Time) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if err := p.ensure(); err != nil {
		return err
	}
	trusted, err := readCerts(filepath.Join(p.dir, trustedDir))
	if err != nil {
		return err
	}
	issuers, err := readCerts(filepath.Join(p.dir, issuersDir))
	if err != nil {
		return err
	}
	validity := func() error {
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return fmt.Errorf("trusted server certificate %q is valid only from %s to %s",
				cert.Subject.String(), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
		}
		return nil
	}
	for _, t := range trusted {
		if bytes.Equal(t.Raw, der) {
			return validity()
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	nroots := 0
	for _, t := range trusted {
		if t.IsCA {
			roots.AddCert(t)
			nroots++
		}
		inter.AddCert(t)
	}
	for _, c := range issuers {
		inter.AddCert(c)
	}
	reason := "unknown certificate"
	if nroots > 0 {
		_, err := cert.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return nil
		}
		reason = err.Error()
	}
	sum := sha1.Sum(der) //nolint:gosec // a name, not a signature
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	path := filepath.Join(p.dir, rejectedDir, certFileName(cert, thumb))
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := durable.WriteFile(path, der); err != nil {
			return fmt.Errorf("pki: saving the rejected certificate: %w", err)
		}
	}
	return &UntrustedError{Subject: cert.Subject.String(), Thumbprint: thumb, Path: path, Reason: reason}
}

// certFileName names a certificate file as "<common name>_<thumbprint>.der",
// keeping only characters safe in a shell.
func certFileName(c *x509.Certificate, thumb string) string {
	cn := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, c.Subject.CommonName)
	if len(cn) > 64 {
		cn = cn[:64]
	}
	if cn == "" {
		cn = "server"
	}
	return cn + "_" + thumb + ".der"
}

// readCerts reads every certificate (DER or PEM, one or more per file) in
// dir and in dir/certs.
func readCerts(dir string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, d := range []string{dir, filepath.Join(dir, "certs")} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("pki: %w", err)
			}
			certs, err := parseCerts(b)
			if err != nil {
				continue // CRLs and stray files are not certificates
			}
			out = append(out, certs...)
		}
	}
	return out, nil
}

// parseCerts reads PEM certificates, or one DER certificate.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{c}, nil
}

// loadCert reads a certificate file (PEM or DER) and returns the DER of
// its first certificate.
func loadCert(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a certificate: %w", path, err)
	}
	return certs[0].Raw, nil
}

// loadKey reads an RSA private key: PEM (PKCS#1 or PKCS#8) or DER.
func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		der = blk.Bytes
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key (PEM or DER, PKCS#1 or PKCS#8)", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: OPC UA needs an RSA key, not %T", path, k)
	}
	return rk, nil
}

// ownMu serialises generating the agent's client certificate, which every
// OPC UA source of the agent shares.
var ownMu sync.Mutex

// The agent's own application instance certificate, under the data dir.
const (
	ownCertFile = "cert.der"
	ownKeyFile  = "key.pem"
)

// ownCertificate returns the client certificate and key in dir
// (<data_dir>/opcua/own), generating them on first use: a self-signed
// RSA-2048 certificate, valid 10 years, whose URI is the application URI
// (urn:sluice:<host>) and that carries the host name. 2048 bits suit
// every policy, from Basic128Rsa15 (at most 2048) to Aes256_Sha256_RsaPss.
func ownCertificate(dir string) ([]byte, *rsa.PrivateKey, error) {
	ownMu.Lock()
	defer ownMu.Unlock()
	certPath, keyPath := filepath.Join(dir, ownCertFile), filepath.Join(dir, ownKeyFile)
	if _, err := os.Stat(certPath); err == nil {
		der, err := loadCert(certPath)
		if err != nil {
			return nil, nil, err
		}
		key, err := loadKey(keyPath)
		return der, key, err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	der, key, err := newCertificate(host, "urn:sluice:"+host, 10*365*24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := durable.WriteFile(keyPath, keyPEM); err != nil {
		return nil, nil, err
	}
	if err := durable.WriteFile(certPath, der); err != nil {
		return nil, nil, err
	}
	return der, key, nil
}

// newCertificate makes a self-signed OPC UA application certificate.
func newCertificate(host, appURI string, validFor time.Duration) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Sluice@" + host, Organization: []string{"Sluice"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
			x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
		DNSNames:              []string{host},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return der, key, nil
}
