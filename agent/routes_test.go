package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/users"
)

// TestEveryRowIsMounted: a started agent has a handler on every row of
// the route registry (it refuses to serve otherwise), and a request to a
// row reaches that row's handler, measured under the row's name.
func TestEveryRowIsMounted(t *testing.T) {
	a, base := startTestAgent(t, "routes")
	if m := a.api.Unmounted(); len(m) > 0 {
		t.Fatalf("rows without a handler: %v", m)
	}
	if n := len(users.Routes()); n < 60 {
		t.Fatalf("only %d rows in the registry", n)
	}
	for _, rt := range users.Routes() {
		if !strings.HasPrefix(rt.Pattern, "GET ") || strings.Contains(rt.Pattern, "/tail") {
			continue // only reads: nothing here may change the agent
		}
		path := strings.NewReplacer("{$}", "", "{", "", "}", "").Replace(strings.TrimPrefix(rt.Pattern, "GET "))
		before := routeRequests(t, a, rt.Name)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+base.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The count is taken as the handler returns, which may be just
		// after the client has the last byte.
		after := routeRequests(t, a, rt.Name)
		for deadline := time.Now().Add(5 * time.Second); after == before && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			after = routeRequests(t, a, rt.Name)
		}
		if after != before+1 {
			t.Errorf("GET %s: route %q counted %v requests, want %v", path, rt.Name, after, before+1)
		}
	}
}

// TestEveryRowNeedsCredentials walks every row of the registry over a
// real socket without credentials, then with a wrong token: each but the
// public login answers the gate's 401, counted under the row's name with
// that code and no other (a handler reached would answer otherwise).
func TestEveryRowNeedsCredentials(t *testing.T) {
	a, base := startTestAgent(t, "nocreds")
	for _, rt := range users.Routes() {
		if rt.Scope == users.ScopePublic {
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.NewReplacer("{$}", "", "{", "", "}", "").Replace(path)
		for _, auth := range []string{"", "Bearer not-a-token"} {
			before, unauth := routeRequests(t, a, rt.Name), routeCode(t, a, rt.Name, "401")
			req, _ := http.NewRequestWithContext(t.Context(), method, base.Base+path, strings.NewReader("{}"))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			var body struct{ Reason string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || body.Reason != "unauthenticated" {
				t.Errorf("%s %s with %q: status %d reason %q, want the gate's 401", method, path, auth, resp.StatusCode, body.Reason)
			}
			if after := routeRequests(t, a, rt.Name); after != before+1 || routeCode(t, a, rt.Name, "401") != unauth+1 {
				t.Errorf("%s %s with %q: counted %v requests (%v with 401), want one more 401", method, path, auth,
					after-before, routeCode(t, a, rt.Name, "401")-unauth)
			}
		}
	}
}

// routeRequests sums sluice_http_requests_total of one route label.
func routeRequests(t *testing.T, a *Agent, route string) float64 {
	t.Helper()
	return routeCode(t, a, route, "")
}

// routeCode sums sluice_http_requests_total of one route label and one
// code ("": every code).
func routeCode(t *testing.T, a *Agent, route, code string) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "sluice_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && (code == "" || labels["code"] == code) {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestCookieSuffix: two agents on one host (two data dirs) get session
// cookies of different names; one agent keeps its name across restarts.
func TestCookieSuffix(t *testing.T) {
	a, b := cookieSuffix("/var/lib/sluice"), cookieSuffix("/srv/sluice-2")
	if a == b || a == "" || a != cookieSuffix("/var/lib/sluice") {
		t.Fatalf("suffixes %q and %q", a, b)
	}
}
