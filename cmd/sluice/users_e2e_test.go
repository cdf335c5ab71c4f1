package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/connectortest"
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

// TestDeviceAndDashboardTokens (issue 15.4): a device's ingest token
// writes under its prefix, over the stream route, the bulk route and OMF,
// and nothing else; a dashboard's reader token reads and changes nothing.
// The steps are the README's.
func TestDeviceAndDashboardTokens(t *testing.T) {
	quickExit(t)
	a := startAgent(t, filepath.Join(t.TempDir(), "data"), `tenant: {name: acme-plant}
sources:
  - name: plant-omf
    type: omf
    omf:
      paths: [/omf]
      stream: "{datasource}/{containerid}/{property}"
      auth: {users: true}
`)
	fedFeed(a, "site2/press/force", 5) // a stream outside the device's prefix
	plc := strings.TrimSpace(a.ok("", "token", "create", "--name", "plc-gw", "--role", "ingest", "--prefix", "site1/"))
	graf := strings.TrimSpace(a.ok("", "token", "create", "--name", "grafana", "--role", "reader", "--ttl", "30d"))
	if !strings.HasPrefix(plc, "slu_") || !strings.HasPrefix(graf, "slu_") {
		t.Fatalf("tokens: %q %q", plc, graf)
	}
	out := a.ok("", "user", "show", "plc-gw")
	for _, want := range []string{"none (signs in with tokens only)", "ingest tenant-wide, writes streams under site1/", "plc-gw  active", "ingest[site1/]"} {
		if !strings.Contains(out, want) {
			t.Errorf("user show lacks %q:\n%s", want, out)
		}
	}
	if out := a.ok("", "token", "list", "--user", "grafana"); !strings.Contains(out, "grafana") || !strings.Contains(out, "reader") {
		t.Errorf("token list: %s", out)
	}
	if out := a.ok("", "user", "list"); !strings.Contains(out, "ingest[site1/]") || !strings.Contains(out, "reader") {
		t.Errorf("user list: %s", out)
	}
	// Making the same device again says how to get another token.
	if _, errs, code := a.cli("", "token", "create", "--name", "plc-gw", "--role", "ingest", "--prefix", "site1/"); code == 0 || !strings.Contains(errs, "token create --user plc-gw") {
		t.Errorf("second create: %d %s", code, errs)
	}

	call := func(token, method, path, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, a.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now().Unix()
	// Writes inside the prefix: one stream, bulk, and with the CLI.
	if code, body := call(plc, "POST", "/api/v1/streams/site1%2Fboiler%2Ftemp/data?create=1", "text/csv", fmt.Sprintf("%d,71.5\n", now-2)); code != 200 {
		t.Fatalf("device write: %d %s", code, body)
	}
	bulk := fmt.Sprintf("site1/boiler/temp,%d,72\nsite1/pump/flow,%d,3.25\n", now-1, now-1)
	if code, body := call(plc, "POST", "/api/v1/data?create=1", "text/csv", bulk); code != 200 || !strings.Contains(body, `"written": 2`) {
		t.Fatalf("device bulk write: %d %s", code, body)
	}
	as := func(token string, stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(sluiceBin, args...)
		cmd.Env = append(os.Environ(), "SLUICE_ADDR="+a.addr, "SLUICE_TOKEN="+token, "SLUICE_DATA_DIR="+filepath.Join(t.TempDir(), "none"),
			"HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "GORACE=atexit_sleep_ms=0")
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return o.String(), e.String(), code
	}
	if _, errs, code := as(plc, fmt.Sprintf("%d,1\n", now), "stream", "write", "site1/cli/level", "--create"); code != 0 {
		t.Fatalf("device writes with the CLI: %d %s", code, errs)
	}

	// Outside the prefix: refused whole, naming the stream; nothing stored.
	mixed := fmt.Sprintf("site1/new/one,%d,1\nsite2/press/force,%d,2\n", now, now)
	if code, body := call(plc, "POST", "/api/v1/data?create=1", "text/csv", mixed); code != 403 || !strings.Contains(body, `site2/press/force`) {
		t.Errorf("bulk outside the prefix: %d %s", code, body)
	}
	for _, q := range []struct{ method, path, ctype, body string }{
		{"POST", "/api/v1/streams/site2%2Fpress%2Fforce/data", "text/csv", fmt.Sprintf("%d,1\n", now)},
		{"POST", "/api/v1/streams/site10%2Fx/data?create=1", "text/csv", fmt.Sprintf("%d,1\n", now)},
		// Reads, stream management, federation, users: nothing.
		{"GET", "/api/v1/streams", "", ""},
		{"GET", "/api/v1/streams/site1%2Fboiler%2Ftemp/data", "", ""},
		{"GET", "/api/v1/streams/site1%2Fboiler%2Ftemp/latest", "", ""},
		{"POST", "/api/v1/streams", "application/json", `{"name": "site1/made"}`},
		{"DELETE", "/api/v1/streams/site1%2Fboiler%2Ftemp", "", ""},
		{"GET", "/api/v1/communities", "", ""},
		{"POST", "/api/v1/communities", "application/json", `{"name": "mine"}`},
		{"GET", "/api/v1/users", "", ""},
		{"GET", "/api/v1/views", "", ""},
		{"GET", "/api/v1/audit", "", ""},
	} {
		if code, body := call(plc, q.method, q.path, q.ctype, q.body); code != 403 {
			t.Errorf("device %s %s: %d %s, want 403", q.method, q.path, code, body)
		}
	}
	if _, errs, code := as(plc, "", "stream", "read", "site1/boiler/temp", "--start", "-1h"); code == 0 || !strings.Contains(errs, "403") {
		t.Errorf("device reads with the CLI: %d %s", code, errs)
	}

	// OMF with the device's token: its containers under site1/ only.
	omf := func(msgType, action, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", a.addr+"/omf", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+plc)
		req.Header.Set("messagetype", msgType)
		req.Header.Set("action", action)
		req.Header.Set("messageformat", "JSON")
		req.Header.Set("omfversion", "1.2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	connectortest.Eventually(t, 30*time.Second, "the OMF source to run", func() bool {
		code, _ := omf("type", "create", "[]")
		return code != 503
	})
	if code, body := omf("type", "create", `[{"id": "Tank", "type": "object", "classification": "dynamic", "properties": {
		"Timestamp": {"type": "string", "format": "date-time", "isindex": true}, "Level": {"type": "number"}}}]`); code != 204 && code != 200 {
		t.Fatalf("OMF type: %d %s", code, body)
	}
	if code, body := omf("container", "create", `[{"id": "Tank1", "typeid": "Tank", "datasource": "site1"}]`); code != 204 && code != 200 {
		t.Fatalf("OMF container inside: %d %s", code, body)
	}
	ts := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	if code, body := omf("data", "create", `[{"containerid": "Tank1", "values": [{"Timestamp": "`+ts+`", "Level": 4.5}]}]`); code != 204 && code != 200 {
		t.Fatalf("OMF data inside: %d %s", code, body)
	}
	if code, body := omf("container", "create", `[{"id": "Tank2", "typeid": "Tank", "datasource": "site2"}]`); code != 403 || !strings.Contains(body, "site2/Tank2/Level") {
		t.Errorf("OMF container outside: %d %s", code, body)
	}
	// Deletes are not writing: the device may delete no type, container
	// or values, not even its own.
	for _, m := range [][3]string{
		{"type", "delete", `[{"id": "Tank"}]`},
		{"container", "delete", `[{"id": "Tank1"}]`},
		{"data", "delete", `[{"containerid": "Tank1", "values": [{"Timestamp": "` + ts + `"}]}]`},
	} {
		if code, body := omf(m[0], m[1], m[2]); code != 403 {
			t.Errorf("OMF %s %s by a device: %d %s, want 403", m[1], m[0], code, body)
		}
	}

	// What the device wrote is there, and only that.
	if out := a.ok("", "stream", "latest", "site1/boiler/temp"); !strings.Contains(out, "72") {
		t.Errorf("latest: %s", out)
	}
	if out := a.ok("", "stream", "latest", "site1/Tank1/Level"); !strings.Contains(out, "4.5") {
		t.Errorf("OMF point: %s", out)
	}
	out = a.ok("", "stream", "list")
	for _, name := range []string{"site1/pump/flow", "site1/cli/level"} {
		if !strings.Contains(out, name) {
			t.Errorf("stream list lacks %s:\n%s", name, out)
		}
	}
	for _, name := range []string{"site1/new/one", "site10/x", "site2/Tank2", "site1/made"} {
		if strings.Contains(out, name) {
			t.Errorf("a refused write created %s:\n%s", name, out)
		}
	}

	// The dashboard reads, and changes nothing.
	if out, errs, code := as(graf, "", "stream", "read", "site1/boiler/temp", "--start", "-1h"); code != 0 || !strings.Contains(out, "71.5") {
		t.Fatalf("reader reads: %d %s", code, errs)
	}
	if code, body := call(graf, "GET", "/api/v1/streams/site1%2Fboiler%2Ftemp/summaries?start=-1h&interval=1h", "", ""); code != 200 {
		t.Errorf("reader summaries: %d %s", code, body)
	}
	for _, args := range [][]string{
		{"stream", "write", "site1/boiler/temp"},
		{"stream", "delete", "site1/boiler/temp"},
		{"community", "create", "mine"},
		{"user", "list"},
	} {
		if _, errs, code := as(graf, fmt.Sprintf("%d,1\n", now), args...); code == 0 || !strings.Contains(errs, "403") {
			t.Errorf("reader %v: exit %d %s", args, code, errs)
		}
	}
	// A token user has no password for the step-up a new token needs.
	if code, body := call(graf, "POST", "/api/v1/tokens", "application/json", `{"label": "more"}`); code != 403 {
		t.Errorf("reader mints a token: %d %s", code, body)
	}
	if code, body := call(graf, "POST", "/api/v1/views", "application/json", `{"name": "v", "streams": ["site1/boiler/temp"]}`); code != 403 {
		t.Errorf("reader saves a view: %d %s", code, body)
	}
	// Revoked, the device is out at once.
	a.ok("", "user", "revoke", "plc-gw", "ingest")
	if code, _ := call(plc, "POST", "/api/v1/streams/site1%2Fboiler%2Ftemp/data", "text/csv", fmt.Sprintf("%d,1\n", now)); code != 403 {
		t.Errorf("write after revoke: %d", code)
	}
}
