package users

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

func TestUserLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleTenantAdmin, "")))
	must(t, d.AddUser("bob.smith-2", pw("bob"), role(policy.RoleCommunityMember, commC)))
	if err := d.AddUser("alice", pw("alice")); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	must(t, d.Grant("bob.smith-2", policy.RoleDataSteward, commC))
	must(t, d.Grant("bob.smith-2", policy.RoleDataSteward, commC)) // idempotent
	want := []Assignment{role(policy.RoleCommunityMember, commC), role(policy.RoleDataSteward, commC)}
	if got := d.Roles("bob.smith-2"); !reflect.DeepEqual(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	if err := d.Revoke("bob.smith-2", policy.RoleCommunityAdmin, commC); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke a role not held: %v", err)
	}
	must(t, d.SetPassword("bob.smith-2", pw("bob"), "a brand new password"))
	if err := d.CheckPassword("bob.smith-2", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword("bob.smith-2", "wrong old password", "another new password"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong old password: %v", err)
	}

	users := d.ListUsers()
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob.smith-2" || !users[0].HasPassword {
		t.Fatalf("list: %+v", users)
	}

	// Everything survives a reopen.
	d.Close()
	d2 := openDir(t, dir, c)
	if got := d2.ListUsers(); fmt.Sprint(got) != fmt.Sprint(users) {
		t.Fatalf("after reopen:\n%+v\nwant\n%+v", got, users)
	}
	if err := d2.CheckPassword("bob.smith-2", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	tok, _ := mustToken(t, d2, "bob.smith-2")
	must(t, d2.RemoveUser("bob.smith-2"))
	if _, err := d2.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token of a removed user: %v", err)
	}
	if len(d2.ListTokens("")) != 0 || len(d2.Roles("bob.smith-2")) != 0 {
		t.Fatal("tokens or roles outlived their user")
	}
	if err := d2.RemoveUser("bob.smith-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestValidation(t *testing.T) {
	d, _ := newDir(t)
	for _, name := range []string{"", "Alice", "-x", ".x", "a b", "ä", strings.Repeat("a", 65), "a/b", "a\n"} {
		if err := d.AddUser(name, "long enough password"); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if err := d.AddUser(strings.Repeat("a", 64), "long enough password"); err != nil {
		t.Errorf("64-byte name: %v", err)
	}
	for _, p := range []string{"", "short", "elevenchars", "carol-is-me1", "CAROL-IS-ME1", " leading space", "trailing space ",
		"with\nnewline!", "nul\x00inside-pw", "\xff\xfe not utf8 at all", strings.Repeat("x", 1025)} {
		if err := d.AddUser("carol-is-me1", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("password %q accepted: %v", p, err)
		}
	}
	if err := d.AddUser("dave", "twelve chars"); err != nil {
		t.Errorf("12 characters: %v", err)
	}
	if err := d.AddUser("erin", "ünïcödé pässwörd"); err != nil {
		t.Errorf("unicode password: %v", err)
	}
	for _, a := range []Assignment{
		role(policy.RoleTenantAdmin, commC), role(0, ""), role(5, commC), role(policy.RoleCommunityMember, "no-slash"),
		role(policy.RoleCommunityMember, "a/"), role(policy.RoleCommunityMember, "/b"), role(policy.RoleCommunityMember, "a b/c"),
	} {
		if err := d.Grant("dave", a.Role, a.Community); !errors.Is(err, ErrInvalid) {
			t.Errorf("grant %v: %v", a, err)
		}
	}
	if err := d.Grant("nobody", policy.RoleCommunityMember, commC); !errors.Is(err, ErrNotFound) {
		t.Errorf("grant to nobody: %v", err)
	}
	for _, s := range []string{"community-member", "data-steward", "community-admin", "tenant-admin"} {
		r, err := ParseRole(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRole(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseRole("admin"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseRole(admin): %v", err)
	}
}

func TestLastAdmin(t *testing.T) {
	d, _ := newDir(t)
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleTenantAdmin, "")))
	if err := d.Revoke("alice", policy.RoleTenantAdmin, ""); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoke the last admin: %v", err)
	}
	if err := d.SetDisabled("alice", true); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable the last admin: %v", err)
	}
	if err := d.RemoveUser("alice"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("remove the last admin: %v", err)
	}
	must(t, d.AddUser("bob", pw("bob"), role(policy.RoleTenantAdmin, "")))
	must(t, d.SetDisabled("alice", true))
	if err := d.RemoveUser("bob"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("remove the last enabled admin: %v", err)
	}
	must(t, d.SetDisabled("alice", false))
	must(t, d.Revoke("bob", policy.RoleTenantAdmin, ""))
	if len(d.Roles("bob")) != 0 {
		t.Fatalf("bob: %v", d.Roles("bob"))
	}
}

