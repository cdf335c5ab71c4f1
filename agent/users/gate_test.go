package users

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/policy"
)

func TestGateRequests(t *testing.T) {
	f := newFixture(t)
	ta := f.tokens["ta"]
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string][]string
		want   int
		reason string
	}{
		{"health passes", "GET", "/healthz", nil, 200, ""},
		{"metrics pass", "GET", "/metrics", nil, 200, ""},
		{"fed passes (mTLS)", "POST", "/fed/v1/records", nil, 200, ""},
		{"no token", "GET", "/api/v1/streams", nil, 401, "unauthenticated"},
		{"basic", "GET", "/api/v1/streams", map[string][]string{"Authorization": {"Basic " + ta}}, 401, "unauthenticated"},
		{"empty bearer", "GET", "/api/v1/streams", map[string][]string{"Authorization": {"Bearer "}}, 401, "unauthenticated"},
		{"two tokens", "GET", "/api/v1/streams", map[string][]string{"Authorization": {"Bearer " + ta, "Bearer " + ta}}, 401, "unauthenticated"},
		{"lowercase scheme", "GET", "/api/v1/streams", map[string][]string{"Authorization": {"bearer " + ta}}, 200, ""},
		{"ok", "GET", "/api/v1/streams", map[string][]string{"Authorization": {"Bearer " + ta}}, 200, ""},
		{"unknown route, no token", "GET", "/api/v1/nope", nil, 401, "unauthenticated"},
		{"unknown route", "GET", "/api/v1/nope", map[string][]string{"Authorization": {"Bearer " + ta}}, 404, "no_route"},
		{"wrong method", "PATCH", "/api/v1/streams", map[string][]string{"Authorization": {"Bearer " + ta}}, 404, "no_route"},
		{"unescaped stream name", "GET", "/api/v1/streams/a/b/c/d", map[string][]string{"Authorization": {"Bearer " + ta}}, 404, "no_route"},
		{"escaped prefix is guarded", "GET", "/%61pi/v1/streams", nil, 401, "unauthenticated"},
		// The mux sends unclean paths to their clean form, which is guarded.
		{"dot segments redirect", "GET", "/x/../api/v1/streams", nil, 307, ""},
		{"bare /api redirects", "GET", "/api", nil, 307, ""},
		{"encoded slash is guarded", "GET", "/api%2Fv1/streams", nil, 401, "unauthenticated"},
		{"login needs no token", "POST", "/api/v1/login", nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body.String(), tc.want)
			}
			if loc := w.Header().Get("Location"); w.Code == 307 && !strings.HasPrefix(loc, "/api/") {
				t.Fatalf("redirect to %q, want a path under /api/", loc)
			}
			if tc.reason != "" {
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Reason != tc.reason {
					t.Fatalf("body %s, want reason %s", w.Body.String(), tc.reason)
				}
				if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			}
		})
	}
}

// TestCommunityResolution: {c} is resolved by the agent's resolver; the
// id works as well as the name; an unknown community is judged on
// tenant-wide roles only, so it tells a non-admin nothing.
func TestCommunityResolution(t *testing.T) {
	f := newFixture(t)
	var got Access
	h := apiMux(f.d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = FromContext(r.Context())
	}), resolver)
	for _, tc := range []struct {
		who, ref string
		want     int
		comm     policy.CommunityID
	}{
		{"m", "plant-c", 200, commC},
		{"m", "tenantA%2Fc1", 200, commC},
		{"m", "lab-d", 403, ""},
		{"md", "lab-d", 200, commD},
		{"m", "no-such", 403, ""},
		{"ta", "no-such", 200, ""}, // the handler answers 404 or 409
		{"mt", "no-such", 200, ""},
	} {
		got = Access{}
		w := do(h, request{method: "GET", path: "/api/v1/communities/" + tc.ref + "/catalog", token: f.tokens[tc.who]})
		if w.Code != tc.want || got.Community != tc.comm {
			t.Errorf("%s on %s: %d %q, want %d %q", tc.who, tc.ref, w.Code, got.Community, tc.want, tc.comm)
		}
		if w.Code == 403 && strings.Contains(w.Body.String(), "no such community") {
			t.Errorf("the resolver's error leaked: %s", w.Body.String())
		}
	}
	// Without a resolver, the path value is the id.
	h = apiMux(f.d, echo(t), nil)
	if w := do(h, request{method: "GET", path: "/api/v1/communities/tenantA%2Fc1/catalog", token: f.tokens["m"]}); w.Code != 200 {
		t.Errorf("id without resolver: %d", w.Code)
	}
	if w := do(h, request{method: "GET", path: "/api/v1/communities/plant-c/catalog", token: f.tokens["m"]}); w.Code != 403 {
		t.Errorf("name without resolver: %d", w.Code)
	}
}

