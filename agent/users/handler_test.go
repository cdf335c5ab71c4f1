package users

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// api is the agent's wiring in miniature: the users routes mounted on the
// API mux, everything behind the middleware.
func newAPI(t *testing.T) (*Directory, *clock, http.Handler, string) {
	t.Helper()
	dir := t.TempDir()
	c := newClock()
	d := openDir(t, dir, c)
	must(t, d.EnsureBootstrap(filepath.Join(dir, "admin.token")))
	boot, err := readTokenFile(filepath.Join(dir, "admin.token"))
	must(t, err)
	mux := http.NewServeMux()
	d.Mount(mux.Handle)
	mux.Handle("/api/", echo(t)) // stands for the other API routes
	return d, c, apiMux(d, mux, resolver), boot
}

func call(t *testing.T, h http.Handler, q request, want int, out any) {
	t.Helper()
	w := do(h, q)
	if w.Code != want {
		t.Fatalf("%s %s: %d %s, want %d", q.method, q.path, w.Code, strings.TrimSpace(w.Body.String()), want)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %s", q.method, q.path, err, w.Body.String())
		}
	}
}

func TestUsersAPI(t *testing.T) {
	d, c, h, boot := newAPI(t)

	// The bootstrap admin creates a tenant admin: no step-up for it.
	var u userJSON
	call(t, h, request{method: "POST", path: "/api/v1/users", token: boot,
		body: `{"name":"alice","password":"` + pw("alice") + `","roles":[{"role":"tenant-admin"}]}`}, 201, &u)
	if u.Name != "alice" || !u.HasPassword || len(u.Roles) != 1 || u.Roles[0].Role != "tenant-admin" {
		t.Fatalf("created %+v", u)
	}
	call(t, h, request{method: "POST", path: "/api/v1/users", token: boot, body: `{"name":"alice","password":"` + pw("alice") + `"}`}, 409, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users", token: boot, body: `{"name":"x","password":"short"}`}, 400, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users", token: boot, body: `{"name":"x","pass":"short"}`}, 400, nil)

	// alice logs in (sluice login) and works with step-up.
	var lt tokenJSON
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"` + pw("alice") + `","label":"cli"}`}, 201, &lt)
	if !tokenRE.MatchString(lt.Token) || lt.User != "alice" || !lt.Expires.Equal(c.Now().Add(DefaultLoginTTL)) || !lt.Active {
		t.Fatalf("login token %+v", lt)
	}
	alice := lt.Token
	var who struct {
		User  string `json:"user"`
		Admin bool   `json:"admin"`
	}
	call(t, h, request{method: "GET", path: "/api/v1/whoami", token: alice}, 200, &who)
	if who.User != "alice" || !who.Admin {
		t.Fatalf("whoami %+v", who)
	}
	call(t, h, request{method: "POST", path: "/api/v1/users", token: alice, body: `{"name":"bob","password":"` + pw("bob") + `"}`}, 403, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users", token: alice, password: pw("alice"), body: `{"name":"bob","password":"` + pw("bob") + `"}`}, 201, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users", token: alice, password: pw("alice"), body: `{"name":"carol","password":"` + pw("carol") + `"}`}, 201, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users/bob/roles", token: alice, password: pw("alice"),
		body: `{"role":"community-admin","community":"tenantA/c1"}`}, 200, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users/bob/roles", token: alice, password: pw("alice"),
		body: `{"role":"community-member","community":"tenantA/d1"}`}, 200, nil)

	// bob, community admin of C, chooses who takes part in C.
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"bob","password":"` + pw("bob") + `"}`}, 201, &lt)
	bob := lt.Token
	var list []userJSON
	call(t, h, request{method: "GET", path: "/api/v1/users", token: bob}, 200, &list)
	for _, u := range list {
		for _, r := range u.Roles {
			if r.Community != "tenantA/c1" {
				t.Errorf("bob sees %s's role %+v outside C", u.Name, r)
			}
		}
	}
	call(t, h, request{method: "POST", path: "/api/v1/communities/plant-c/users", token: bob, body: `{"user":"carol","role":"community-member"}`}, 200, nil)
	call(t, h, request{method: "POST", path: "/api/v1/communities/plant-c/users", token: bob, body: `{"user":"carol","role":"data-steward"}`}, 200, nil)
	call(t, h, request{method: "POST", path: "/api/v1/communities/plant-c/users", token: bob, body: `{"user":"carol","role":"tenant-admin"}`}, 400, nil)
	call(t, h, request{method: "POST", path: "/api/v1/communities/lab-d/users", token: bob, body: `{"user":"carol","role":"community-member"}`}, 403, nil)
	call(t, h, request{method: "POST", path: "/api/v1/communities/plant-c/users", token: bob, body: `{"user":"nobody","role":"community-member"}`}, 404, nil)
	var members []struct {
		User  string     `json:"user"`
		Roles []roleJSON `json:"roles"`
	}
	call(t, h, request{method: "GET", path: "/api/v1/communities/plant-c/users", token: bob}, 200, &members)
	if len(members) != 2 || members[0].User != "bob" || members[1].User != "carol" || len(members[1].Roles) != 2 {
		t.Fatalf("members of C: %+v", members)
	}
	call(t, h, request{method: "DELETE", path: "/api/v1/communities/plant-c/users/carol?role=data-steward", token: bob}, 204, nil)
	call(t, h, request{method: "DELETE", path: "/api/v1/communities/plant-c/users/carol", token: bob}, 204, nil)
	call(t, h, request{method: "DELETE", path: "/api/v1/communities/plant-c/users/carol", token: bob}, 404, nil)
	// A tenant admin on an unknown community reaches the handler: 404.
	call(t, h, request{method: "GET", path: "/api/v1/communities/no-such/users", token: alice}, 404, nil)

	// bob changes his own password: step-up with the old one.
	call(t, h, request{method: "PUT", path: "/api/v1/users/bob/password", token: bob, body: `{"password":"bob's new password"}`}, 403, nil)
	call(t, h, request{method: "PUT", path: "/api/v1/users/bob/password", token: bob, password: pw("bob"), body: `{"password":"bob's new password"}`}, 204, nil)
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"bob","password":"` + pw("bob") + `"}`}, 401, nil)
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"bob","password":"bob's new password"}`}, 201, nil)
	call(t, h, request{method: "PUT", path: "/api/v1/users/carol/password", token: bob, password: "bob's new password", body: `{"password":"x"}`}, 403, nil)

	// Tokens: created with step-up, shown once, revoked by id.
	var nt tokenJSON
	call(t, h, request{method: "POST", path: "/api/v1/tokens", token: bob, password: "bob's new password", body: `{"label":"grafana","ttl":"7d"}`}, 201, &nt)
	if !nt.Expires.Equal(c.Now().Add(7*24*time.Hour)) || nt.Label != "grafana" {
		t.Fatalf("token %+v", nt)
	}
	var tl []tokenJSON
	call(t, h, request{method: "GET", path: "/api/v1/tokens", token: nt.Token}, 200, &tl)
	if len(tl) != 3 { // two logins and grafana
		t.Fatalf("bob's tokens: %+v", tl)
	}
	for _, ti := range tl {
		if ti.Token != "" || ti.User != "bob" {
			t.Fatalf("listed token %+v", ti)
		}
	}
	call(t, h, request{method: "POST", path: "/api/v1/tokens", token: bob, password: "bob's new password"}, 201, nil) // no body: defaults
	call(t, h, request{method: "DELETE", path: "/api/v1/tokens/" + nt.ID, token: bob}, 204, nil)
	call(t, h, request{method: "GET", path: "/api/v1/whoami", token: nt.Token}, 401, nil)
	call(t, h, request{method: "POST", path: "/api/v1/tokens", token: bob, password: "bob's new password", body: `{"ttl":"400d"}`}, 400, nil)
	call(t, h, request{method: "DELETE", path: "/api/v1/tokens/" + nt.ID, token: boot}, 204, nil)

	// Admin duties.
	call(t, h, request{method: "POST", path: "/api/v1/users/bob/disable", token: alice}, 200, &u)
	if !u.Disabled {
		t.Fatal("not disabled")
	}
	call(t, h, request{method: "GET", path: "/api/v1/whoami", token: bob}, 401, nil)
	call(t, h, request{method: "POST", path: "/api/v1/users/bob/enable", token: alice, password: pw("alice")}, 200, nil)
	call(t, h, request{method: "DELETE", path: "/api/v1/users/bob/roles/community-admin?community=tenantA%2Fc1", token: alice}, 200, &u)
	if len(u.Roles) != 1 {
		t.Fatalf("roles left %+v", u.Roles)
	}
	call(t, h, request{method: "DELETE", path: "/api/v1/users/alice/roles/tenant-admin", token: alice}, 200, nil) // admin is still there
	call(t, h, request{method: "DELETE", path: "/api/v1/users/admin", token: boot}, 409, nil)
	call(t, h, request{method: "DELETE", path: "/api/v1/users/bob", token: boot}, 204, nil)
	call(t, h, request{method: "GET", path: "/api/v1/users/bob", token: boot}, 404, nil)
	if _, err := d.User("bob"); err == nil {
		t.Fatal("bob still exists")
	}
	// The other API routes still reach their handlers.
	call(t, h, request{method: "GET", path: "/api/v1/streams", token: boot}, 200, nil)
}

