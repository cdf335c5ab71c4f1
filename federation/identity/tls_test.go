package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs one TLS connection over loopback TCP: the server side
// completes the handshake and writes a byte, the client side reads it (in
// TLS 1.3 a server's rejection of the client certificate reaches the client
// only then). It returns each side's error and connection state.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (serverErr, clientErr error, server, client tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err error
		cs  tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, serverCfg)
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		done <- result{err, tc.ConnectionState()}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, clientCfg)
	clientErr = tc.Handshake()
	if clientErr == nil {
		var b [1]byte
		_, clientErr = io.ReadFull(tc, b[:])
	}
	client = tc.ConnectionState()
	tc.Close()
	r := <-done
	return r.err, clientErr, r.cs, client
}

func TestMutualTLSOverHTTP(t *testing.T) {
	a := newTenant(t, "alpha", Options{Advertise: []string{"127.0.0.1"}})
	b := newTenant(t, "beta", Options{})
	c := newTenant(t, "gamma", Options{})

	// A serves; the handler names the calling tenant from the verified chain.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: a.ServerConfig(),
		ErrorLog:  log.New(io.Discard, "", 0), // rejected handshakes are expected
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := a.PeerTenant(r.TLS)
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			io.WriteString(w, id)
		}),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	get := func(client *Tenant, pin string) (string, *tls.ConnectionState, error) {
		cfg, err := client.ClientConfig(pin)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Tenant", a.ID()) // a header claiming a tenant must not matter
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return "", nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", nil, errors.New(string(body))
		}
		return string(body), resp.TLS, err
	}

	// B and C, each pinning A, are told apart by their chains.
	for _, client := range []*Tenant{b, c} {
		got, cs, err := get(client, a.ID())
		if err != nil {
			t.Fatalf("%s -> A: %v", client.Name(), err)
		}
		if got != client.ID() {
			t.Errorf("A saw %s as %s, want %s", client.Name(), got, client.ID())
		}
		// And the client learned A's tenant from A's chain.
		if id, err := verifyChain(cs.PeerCertificates, time.Now(), x509.ExtKeyUsageServerAuth); err != nil || id != a.ID() {
			t.Errorf("%s sees the server as %s, %v; want %s", client.Name(), id, err, a.ID())
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("version %x, want TLS 1.3", cs.Version)
		}
	}

	// An upper-case pin is the same pin.
	if _, _, err := get(b, strings.ToUpper(a.ID())); err != nil {
		t.Errorf("upper-case pin: %v", err)
	}
	// Pinning another tenant fails on the client, before any request.
	if _, _, err := get(b, c.ID()); !errors.Is(err, ErrWrongTenant) {
		t.Errorf("B pinning C, dialing A: %v, want ErrWrongTenant", err)
	}
	if _, err := b.ClientConfig("acme"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("ClientConfig(invalid id) = %v, want ErrInvalidID", err)
	}

	// A client without a certificate, or limited to TLS 1.2, gets nowhere.
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": {InsecureSkipVerify: true},
		"TLS 1.2": {InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return b.leaf.Load(), nil }},
	} {
		tr := &http.Transport{TLSClientConfig: cfg}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %s, want a failed handshake", name, resp.Status)
		}
		tr.CloseIdleConnections()
	}
}