// TestStepUpLockout: step-up shares login's lockout, answers 429 with
// Retry-After, and a stolen token cannot guess the password faster.
func TestStepUpLockout(t *testing.T) {
	f := newFixture(t)
	q := request{method: "DELETE", path: "/api/v1/communities/plant-c", token: f.tokens["ta"], password: "guess guess guess"}
	for range 5 {
		if w := do(f.h, q); w.Code != 403 {
			t.Fatalf("wrong password: %d", w.Code)
		}
	}
	q.password = pw("ta")
	w := do(f.h, q)
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), `"locked"`) {
		t.Fatalf("locked: %d %v %s", w.Code, w.Header(), w.Body.String())
	}
	if err := f.d.CheckPassword("ta", pw("ta")); !isLocked(err) {
		t.Fatalf("login is not locked too: %v", err)
	}
	f.c.Advance(lockBase)
	if w := do(f.h, q); w.Code != 200 {
		t.Fatalf("after the lock: %d", w.Code)
	}
	// Two password headers are refused.
	r := httptest.NewRequest("DELETE", "/api/v1/communities/plant-c", nil)
	r.Header.Set("Authorization", "Bearer "+f.tokens["ta"])
	r.Header[StepUpHeader] = []string{pw("ta"), "other"}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	if rec.Code != 403 {
		t.Fatalf("two password headers: %d", rec.Code)
	}
}

func isLocked(err error) bool { _, ok := err.(*LockedError); return ok }

// TestCrossTenant: each tenant's agent has its own directory. B's users
// do not exist in A; B's tokens, even its bootstrap admin's, open nothing
// at A; a principal B authenticated never reaches A's user handlers.
func TestCrossTenant(t *testing.T) {
	a := newFixture(t)
	dirB := t.TempDir()
	b := openDir(t, dirB, a.c)
	must(t, b.EnsureBootstrap(filepath.Join(dirB, "admin.token")))
	must(t, b.AddUser("ta", pw("ta-of-b"), role(policy.RoleTenantAdmin, "")))
	must(t, b.AddUser("mallory", pw("mallory"), role(policy.RoleTenantAdmin, "")))
	bootB, _ := readTokenFile(filepath.Join(dirB, "admin.token"))
	taB, _ := mustToken(t, b, "ta") // same name as A's "ta"
	for _, u := range a.d.ListUsers() {
		if u.Name == "mallory" {
			t.Fatal("B's user is in A's directory")
		}
	}
	for _, tok := range []string{bootB, taB} {
		for _, rt := range Routes() {
			if rt.Scope == ScopePublic {
				continue
			}
			method, path := a.fill(rt.Pattern)
			if w := do(a.h, request{method: method, path: path, token: tok, password: pw("ta-of-b")}); w.Code != 401 {
				t.Errorf("B's token on A's %s: %d", rt.Pattern, w.Code)
			}
		}
	}
	// A's user handlers mounted (wrongly) behind B's middleware refuse B's principals.
	wrong := apiMux(b, a.d.Handler(), resolver)
	for _, q := range []request{
		{method: "GET", path: "/api/v1/users", token: taB},
		{method: "POST", path: "/api/v1/users", token: bootB, body: `{"name":"mallory","password":"` + pw("mallory") + `"}`},
		{method: "DELETE", path: "/api/v1/users/ta", token: bootB},
		{method: "POST", path: "/api/v1/communities/plant-c/users", token: bootB, body: `{"user":"ta","role":"community-member"}`},
	} {
		if w := do(wrong, q); w.Code != 403 || !strings.Contains(w.Body.String(), "another user directory") {
			t.Errorf("%s %s with B's principal on A's handler: %d %s", q.method, q.path, w.Code, w.Body.String())
		}
	}
	if _, err := a.d.User("mallory"); err == nil {
		t.Fatal("B created a user in A")
	}
	if _, err := a.d.User("ta"); err != nil {
		t.Fatal("B removed A's user")
	}
	// A context principal from elsewhere is never trusted: the
	// middleware authenticates every request itself.
	pB, err := b.Authenticate(taB)
	must(t, err)
	r := httptest.NewRequest("GET", "/api/v1/users", nil)
	r = r.WithContext(context.WithValue(r.Context(), accessKey{}, &Access{Principal: pB, Route: Route{Pattern: "GET /api/v1/users"}}))
	w := httptest.NewRecorder()
	apiMux(a.d, a.d.Handler(), resolver).ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("a smuggled principal: %d", w.Code)
	}
}

