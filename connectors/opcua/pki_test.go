package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue makes a certificate for key, signed by parent (self-signed when nil).
func issue(t *testing.T, cn string, key *rsa.PrivateKey, parent *x509.Certificate, parentKey *rsa.PrivateKey, ca bool, from, to time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: from, NotAfter: to, IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageKeyEncipherment,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func writeDER(t *testing.T, path string, der []byte, asPEM bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if asPEM {
		der = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	if err := os.WriteFile(path, der, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPKIRejectThenTrust(t *testing.T) {
	now := time.Now()
	dataDir := t.TempDir()
	dir := DefaultPKIDir(dataDir, "plc")
	store := pkiStore{dir: dir}
	server := issue(t, "PLC 1/A", testKey(t), nil, nil, false, now.Add(-time.Hour), now.Add(time.Hour))

	err := store.verify(server.Raw, now)
	var ue *UntrustedError
	if !errors.As(err, &ue) {
		t.Fatalf("unknown certificate: %v", err)
	}
	if filepath.Dir(ue.Path) != filepath.Join(dir, rejectedDir) || !strings.HasPrefix(filepath.Base(ue.Path), "PLC_1_A_") ||
		!strings.Contains(err.Error(), "sluice opcua trust") || len(ue.Thumbprint) != 40 {
		t.Fatalf("untrusted error %+v: %v", ue, err)
	}
	// Refused again, still one file.
	_ = store.verify(server.Raw, now)
	if ents, _ := os.ReadDir(filepath.Join(dir, rejectedDir)); len(ents) != 1 {
		t.Fatalf("rejected/ holds %d files", len(ents))
	}

	moved, err := Trust(dataDir, "plc")
	if err != nil || len(moved) != 1 {
		t.Fatalf("Trust: %v %v", moved, err)
	}
	if err := store.verify(server.Raw, now); err != nil {
		t.Fatalf("trusted certificate refused: %v", err)
	}
	// Expired, though trusted: refused, not moved.
	if err := store.verify(server.Raw, now.Add(2*time.Hour)); err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "valid only from") {
		t.Fatalf("expired: %v", err)
	}
	if _, err := Trust(dataDir, "../x"); err == nil {
		t.Error("Trust accepted a path as source name")
	}
	if moved, err := Trust(dataDir, "never-ran"); err != nil || len(moved) != 0 {
		t.Errorf("Trust of a source without PKI: %v %v", moved, err)
	}
}

func TestPKIChains(t *testing.T) {
	now := time.Now()
	from, to := now.Add(-time.Hour), now.Add(time.Hour)
	caKey, interKey := testKey(t), testKey(t)
	ca := issue(t, "Plant CA", caKey, nil, nil, true, from, to)
	inter := issue(t, "Plant Issuing CA", interKey, ca, caKey, true, from, to)
	leaf := issue(t, "plc2", testKey(t), inter, interKey, false, from, to)

	// The root in trusted/certs (Part 12 layout, PEM), the intermediate in
	// issuers/: trusted.
	dir := t.TempDir()
	writeDER(t, filepath.Join(dir, trustedDir, "certs", "ca.pem"), ca.Raw, true)
	writeDER(t, filepath.Join(dir, issuersDir, "inter.der"), inter.Raw, false)
	if err := (pkiStore{dir: dir}).verify(leaf.Raw, now); err != nil {
		t.Fatalf("chain to a trusted CA refused: %v", err)
	}
	// A CA only in issuers/ does not make its certificates trusted.
	dir2 := t.TempDir()
	writeDER(t, filepath.Join(dir2, issuersDir, "ca.der"), ca.Raw, false)
	writeDER(t, filepath.Join(dir2, issuersDir, "inter.der"), inter.Raw, false)
	var ue *UntrustedError
	if err := (pkiStore{dir: dir2}).verify(leaf.Raw, now); !errors.As(err, &ue) {
		t.Fatalf("chain to an issuer accepted: %v", err)
	}
}

func TestOwnCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "own")
	der, key, err := ownCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URIs) != 1 || !strings.HasPrefix(c.URIs[0].String(), "urn:sluice:") || key.N.BitLen() != 2048 ||
		c.KeyUsage&x509.KeyUsageDataEncipherment == 0 {
		t.Fatalf("certificate %+v", c)
	}
	// Both 0600, the certificate too: nothing in the data dir is for
	// other users (and Chmod is not cut by the umask).
	for _, f := range []string{ownKeyFile, ownCertFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi, err)
		}
	}
	der2, key2, err := ownCertificate(dir)
	if err != nil || string(der2) != string(der) || !key2.Equal(key) {
		t.Fatal("the certificate was not kept")
	}
	// A PKCS#8 key file loads too.
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(dir, "k8.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := loadKey(path); err != nil || !k.Equal(key) {
		t.Fatalf("PKCS#8: %v", err)
	}
}
