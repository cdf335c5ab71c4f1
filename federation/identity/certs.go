package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	caValidity   = 20 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry Load re-issues a certificate.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates peers whose clocks run a little behind.
	backdate = time.Hour
	// maxNameLen bounds a display name (the X.509 common name limit).
	maxNameLen = 64

	pemCert = "CERTIFICATE"
	pemKey  = "PRIVATE KEY"
)

// checkName validates a tenant display name.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("tenant name is empty")
	case !utf8.ValidString(name):
		return fmt.Errorf("tenant name is not valid UTF-8")
	case utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Errorf("tenant name is longer than %d characters", maxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("tenant name %q has leading or trailing space", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("tenant name %q contains a control character", name)
	}
	return nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // positive, at most 128 bits
}

// newCACert self-signs the tenant CA certificate for key.
func newCACert(key ed25519.PrivateKey, name string, now time.Time) ([]byte, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	id := IDFromKey(key.Public().(ed25519.PublicKey))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sluice tenant"}, SerialNumber: id},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create tenant CA certificate: %w", err)
	}
	return der, nil
}

// sans is the normalized set of addresses a leaf certificate names.
type sans struct {
	dns []string
	ips []net.IP
}

// parseAdvertise turns advertise addresses (host or host:port) into SANs.
func parseAdvertise(addrs []string) (sans, error) {
	var s sans
	for _, a := range addrs {
		host := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
		if ip := net.ParseIP(host); ip != nil {
			if ip.IsUnspecified() {
				return sans{}, fmt.Errorf("advertise address %q: unspecified address", a)
			}
			if !slices.ContainsFunc(s.ips, ip.Equal) {
				s.ips = append(s.ips, ip)
			}
			continue
		}
		host = strings.ToLower(host)
		if err := checkDNSName(host); err != nil {
			return sans{}, fmt.Errorf("advertise address %q: %w", a, err)
		}
		if !slices.Contains(s.dns, host) {
			s.dns = append(s.dns, host)
		}
	}
	return s, nil
}

func checkDNSName(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host name must have 1 to 253 characters")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("bad host name label %q", label)
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host name label %q: character %q not allowed", label, c)
			}
		}
	}
	return nil
}

// equal reports whether the leaf names exactly the addresses of s.
func (s sans) equal(leaf *x509.Certificate) bool {
	norm := func(dns []string, ips []net.IP) []string {
		out := make([]string, 0, len(dns)+len(ips))
		for _, d := range dns {
			out = append(out, "dns:"+d)
		}
		for _, ip := range ips {
			out = append(out, "ip:"+ip.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(s.dns, s.ips), norm(leaf.DNSNames, leaf.IPAddresses))
}

// newLeaf issues an agent leaf certificate and its key, signed by the CA.
func newLeaf(ca *x509.Certificate, caKey ed25519.PrivateKey, name string, s sans, now time.Time) (der []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate agent key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	cn := "sluice agent"
	if len(s.dns) > 0 {
		cn = s.dns[0]
	} else if len(s.ips) > 0 {
		cn = s.ips[0].String()
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{name}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create agent certificate: %w", err)
	}
	return der, key, nil
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// decodePEM returns the DER of the single PEM block of type typ in data.
func decodePEM(data []byte, typ string) ([]byte, error) {
	b, rest := pem.Decode(data)
	switch {
	case b == nil:
		return nil, fmt.Errorf("no PEM block found")
	case b.Type != typ:
		return nil, fmt.Errorf("PEM block is %q, want %q", b.Type, typ)
	case len(b.Headers) != 0:
		return nil, fmt.Errorf("PEM block has headers (encrypted keys are not supported)")
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, fmt.Errorf("unexpected data after the PEM block")
	}
	return b.Bytes, nil
}

func marshalKey(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return encodePEM(pemKey, der), nil
}

// readTenantKey reads and parses an Ed25519 tenant key file.
func readTenantKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenant key: %w", err)
	}
	key, err := parseTenantKey(data)
	if err != nil {
		return nil, fmt.Errorf("tenant key %s: %w", path, err)
	}
	return key, nil
}

func parseTenantKey(pemData []byte) (ed25519.PrivateKey, error) {
	der, err := decodePEM(pemData, pemKey)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an Ed25519 key", k)
	}
	return key, nil
}

// readCert reads a file holding one PEM certificate.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	der, err := decodePEM(data, pemCert)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", path, err)
	}
	return c, nil
}

// readLeafKey reads the agent's ECDSA or Ed25519 TLS key.
func readLeafKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent key: %w", err)
	}
	der, err := decodePEM(data, pemKey)
	if err != nil {
		return nil, fmt.Errorf("agent key %s: %w", path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("agent key %s: parse PKCS#8 key: %w", path, err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("agent key %s: key is %T, want ECDSA or Ed25519", path, k)
}

// sameKey reports whether a private key belongs to a certificate.
func sameKey(priv crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the
// directory: after a crash path holds either the old or the new content.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