func TestBuiltinAdmin(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir, newClock())
	must(t, d.EnsureBootstrap(filepath.Join(dir, "admin.token")))
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleTenantAdmin, "")))
	if err := d.RemoveUser(BootstrapUser); !errors.Is(err, ErrBuiltin) {
		t.Fatalf("remove admin: %v", err)
	}
	must(t, d.SetDisabled(BootstrapUser, true)) // alice is still there
	u, err := d.User(BootstrapUser)
	if err != nil || !u.Builtin || u.HasPassword || !u.Disabled {
		t.Fatalf("admin: %+v %v", u, err)
	}
	if err := d.CheckPassword(BootstrapUser, ""); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("admin has no password: %v", err)
	}
}

func TestForgetCommunity(t *testing.T) {
	d, _ := newDir(t)
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleCommunityMember, commC), role(policy.RoleDataSteward, commC),
		role(policy.RoleCommunityMember, commD)))
	must(t, d.AddUser("bob", pw("bob"), role(policy.RoleCommunityAdmin, commC)))
	must(t, d.ForgetCommunity(commC))
	if got := d.Roles("alice"); !reflect.DeepEqual(got, []Assignment{role(policy.RoleCommunityMember, commD)}) {
		t.Fatalf("alice: %v", got)
	}
	if got := d.Roles("bob"); len(got) != 0 {
		t.Fatalf("bob: %v", got)
	}
	must(t, d.RevokeCommunity("alice", commD))
	if err := d.RevokeCommunity("alice", commD); !errors.Is(err, ErrNotFound) {
		t.Fatalf("again: %v", err)
	}
}

