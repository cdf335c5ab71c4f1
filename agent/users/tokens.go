package users

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/agent/internal/durable"
	"github.com/sluice-edge/sluice/policy"
)

// Token lifetimes. Only the bootstrap token never expires.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
	// TokenPrefix starts every token this package issues:
	// slu_<id>_<secret>, id 12 hex digits, secret 32 random bytes in
	// unpadded base64url (43 characters).
	TokenPrefix = "slu_"

	idLen         = 12
	secretLen     = 43
	maxBearer     = 512
	maxLabel      = 64
	usedGrain     = time.Minute // last use is tracked to this grain in memory,
	usedSaveEvery = time.Hour   // and written to the file at most this often
)

// TokenInfo describes a token. It never carries the secret or its hash.
type TokenInfo struct {
	ID        string
	User      string
	Label     string
	Created   time.Time
	Expires   time.Time // zero: never (the bootstrap token)
	Revoked   time.Time // zero: not revoked
	LastUsed  time.Time // zero: never; updated lazily, to the minute
	Bootstrap bool      // the admin.token file's token
}

// Active reports whether the token is neither revoked nor expired at now.
func (t TokenInfo) Active(now time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

func (t *token) info() TokenInfo {
	ti := TokenInfo{ID: t.id, User: t.user, Label: t.label, Created: t.created, Expires: t.expires,
		Revoked: t.revoked, Bootstrap: t.bootstrap}
	if ns := t.used.last.Load(); ns != 0 {
		ti.LastUsed = time.Unix(0, ns).UTC()
	}
	return ti
}

func checkLabel(s string) error {
	if len(s) > maxLabel || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w token label: at most %d bytes of text", ErrInvalid, maxLabel)
	}
	return nil
}

// CreateToken issues a token for user, valid for ttl (0: DefaultTokenTTL,
// at most MaxTokenTTL). The secret is returned once, as
// slu_<id>_<secret>; only its SHA-256 is stored.
func (d *Directory) CreateToken(name, label string, ttl time.Duration) (string, TokenInfo, error) {
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < 0 || ttl > MaxTokenTTL:
		return "", TokenInfo{}, fmt.Errorf("%w token lifetime %s: want up to %s", ErrInvalid, ttl, MaxTokenTTL)
	}
	if err := checkLabel(label); err != nil {
		return "", TokenInfo{}, err
	}
	var secret string
	var t *token
	err := d.update(func(s *state, now time.Time) error {
		u, ok := s.users[name]
		if !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		if u.disabled {
			return fmt.Errorf("%w: user %q is disabled", ErrInvalid, name)
		}
		var id string
		secret, id = newToken(s)
		t = &token{id: id, sum: sha256.Sum256([]byte(secret[len(TokenPrefix)+idLen+1:])), user: name,
			label: label, created: now, expires: now.Add(ttl), used: new(usage)}
		s.tokens[id] = t
		return nil
	})
	if err != nil {
		return "", TokenInfo{}, err
	}
	return secret, t.info(), nil
}

// newToken returns a fresh token string and its id, unused in s.
func newToken(s *state) (tok, id string) {
	for {
		var b [idLen / 2]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		if _, taken := s.tokens[id]; !taken {
			return TokenPrefix + id + "_" + randomString(32), id
		}
	}
}

