package users

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/policy"
)

// The scoped tokens of issue 15.4: a device's ingest token and a
// dashboard's reader token, walked over every route of the table. The
// expectations here do not come from the table's actions: a route added
// later that lets either through fails these tests until it is meant to.

// ingestWrites are the only routes an ingest token passes (beyond the
// public and authenticated ones every token passes).
var ingestWrites = map[string]bool{
	"POST /api/v1/streams/{name}/data": true,
	"POST /api/v1/data":                true,
}

// readerDenied says which GET routes a reader may not use: audit,
// invitations, users and their tokens, backups. Every other GET route
// reads.
func readerDenied(pattern string) bool {
	for _, s := range []string{"/audit", "/invitations", "/users", "/backup"} {
		if strings.Contains(pattern, s) {
			return true
		}
	}
	return false
}

func TestIngestTokenEveryRoute(t *testing.T) {
	f := newFixture(t)
	for _, rt := range Routes() {
		method, path := f.fill(rt.Pattern) // {name} is site1/boiler, inside ing's prefixes
		w := do(f.h, request{method: method, path: path, token: f.tokens["ing"]})
		switch {
		case rt.Scope == ScopePublic || (rt.Scope == ScopeAuthenticated && !rt.StepUp):
			if w.Code != 200 {
				t.Errorf("%s: %d %s, want 200", rt.Pattern, w.Code, w.Body.String())
			}
		case ingestWrites[rt.Pattern]:
			if w.Code != 200 {
				t.Errorf("%s inside the prefixes: %d %s, want 200", rt.Pattern, w.Code, w.Body.String())
			}
		default:
			if w.Code != 403 {
				t.Errorf("%s: %d %s, want 403", rt.Pattern, w.Code, w.Body.String())
			}
		}
		if !strings.Contains(rt.Pattern, "{name}") {
			continue
		}
		// Outside the prefixes, by name or by a segment that only starts
		// like one: nothing at all.
		for _, name := range []string{"site2%2Fboiler", "site10%2Fboiler", "site1", "lab"} {
			p := strings.Replace(path, "site1%2Fboiler", name, 1)
			w := do(f.h, request{method: method, path: p, token: f.tokens["ing"]})
			if w.Code != 403 {
				t.Errorf("%s %s: %d, want 403", method, p, w.Code)
			}
			if ingestWrites[rt.Pattern] && !strings.Contains(w.Body.String(), "outside the user's ingest prefixes (lab/, site1/)") {
				t.Errorf("%s %s: refusal %s does not name the prefixes", method, p, w.Body.String())
			}
		}
	}
	// The prefixes are not a tenant admin's limit.
	if w := do(f.h, request{method: "POST", path: "/api/v1/streams/site2%2Fx/data", token: f.tokens["ta"]}); w.Code != 200 {
		t.Errorf("tenant admin outside any prefix: %d", w.Code)
	}
	if w := do(f.h, request{method: "POST", path: "/api/v1/streams/lab%2Fline2%2Fspeed/data", token: f.tokens["ing"]}); w.Code != 200 {
		t.Errorf("ingest in its second prefix: %d %s", w.Code, w.Body.String())
	}
}

func TestReaderTokenEveryRoute(t *testing.T) {
	f := newFixture(t)
	reads := 0
	for _, rt := range Routes() {
		method, path := f.fill(rt.Pattern)
		w := do(f.h, request{method: method, path: path, token: f.tokens["rd"]})
		switch {
		case rt.Scope == ScopePublic || (rt.Scope == ScopeAuthenticated && !rt.StepUp):
			if w.Code != 200 {
				t.Errorf("%s: %d %s, want 200", rt.Pattern, w.Code, w.Body.String())
			}
		case method == "GET" && !readerDenied(rt.Pattern):
			reads++
			if w.Code != 200 {
				t.Errorf("%s: reader refused: %d %s", rt.Pattern, w.Code, w.Body.String())
			}
		default:
			// No write, share, handshake, user, token or view change.
			if w.Code != 403 {
				t.Errorf("%s: %d %s, want 403", rt.Pattern, w.Code, w.Body.String())
			}
		}
	}
	if reads < 20 {
		t.Errorf("a reader reads only %d routes", reads)
	}
	// Reading every community: the reader holds no community role.
	if w := do(f.h, request{method: "GET", path: "/api/v1/communities/lab-d/catalog", token: f.tokens["rd"]}); w.Code != 200 {
		t.Errorf("reader in D: %d", w.Code)
	}
}