func TestSecondAgentOfTenant(t *testing.T) {
	a := newTenant(t, "alpha", Options{})
	bundle, err := ExportCA(filepath.Dir(a.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ImportCA(dir, bundle); err != nil {
		t.Fatal(err)
	}
	a2 := mustLoad(t, dir, Options{})
	b := newTenant(t, "beta", Options{})

	// B pins tenant A and reaches either agent; A's agents talk to each other.
	for _, server := range []*Tenant{a, a2} {
		cfg, _ := b.ClientConfig(a.ID())
		if serr, cerr, scs, _ := handshake(t, server.ServerConfig(), cfg); serr != nil || cerr != nil {
			t.Fatalf("B -> agent of A: server %v, client %v", serr, cerr)
		} else if id, err := server.PeerTenant(&scs); err != nil || id != b.ID() {
			t.Errorf("PeerTenant = %s, %v; want %s", id, err, b.ID())
		}
	}
	cfg, _ := a2.ClientConfig(a.ID())
	serr, cerr, scs, ccs := handshake(t, a.ServerConfig(), cfg)
	if serr != nil || cerr != nil {
		t.Fatalf("agent 2 -> agent 1: server %v, client %v", serr, cerr)
	}
	if id, _ := a.PeerTenant(&scs); id != a.ID() {
		t.Errorf("agent 1 sees agent 2 as %s, want %s", id, a.ID())
	}
	if ccs.PeerCertificates[0].Equal(scs.PeerCertificates[0]) {
		t.Error("both agents present the same leaf")
	}
}

func TestPinHoldsOnResumption(t *testing.T) {
	a := newTenant(t, "alpha", Options{})
	b := newTenant(t, "beta", Options{})
	c := newTenant(t, "gamma", Options{})
	server := a.ServerConfig() // one config: one session ticket key
	cache := tls.NewLRUClientSessionCache(4)
	pinned := func(id string) *tls.Config {
		cfg, err := b.ClientConfig(id)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ClientSessionCache = cache
		cfg.ServerName = "peer" // the cache key, the same for every dial
		return cfg
	}
	if serr, cerr, _, _ := handshake(t, server, pinned(a.ID())); serr != nil || cerr != nil {
		t.Fatalf("first handshake: %v, %v", serr, cerr)
	}
	serr, cerr, scs, ccs := handshake(t, server, pinned(a.ID()))
	if serr != nil || cerr != nil || !ccs.DidResume {
		t.Fatalf("second handshake: %v, %v, resumed %v; want a resumption", serr, cerr, ccs.DidResume)
	}
	if id, err := a.PeerTenant(&scs); err != nil || id != b.ID() {
		t.Errorf("PeerTenant after resumption = %s, %v; want %s", id, err, b.ID())
	}
	// A cached session does not carry a pin over to another tenant.
	if _, cerr, _, _ := handshake(t, server, pinned(c.ID())); !errors.Is(cerr, ErrWrongTenant) {
		t.Errorf("resuming with a pin on another tenant: %v, want ErrWrongTenant", cerr)
	}
}

// forged is a chain presented in a TLS handshake, with the leaf's key.
type forged struct {
	chain []*x509.Certificate
	key   crypto.Signer
}

func (f forged) tlsCert() tls.Certificate {
	c := tls.Certificate{PrivateKey: f.key}
	for _, x := range f.chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func mkCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber, _ = serialNumber()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func leafTmpl(now time.Time, edit func(*x509.Certificate)) *x509.Certificate {
	c := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "mallory"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func caTmpl(now time.Time, name string, edit func(*x509.Certificate)) *x509.Certificate {
	c := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestForgedChains(t *testing.T) {
	now := time.Now()
	a := newTenant(t, "alpha", Options{})
	b := newTenant(t, "beta", Options{})
	twin := newTenant(t, "alpha", Options{}) // same display name, another tenant
	ecKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	edKey := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	aLeafKey := a.leaf.Load().PrivateKey.(crypto.Signer)
	// signedByA issues a leaf from tmpl under A's real CA.
	signedByA := func(tmpl *x509.Certificate) forged {
		k := ecKey()
		return forged{[]*x509.Certificate{mkCert(t, tmpl, a.ca, &k.PublicKey, a.key), a.ca}, k}
	}
	// underCA makes a CA from caT (self-signed with caKey) and a valid leaf under it.
	underCA := func(caT *x509.Certificate, caKey crypto.Signer) forged {
		ca := mkCert(t, caT, caT, caKey.Public(), caKey)
		k := ecKey()
		return forged{[]*x509.Certificate{mkCert(t, leafTmpl(now, nil), ca, &k.PublicKey, caKey), ca}, k}
	}

	type tc struct {
		name string
		f    forged
		want string // in the error of every rejecting side
		// A chain with one of the two usages is fine in that role only.
		okAsServer, okAsClient bool
	}
	var tests []tc
	add := func(name string, f forged, want string) { tests = append(tests, tc{name: name, f: f, want: want}) }

	add("leaf of A presented with the CA of B", forged{[]*x509.Certificate{a.Leaf(), b.ca}, aLeafKey}, "issuer is not the presented tenant CA")
	add("leaf of A presented with the CA of a tenant of the same name", forged{[]*x509.Certificate{a.Leaf(), twin.ca}, aLeafKey}, "issuer is not the presented tenant CA")
	{
		m, k := edKey(), ecKey()
		issuer := &x509.Certificate{RawSubject: a.ca.RawSubject} // names A's CA, signed by Mallory
		add("leaf naming the CA of A, signed by another Ed25519 key", forged{[]*x509.Certificate{mkCert(t, leafTmpl(now, nil), issuer, &k.PublicKey, m), a.ca}, k}, "not signed by the presented tenant CA")
	}
	add("leaf of A alone", forged{[]*x509.Certificate{a.Leaf()}, aLeafKey}, "got 1 certificates")
	add("CA of A appended twice", forged{[]*x509.Certificate{a.Leaf(), a.ca, a.ca}, aLeafKey}, "got 3 certificates")
	{
		k := ecKey()
		self := mkCert(t, leafTmpl(now, nil), leafTmpl(now, nil), &k.PublicKey, k)
		add("self-signed leaf alone", forged{[]*x509.Certificate{self}, k}, "got 1 certificates")
		add("self-signed leaf beside the CA of A", forged{[]*x509.Certificate{self, a.ca}, k}, "issuer is not the presented tenant CA")
		// Same, but claiming A's CA as issuer by name.
		claim := leafTmpl(now, nil)
		parent := leafTmpl(now, func(c *x509.Certificate) { c.RawSubject = a.ca.RawSubject })
		k2 := ecKey()
		add("self-signed leaf naming the CA of A as issuer", forged{[]*x509.Certificate{mkCert(t, claim, parent, &k2.PublicKey, k2), a.ca}, k2}, "signature algorithm ECDSA-SHA256, want Ed25519")
	}
	{
		ik := edKey()
		inter := mkCert(t, caTmpl(now, "intermediate", nil), a.ca, ik.Public(), a.key)
		k := ecKey()
		leaf := mkCert(t, leafTmpl(now, nil), inter, &k.PublicKey, ik)
		add("leaf, intermediate, CA of A", forged{[]*x509.Certificate{leaf, inter, a.ca}, k}, "got 3 certificates")
		add("intermediate presented as the tenant CA", forged{[]*x509.Certificate{leaf, inter}, k}, "not self-signed")
	}
	add("expired leaf", signedByA(leafTmpl(now, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Minute)
	})), "agent leaf: expired")
	add("leaf not valid yet", signedByA(leafTmpl(now, func(c *x509.Certificate) { c.NotBefore = now.Add(time.Hour) })), "agent leaf: not valid before")
	add("expired tenant CA (A's own key)", underCA(caTmpl(now, "alpha", func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Minute)
	}), a.key), "tenant CA: expired")
	add("wrong EKU: code signing", signedByA(leafTmpl(now, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	})), "extended key usage lacks")
	add("no EKU", signedByA(leafTmpl(now, func(c *x509.Certificate) { c.ExtKeyUsage = nil })), "extended key usage lacks")
	add("EKU any", signedByA(leafTmpl(now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} })), "extended key usage lacks")
	tests = append(tests,
		tc{name: "serverAuth only", okAsServer: true, want: "extended key usage lacks clientAuth",
			f: signedByA(leafTmpl(now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }))},
		tc{name: "clientAuth only", okAsClient: true, want: "extended key usage lacks serverAuth",
			f: signedByA(leafTmpl(now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }))},
	)
	add("leaf without digital signature usage", signedByA(leafTmpl(now, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyAgreement })), "lacks digital signature")
	add("leaf is a CA", signedByA(leafTmpl(now, func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign })), "agent leaf: is a CA")
	add("tenant CA presented as its own leaf", forged{[]*x509.Certificate{a.ca, a.ca}, a.key}, "agent leaf: is a CA")
	{
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		add("leaf on P-384", forged{[]*x509.Certificate{mkCert(t, leafTmpl(now, nil), a.ca, &k.PublicKey, a.key), a.ca}, k}, "want P-256")
	}
	add("leaf with an unknown critical extension", signedByA(leafTmpl(now, func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}}
	})), "unhandled critical extension")
	add("CA that is not a CA", underCA(caTmpl(now, "notca", func(c *x509.Certificate) { c.IsCA = false }), edKey()), "not a CA certificate")
	add("CA without certificate signing", underCA(caTmpl(now, "nosign", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }), edKey()), "lacks certificate signing")
	add("ECDSA tenant CA", underCA(caTmpl(now, "ecca", nil), ecKey()), "tenant CA: key is ECDSA")
	{
		// Impersonation: A's public key in a "self-signed" CA signed by
		// Mallory's key, with a leaf signed by Mallory.
		m := edKey()
		caT := caTmpl(now, "alpha", nil)
		fake := mkCert(t, caT, caT, a.PublicKey(), m)
		k := ecKey()
		issuer := &x509.Certificate{RawSubject: fake.RawSubject} // no key: lets Mallory sign
		add("CA claiming A's key, signed by another key", forged{[]*x509.Certificate{mkCert(t, leafTmpl(now, nil), issuer, &k.PublicKey, m), fake}, k}, "self-signature does not verify")
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The rules themselves.
			for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				ok := u == x509.ExtKeyUsageServerAuth && tt.okAsServer || u == x509.ExtKeyUsageClientAuth && tt.okAsClient
				_, err := verifyChain(tt.f.chain, now, u)
				if ok != (err == nil) {
					t.Errorf("verifyChain(%s) = %v, want ok=%v", usageName(u), err, ok)
				}
			}

			// The forged chain as a client of A's server.
			cli := &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{tt.f.tlsCert()}}
			serr, _, scs, _ := handshake(t, a.ServerConfig(), cli)
			if tt.okAsClient {
				if id, err := a.PeerTenant(&scs); serr != nil || err != nil || id != a.ID() {
					t.Errorf("server: %v, PeerTenant %s, %v; want tenant A accepted", serr, id, err)
				}
			} else {
				if !errors.Is(serr, ErrUntrustedPeer) || !strings.Contains(serr.Error(), tt.want) {
					t.Errorf("server accepted or failed otherwise: %v; want %q", serr, tt.want)
				}
				if _, err := a.PeerTenant(&scs); err == nil {
					t.Error("PeerTenant accepted the chain")
				}
			}

			// The forged chain as a server, dialed by B pinning A.
			srv := &tls.Config{Certificates: []tls.Certificate{tt.f.tlsCert()}}
			pin, _ := b.ClientConfig(a.ID())
			_, cerr, _, _ := handshake(t, srv, pin)
			if tt.okAsServer {
				if cerr != nil {
					t.Errorf("client: %v; want tenant A accepted", cerr)
				}
			} else if !errors.Is(cerr, ErrUntrustedPeer) || !strings.Contains(cerr.Error(), tt.want) {
				t.Errorf("client accepted or failed otherwise: %v; want %q", cerr, tt.want)
			}
		})
	}
}

func TestPeerTenantWithoutHandshake(t *testing.T) {
	a := newTenant(t, "alpha", Options{})
	for name, cs := range map[string]*tls.ConnectionState{
		"nil":           nil,
		"not complete":  {Version: tls.VersionTLS13},
		"TLS 1.2":       {Version: tls.VersionTLS12, HandshakeComplete: true, PeerCertificates: []*x509.Certificate{a.Leaf(), a.ca}},
		"no peer certs": {Version: tls.VersionTLS13, HandshakeComplete: true},
	} {
		if id, err := a.PeerTenant(cs); err == nil {
			t.Errorf("%s: PeerTenant = %s, want an error", name, id)
		}
	}
}
