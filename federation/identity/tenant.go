package identity

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// File and directory names inside the data directory.
const (
	DirName        = "identity"
	tenantKeyFile  = "tenant.key"
	tenantCertFile = "tenant.crt"
	tenantInfoFile = "tenant.json"
	agentKeyFile   = "agent.key"
	agentCertFile  = "agent.crt"
)

// Options tune Init, Load and LoadOrInit. The zero value is usable.
type Options struct {
	// Advertise lists the addresses partners dial (host or host:port; the
	// port is ignored). They become the DNS and IP SANs of the agent's leaf
	// certificate, which is re-issued when they change. Nil keeps the SANs
	// of the existing leaf (for tools that only read the identity); an
	// empty, non-nil slice asks for a leaf without SANs.
	Advertise []string
	// Now is the clock for issuing, renewing and verifying certificates;
	// nil means time.Now.
	Now func() time.Time
	// Logger receives notices about issued certificates and loose file
	// modes; nil discards them.
	Logger *slog.Logger
}

// Tenant is a loaded tenant identity plus this agent's leaf certificate.
// Its methods are safe for concurrent use.
type Tenant struct {
	dir   string // <data dir>/identity
	id    string
	name  string
	key   ed25519.PrivateKey
	ca    *x509.Certificate
	caPEM []byte
	now   func() time.Time
	log   *slog.Logger
	sans  *sans // nil: keep whatever the current leaf names

	renewMu sync.Mutex // serializes RenewLeaf
	leaf    atomic.Pointer[tls.Certificate]
}

// tenantInfo is tenant.json.
type tenantInfo struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Init creates a new tenant identity (tenant key, CA certificate and this
// agent's leaf) under dataDir, which is created if needed. It fails with an
// error wrapping fs.ErrExist if dataDir already holds an identity. The name
// is for display only.
func Init(dataDir, name string, opts Options) (*Tenant, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("init identity: %w", err)
	}
	if opts.Advertise != nil {
		if _, err := parseAdvertise(opts.Advertise); err != nil {
			return nil, fmt.Errorf("init identity: %w", err)
		}
	}
	now := clock(opts)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate tenant key: %w", err)
	}
	caDER, err := newCACert(key, name, now())
	if err != nil {
		return nil, err
	}
	info := tenantInfo{ID: IDFromKey(key.Public().(ed25519.PublicKey)), Name: name, Created: now().UTC()}
	if err := installIdentity(dataDir, key, caDER, info); err != nil {
		return nil, err
	}
	return Load(dataDir, opts)
}

// Load loads the identity under dataDir. It fails with an error wrapping
// fs.ErrNotExist if there is none, and with an error naming the file and
// the check if a file is damaged or the files do not belong together. It
// re-signs the CA certificate (same key, same ID) and re-issues the agent
// leaf when they expire within 30 days; it also re-issues the leaf when it is
// missing, does not match its key or the CA, or names other addresses than
// opts.Advertise.
func Load(dataDir string, opts Options) (*Tenant, error) {
	dir := filepath.Join(dataDir, DirName)
	t := &Tenant{dir: dir, now: clock(opts), log: opts.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if opts.Advertise != nil {
		s, err := parseAdvertise(opts.Advertise)
		if err != nil {
			return nil, fmt.Errorf("load identity: %w", err)
		}
		t.sans = &s
	}
	keyPath := filepath.Join(dir, tenantKeyFile)
	key, err := readTenantKey(keyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no tenant identity in %s: %w", dataDir, err)
		}
		return nil, err
	}
	t.warnMode(keyPath)
	t.key = key
	t.id = IDFromKey(key.Public().(ed25519.PublicKey))

	caPath := filepath.Join(dir, tenantCertFile)
	ca, err := readCert(caPath)
	if errors.Is(err, fs.ErrNotExist) {
		// Not fs.ErrNotExist: the identity exists, and must not be recreated.
		return nil, fmt.Errorf("identity %s is incomplete: %s is missing", dir, caPath)
	}
	if err != nil {
		return nil, err
	}
	if err := checkTenantCA(ca, key); err != nil {
		return nil, fmt.Errorf("certificate %s: %w", caPath, err)
	}
	t.name = ca.Subject.CommonName

	infoPath := filepath.Join(dir, tenantInfoFile)
	if data, err := os.ReadFile(infoPath); err == nil {
		var info tenantInfo
		if err := json.Unmarshal(data, &info); err != nil {
			return nil, fmt.Errorf("tenant info %s: %w", infoPath, err)
		}
		if info.ID != t.id {
			return nil, fmt.Errorf("tenant info %s: id %q does not match the tenant key (%s)", infoPath, info.ID, t.id)
		}
		if err := checkName(info.Name); err != nil {
			return nil, fmt.Errorf("tenant info %s: %w", infoPath, err)
		}
		t.name = info.Name
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read tenant info: %w", err)
	}

	if now := t.now(); now.Before(ca.NotBefore) || now.Add(renewBefore).After(ca.NotAfter) {
		der, err := newCACert(key, t.name, now)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(caPath, encodePEM(pemCert, der), 0o600); err != nil {
			return nil, err
		}
		if ca, err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("parse new tenant CA certificate: %w", err)
		}
		t.log.Info("renewed tenant CA certificate", "tenant", t.id, "not_after", ca.NotAfter)
	}
	t.ca = ca
	t.caPEM = encodePEM(pemCert, ca.Raw)

	cur, err := t.readLeaf()
	if err != nil {
		return nil, err
	}
	if cur != nil {
		t.leaf.Store(cur)
	}
	if _, err := t.RenewLeaf(); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadOrInit loads the identity under dataDir, or creates it with the given
