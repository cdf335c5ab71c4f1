package users

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

var tokenRE = regexp.MustCompile(`^slu_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`)

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleCommunityMember, commC), role(policy.RoleDataSteward, commC)))
	tok, info, err := d.CreateToken("alice", "laptop", 24*time.Hour)
	must(t, err)
	if !tokenRE.MatchString(tok) || !strings.Contains(tok, info.ID) {
		t.Fatalf("token %q (id %s)", tok, info.ID)
	}
	if !info.Expires.Equal(c.Now().Add(24*time.Hour)) || info.Label != "laptop" || info.User != "alice" {
		t.Fatalf("info %+v", info)
	}
	p, err := d.Authenticate(tok)
	must(t, err)
	if p.User != "alice" || p.TokenID != info.ID || p.Admin || p.Bootstrap ||
		!reflect.DeepEqual(p.Roles, []Assignment{role(policy.RoleCommunityMember, commC), role(policy.RoleDataSteward, commC)}) {
		t.Fatalf("principal %+v", p)
	}
	if !Allowed(p, policy.ActionShare, commC) || Allowed(p, policy.ActionShare, commD) || Allowed(p, policy.ActionRead, "") {
		t.Fatal("Allowed disagrees with the roles")
	}
	if got := p.RoleSet(commC); got != policy.NewRoleSet(policy.RoleCommunityMember, policy.RoleDataSteward) {
		t.Fatalf("RoleSet %v", got)
	}
	if all, cs := p.Communities(policy.ActionRead); all || !slices.Equal(cs, []policy.CommunityID{commC}) {
		t.Fatalf("Communities: %v %v", all, cs)
	}
	if u := p.UserID("tenantA"); u != (policy.UserID{Tenant: "tenantA", Name: "alice"}) {
		t.Fatalf("UserID %v", u)
	}
	// Roles are read per request: a grant shows at once.
	must(t, d.Grant("alice", policy.RoleCommunityMember, ""))
	if p, _ := d.Authenticate(tok); !Allowed(p, policy.ActionRead, "") {
		t.Fatal("a new grant did not apply")
	}

	// Shown once: listing and the file carry no secret.
	for _, ti := range d.ListTokens("alice") {
		if ti.ID != info.ID {
			t.Fatalf("list: %+v", ti)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "users.json"))
	must(t, err)
	if strings.Contains(string(b), tok) || strings.Contains(string(b), tok[len(TokenPrefix)+idLen+1:]) {
		t.Fatal("the users file holds a token secret")
	}

	// Wrong secrets with the right id, and other near misses.
	for _, bad := range []string{
		"", "slu_", tok[:len(tok)-1], tok + "x", tok[:len(tok)-1] + "A", strings.Replace(tok, info.ID, "000000000000", 1),
		strings.ToUpper(tok), " " + tok, "Bearer " + tok, strings.Repeat("a", 10000),
	} {
		if bad == tok[:len(tok)-1]+"A" && strings.HasSuffix(tok, "A") {
			continue
		}
		if _, err := d.Authenticate(bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%.40q) = %v", bad, err)
		}
	}

	// Revoked, expired, disabled: distinct errors, one message outside.
	tok2, info2 := mustToken(t, d, "alice")
	must(t, d.RevokeToken(info2.ID))
	must(t, d.RevokeToken(info2.ID)) // again: fine
	if _, err := d.Authenticate(tok2); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	must(t, d.AddUser("bob", pw("bob")))
	must(t, d.AddUser("root", pw("root"), role(policy.RoleTenantAdmin, "")))
	tok3, _ := mustToken(t, d, "bob")
	must(t, d.SetDisabled("bob", true))
	if _, err := d.Authenticate(tok3); !errors.Is(err, ErrTokenDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	if _, _, err := d.CreateToken("bob", "", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token for a disabled user: %v", err)
	}
	must(t, d.SetDisabled("bob", false))
	if _, err := d.Authenticate(tok3); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}
	c.Advance(24 * time.Hour)
	if _, err := d.Authenticate(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	for _, err := range []error{ErrTokenRevoked, ErrTokenExpired, ErrTokenDisabled, ErrTokenUnknown, ErrTokenMalformed} {
		if !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%v does not wrap ErrUnauthenticated", err)
		}
	}

	// Lifetimes and labels.
	for _, ttl := range []time.Duration{-time.Second, MaxTokenTTL + time.Second} {
		if _, _, err := d.CreateToken("alice", "", ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
	if _, _, err := d.CreateToken("alice", "bad\nlabel", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("label with a newline: %v", err)
	}
	if _, _, err := d.CreateToken("nobody", "", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("token for nobody: %v", err)
	}
	_, info4, err := d.CreateToken("alice", "", 0)
	if err != nil || !info4.Expires.Equal(c.Now().Add(DefaultTokenTTL)) {
		t.Fatalf("default ttl: %+v %v", info4, err)
	}
	if err := d.RevokeToken("000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}

	// Revoked and expired tokens are listed for 30 days, then dropped.
	c.Advance(31 * 24 * time.Hour)
	must(t, d.AddUser("carol", pw("carol")))
	for _, ti := range d.ListTokens("") {
		if ti.ID == info.ID || ti.ID == info2.ID {
			t.Fatalf("token %s not pruned", ti.ID)
		}
	}
}

// TestLastUsed: last use is kept to the minute and written lazily: not
// on every request, at most hourly, and on Close.
func TestLastUsed(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.AddUser("alice", pw("alice")))
	tok, info := mustToken(t, d, "alice")
	path := filepath.Join(dir, "users.json")
	stat := func() time.Time { fi, _ := os.Stat(path); return fi.ModTime() }
	writes := func() string { b, _ := os.ReadFile(path); return string(b) }

	before := writes()
	_, err := d.Authenticate(tok)
	must(t, err)
	if ti, _ := d.Token(info.ID); !ti.LastUsed.Equal(c.Now()) {
		t.Fatalf("last used %v, want %v", ti.LastUsed, c.Now())
	}
	// The first use is written at once (nothing was saved yet); then not
	// for an hour.
	first := writes()
	if first == before || !strings.Contains(first, `"last_used"`) {
		t.Fatal("first use not written")
	}
	m := stat()
	for range 50 {
		c.Advance(time.Minute / 2)
		_, err := d.Authenticate(tok)
		must(t, err)
	}
	if writes() != first || !stat().Equal(m) {
		t.Fatal("last use written within the hour")
	}
	if ti, _ := d.Token(info.ID); !ti.LastUsed.After(c.Now().Add(-time.Minute)) {
		t.Fatalf("in-memory last use %v is stale (now %v)", ti.LastUsed, c.Now())
	}
	c.Advance(40 * time.Minute)
	_, err = d.Authenticate(tok)
	must(t, err)
	if writes() == first {
		t.Fatal("last use not written after an hour")
	}
	c.Advance(2 * time.Minute)
	d.Authenticate(tok)
	must(t, d.Close())
	d2 := openDir(t, dir, c)
	if ti, _ := d2.Token(info.ID); !ti.LastUsed.Equal(c.Now()) {
		t.Fatalf("after Close and reopen: %v, want %v", ti.LastUsed, c.Now())
	}
}

func TestBootstrap(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	c := newClock()
	d := openDir(t, dir, c)

	// No file: a new slu_ token, 0600, for the built-in admin.
	must(t, d.EnsureBootstrap(file))
	b, err := os.ReadFile(file)
	must(t, err)
	tok := strings.TrimSpace(string(b))
	if !tokenRE.MatchString(tok) {
		t.Fatalf("new token %q", tok)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	p, err := d.Authenticate(tok)
	if err != nil || p.User != BootstrapUser || !p.Admin || !p.Bootstrap || !Allowed(p, policy.ActionAdminister, "") {
		t.Fatalf("bootstrap principal %+v %v", p, err)
	}
	// Idempotent, across reopen too; it never expires.
	must(t, d.EnsureBootstrap(file))
	d.Close()
	d = openDir(t, dir, c)
	must(t, d.EnsureBootstrap(file))
	c.Advance(10 * 365 * 24 * time.Hour)
	if _, err := d.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	if n := len(d.ListTokens(BootstrapUser)); n != 1 {
		t.Fatalf("%d bootstrap tokens", n)
	}

	// A legacy file (64 hex digits, as older agents wrote) works as it is.
	legacy := strings.Repeat("ab12", 16)
	must(t, os.WriteFile(file, []byte(legacy+"\n"), 0o600))
	must(t, d.EnsureBootstrap(file))
	if _, err := d.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("the replaced token still works: %v", err)
	}
	p, err = d.Authenticate(legacy)
	if err != nil || p.User != BootstrapUser || !p.Bootstrap {
		t.Fatalf("legacy: %+v %v", p, err)
	}
	if _, err := d.Authenticate(legacy[:63] + "c"); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("near-legacy: %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "users.json"))
	if strings.Contains(string(b), legacy) {
		t.Fatal("the users file holds the legacy token")
	}
	d.Close()
	d = openDir(t, dir, c)
	must(t, d.EnsureBootstrap(file))
	if _, err := d.Authenticate(legacy); err != nil {
		t.Fatalf("legacy after reopen: %v", err)
	}

	// Revoked stays revoked across EnsureBootstrap; deleting the file
	// issues a new one.
	id := d.ListTokens(BootstrapUser)[0].ID
	must(t, d.RevokeToken(id))
	must(t, d.EnsureBootstrap(file))
	if _, err := d.Authenticate(legacy); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked bootstrap came back: %v", err)
	}
	c.Advance(60 * 24 * time.Hour)
	must(t, d.AddUser("x", pw("x"))) // a write prunes old revoked tokens, but not this one
	must(t, d.EnsureBootstrap(file))
	if _, err := d.Authenticate(legacy); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked bootstrap came back after pruning: %v", err)
	}
	must(t, os.Remove(file))
	must(t, d.EnsureBootstrap(file))
	b, _ = os.ReadFile(file)
	if _, err := d.Authenticate(strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("new token after delete: %v", err)
	}

	// An empty file gets a token; a bad one is an error that says what to do.
	must(t, os.WriteFile(file, nil, 0o600))
	must(t, d.EnsureBootstrap(file))
	if b, _ := os.ReadFile(file); !tokenRE.Match(b[:len(b)-1]) {
		t.Fatalf("empty file got %q", b)
	}
	must(t, os.WriteFile(file, []byte("short"), 0o600))
	if err := d.EnsureBootstrap(file); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("short token: %v", err)
	}
	// The file cannot name another user's token.
	aliceTok, _ := mustToken(t, d, "x")
	must(t, os.WriteFile(file, []byte(aliceTok), 0o600))
	if err := d.EnsureBootstrap(file); err == nil {
		t.Fatal("a user's token became the bootstrap token")
	}
}
