package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersAndRoles: the admin adds users with roles; each logs in with
// its password and may do what its role allows, no more; a sensitive
// action asks for the password again.
func TestUsersAndRoles(t *testing.T) {
	quickExit(t)
	a := startFedAgent(t, "acme-refinery")
	fedFeed(a, "site1/boiler/temp", 30)
	a.ok("", "community", "create", "supply-chain")
	a.ok("correct horse battery\n", "user", "add", "olivia", "--role", "community-member", "--password-stdin")
	a.ok("correct horse battery\n", "user", "add", "boss", "--role", "tenant-admin", "--password-stdin")
	if out := a.ok("", "user", "list"); !strings.Contains(out, "olivia") || !strings.Contains(out, "community-member") {
		t.Fatalf("user list: %s", out)
	}
	home := t.TempDir()
	as := func(user, pw string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(sluiceBin, args...)
		cmd.Env = append(os.Environ(), "SLUICE_ADDR="+a.addr, "SLUICE_TOKEN=", "SLUICE_DATA_DIR="+filepath.Join(home, "none"),
			"XDG_CONFIG_HOME="+filepath.Join(home, user), "HOME="+filepath.Join(home, user), "SLUICE_PASSWORD="+pw, "GORACE=atexit_sleep_ms=0")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return out.String(), errb.String(), code
	}
	if _, errs, code := as("olivia", "wrong password!!", "login", "--user", "olivia"); code == 0 {
		t.Fatal("login with a wrong password succeeded")
	} else if !strings.Contains(errs, "401") {
		t.Fatalf("wrong password: %s", errs)
	}
	if _, errs, code := as("olivia", "correct horse battery", "login", "--user", "olivia"); code != 0 {
		t.Fatalf("login: %s", errs)
	}
	// A member reads, and may not administer.
	if out, errs, code := as("olivia", "", "stream", "read", "site1/boiler/temp", "--start", "-1h"); code != 0 || !strings.Contains(out, "timestamp") {
		t.Fatalf("member read: %d %s", code, errs)
	}
	for _, args := range [][]string{
		{"community", "create", "mine"},
		{"user", "add", "mallory", "--password-stdin"},
		{"stream", "delete", "site1/boiler/temp"},
	} {
		if _, errs, code := as("olivia", "correct horse battery", args...); code == 0 || !strings.Contains(errs, "403") {
			t.Errorf("member may not %v: exit %d %s", args, code, errs)
		}
	}
	// An admin's sensitive action asks for the password again; the CLI
	// resends with it.
	if _, errs, code := as("boss", "correct horse battery", "login", "--user", "boss"); code != 0 {
		t.Fatalf("boss login: %s", errs)
	}
	if _, errs, code := as("boss", "correct horse battery", "community", "delete", "supply-chain"); code != 0 {
		t.Fatalf("delete with step-up: %s", errs)
	}
	if _, errs, code := as("boss", "not the password", "stream", "delete", "site1/boiler/temp"); code == 0 {
		t.Fatal("step-up with a wrong password succeeded")
	} else if !strings.Contains(errs, "403") && !strings.Contains(errs, "401") {
		t.Fatalf("wrong step-up password: %s", errs)
	}
}