// ListTokens lists user's tokens ("" for every user's), newest first,
// revoked and expired ones included until they are pruned 30 days later.
func (d *Directory) ListTokens(name string) []TokenInfo {
	s := d.cur.Load()
	var out []TokenInfo
	for _, t := range s.tokens {
		if name == "" || t.user == name {
			out = append(out, t.info())
		}
	}
	slices.SortFunc(out, func(a, b TokenInfo) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Token describes one token.
func (d *Directory) Token(id string) (TokenInfo, error) {
	t, ok := d.cur.Load().tokens[id]
	if !ok {
		return TokenInfo{}, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return t.info(), nil
}

// RevokeToken revokes a token at once. Revoking it again is not an error.
// Revoking the bootstrap token disables the admin.token file until it is
// deleted and the agent restarted (see EnsureBootstrap).
func (d *Directory) RevokeToken(id string) error {
	return d.update(func(s *state, now time.Time) error {
		t, ok := s.tokens[id]
		if !ok {
			return fmt.Errorf("token %q: %w", id, ErrNotFound)
		}
		if !t.revoked.IsZero() {
			return nil
		}
		nt := *t
		nt.revoked = now
		s.tokens[id] = &nt
		if s.legacy == t {
			s.legacy = &nt
		}
		return nil
	})
}

// Principal is an authenticated caller: a user of this directory, with
// the roles it holds at the time of the request.
type Principal struct {
	User    string
	Roles   []Assignment
	TokenID string
	Admin   bool // holds tenant-admin
	// Bootstrap is set for the admin.token file's token. Whoever can read
	// that file owns the agent's data anyway, so it needs no step-up.
	Bootstrap bool

	dir *Directory // the directory that authenticated it
}

// RoleSet returns the roles the principal holds in community c, counting
// tenant-wide roles; with c == "" only tenant-wide roles count (as
// policy.State.Roles). This is also what the agent vouches for when it
// asks a partner for a read (policy.Request.Roles).
func (p Principal) RoleSet(c policy.CommunityID) policy.RoleSet {
	var rs []policy.Role
	for _, a := range p.Roles {
		if a.Community == "" || a.Community == c {
			rs = append(rs, a.Role)
		}
	}
	return policy.NewRoleSet(rs...)
}

// Prefixes returns the stream prefixes of the principal's ingest grant
// (nil without one).
func (p Principal) Prefixes() []string {
	for _, a := range p.Roles {
		if a.Role == policy.RoleIngest && a.Community == "" {
			return a.Prefixes
		}
	}
	return nil
}

// MayWrite reports whether the principal may write points to the local
// stream named stream, creating it on first write: a tenant admin any
// stream, an ingest user those within its prefixes (policy
// RoleSet.CanWrite).
func (p Principal) MayWrite(stream string) bool {
	return p.User != "" && p.RoleSet("").CanWrite(stream, p.Prefixes())
}

// Communities returns where the principal may do action: all is true when
// its tenant-wide roles allow it everywhere; otherwise cs lists the
// communities. Handlers of ScopeAnyCommunity routes filter with it.
func (p Principal) Communities(action policy.Action) (all bool, cs []policy.CommunityID) {
	if p.RoleSet("").Can(action) {
		return true, nil
	}
	for _, a := range p.Roles {
		if a.Community != "" && !slices.Contains(cs, a.Community) && p.RoleSet(a.Community).Can(action) {
			cs = append(cs, a.Community)
		}
	}
	return false, cs
}

// UserID is the principal as policy and audit lines name it, given this
// agent's tenant id. It is all a partner ever learns of a local user.
func (p Principal) UserID(tenant policy.TenantID) policy.UserID {
	return policy.UserID{Tenant: tenant, Name: p.User}
}

// Authenticate checks a bearer token (without the "Bearer " prefix) and
// returns its principal. It costs one SHA-256 and a map lookup, no
// argon2. Every failure wraps ErrUnauthenticated; the distinct errors
// (ErrTokenMalformed, ErrTokenUnknown, ErrTokenExpired, ErrTokenRevoked,
// ErrTokenDisabled) are for logs and metrics only, never for the caller:
// the token's state is told only to whoever holds its secret.
func (d *Directory) Authenticate(bearer string) (Principal, error) {
	now := d.now()
	s := d.cur.Load()
	t, err := s.match(bearer)
	if err != nil {
		return Principal{}, err
	}
	u := s.users[t.user]
	switch {
	case !t.revoked.IsZero():
		return Principal{}, ErrTokenRevoked
	case !t.expires.IsZero() && !now.Before(t.expires):
		return Principal{}, ErrTokenExpired
	case u == nil:
		return Principal{}, ErrTokenUnknown
	case u.disabled:
		return Principal{}, ErrTokenDisabled
	}
	d.touch(t, now)
	roles := s.roles[t.user]
	return Principal{User: t.user, Roles: cloneAssignments(roles), TokenID: t.id, Admin: hasTenantAdmin(roles),
		Bootstrap: t.bootstrap, dir: d}, nil
}

// match finds the token whose secret is bearer, comparing hashes in
// constant time.
func (s *state) match(bearer string) (*token, error) {
	if len(bearer) == 0 || len(bearer) > maxBearer {
		return nil, ErrTokenMalformed
	}
	rest, ok := strings.CutPrefix(bearer, TokenPrefix)
	if !ok {
		// The bootstrap token may be a legacy one (64 hex digits).
		if s.legacy == nil {
			return nil, ErrTokenMalformed
		}
		sum := sha256.Sum256([]byte(bearer))
		if subtle.ConstantTimeCompare(sum[:], s.legacy.sum[:]) != 1 {
			return nil, ErrTokenUnknown
		}
		return s.legacy, nil
	}
	if len(rest) != idLen+1+secretLen || rest[idLen] != '_' {
		return nil, ErrTokenMalformed
	}
	sum := sha256.Sum256([]byte(rest[idLen+1:]))
	t, ok := s.tokens[rest[:idLen]]
	if !ok || t.legacy {
		return nil, ErrTokenUnknown
	}
	if subtle.ConstantTimeCompare(sum[:], t.sum[:]) != 1 {
		return nil, ErrTokenUnknown
	}
	return t, nil
}

// touch records a use to the minute, and writes the file when the stored
// last use is over an hour old, unless a writer is busy (then it is
// written with the next change or on Close).
func (d *Directory) touch(t *token, now time.Time) {
	ns := now.UnixNano()
	if ns-t.used.last.Load() < int64(usedGrain) {
		return
	}
	t.used.last.Store(ns)
	if ns-t.used.saved.Load() < int64(usedSaveEvery) || !d.mu.TryLock() {
		return
	}
	defer d.mu.Unlock()
	if d.closed.Load() {
		return
	}
	if err := d.save(d.cur.Load()); err != nil {
		d.log.Warn("write token last use", "err", err)
	}
}

// EnsureBootstrap keeps the agent's admin token file working. It makes
// the built-in user "admin" (tenant-admin, no password) on first use, and
// registers the file's content as admin's bootstrap token, which never
// expires and needs no step-up. A missing or empty file gets a new token
// (0600). The file's content wins: writing another token into it replaces
// the old bootstrap token; but the same content stays revoked once
// revoked, so to re-enable the file, delete it and restart. Legacy tokens
// (any 16 to 512 printable bytes, such as the 64 hex digits older agents
// wrote) are accepted as they are.
func (d *Directory) EnsureBootstrap(tokenFile string) error {
	content, err := readTokenFile(tokenFile)
	if err != nil {
		return err
	}
	if content == "" {
		// A fresh slu_ token, in a new file (O_EXCL: never clobber one
		// that appeared meanwhile; an empty one is replaced).
		tok, _ := newToken(d.cur.Load())
		if err := durable.CreateFile(tokenFile, []byte(tok+"\n")); err != nil {
			return fmt.Errorf("write admin token: %w", err)
		}
		content = tok
	}
	return d.update(func(s *state, now time.Time) error {
		u, ok := s.users[BootstrapUser]
		switch {
		case !ok:
			s.users[BootstrapUser] = &user{name: BootstrapUser, created: now, builtin: true}
			s.roles[BootstrapUser], _ = addAssignment(slices.Clone(s.roles[BootstrapUser]), Assignment{Role: policy.RoleTenantAdmin}) // no prefixes: cannot fail
		case !u.builtin:
			nu := *u
			nu.builtin = true
			s.users[BootstrapUser] = &nu
		}
		if t, err := s.match(content); err == nil && t.bootstrap {
			if !t.revoked.IsZero() {
				d.log.Warn("the admin token file holds a revoked token; delete it and restart to issue a new one", "file", tokenFile)
			}
			return nil
		}
		// Replace any previous bootstrap token with the file's.
		for id, t := range s.tokens {
			if t.bootstrap {
				delete(s.tokens, id)
			}
		}
		s.legacy = nil
		t := &token{user: BootstrapUser, label: filepath.Base(tokenFile), created: now, bootstrap: true, used: new(usage)}
		if rest, ok := strings.CutPrefix(content, TokenPrefix); ok {
			if len(rest) != idLen+1+secretLen || rest[idLen] != '_' || !isHex(rest[:idLen]) {
				return fmt.Errorf("%s: not a well-formed %s token; delete it and restart to get a new one", tokenFile, TokenPrefix)
			}
			if _, taken := s.tokens[rest[:idLen]]; taken {
				return fmt.Errorf("%s: its token id is already in use; delete the file and restart", tokenFile)
			}
			t.id, t.sum = rest[:idLen], sha256.Sum256([]byte(rest[idLen+1:]))
		} else {
			_, t.id = newToken(s)
			t.sum, t.legacy = sha256.Sum256([]byte(content)), true
			s.legacy = t
		}
		s.tokens[t.id] = t
		return nil
	})
}

// readTokenFile returns the file's trimmed content, "" if it is missing
// or empty.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", nil
	}
	if len(tok) < 16 || len(tok) > maxBearer || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", fmt.Errorf("%s: want 16 to %d printable characters; delete it to get a new token", path, maxBearer)
	}
	return tok, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