// TestGateAllow: an in-process read on behalf of a request the gate let
// through is judged by its own row, as the caller; nothing else gets an
// Access from it.
func TestGateAllow(t *testing.T) {
	f := newFixture(t)
	g := NewGate(f.d, resolver)
	read := "GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}"
	vals := func(c string) func(string) string {
		return func(k string) string {
			return map[string]string{"c": c, "tenant": "t1", "stream": "s", "name": "site1/x", "kind": "data"}[k]
		}
	}
	for _, tc := range []struct {
		who, pattern, c string
		want            int // 0: allowed
		community       policy.CommunityID
	}{
		{"m", read, "plant-c", 0, commC},
		{"m", read, "lab-d", 403, ""},
		{"m", "GET /api/v1/streams/{name}/interpolated", "", 403, ""},
		{"mt", "GET /api/v1/streams/{name}/interpolated", "", 0, ""},
		{"rd", "GET /api/v1/streams/{name}", "", 0, ""},
		{"ta", "POST /api/v1/streams", "", 403, ""},     // not a read
		{"ta", "GET /api/v1/backup", "", 403, ""},       // step-up
		{"ta", "GET /api/v1/nowhere", "", 404, ""},      // no row
		{"", "GET /api/v1/streams/{name}", "", 401, ""}, // no caller
	} {
		var got int
		var acc Access
		outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, err := g.Allow(r.Context(), tc.pattern, vals(tc.c))
			var ref *Refusal
			switch {
			case err == nil:
				acc, _ = FromContext(ctx)
			case errors.As(err, &ref):
				got = ref.Code
			default:
				t.Errorf("%s %s: %v", tc.who, tc.pattern, err)
			}
		})
		r := httptest.NewRequest("GET", "/api/v1/whoami", nil)
		if tc.who == "" {
			outer.ServeHTTP(httptest.NewRecorder(), r) // never through the gate
		} else {
			r.Header.Set("Authorization", "Bearer "+f.tokens[tc.who])
			apiMux(f.d, outer, resolver).ServeHTTP(httptest.NewRecorder(), r)
		}
		if got != tc.want {
			t.Errorf("%s %s in %q: refused %d, want %d", tc.who, tc.pattern, tc.c, got, tc.want)
		}
		if tc.want == 0 && (acc.Route.Pattern != tc.pattern || acc.Principal.User != tc.who || acc.Community != tc.community) {
			t.Errorf("%s %s: access %+v", tc.who, tc.pattern, acc)
		}
	}
	// Another directory's gate does not take this one's caller.
	other := NewGate(openDir(t, t.TempDir(), f.c), resolver)
	var err error
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err = other.Allow(r.Context(), "GET /api/v1/streams/{name}", vals(""))
	})
	r := httptest.NewRequest("GET", "/api/v1/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+f.tokens["ta"])
	apiMux(f.d, outer, resolver).ServeHTTP(httptest.NewRecorder(), r)
	if ref := (*Refusal)(nil); !errors.As(err, &ref) || ref.Code != 401 {
		t.Errorf("another directory's caller: %v, want 401", err)
	}
}
