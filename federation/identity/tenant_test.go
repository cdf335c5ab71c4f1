package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// newTenant creates a tenant identity in a fresh data directory.
func newTenant(t *testing.T, name string, opts Options) *Tenant {
	t.Helper()
	tn, err := Init(t.TempDir(), name, opts)
	if err != nil {
		t.Fatalf("Init(%q): %v", name, err)
	}
	return tn
}

// at returns a clock stopped at tm.
func at(tm time.Time) func() time.Time { return func() time.Time { return tm } }

func mustLoad(t *testing.T, dataDir string, opts Options) *Tenant {
	t.Helper()
	tn, err := Load(dataDir, opts)
	if err != nil {
		t.Fatalf("Load(%s): %v", dataDir, err)
	}
	return tn
}

func TestInitLoadRoundTrip(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "not-yet-there")
	a, err := Init(dataDir, "Acme Refinery", Options{Advertise: []string{"gw1.acme.example:7443"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseID(a.ID()); err != nil || IDFromKey(a.PublicKey()) != a.ID() {
		t.Fatalf("ID %q: %v; want the fingerprint %q", a.ID(), err, IDFromKey(a.PublicKey()))
	}
	if a.Name() != "Acme Refinery" || a.Dir() != filepath.Join(dataDir, DirName) {
		t.Errorf("Name, Dir = %q, %q", a.Name(), a.Dir())
	}

	// Files, modes, and nothing left over from the atomic writes.
	dir := filepath.Join(dataDir, DirName)
	wantModes := map[string]fs.FileMode{
		".":           0o700 | fs.ModeDir,
		"tenant.key":  0o600,
		"tenant.crt":  0o600,
		"tenant.json": 0o600,
		"agent.key":   0o600,
		"agent.crt":   0o600,
	}
	for name, want := range wantModes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(wantModes)-1 {
		t.Errorf("identity directory holds %d entries, want %d: %v", len(entries), len(wantModes)-1, entries)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 1 || entries[0].Name() != DirName {
		t.Errorf("data directory holds %v, want only %s", entries, DirName)
	}

	// The ID, key, CA and leaf survive reloads untouched.
	for range 3 {
		b := mustLoad(t, dataDir, Options{Advertise: []string{"gw1.acme.example"}})
		if b.ID() != a.ID() || b.Name() != a.Name() || !b.PublicKey().Equal(a.PublicKey()) ||
			!bytes.Equal(b.CACertPEM(), a.CACertPEM()) {
			t.Fatalf("reloaded identity differs: %s %q, want %s %q", b.ID(), b.Name(), a.ID(), a.Name())
		}
		if b.Leaf().SerialNumber.Cmp(a.Leaf().SerialNumber) != 0 {
			t.Fatal("Load re-issued a valid leaf")
		}
	}

	// The CA certificate is what partners are given.
	id, ca, err := ParseCACert(a.CACertPEM())
	if err != nil || id != a.ID() || ca.Subject.CommonName != "Acme Refinery" {
		t.Errorf("ParseCACert = %s, %v; want %s", id, err, a.ID())
	}
	if _, _, err := ParseCACert(encodePEM(pemCert, a.Leaf().Raw)); !errors.Is(err, ErrUntrustedPeer) {
		t.Errorf("ParseCACert(leaf) = %v, want a rejection", err)
	}

	// The leaf: P-256, both usages, the SANs, one year, signed by the CA.
	leaf := a.Leaf()
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !slices.Equal(leaf.DNSNames, []string{"gw1.acme.example"}) || len(leaf.IPAddresses) != 0 {
		t.Errorf("leaf SANs = %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != leafValidity+backdate {
		t.Errorf("leaf validity = %v", d)
	}
	if _, err := verifyChain([]*x509.Certificate{leaf, a.ca}, time.Now(), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("own chain does not verify: %v", err)
	}
}

func TestInitAndLoadErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := Load(empty, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(empty dir) = %v, want fs.ErrNotExist", err)
	}
	a := newTenant(t, "alpha", Options{})
	dataDir := filepath.Dir(a.Dir())
	if _, err := Init(dataDir, "again", Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Init = %v, want fs.ErrExist", err)
	}
	if b := mustLoad(t, dataDir, Options{}); b.ID() != a.ID() {
		t.Error("a failed second Init changed the identity")
	}

	// A missing CA certificate is damage, not a missing identity.
	if err := os.Remove(filepath.Join(a.Dir(), tenantCertFile)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() (*Tenant, error){
		func() (*Tenant, error) { return Load(dataDir, Options{}) },
		func() (*Tenant, error) { return LoadOrInit(dataDir, "new", Options{}) },
	} {
		if _, err := f(); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "tenant.crt is missing") {
			t.Errorf("without tenant.crt: %v, want an incomplete identity", err)
		}
	}
	if key, err := readTenantKey(filepath.Join(a.Dir(), tenantKeyFile)); err != nil || IDFromKey(key.Public().(ed25519.PublicKey)) != a.ID() {
		t.Errorf("the tenant key was touched: %v", err)
	}

	// LoadOrInit creates once, then loads.
	d := t.TempDir()
	first, err := LoadOrInit(d, "gamma", Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrInit(d, "another name", Options{})
	if err != nil || second.ID() != first.ID() || second.Name() != "gamma" {
		t.Errorf("LoadOrInit again = %v, %v; want tenant %s named gamma", second, err, first.ID())
	}

	for _, name := range []string{"", " padded", "tab\tname", strings.Repeat("x", 65), "\xff"} {
		if _, err := Init(t.TempDir(), name, Options{}); err == nil || !strings.Contains(err.Error(), "tenant name") {
			t.Errorf("Init(name %q) = %v, want a name error", name, err)
		}
	}
	for _, adv := range []string{"", "0.0.0.0:7443", "bad_host", "-x.example", "fe80::1%eth0", ":7443"} {
		if _, err := Init(t.TempDir(), "x", Options{Advertise: []string{adv}}); err == nil || !strings.Contains(err.Error(), "advertise") {
			t.Errorf("Init(advertise %q) = %v, want an advertise error", adv, err)
		}
	}
}

func TestLoadCorruptFiles(t *testing.T) {
	other := newTenant(t, "other", Options{})
	otherFile := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(other.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPEM, err := marshalKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(b []byte) func([]byte) []byte { return func([]byte) []byte { return b } }

	tests := []struct {
		name   string
		file   string
		mutate func(old []byte) []byte
		want   []string // substrings of the error, besides the file path
		is     error
	}{
		{"tenant key garbage", "tenant.key", replace([]byte("not a key\n")), []string{"tenant key", "no PEM block"}, nil},
		{"tenant key empty", "tenant.key", replace(nil), []string{"no PEM block"}, nil},
		{"tenant key truncated", "tenant.key", func(b []byte) []byte { return b[:len(b)/2] }, []string{"no PEM block"}, nil},
		{"tenant key is a certificate", "tenant.key", func([]byte) []byte { return otherFile("tenant.crt") }, []string{`PEM block is "CERTIFICATE"`}, nil},
		{"tenant key is ECDSA", "tenant.key", replace(ecPEM), []string{"want an Ed25519 key"}, nil},
		{"tenant key bad DER", "tenant.key", replace(encodePEM(pemKey, []byte("junk"))), []string{"parse PKCS#8 key"}, nil},
		{"tenant key of another tenant", "tenant.key", func([]byte) []byte { return otherFile("tenant.key") }, []string{"tenant.crt", "certificate is for tenant"}, ErrWrongTenant},
		{"tenant key with trailing block", "tenant.key", func(b []byte) []byte { return append(b, b...) }, []string{"unexpected data after"}, nil},
		{"tenant CA garbage", "tenant.crt", replace([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), []string{"tenant.crt", "x509"}, nil},
		{"tenant CA of another tenant", "tenant.crt", func([]byte) []byte { return otherFile("tenant.crt") }, []string{"tenant.crt"}, ErrWrongTenant},
		{"tenant CA is a leaf", "tenant.crt", func([]byte) []byte { return otherFile("agent.crt") }, []string{"tenant.crt", "key is ECDSA"}, ErrUntrustedPeer},
		{"tenant info garbage", "tenant.json", replace([]byte("{")), []string{"tenant info", "tenant.json"}, nil},
		{"tenant info of another tenant", "tenant.json", func([]byte) []byte { return otherFile("tenant.json") }, []string{"does not match the tenant key"}, nil},
		{"agent key garbage", "agent.key", replace([]byte("xx")), []string{"agent key", "no PEM block", "delete"}, nil},
		{"agent certificate garbage", "agent.crt", replace([]byte("xx")), []string{"agent.crt", "no PEM block", "delete"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTenant(t, "alpha", Options{})
			path := filepath.Join(a.Dir(), tt.file)
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.mutate(old), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = Load(filepath.Dir(a.Dir()), Options{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), a.Dir()) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestLoadRepairsLeaf(t *testing.T) {
	other := newTenant(t, "other", Options{})
	tests := []struct {
		name   string
		breakf func(t *testing.T, dir string)
	}{
		{"leaf deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, agentCertFile)) }},
		{"key deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, agentKeyFile)) }},
		{"key replaced (crash between the two writes)", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(other.Dir(), agentKeyFile), filepath.Join(dir, agentKeyFile))
		}},
		{"leaf and key of another tenant", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(other.Dir(), agentKeyFile), filepath.Join(dir, agentKeyFile))
			copyFile(t, filepath.Join(other.Dir(), agentCertFile), filepath.Join(dir, agentCertFile))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTenant(t, "alpha", Options{})
			tt.breakf(t, a.Dir())
			b := mustLoad(t, filepath.Dir(a.Dir()), Options{})
			if b.ID() != a.ID() || b.Leaf().SerialNumber.Cmp(a.Leaf().SerialNumber) == 0 {
				t.Fatalf("Load = %s with the old leaf; want %s with a new one", b.ID(), a.ID())
			}
			if _, err := verifyChain([]*x509.Certificate{b.Leaf(), b.ca}, time.Now(), x509.ExtKeyUsageClientAuth); err != nil {
				t.Fatal(err)
			}
			if c := mustLoad(t, filepath.Dir(a.Dir()), Options{}); c.Leaf().SerialNumber.Cmp(b.Leaf().SerialNumber) != 0 {
				t.Error("the repaired leaf was not saved")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExportImport(t *testing.T) {
	a := newTenant(t, "alpha", Options{})
	aDir := filepath.Dir(a.Dir())
	bundle, err := ExportCA(aDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bundle, []byte("SECRET")) || !bytes.Contains(bundle, []byte("PRIVATE KEY")) {
		t.Errorf("bundle lacks the warning or the key:\n%s", bundle)
	}

	second := filepath.Join(t.TempDir(), "agent2")
	if err := ImportCA(second, bundle); err != nil {
		t.Fatal(err)
	}
	if err := ImportCA(second, bundle); err != nil {
		t.Errorf("importing the same identity again = %v, want nil", err)
	}
	a2 := mustLoad(t, second, Options{Advertise: []string{"10.0.0.2"}})
	if a2.ID() != a.ID() || a2.Name() != "alpha" || !bytes.Equal(a2.CACertPEM(), a.CACertPEM()) {
		t.Errorf("imported identity = %s %q, want %s alpha", a2.ID(), a2.Name(), a.ID())
	}
	if a2.Leaf().PublicKey.(*ecdsa.PublicKey).Equal(a.Leaf().PublicKey) || a2.Leaf().SerialNumber.Cmp(a.Leaf().SerialNumber) == 0 {
		t.Error("the second agent shares the first agent's leaf")
	}
	if fi, err := os.Stat(filepath.Join(second, DirName, tenantKeyFile)); err != nil || fi.Mode() != 0o600 {
		t.Errorf("imported tenant.key: %v, %v", fi, err)
	}

	// A different identity is never overwritten.
	b := newTenant(t, "beta", Options{})
	if err := ImportCA(filepath.Dir(b.Dir()), bundle); !errors.Is(err, fs.ErrExist) {
		t.Errorf("ImportCA over another tenant = %v, want fs.ErrExist", err)
	}
	if b2 := mustLoad(t, filepath.Dir(b.Dir()), Options{}); b2.ID() != b.ID() {
		t.Error("ImportCA replaced another tenant")
	}

	bBundle, err := ExportCA(filepath.Dir(b.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	aCert, aKey := splitBundle(t, bundle)
	bCert, bKey := splitBundle(t, bBundle)
	bad := map[string]struct {
		bundle []byte
		want   string
	}{
		"empty":               {nil, "must hold a CERTIFICATE and a PRIVATE KEY"},
		"certificate only":    {aCert, "must hold"},
		"key only":            {aKey, "must hold"},
		"key of another":      {cat(aCert, bKey), "certificate is for tenant"},
		"two certificates":    {cat(aCert, bCert, aKey), "more than one certificate"},
		"two keys":            {cat(aCert, aKey, aKey), "more than one private key"},
		"unexpected block":    {cat(aCert, aKey, encodePEM("EC PARAMETERS", []byte{1})), `unexpected "EC PARAMETERS"`},
		"leaf instead of CA":  {cat(encodePEM(pemCert, a.Leaf().Raw), aKey), "key is ECDSA"},
		"corrupt certificate": {cat(encodePEM(pemCert, []byte("junk")), aKey), "bundle certificate"},
		"corrupt private key": {cat(aCert, encodePEM(pemKey, []byte("junk"))), "bundle private key"},
	}
	for name, tt := range bad {
		dir := t.TempDir()
		err := ImportCA(dir, tt.bundle)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ImportCA = %v, want an error containing %q", name, err, tt.want)
		}
		if _, err := os.Stat(filepath.Join(dir, DirName)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a failed ImportCA left %s behind", name, DirName)
		}
	}
}

func splitBundle(t *testing.T, bundle []byte) (cert, key []byte) {
	t.Helper()
	i := bytes.Index(bundle, []byte("-----BEGIN CERTIFICATE"))
	j := bytes.Index(bundle, []byte("-----BEGIN PRIVATE KEY"))
	if i < 0 || j < i {
		t.Fatalf("unexpected bundle layout:\n%s", bundle)
	}
	return bundle[i:j], bundle[j:]
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestLeafRenewal(t *testing.T) {
	t0 := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	a := newTenant(t, "alpha", Options{Now: at(t0), Advertise: []string{"gw1.example"}})
	dataDir := filepath.Dir(a.Dir())
	serial := a.Leaf().SerialNumber

	same := func(tn *Tenant) bool { return tn.Leaf().SerialNumber.Cmp(serial) == 0 }
	if !same(mustLoad(t, dataDir, Options{Now: at(t0.Add(300 * day)), Advertise: []string{"gw1.example"}})) {
		t.Fatal("re-issued a leaf with 65 days left")
	}
	late := t0.Add(340 * day)
	b := mustLoad(t, dataDir, Options{Now: at(late), Advertise: []string{"gw1.example"}})
	if same(b) || b.ID() != a.ID() {
		t.Fatal("kept a leaf with 25 days left")
	}
	if got, want := b.Leaf().NotAfter, late.Add(leafValidity); !got.Equal(want) {
		t.Errorf("renewed leaf expires %v, want %v", got, want)
	}
	serial = b.Leaf().SerialNumber
	if !same(mustLoad(t, dataDir, Options{Now: at(late), Advertise: []string{"gw1.example"}})) {
		t.Error("the renewed leaf was not saved")
	}

	// RenewLeaf on a running agent, with a clock that moves.
	now := late
	c := mustLoad(t, dataDir, Options{Now: func() time.Time { return now }, Advertise: []string{"gw1.example"}})
	if renewed, err := c.RenewLeaf(); renewed || err != nil {
		t.Fatalf("RenewLeaf = %v, %v; want false", renewed, err)
	}
	now = late.Add(336 * day)
	if renewed, err := c.RenewLeaf(); !renewed || err != nil || same(c) {
		t.Fatalf("RenewLeaf 29 days before expiry = %v, %v; want a new leaf", renewed, err)
	}
	if renewed, err := c.RenewLeaf(); renewed || err != nil {
		t.Fatalf("second RenewLeaf = %v, %v; want false", renewed, err)
	}

	// The CA certificate is re-signed with the same key near its own expiry;
	// a leaf never outlives the CA.
	end := a.ca.NotAfter.Add(-10 * day)
	d := mustLoad(t, dataDir, Options{Now: at(end)})
	if d.ID() != a.ID() || !d.ca.NotAfter.After(a.ca.NotAfter) || d.Leaf().NotAfter.After(d.ca.NotAfter) {
		t.Errorf("at %v: CA until %v, leaf until %v", end, d.ca.NotAfter, d.Leaf().NotAfter)
	}
	if _, err := verifyChain([]*x509.Certificate{d.Leaf(), d.ca}, end, x509.ExtKeyUsageServerAuth); err != nil {
		t.Error(err)
	}
	der, _, err := newLeaf(a.ca, a.key, "alpha", sans{}, a.ca.NotAfter.Add(-10*day))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotAfter.Equal(a.ca.NotAfter) {
		t.Errorf("leaf issued 10 days before the CA expires ends %v, want with the CA (%v)", leaf.NotAfter, a.ca.NotAfter)
	}
}

func TestLeafFollowsAdvertise(t *testing.T) {
	a := newTenant(t, "alpha", Options{Advertise: []string{"GW1.example.:7443", "10.0.0.5", "[2001:db8::1]:7443", "gw1.example"}})
	dataDir := filepath.Dir(a.Dir())
	sanOf := func(tn *Tenant) string {
		var s []string
		s = append(s, tn.Leaf().DNSNames...)
		for _, ip := range tn.Leaf().IPAddresses {
			s = append(s, ip.String())
		}
		return strings.Join(s, ",")
	}
	if got := sanOf(a); got != "gw1.example,10.0.0.5,2001:db8::1" {
		t.Fatalf("SANs = %s", got)
	}
	tests := []struct {
		name      string
		advertise []string
		reissue   bool
		sans      string
	}{
		{"same set in another order and form", []string{"2001:db8::1", "10.0.0.5:1", "gw1.example"}, false, "gw1.example,10.0.0.5,2001:db8::1"},
		{"nil keeps the SANs", nil, false, "gw1.example,10.0.0.5,2001:db8::1"},
		{"an address added", []string{"gw1.example", "gw2.example", "10.0.0.5", "2001:db8::1"}, true, "gw1.example,gw2.example,10.0.0.5,2001:db8::1"},
		{"an address removed", []string{"gw2.example"}, true, "gw2.example"},
		{"empty asks for none", []string{}, true, ""},
	}
	serial := a.Leaf().SerialNumber
	for _, tt := range tests {
		b := mustLoad(t, dataDir, Options{Advertise: tt.advertise})
		if reissued := b.Leaf().SerialNumber.Cmp(serial) != 0; reissued != tt.reissue {
			t.Errorf("%s: re-issued = %v, want %v", tt.name, reissued, tt.reissue)
		}
		if got := sanOf(b); got != tt.sans {
			t.Errorf("%s: SANs = %q, want %q", tt.name, got, tt.sans)
		}
		serial = b.Leaf().SerialNumber
	}
}
