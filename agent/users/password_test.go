package users

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

// TestDefaultHash hashes with the default parameters: PHC format, round
// trip, wrong password, and the cost (logged; the bound is loose so a
// busy CI machine does not fail it).
func TestDefaultHash(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "users.json"), Options{})
	must(t, err)
	// The cost of a hash is measured by BenchmarkHashPassword, not here:
	// a wall-clock bound in a test fails on a loaded machine.
	h, err := d.hashPassword("correct horse battery")
	must(t, err)
	if m := phcRE.FindStringSubmatch(h); m == nil || m[1] != "47104" || m[2] != "2" || m[3] != "2" {
		t.Fatalf("hash %q is not the expected PHC string", h)
	}
	h2, _ := d.hashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, rehash, err := d.verify(pw, h)
		if err != nil || ok != want || rehash {
			t.Errorf("verify(%q) = %v, %v, %v", pw, ok, rehash, err)
		}
	}
}

func TestParsePHC(t *testing.T) {
	d, _ := newDir(t)
	h, err := d.hashPassword("some password here")
	must(t, err)
	p, salt, key, err := parsePHC(h)
	if err != nil || p != cheap || len(salt) != saltLen || len(key) != keyLen {
		t.Fatalf("%+v %d %d %v", p, len(salt), len(key), err)
	}
	f := strings.Split(h, "$")
	for _, bad := range []string{
		"", "$argon2id", strings.Replace(h, "argon2id", "argon2i", 1), strings.Replace(h, "v=19", "v=16", 1),
		strings.Replace(h, "m=64", "m=0", 1), strings.Replace(h, "t=1", "t=0", 1), strings.Replace(h, "p=1", "p=0", 1),
		strings.Replace(h, "p=1", "p=300", 1), strings.Replace(h, "m=64", "m=4294967296", 1),
		strings.Replace(h, "m=64,t=1,p=1", "t=1,m=64,p=1", 1), strings.Replace(h, "m=64", "m=+64", 1),
		"$argon2id$v=19$m=64,t=1,p=1$" + f[4] + "$", "$argon2id$v=19$m=64,t=1,p=1$" + f[4] + "=$" + f[5],
		h + "$", "$argon2id$v=19$m=64,t=1,p=1$!!$" + f[5],
	} {
		if _, _, _, err := parsePHC(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("parsePHC(%q) accepted", bad)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	d, _ := newDir(t)
	must(t, d.AddUser("alice", pw("alice")))
	must(t, d.AddUser("bob", pw("bob")))
	must(t, d.SetDisabled("bob", true))
	if err := d.CheckPassword("alice", pw("alice")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pw string
		want     error
	}{
		{"alice", "wrong password!", ErrWrongPassword},
		{"alice", "", ErrWrongPassword},
		{"alice", strings.Repeat("x", 5000), ErrWrongPassword},
		{"carol", pw("carol"), ErrNoSuchUser},
		{"", "", ErrNoSuchUser},
		{"bob", pw("bob"), ErrUserDisabled},
	} {
		err := d.CheckPassword(tc.user, tc.pw)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrBadCredentials) {
			t.Errorf("CheckPassword(%q, %.10q) = %v, want %v", tc.user, tc.pw, err, tc.want)
		}
	}
}

// TestLockout: 5 failures lock the user; while locked even the right
// password fails at once; the lock grows with each failure after it ends;
// a success resets it. The clock is injected: no sleeping.
func TestLockout(t *testing.T) {
	d, c := newDir(t)
	must(t, d.AddUser("alice", pw("alice")))
	must(t, d.AddUser("bob", pw("bob")))
	fail := func() error { return d.CheckPassword("alice", "wrong password!") }
	for i := range 5 {
		if err := fail(); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	var le *LockedError
	if err := d.CheckPassword("alice", pw("alice")); !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("after 5 failures: %v", err)
	}
	if le.RetryAfter() != 30*time.Second {
		t.Fatalf("first lock %v, want 30s", le.RetryAfter())
	}
	// Others are not affected.
	if err := d.CheckPassword("bob", pw("bob")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	c.Advance(29 * time.Second)
	if err := d.CheckPassword("alice", pw("alice")); !errors.As(err, &le) || le.RetryAfter() != time.Second {
		t.Fatalf("still locked: %v", err)
	}
	// The lock doubles with each failure after it ends.
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		c.Advance(lockMax)
		if err := fail(); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure after the lock: %v", err)
		}
		if err := fail(); !errors.As(err, &le) || le.RetryAfter() != want {
			t.Fatalf("lock %v, want %v (%v)", le.RetryAfter(), want, err)
		}
	}
	// A success resets the count.
	c.Advance(lockMax)
	if err := d.CheckPassword("alice", pw("alice")); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		fail()
	}
	if err := d.CheckPassword("alice", pw("alice")); err != nil {
		t.Fatalf("4 failures after a reset locked: %v", err)
	}
	// Unknown names lock too, so lockouts do not tell which users exist.
	for range 5 {
		d.CheckPassword("nobody", "whatever it is")
	}
	if err := d.CheckPassword("nobody", "whatever it is"); !errors.Is(err, ErrLocked) {
		t.Fatalf("unknown user: %v", err)
	}
	// Failures a day old are forgotten.
	for range 4 {
		fail()
	}
	c.Advance(25 * time.Hour)
	fail()
	if err := d.CheckPassword("alice", pw("alice")); err != nil {
		t.Fatalf("old failures counted: %v", err)
	}
}

// A hash made with other parameters is redone at the next login.
func TestRehash(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.AddUser("alice", pw("alice")))
	d.Close()
	stronger := Argon2Params{Memory: 128, Time: 2, Threads: 1}
	d2, err := Open(filepath.Join(dir, "users.json"), Options{Now: c.Now, Argon2: stronger})
	must(t, err)
	defer d2.Close()
	must(t, d2.CheckPassword("alice", pw("alice")))
	b, _ := os.ReadFile(filepath.Join(dir, "users.json"))
	if !strings.Contains(string(b), "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("not rehashed:\n%s", b)
	}
	must(t, d2.CheckPassword("alice", pw("alice")))
}