// TestBulkWriteStreams: on a bulk write the middleware lets an ingest
// token through, and MayWrite is the check its handler makes for every
// stream of the body.
func TestBulkWriteStreams(t *testing.T) {
	f := newFixture(t)
	bulk := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var pts []struct {
			Stream string `json:"stream"`
		}
		json.NewDecoder(r.Body).Decode(&pts)
		for _, p := range pts {
			if err := MayWrite(r.Context(), p.Stream); err != nil {
				w.WriteHeader(403)
				io.WriteString(w, err.Error())
				return
			}
		}
		io.WriteString(w, "stored")
	})
	h := apiMux(f.d, bulk, resolver)
	for _, c := range []struct {
		who, body string
		want      int
		says      string
	}{
		{"ing", `[{"stream":"site1/a"},{"stream":"lab/b/c"}]`, 200, "stored"},
		{"ing", `[{"stream":"site1/a"},{"stream":"site2/x"},{"stream":"other"}]`, 403, `may not write stream "site2/x"`},
		{"ing", `[{"stream":"site10/a"}]`, 403, `"site10/a": it is outside`},
		{"ta", `[{"stream":"site2/x"}]`, 200, "stored"},
		{"boot", `[{"stream":"anything"}]`, 200, "stored"},
		{"rd", `[{"stream":"site1/a"}]`, 403, "forbidden"}, // refused by the middleware already
		{"mt", `[{"stream":"site1/a"}]`, 403, "forbidden"},
	} {
		w := do(h, request{method: "POST", path: "/api/v1/data", token: f.tokens[c.who], body: c.body})
		if w.Code != c.want || !strings.Contains(w.Body.String(), c.says) {
			t.Errorf("%s %s: %d %s, want %d %q", c.who, c.body, w.Code, w.Body.String(), c.want, c.says)
		}
	}
	// Without the middleware's access, nobody writes.
	r, _ := http.NewRequest("POST", "/api/v1/data", nil)
	if err := MayWrite(r.Context(), "site1/a"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("MayWrite without access: %v", err)
	}
}

