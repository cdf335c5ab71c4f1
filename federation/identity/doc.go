// Package identity holds a tenant's cryptographic identity: the tenant key
// and self-signed tenant CA, the agent's own TLS leaf certificate, the mutual
// TLS configurations agents use to talk to each other, and signatures for
// the records that cross tenants.
//
// # Tenant ID
//
// A tenant is its Ed25519 key. The tenant ID is
//
//	"t-" + base32(SHA-256(raw 32-byte public key))[:26]
//
// in the lowercase RFC 4648 alphabet (a-z, 2-7) without padding: 130 bits of
// the hash, 28 characters in all, for example "t-7kq2cm4hx5wzb3vd6yrn2fa4pe".
// The alphabet has no 0/O or 1/l/I to confuse, the prefix makes an ID easy to
// recognise in logs and configs, and 130 bits leave no room for a second key
// with the same ID. The ID is self-certifying: whoever shows a public key can
// be checked against it, and nobody can claim an ID without its private key.
// [ParseID] validates an ID (and lowercases one typed in upper case);
// [ShortID] shortens one for display only.
//
// The display name (config tenant.name) is written into the CA certificate
// subject and tenant.json, but it is not identity: only the key fingerprint
// is, and no decision may be taken on a name.
//
// # Files
//
// Everything lives in <data dir>/identity (mode 0700), every file mode
// 0600: the certificates are public, but nothing in the data dir is for
// other local users.
//
//	tenant.key   Ed25519 tenant private key, PKCS#8 PEM. SECRET.
//	tenant.crt   self-signed tenant CA certificate, PEM
//	tenant.json  {"id", "name", "created"}: informational, checked on Load
//	agent.key    this agent's TLS key, ECDSA P-256, PKCS#8 PEM. Secret.
//	agent.crt    this agent's leaf certificate, signed by the tenant CA, PEM
//
// Every file is written atomically (temporary file, fsync, rename, fsync of
// the directory). [Init] builds the whole directory aside and renames it into
// place, so a crash never leaves half an identity. Several agents of one
// tenant share tenant.key and tenant.crt ([ExportCA], [ImportCA]); each agent
// has its own agent.key and agent.crt. The leaf is disposable: [Load]
// re-issues it when it is missing, expires within 30 days, no longer matches
// its key or the tenant CA, or when its addresses change. Deleting agent.key
// and agent.crt forces a new one on the next start.
//
// # Certificates
//
// The tenant CA: Ed25519, self-signed, CA with KeyUsageCertSign, path length
// zero, valid 20 years and re-signed with the same key (so the same ID) when
// it expires within 30 days. The agent leaf: ECDSA P-256 (the certificate
// type every TLS 1.3 stack must implement, RFC 8446 section 9.1), serverAuth
// and clientAuth, DNS and IP SANs from the advertise addresses, valid one
// year (never beyond the CA).
//
// # Mutual TLS
//
// Tenants have no common root, so crypto/tls's own chain building is turned
// off (InsecureSkipVerify on the client, RequireAnyClientCert on the server)
// and replaced by a VerifyConnection callback, which also runs on session
// resumption. Both sides present exactly [leaf, tenant CA] and TLS 1.3 is the
// only version. A presented chain is accepted only if:
//
//   - it has exactly two certificates, leaf then CA, with no unhandled
//     critical extension;
//   - the CA is self-signed (issuer equals subject, and its Ed25519 signature
//     verifies with its own key), has an Ed25519 key, is a CA (basic
//     constraints) with KeyUsageCertSign, and is within its validity period;
//   - the leaf is not a CA, has an ECDSA P-256 or Ed25519 key with
//     KeyUsageDigitalSignature, names the CA as issuer, is signed by the CA's
//     key (Ed25519), is within its validity period, and carries the extended
//     key usage of its role: serverAuth for a server, clientAuth for a client.
//
// The peer's tenant ID is then the fingerprint of the CA's public key. The
// client pins the ID it expects (from an invitation or the community state)
// and fails with [ErrWrongTenant] on any other. The server accepts any
// well-formed tenant and hands the ID to its handlers through
// [Tenant.PeerTenant], which reads it from the verified chain, never from a
// header. Host names are not checked: a peer is its tenant, wherever it is
// reached. crypto/tls itself proves that the peer holds the leaf's key.
//
// # Signatures
//
// [Tenant.Sign] signs with the tenant key using Ed25519ctx (RFC 8032) and the
// context "sluice record v1", so a record signature can never be mistaken
// for a certificate signature made with the same key, or the reverse.
// [Verify] checks a signature and that the key is the claimed tenant's.
//
// Nothing in this package has global state; the clock is injectable through
// [Options].
package identity