func TestFileFormat(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.EnsureBootstrap(filepath.Join(dir, "admin.token")))
	must(t, d.AddUser("alice", pw("alice"), role(policy.RoleDataSteward, commC), role(policy.RoleCommunityMember, commC)))
	tok, info := mustToken(t, d, "alice")
	path := filepath.Join(dir, "users.json")
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	must(t, err)
	s := string(b)
	for _, want := range []string{`"version": 1`, `"name": "alice"`, `"password": "$argon2id$v=19$m=64,t=1,p=1$`,
		`"id": "` + info.ID + `"`, `"sha256": "`, `"role": "data-steward"`, `"community": "tenantA/c1"`, `"builtin": true`} {
		if !strings.Contains(s, want) {
			t.Errorf("file lacks %s:\n%s", want, s)
		}
	}
	secret := tok[len(TokenPrefix)+idLen+1:]
	if strings.Contains(s, secret) || strings.Contains(s, pw("alice")) {
		t.Fatalf("the file holds a secret:\n%s", s)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	good := `{"version":1,"users":[{"name":"alice","created":"2026-01-01T00:00:00Z"}],"tokens":[],"roles":[]}`
	for name, tc := range map[string]struct{ content, want string }{
		"garbage":       {`{`, "unexpected EOF"},
		"unknown key":   {`{"version":1,"users":[],"tokens":[],"roles":[],"extra":1}`, "unknown field"},
		"version":       {`{"version":2,"users":[],"tokens":[],"roles":[]}`, "version 2"},
		"trailing":      {good + `{}`, "after the JSON"},
		"bad name":      {`{"version":1,"users":[{"name":"Alice"}]}`, "users[0]"},
		"dup user":      {`{"version":1,"users":[{"name":"a"},{"name":"a"}]}`, "duplicate user"},
		"bad hash":      {`{"version":1,"users":[{"name":"a","password":"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]}`, "users[0] (a)"},
		"huge cost":     {`{"version":1,"users":[{"name":"a","password":"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]}`, "memory"},
		"token no user": {`{"version":1,"tokens":[{"id":"0123456789ab","sha256":"` + strings.Repeat("00", 32) + `","user":"x","expires":"2030-01-01T00:00:00Z"}]}`, `no user "x"`},
		"token bad id":  {`{"version":1,"users":[{"name":"x"}],"tokens":[{"id":"XYZ","sha256":"` + strings.Repeat("00", 32) + `","user":"x"}]}`, "tokens[0]"},
		"token no exp":  {`{"version":1,"users":[{"name":"x"}],"tokens":[{"id":"0123456789ab","sha256":"` + strings.Repeat("00", 32) + `","user":"x"}]}`, "no expiry"},
		"role":          {`{"version":1,"users":[{"name":"x"}],"roles":[{"user":"x","role":"boss"}]}`, "roles[0]"},
		"admin in c":    {`{"version":1,"users":[{"name":"x"}],"roles":[{"user":"x","role":"tenant-admin","community":"t/c"}]}`, "tenant-wide"},
		"role no user":  {`{"version":1,"roles":[{"user":"x","role":"data-steward","community":"t/c"}]}`, `no user "x"`},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.json")
			must(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, err := Open(path, Options{Argon2: cheap})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "users.json")
	must(t, os.WriteFile(path, []byte(good), 0o644))
	if _, err := Open(path, Options{Argon2: cheap}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("a loose mode was kept: %v", fi.Mode().Perm())
	}
}

// A failed write leaves the directory as it was, in memory and on disk.
func TestFailedWriteChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	must(t, os.Mkdir(dir, 0o700))
	d := openDir(t, dir, newClock())
	must(t, d.AddUser("alice", pw("alice")))
	must(t, os.RemoveAll(dir)) // no place for the temp file
	if err := d.AddUser("bob", pw("bob")); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
	if _, err := d.User("bob"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a failed change became visible")
	}
	if _, err := d.User("alice"); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUse runs writers and readers at once (run with -race),
// then checks the file holds exactly what the last state held.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.AddUser("root", pw("root"), role(policy.RoleTenantAdmin, "")))
	rootTok, _ := mustToken(t, d, "root")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("u%d-%d", w, i)
				if err := d.AddUser(name, pw(name), role(policy.RoleCommunityMember, commC)); err != nil {
					t.Error(err)
					return
				}
				tok, info, err := d.CreateToken(name, "x", 0)
				if err != nil {
					t.Error(err)
					return
				}
				if p, err := d.Authenticate(tok); err != nil || p.User != name {
					t.Errorf("authenticate %s: %v %v", name, p, err)
				}
				if err := d.CheckPassword(name, pw(name)); err != nil {
					t.Error(err)
				}
				if i%2 == 0 {
					must(t, d.RevokeToken(info.ID))
					must(t, d.Grant(name, policy.RoleDataSteward, commC))
				} else {
					must(t, d.RemoveUser(name))
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, err := d.Authenticate(rootTok); err != nil {
					t.Error(err)
					return
				}
				d.ListUsers()
				d.ListTokens("")
				c.Advance(time.Minute) // exercises the lazy last-use writes
			}
		})
	}
	wg.Wait()
	want := d.ListUsers()
	if len(want) != 1+4*5 {
		t.Fatalf("%d users, want 21", len(want))
	}
	must(t, d.Close())
	d2 := openDir(t, dir, c)
	if got := d2.ListUsers(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reopened:\n%v\nwant\n%v", got, want)
	}
	if a, b := d.ListTokens(""), d2.ListTokens(""); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("tokens differ after reopen:\n%v\n%v", a, b)
	}
}
