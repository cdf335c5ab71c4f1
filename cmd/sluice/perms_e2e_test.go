package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDataDirIsPrivate starts a real agent on a data dir that an older
// version left open to other users, has it write what it writes (store,
// users, identity, audit log, federation state, views, metrics token),
// stops it, and finds every directory 0700 and every file 0600.
func TestDataDirIsPrivate(t *testing.T) {
	quickExit(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// As older versions left it: 0750/0755 directories, 0640/0644 files.
	for _, d := range []string{data, filepath.Join(data, "old")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]os.FileMode{"old/segment": 0o640, "notes.txt": 0o644} {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, []byte("x\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	// A link out of the data dir is neither followed nor changed.
	outside := filepath.Join(dir, "outside.txt")
	if err := os.WriteFile(outside, []byte("not the agent's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outside, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(data, "link")); err != nil {
		t.Fatal(err)
	}

	a := startAgent(t, data, "tenant: {name: perms-test}\nmetrics: {auth: token}\n")
	if !strings.Contains(a.logs(), `msg="data dir was open to other users; made it owner-only"`) ||
		!strings.Contains(a.logs(), `msg="files in the data dir were open to other users; made them owner-only"`) {
		t.Errorf("no log line about tightening the data dir:\n%s", a.logs())
	}
	fedFeed(a, "site1/boiler/temp", 500) // stream creation (audited) and writes
	a.ok("", "community", "create", testCommunity)
	a.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", a.addr+"/api/v1/views", strings.NewReader(
		`{"name":"boiler","streams":[{"stream":"site1/boiler/temp"}],"mode":"interpolated","window":"-1h","count":10}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("create view: %d %s", resp.StatusCode, body)
	}
	// A clean stop flushes Badger's tables and the audit log's checkpoint,
	// so everything the agent writes is on disk for the walk.
	if err := a.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}

	seen := map[string]bool{}
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		seen[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk saw what each part of the agent writes.
	for _, want := range []string{
		".", "admin.token", "users.json", "views.json", "metrics.token", "notes.txt", "old/segment",
		"identity/tenant.key", "identity/tenant.crt", "identity/tenant.json", "identity/agent.key", "identity/agent.crt",
		"store/MANIFEST", "audit/LOCK",
	} {
		if !seen[want] {
			t.Errorf("no %s in the data dir", want)
		}
	}
	var segs, tables, fed int
	for p := range seen {
		switch {
		case strings.HasPrefix(p, "audit/audit-"):
			segs++
		case strings.HasPrefix(p, "store/") && (strings.HasSuffix(p, ".sst") || strings.HasSuffix(p, ".vlog")):
			tables++
		case strings.HasPrefix(p, "federation/") && p != "federation":
			fed++
		}
	}
	if segs == 0 || tables == 0 || fed == 0 {
		t.Errorf("walked %d audit segments, %d Badger tables/value logs and %d federation files; want some of each: %v", segs, tables, fed, seen)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the file a link in the data dir points to: %v %v, want it left at 0644", fi.Mode().Perm(), err)
	}
}

// TestMetricsAuth: with metrics.auth: token, /metrics answers 401 with a
// Bearer challenge unless the request carries the token of
// <data_dir>/metrics.token, as Prometheus' authorization.credentials_file
// sends it; the file is read at every scrape, so a new token works at once.
func TestMetricsAuth(t *testing.T) {
	quickExit(t)
	data := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, data, "metrics:\n  auth: token\n")
	tokenFile := filepath.Join(data, "metrics.token")
	fi, err := os.Stat(tokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("metrics.token: %v, mode %v; want it written 0600", err, fi.Mode().Perm())
	}
	scrape := func(auth string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", a.addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	b, _ := os.ReadFile(tokenFile)
	tok := strings.TrimSpace(string(b))
	admin, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	code, body, h := scrape("")
	if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Bearer realm="sluice"` || strings.Contains(body, "sluice_build_info") {
		t.Fatalf("no token: %d %q %.200q, want 401 with a Bearer challenge and no metrics", code, h.Get("WWW-Authenticate"), body)
	}
	for _, auth := range []string{
		"Bearer " + tok + "x", "Bearer", "Basic " + tok, tok,
		"Bearer " + strings.TrimSpace(string(admin)), // an API token opens the API, not /metrics
	} {
		if code, body, _ := scrape(auth); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401\n%s", auth, code, body)
		}
	}
	code, body, _ = scrape("Bearer " + tok)
	if code != http.StatusOK || !strings.Contains(body, "sluice_build_info{") {
		t.Fatalf("with the token: %d, want 200 with the metrics\n%.300s", code, body)
	}
	if !strings.Contains(body, `sluice_http_bad_requests_total{reason="unauthorized",route="metrics"} 6`) {
		t.Errorf("refused scrapes not counted:\n%s", grepLines(body, "sluice_http_bad_requests_total"))
	}

	// Rotation: the operator writes a new token into the file.
	const rotated = "a-token-the-operator-chose-0123456789"
	if err := os.WriteFile(tokenFile, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := scrape("Bearer " + tok); code != http.StatusUnauthorized {
		t.Errorf("old token after rotation: %d, want 401", code)
	}
	if code, _, _ := scrape("Bearer " + rotated); code != http.StatusOK {
		t.Errorf("new token after rotation: %d, want 200", code)
	}
	// The metrics token opens /metrics only.
	req, _ := http.NewRequest("GET", a.addr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+rotated)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the metrics token opened /api/v1/status: %d, want 401", resp.StatusCode)
	}
}

// TestMetricsOpenWarning: the default leaves /metrics open; on a
// listener beyond loopback the agent says at start that it should not.
func TestMetricsOpenWarning(t *testing.T) {
	quickExit(t)
	const warning = `msg="/metrics is open to anyone who reaches the API`
	a := startAgent(t, filepath.Join(t.TempDir(), "data"), "", "SLUICE_API_LISTEN=0.0.0.0:0")
	if !strings.Contains(a.logs(), warning) {
		t.Errorf("no warning for an open /metrics on 0.0.0.0:\n%s", a.logs())
	}
	resp, err := http.Get(a.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics without metrics.auth: %d, want 200", resp.StatusCode)
	}
	if b := startAgent(t, filepath.Join(t.TempDir(), "data"), ""); strings.Contains(b.logs(), warning) {
		t.Errorf("warned about /metrics on loopback:\n%s", b.logs())
	}
}

// TestMetricsAuthShortToken: a token file too short to be a secret stops
// the agent at start, naming the file.
func TestMetricsAuthShortToken(t *testing.T) {
	quickExit(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "metrics.token"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s\nmetrics: {auth: token}\n", data)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, "agent", "--config", cfg)
	cmd.Env = append(os.Environ(), "SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_FEDERATION_LISTEN=127.0.0.1:0", "SLUICE_GOSSIP_LISTEN=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(string(out), filepath.Join(data, "metrics.token")+" holds 6 characters, fewer than 16") {
		t.Fatalf("agent with a 6-character metrics token: %v\n%s", err, out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