func TestIngestGrants(t *testing.T) {
	d, c := newDir(t)
	must(t, d.AddUser("admin2", pw("admin2"), role(policy.RoleTenantAdmin, "")))
	must(t, d.AddTokenUser("plc-gw", Assignment{Role: policy.RoleIngest, Prefixes: []string{"site1/", "site1/", "lab/"}}))
	want := []Assignment{{Role: policy.RoleIngest, Prefixes: []string{"lab/", "site1/"}}}
	if got := d.Roles("plc-gw"); !reflect.DeepEqual(got, want) {
		t.Fatalf("roles = %+v, want sorted, unique prefixes", got)
	}
	// Granting again adds prefixes; revoking a prefix takes only it.
	must(t, d.Grant("plc-gw", policy.RoleIngest, "", "site2/"))
	must(t, d.Revoke("plc-gw", policy.RoleIngest, "", "lab/"))
	want = []Assignment{{Role: policy.RoleIngest, Prefixes: []string{"site1/", "site2/"}}}
	if got := d.Roles("plc-gw"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after grant and revoke: %+v", got)
	}
	if err := d.Revoke("plc-gw", policy.RoleIngest, "", "lab/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke a prefix it lacks: %v", err)
	}
	if err := d.Revoke("plc-gw", policy.RoleReader, "", "site1/"); !errors.Is(err, ErrInvalid) {
		t.Errorf("revoke a prefix of reader: %v", err)
	}
	// What a caller gets is its own copy.
	got := d.Roles("plc-gw")
	got[0].Prefixes[0] = "everything/"
	tok, _ := mustToken(t, d, "plc-gw")
	p, err := d.Authenticate(tok)
	must(t, err)
	p.Roles[0].Prefixes[1] = "everything/"
	if !reflect.DeepEqual(d.Roles("plc-gw"), want) {
		t.Fatal("a caller changed the directory's prefixes")
	}
	if !p.MayWrite("site1/boiler") || p.MayWrite("site3/x") || p.RoleSet("").Can(policy.ActionRead) {
		t.Errorf("ingest principal: MayWrite/Can wrong (%v)", p.Prefixes())
	}

	// Invalid grants change nothing.
	for _, a := range []Assignment{
		{Role: policy.RoleIngest},                                             // no prefix
		{Role: policy.RoleIngest, Prefixes: []string{""}},                     // empty
		{Role: policy.RoleIngest, Prefixes: []string{"/site1"}},               // not the start of a name
		{Role: policy.RoleIngest, Prefixes: []string{"a//b"}},                 // empty segment
		{Role: policy.RoleIngest, Community: commC, Prefixes: []string{"a/"}}, // tenant-wide only
		{Role: policy.RoleReader, Community: commC},
		{Role: policy.RoleReader, Prefixes: []string{"a/"}}, // only ingest has prefixes
		{Role: policy.RoleCommunityMember, Community: commC, Prefixes: []string{"a/"}},
		{Role: 7},
	} {
		if err := d.Grant("plc-gw", a.Role, a.Community, a.Prefixes...); !errors.Is(err, ErrInvalid) {
			t.Errorf("grant %v: %v", a, err)
		}
		if err := d.AddTokenUser("other", a); !errors.Is(err, ErrInvalid) {
			t.Errorf("add with %v: %v", a, err)
		}
	}
	many := make([]string, MaxPrefixes+1)
	for i := range many {
		many[i] = "p" + strings.Repeat("x", i) + "/"
	}
	if err := d.Grant("plc-gw", policy.RoleIngest, "", many...); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d prefixes: %v", len(many), err)
	}
	if err := d.Grant("plc-gw", policy.RoleIngest, "", many[:MaxPrefixes-1]...); !errors.Is(err, ErrInvalid) {
		t.Errorf("growing past %d prefixes: %v", MaxPrefixes, err)
	}
	if !reflect.DeepEqual(d.Roles("plc-gw"), want) {
		t.Fatalf("a refused grant changed the roles: %+v", d.Roles("plc-gw"))
	}

	// A token user has no password: no sign-in, no step-up.
	u, err := d.User("plc-gw")
	must(t, err)
	if u.HasPassword || !u.PasswordChanged.IsZero() {
		t.Errorf("token user: %+v", u)
	}
	if err := d.CheckPassword("plc-gw", ""); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("token user signs in: %v", err)
	}
	if err := d.AddTokenUser("plc-gw"); !errors.Is(err, ErrExists) {
		t.Errorf("add twice: %v", err)
	}
	if err := d.AddTokenUser("Bad Name"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}

	// The file keeps the prefixes, and a restart reads them back.
	must(t, d.Close())
	b, err := os.ReadFile(d.path)
	must(t, err)
	if !strings.Contains(string(b), `"role": "ingest",`+"\n"+`      "prefixes": [`) {
		t.Errorf("users.json lacks the prefixes:\n%s", b)
	}
	d2 := openDir(t, filepath.Dir(d.path), c)
	if !reflect.DeepEqual(d2.Roles("plc-gw"), want) {
		t.Errorf("after reopening: %+v", d2.Roles("plc-gw"))
	}
}

func TestLoadPrefixes(t *testing.T) {
	for _, c := range []struct {
		roles string
		err   string // "" loads
	}{
		{`{"user":"plc","role":"ingest","prefixes":["site2/","site1/","site1/"]}`, ""}, // normalized
		{`{"user":"plc","role":"ingest"}`, "roles[0]: invalid: ingest needs at least one stream prefix"},
		{`{"user":"plc","role":"reader","prefixes":["a/"]}`, "roles[0]: invalid: only ingest takes stream prefixes"},
		{`{"user":"plc","role":"ingest","prefixes":["../x"]}`, `roles[0]: invalid stream prefix "../x"`},
		{`{"user":"plc","role":"ingest","community":"a/b","prefixes":["x/"]}`, "ingest is tenant-wide only"},
		{`{"user":"plc","role":"reader","community":"a/b"}`, "reader is tenant-wide only"},
		{`{"user":"plc","role":"scribe"}`, `role "scribe" (want one of community-member, data-steward, community-admin, tenant-admin, ingest, reader)`},
	} {
		dir := t.TempDir()
		file := `{"version":1,"users":[{"name":"plc","created":"2026-01-01T00:00:00Z"}],"tokens":[],"roles":[` + c.roles + `]}`
		must(t, os.WriteFile(filepath.Join(dir, "users.json"), []byte(file), 0o600))
		d, err := Open(filepath.Join(dir, "users.json"), Options{Argon2: cheap})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.roles, err)
		case c.err == "":
			if got := d.Roles("plc"); !reflect.DeepEqual(got[0].Prefixes, []string{"site1/", "site2/"}) {
				t.Errorf("%s: %+v", c.roles, got)
			}
			d.Close()
		case err == nil || !strings.Contains(err.Error(), c.err):
			t.Errorf("%s: %v, want %q", c.roles, err, c.err)
		}
	}
}