// display name if there is none: what an agent does on every start.
func LoadOrInit(dataDir, name string, opts Options) (*Tenant, error) {
	t, err := Load(dataDir, opts)
	if errors.Is(err, fs.ErrNotExist) {
		t, err = Init(dataDir, name, opts)
		if errors.Is(err, fs.ErrExist) { // another process won the race
			t, err = Load(dataDir, opts)
		}
	}
	return t, err
}

// ExportCA returns the tenant CA certificate and the tenant private key as
// one PEM bundle, for ImportCA on another agent of the same tenant.
//
// The bundle is a SECRET: whoever holds it is the tenant. Move it over a
// trusted channel, keep it out of logs and tickets, and delete it once
// imported. (To give a partner the CA certificate alone, use CACertPEM.)
func ExportCA(dataDir string) ([]byte, error) {
	dir := filepath.Join(dataDir, DirName)
	key, err := readTenantKey(filepath.Join(dir, tenantKeyFile))
	if err != nil {
		return nil, err
	}
	caPath := filepath.Join(dir, tenantCertFile)
	ca, err := readCert(caPath)
	if err != nil {
		return nil, err
	}
	if err := checkTenantCA(ca, key); err != nil {
		return nil, fmt.Errorf("certificate %s: %w", caPath, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, err
	}
	id := IDFromKey(key.Public().(ed25519.PublicKey))
	out := fmt.Appendf(nil, "Sluice tenant CA bundle for %s (%q).\nSECRET: it holds the tenant private key. Import it with ImportCA, then delete it.\n\n", id, ca.Subject.CommonName)
	out = append(out, encodePEM(pemCert, ca.Raw)...)
	return append(out, keyPEM...), nil
}

// ImportCA installs a bundle made by ExportCA under dataDir, so that this
// agent joins the tenant with a leaf of its own (issued by the next Load).
// Importing the identity dataDir already holds does nothing; any other
// existing identity is refused with an error wrapping fs.ErrExist.
func ImportCA(dataDir string, bundle []byte) error {
	key, ca, err := parseBundle(bundle)
	if err != nil {
		return fmt.Errorf("import tenant CA: %w", err)
	}
	id := IDFromKey(key.Public().(ed25519.PublicKey))
	existing, err := readTenantKey(filepath.Join(dataDir, DirName, tenantKeyFile))
	switch {
	case err == nil:
		if have := IDFromKey(existing.Public().(ed25519.PublicKey)); have != id {
			return fmt.Errorf("import tenant CA: %s already holds tenant %s, not %s: %w", dataDir, have, id, fs.ErrExist)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("import tenant CA: %w", err)
	}
	name := ca.Subject.CommonName
	if checkName(name) != nil {
		name = ShortID(id)
	}
	return installIdentity(dataDir, key, ca.Raw, tenantInfo{ID: id, Name: name, Created: time.Now().UTC()})
}

// parseBundle reads exactly one CERTIFICATE and one PRIVATE KEY block; text
// outside the blocks is ignored.
func parseBundle(bundle []byte) (ed25519.PrivateKey, *x509.Certificate, error) {
	var key ed25519.PrivateKey
	var ca *x509.Certificate
	for rest := bundle; ; {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		rest = r
		switch b.Type {
		case pemCert:
			if ca != nil {
				return nil, nil, fmt.Errorf("bundle has more than one certificate")
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("bundle certificate: %w", err)
			}
			ca = c
		case pemKey:
			if key != nil {
				return nil, nil, fmt.Errorf("bundle has more than one private key")
			}
			k, err := parseTenantKey(encodePEM(pemKey, b.Bytes))
			if err != nil {
				return nil, nil, fmt.Errorf("bundle private key: %w", err)
			}
			key = k
		default:
			return nil, nil, fmt.Errorf("bundle has an unexpected %q PEM block", b.Type)
		}
	}
	if ca == nil || key == nil {
		return nil, nil, fmt.Errorf("bundle must hold a CERTIFICATE and a PRIVATE KEY block")
	}
	if err := checkTenantCA(ca, key); err != nil {
		return nil, nil, fmt.Errorf("bundle certificate: %w", err)
	}
	return key, ca, nil
}

// checkTenantCA checks that ca is a well-formed tenant CA for key.
func checkTenantCA(ca *x509.Certificate, key ed25519.PrivateKey) error {
	if _, err := checkCA(ca); err != nil {
		return err
	}
	if !key.Public().(ed25519.PublicKey).Equal(ca.PublicKey) {
		return fmt.Errorf("%w: certificate is for tenant %s, the tenant key is %s", ErrWrongTenant,
			IDFromKey(ca.PublicKey.(ed25519.PublicKey)), IDFromKey(key.Public().(ed25519.PublicKey)))
	}
	return nil
}

// installIdentity writes tenant.key, tenant.crt and tenant.json into a
// temporary directory and renames it to <dataDir>/identity.
func installIdentity(dataDir string, key ed25519.PrivateKey, caDER []byte, info tenantInfo) (err error) {
	dir := filepath.Join(dataDir, DirName)
	if _, err := os.Stat(filepath.Join(dir, tenantKeyFile)); err == nil {
		return fmt.Errorf("identity %s already exists: %w", dir, fs.ErrExist)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	tmp, err := os.MkdirTemp(dataDir, "."+DirName+".tmp-*")
	if err != nil {
		return fmt.Errorf("create identity directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	keyPEM, err := marshalKey(key)
	if err != nil {
		return err
	}
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode tenant info: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{tenantKeyFile, keyPEM, 0o600},
		{tenantCertFile, encodePEM(pemCert, caDER), 0o600},
		{tenantInfoFile, append(infoJSON, '\n'), 0o600},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(tmp, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			if _, serr := os.Stat(filepath.Join(dir, tenantKeyFile)); serr == nil {
				return fmt.Errorf("identity %s already exists: %w", dir, fs.ErrExist)
			}
			return fmt.Errorf("install identity: %s exists but holds no %s; move it away: %w", dir, tenantKeyFile, fs.ErrExist)
		}
		return fmt.Errorf("install identity %s: %w", dir, err)
	}
	return syncDir(dataDir)
}

// readLeaf reads agent.key and agent.crt. Missing files give nil (a leaf is
// issued); damaged files are an error naming the file.
func (t *Tenant) readLeaf() (*tls.Certificate, error) {
	keyPath := filepath.Join(t.dir, agentKeyFile)
	certPath := filepath.Join(t.dir, agentCertFile)
	key, err := readLeafKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w (delete %s and %s to issue a new agent certificate)", err, keyPath, certPath)
	}
	t.warnMode(keyPath)
	leaf, err := readCert(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w (delete %s and %s to issue a new agent certificate)", err, keyPath, certPath)
	}
	if !sameKey(key, leaf) {
		t.log.Warn("agent certificate does not match its key; issuing a new one", "cert", certPath)
		return nil, nil
	}
	return t.tlsCert(leaf, key), nil
}

func (t *Tenant) tlsCert(leaf *x509.Certificate, key crypto.Signer) *tls.Certificate {
	return &tls.Certificate{
		Certificate: [][]byte{leaf.Raw, t.ca.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}
}

// RenewLeaf re-issues this agent's leaf certificate if it expires within 30
// days (by the Options clock), is not valid yet, no longer verifies against
// the tenant CA, or names other addresses than Options.Advertise. It reports
// whether it issued one. New TLS handshakes use the new leaf at once; an
// agent that runs for months calls this about daily (Load calls it too).
func (t *Tenant) RenewLeaf() (bool, error) {
	t.renewMu.Lock()
	defer t.renewMu.Unlock()
	now := t.now()
	s := sans{}
	if t.sans != nil {
		s = *t.sans
	}
	reason := ""
	switch cur := t.leaf.Load(); {
	case cur == nil:
		reason = "no agent certificate"
	case checkLeaf(cur.Leaf, t.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) != nil:
		reason = "agent certificate does not verify against the tenant CA"
	case now.Before(cur.Leaf.NotBefore):
		reason = "agent certificate not valid yet"
	case now.Add(renewBefore).After(cur.Leaf.NotAfter):
		reason = "agent certificate expires soon"
	case t.sans != nil && !t.sans.equal(cur.Leaf):
		reason = "advertise addresses changed"
	default:
		return false, nil
	}
	if t.sans == nil {
		if cur := t.leaf.Load(); cur != nil {
			s = sans{dns: cur.Leaf.DNSNames, ips: cur.Leaf.IPAddresses}
		}
	}
	der, key, err := newLeaf(t.ca, t.key, t.name, s, now)
	if err != nil {
		return false, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return false, fmt.Errorf("parse new agent certificate: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return false, err
	}
	// Key first: a crash between the two writes leaves a key that does not
	// match the old certificate, which the next Load detects and repairs.
	if err := writeFileAtomic(filepath.Join(t.dir, agentKeyFile), keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := writeFileAtomic(filepath.Join(t.dir, agentCertFile), encodePEM(pemCert, der), 0o600); err != nil {
		return false, err
	}
	t.leaf.Store(t.tlsCert(leaf, key))
	t.log.Info("issued agent certificate", "tenant", t.id, "reason", reason,
		"dns", leaf.DNSNames, "ip", leaf.IPAddresses, "not_after", leaf.NotAfter)
	return true, nil
}

func (t *Tenant) warnMode(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.log.Warn("private key file is accessible to group or others; chmod 600 it", "path", path, "mode", fi.Mode().Perm())
	}
}

// ID returns the tenant ID (the fingerprint of the tenant public key).
func (t *Tenant) ID() string { return t.id }

// Name returns the tenant display name. It is not identity.
func (t *Tenant) Name() string { return t.name }

// Dir returns the identity directory (<data dir>/identity).
func (t *Tenant) Dir() string { return t.dir }

// PublicKey returns a copy of the tenant's Ed25519 public key.
func (t *Tenant) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), t.key.Public().(ed25519.PublicKey)...)
}

// CACertPEM returns the tenant CA certificate in PEM: public, for partners,
// who can check it with ParseCACert.
func (t *Tenant) CACertPEM() []byte { return append([]byte(nil), t.caPEM...) }

// Leaf returns this agent's current leaf certificate. Do not modify it.
func (t *Tenant) Leaf() *x509.Certificate { return t.leaf.Load().Leaf }

// ParseCACert parses a PEM tenant CA certificate (as CACertPEM gives it),
// checks that it is a well-formed tenant CA (not its validity period), and
// returns the tenant ID it belongs to.
func ParseCACert(pemData []byte) (id string, cert *x509.Certificate, err error) {
	der, err := decodePEM(pemData, pemCert)
	if err != nil {
		return "", nil, fmt.Errorf("tenant CA certificate: %w", err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return "", nil, fmt.Errorf("tenant CA certificate: %w", err)
	}
	if id, err = checkCA(cert); err != nil {
		return "", nil, err
	}
	return id, cert, nil
}

func clock(opts Options) func() time.Time {
	if opts.Now != nil {
		return opts.Now
	}
	return time.Now
}
