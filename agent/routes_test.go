package agent

import (
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/agent/users"
)

// TestEveryRouteHasARule: the users middleware closes any /api route
// without a rule in its table (404), so every route the API serves
// (federation's included) must have one, with the same pattern.
func TestEveryRouteHasARule(t *testing.T) {
	a, _ := startTestAgent(t, "routes")
	patterns := a.api.Routes()
	if len(patterns) < 30 {
		t.Fatalf("only %d routes found", len(patterns))
	}
	for _, p := range patterns {
		if !strings.Contains(p, " /api/") {
			continue
		}
		if _, ok := users.Lookup(p); !ok {
			t.Errorf("route %q has no rule in the users' route table", p)
		}
	}
}

// TestCookieSuffix: two agents on one host (two data dirs) get session
// cookies of different names; one agent keeps its name across restarts.
func TestCookieSuffix(t *testing.T) {
	a, b := cookieSuffix("/var/lib/sluice"), cookieSuffix("/srv/sluice-2")
	if a == b || a == "" || a != cookieSuffix("/var/lib/sluice") {
		t.Fatalf("suffixes %q and %q", a, b)
	}
}