func TestLoginAPI(t *testing.T) {
	d, _, h, _ := newAPI(t)
	must(t, d.AddUser("alice", pw("alice")))
	var e1, e2 errorBody
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"wrong password"}`}, 401, &e1)
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"nobody","password":"wrong password"}`}, 401, &e2)
	if e1 != e2 || e1.Reason != "bad_credentials" {
		t.Fatalf("login failures differ: %+v %+v", e1, e2)
	}
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"admin","password":""}`}, 401, nil)
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `not json`}, 400, nil)
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"` + pw("alice") + `","ttl":"forever"}`}, 400, nil)
	for range 4 {
		call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"wrong password"}`}, 401, nil)
	}
	w := do(h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"` + pw("alice") + `"}`})
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("locked login: %d %s", w.Code, w.Body.String())
	}
	// A bearer token on the public route is ignored, not checked.
	call(t, h, request{method: "POST", path: "/api/v1/login", token: "garbage", body: `{}`}, 401, nil)
	big := `{"user":"alice","password":"` + strings.Repeat("x", 70<<10) + `"}`
	call(t, h, request{method: "POST", path: "/api/v1/login", body: big}, 413, nil)
}

// Authorized fails unless the middleware judged the very route the mux
// chose.
func TestAuthorized(t *testing.T) {
	f := newFixture(t)
	p, err := f.d.Authenticate(f.tokens["ta"])
	must(t, err)
	for _, tc := range []struct {
		judged, routed string
		want           bool
	}{
		{"GET /api/v1/users", "GET /api/v1/users", true},
		{"GET /api/v1/users", "GET /api/v1/users/{user}", false},
		{"", "GET /api/v1/users", false},
	} {
		r := httptest.NewRequest("GET", "/api/v1/users", nil)
		if tc.judged != "" {
			r = r.WithContext(context.WithValue(r.Context(), accessKey{}, &Access{Principal: p, Route: Route{Pattern: tc.judged}}))
		}
		r.Pattern = tc.routed
		if _, ok := Authorized(r); ok != tc.want {
			t.Errorf("judged %q routed %q: %v", tc.judged, tc.routed, ok)
		}
	}
}