// TestScopedRolesHTTP: the API grants, shows and revokes ingest with its
// prefixes, makes token users, and shows a token's roles.
func TestScopedRolesHTTP(t *testing.T) {
	f := newFixture(t)
	h := apiMux(f.d, f.d.Handler(), resolver)
	ta := func(method, path, body string) (int, string) {
		t.Helper()
		w := do(h, request{method: method, path: path, token: f.tokens["ta"], password: pw("ta"), body: body})
		return w.Code, w.Body.String()
	}
	code, body := ta("POST", "/api/v1/users", `{"name":"plc-gw","no_password":true,"roles":[{"role":"ingest","prefixes":["site1/"]}]}`)
	if code != 201 || !strings.Contains(body, `"has_password": false`) || !strings.Contains(body, `"prefixes": [`) {
		t.Fatalf("add token user: %d %s", code, body)
	}
	if code, body := ta("POST", "/api/v1/users", `{"name":"x","no_password":true,"password":"long enough password"}`); code != 400 {
		t.Errorf("no_password with a password: %d %s", code, body)
	}
	if code, body := ta("POST", "/api/v1/users", `{"name":"y","no_password":true,"roles":[{"role":"ingest"}]}`); code != 400 || !strings.Contains(body, "at least one stream prefix") {
		t.Errorf("ingest without prefix: %d %s", code, body)
	}
	if code, body := ta("POST", "/api/v1/users/plc-gw/roles", `{"role":"ingest","prefixes":["site2/"]}`); code != 200 ||
		!strings.Contains(body, `"site1/",`) || !strings.Contains(body, `"site2/"`) {
		t.Errorf("grant a prefix: %d %s", code, body)
	}
	if code, body := ta("POST", "/api/v1/communities/plant-c/users", `{"user":"plc-gw","role":"reader"}`); code != 400 || !strings.Contains(body, "reader is tenant-wide") {
		t.Errorf("reader in a community: %d %s", code, body)
	}
	code, body = ta("POST", "/api/v1/users/plc-gw/tokens", `{"label":"plc-gw"}`)
	if code != 201 {
		t.Fatalf("token for plc-gw: %d %s", code, body)
	}
	var tok struct{ Token string }
	must(t, json.Unmarshal([]byte(body), &tok))
	code, body = ta("GET", "/api/v1/users/plc-gw/tokens", "")
	if code != 200 || !strings.Contains(body, `"role": "ingest"`) || !strings.Contains(body, `"site2/"`) {
		t.Errorf("token list shows no roles: %d %s", code, body)
	}
	// The device itself: whoami, its own token list; no sign-in, no new token.
	w := do(h, request{method: "GET", path: "/api/v1/whoami", token: tok.Token})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ingest"`) {
		t.Errorf("whoami: %d %s", w.Code, w.Body.String())
	}
	if w := do(h, request{method: "POST", path: "/api/v1/tokens", token: tok.Token, password: "anything at all"}); w.Code != 403 {
		t.Errorf("token user mints a token: %d %s", w.Code, w.Body.String())
	}
	if code, body := ta("DELETE", "/api/v1/users/plc-gw/roles/ingest?prefix=site1%2F", ""); code != 200 ||
		strings.Contains(body, `"site1/"`) || !strings.Contains(body, `"site2/"`) {
		t.Errorf("revoke a prefix: %d %s", code, body)
	}
	if code, body := ta("DELETE", "/api/v1/users/plc-gw/roles/ingest", ""); code != 200 || strings.Contains(body, "ingest") {
		t.Errorf("revoke ingest: %d %s", code, body)
	}
}
