package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on identifier and text sizes. They bound the memory one record can
// pin and keep the canonical encoding small; they are part of the record
// format, so changing them changes which records every tenant accepts.
const (
	maxID      = 256  // tenant ids, community nonces, invitation ids, user names
	maxEmail   = 254  // RFC 5321 path limit
	maxName    = 1024 // stream and community display names
	maxComment = 1024 // connection comments
)

// TenantID identifies a tenant: the fingerprint of its Ed25519 public key,
// read by federation from a verified certificate chain. Policy treats it as
// an opaque string of 1 to 256 printable ASCII bytes (no spaces).
type TenantID string

// CommunityID identifies a community. It is "<owner tenant id>/<nonce>": the
// owner binds itself into the id when it creates the community, so the owner
// of any community record is known from the record alone, even before the
// "created" record has arrived by gossip. The nonce is chosen by the owner
// (random hex is best), 1 to 256 printable ASCII bytes without '/'.
type CommunityID string

// NewCommunityID returns the id of a community owned by owner.
func NewCommunityID(owner TenantID, nonce string) CommunityID {
	return CommunityID(string(owner) + "/" + nonce)
}

// Owner returns the tenant bound into the id, or "" if the id has no owner
// part. Tenant ids may contain '/', nonces may not, so the last '/' splits.
func (c CommunityID) Owner() TenantID {
	i := strings.LastIndexByte(string(c), '/')
	if i < 0 {
		return ""
	}
	return TenantID(c[:i])
}

func (c CommunityID) valid() bool {
	i := strings.LastIndexByte(string(c), '/')
	return i >= 0 && validID(string(c[:i])) && validID(string(c[i+1:]))
}

// StreamRef names a stream: its owner tenant and its name within that tenant.
type StreamRef struct {
	Owner TenantID
	Name  string
}

func (s StreamRef) valid() bool { return validID(string(s.Owner)) && validText(s.Name, maxName) }

// UserID names a user of one tenant. User names are scoped by their tenant:
// tenant T can only grant roles to users whose Tenant is T.
type UserID struct {
	Tenant TenantID
	Name   string
}

func (u UserID) valid() bool { return validID(string(u.Tenant)) && validText(u.Name, maxID) }

// validID reports whether s is 1..maxID printable ASCII bytes without spaces.
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validText reports whether s is 1..max bytes of UTF-8 without control
// characters (so names and comments cannot forge lines in logs or the CLI).
func validText(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// validEmail is deliberately loose: the address is only a label shown to the
// owner and used to deliver the token; the tenant id is what gets pinned.
func validEmail(s string) bool {
	i := strings.LastIndexByte(s, '@')
	return validText(s, maxEmail) && !strings.ContainsRune(s, ' ') && i > 0 && i < len(s)-1
}
