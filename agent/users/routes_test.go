package users

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// The principals every route is walked with, in the order of the
// expectation strings below.
var principals = []string{
	"ta",   // tenant admin
	"ca",   // community admin of C
	"ds",   // data steward of C (and member, as stewards are)
	"m",    // community member of C
	"md",   // community member of D
	"mt",   // community member tenant-wide
	"so",   // data steward of C without member: may not share
	"none", // no role
	"rev",  // tenant admin, revoked token
	"exp",  // tenant admin, expired token
	"dis",  // tenant admin, disabled user
	"boot", // the admin.token bootstrap token (exempt from step-up)
	"ing",  // ingest of site1/ (a device, no password): the {name} below is inside
	"rd",   // reader (a dashboard, no password)
}

// Expectations, one letter per principal: y allowed (200), n 403, u 401,
// s 403 for want of a step-up the principal cannot give (no password).
// Written by hand from the intended rules, not derived from the table.
const (
	public  = "yyyyyyyyyyyyyy"
	authed  = "yyyyyyyyuuuyyy"
	authSU  = "yyyyyyyyuuuyss" // authenticated, with step-up
	readT   = "ynnnnynnuuuyny" // tenant-wide read
	adminT  = "ynnnnnnnuuuynn" // tenant admin only (also tenant-wide share, which no one here holds but ta)
	readAny = "ynyyyynnuuuyny" // read somewhere
	readC   = "ynyynynnuuuyny" // read in C
	shareC  = "ynynnnnnuuuynn" // share in C: steward and member
	manageC = "yynnnnnnuuuynn" // manage users in C
	writeS  = "ynnnnnnnuuuyyn" // write points into {name}: tenant admin, ingest within its prefixes
	editV   = "ynnnnynnuuuynn" // change data views: tenant-wide member, not a reader
)

var expected = map[string]struct {
	want   string
	stepUp bool
}{
	"POST /api/v1/login":   {public, false},
	"POST /api/v1/logout":  {authed, false},
	"GET /api/v1/whoami":   {authed, false},
	"GET /api/v1/status":   {authed, false},
	"GET /api/v1/tenant":   {authed, false},
	"GET /api/v1/streams":  {readT, false},
	"POST /api/v1/streams": {adminT, false},

	"GET /api/v1/streams/{name}":              {readT, false},
	"DELETE /api/v1/streams/{name}":           {adminT, true},
	"POST /api/v1/streams/{name}/data":        {writeS, false},
	"POST /api/v1/data":                       {writeS, false}, // the handler checks each stream (TestBulkWriteStreams)
	"GET /api/v1/streams/{name}/data":         {readT, false},
	"GET /api/v1/streams/{name}/latest":       {readT, false},
	"GET /api/v1/streams/{name}/interpolated": {readT, false},
	"GET /api/v1/streams/{name}/summaries":    {readT, false},

	"GET /api/v1/communities":                                      {readAny, false},
	"POST /api/v1/communities":                                     {adminT, false},
	"GET /api/v1/communities/{c}":                                  {readC, false},
	"DELETE /api/v1/communities/{c}":                               {adminT, true},
	"POST /api/v1/communities/{c}/invitations":                     {adminT, false},
	"GET /api/v1/communities/{c}/invitations":                      {adminT, false},
	"DELETE /api/v1/communities/{c}/invitations/{id}":              {adminT, false},
	"GET /api/v1/communities/{c}/members":                          {readC, false},
	"POST /api/v1/communities/{c}/members/{tenant}/confirm":        {adminT, true},
	"DELETE /api/v1/communities/{c}/members/{tenant}":              {adminT, true},
	"POST /api/v1/communities/{c}/leave":                           {adminT, true},
	"POST /api/v1/communities/{c}/pause":                           {shareC, false},
	"POST /api/v1/communities/{c}/resume":                          {shareC, false},
	"POST /api/v1/communities/{c}/shares":                          {shareC, false},
	"DELETE /api/v1/communities/{c}/shares/{stream}":               {shareC, false},
	"GET /api/v1/communities/{c}/catalog":                          {readC, false},
	"GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}": {readC, false},
	"POST /api/v1/invitations/accept":                              {adminT, false},
	"POST /api/v1/invitations/decline":                             {adminT, false},
	"GET /api/v1/communities/{c}/users":                            {manageC, false},
	"POST /api/v1/communities/{c}/users":                           {manageC, false},
	"DELETE /api/v1/communities/{c}/users/{user}":                  {manageC, false},

	"GET /api/v1/connections":                                  {readT, false},
	"POST /api/v1/connections":                                 {adminT, false},
	"POST /api/v1/connections/{tenant}/review":                 {adminT, true},
	"POST /api/v1/connections/{tenant}/cancel":                 {adminT, false},
	"GET /api/v1/connections/{tenant}/catalog":                 {readT, false},
	"GET /api/v1/connections/{tenant}/streams/{stream}/{kind}": {readT, false},
	"POST /api/v1/connections/{tenant}/shares":                 {adminT, false},
	"DELETE /api/v1/connections/{tenant}/shares/{stream}":      {adminT, false},

	// {user} is bob, who is none of the principals; their own account is
	// tested in TestSelfRoutes.
	"GET /api/v1/users":                        {manageC, false},
	"POST /api/v1/users":                       {adminT, true},
	"GET /api/v1/users/{user}":                 {manageC, false},
	"DELETE /api/v1/users/{user}":              {adminT, true},
	"POST /api/v1/users/{user}/disable":        {adminT, false},
	"POST /api/v1/users/{user}/enable":         {adminT, true},
	"PUT /api/v1/users/{user}/password":        {adminT, true},
	"POST /api/v1/users/{user}/roles":          {adminT, true},
	"DELETE /api/v1/users/{user}/roles/{role}": {adminT, false},
	"GET /api/v1/users/{user}/tokens":          {adminT, false},
	"POST /api/v1/users/{user}/tokens":         {adminT, true},
	"GET /api/v1/tokens":                       {authed, false},
	"POST /api/v1/tokens":                      {authSU, true},
	"DELETE /api/v1/tokens/{id}":               {adminT, false}, // bob's token

	"GET /api/v1/audit":        {adminT, false},
	"GET /api/v1/audit/verify": {adminT, false},
	"GET /api/v1/audit/report": {adminT, false},
	"GET /api/v1/audit/tail":   {adminT, false},
	"GET /api/v1/backup":       {adminT, true},

	"GET /api/v1/views":                          {readT, false},
	"POST /api/v1/views":                         {editV, false},
	"GET /api/v1/views/{name}":                   {readT, false},
	"PUT /api/v1/views/{name}":                   {editV, false},
	"DELETE /api/v1/views/{name}":                {editV, false},
	"GET /api/v1/views/{name}/export":            {readT, false},
	"GET /api/v1/views/{name}/odata":             {readT, false},
	"GET /api/v1/views/{name}/odata/{$}":         {readT, false},
	"GET /api/v1/views/{name}/odata/$metadata":   {readT, false},
	"GET /api/v1/views/{name}/odata/Rows":        {readT, false},
	"GET /api/v1/views/{name}/odata/Rows/$count": {readT, false},

	"GET /api/v1/prometheus/query":               {readAny, false},
	"GET /api/v1/prometheus/query_range":         {readAny, false},
	"GET /api/v1/prometheus/series":              {readAny, false},
	"GET /api/v1/prometheus/labels":              {readAny, false},
	"GET /api/v1/prometheus/label/{name}/values": {readAny, false},
	"GET /api/v1/prometheus/metadata":            {readAny, false},
}

// fixture is a directory with one user per principal, their tokens, and
// the guarded echo handler.
type fixture struct {
	d      *Directory
	c      *clock
	h      http.Handler
	tokens map[string]string // principal -> bearer
	bobTok TokenInfo
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{c: newClock(), tokens: map[string]string{}}
	f.d = openDir(t, dir, f.c)
	must(t, f.d.EnsureBootstrap(filepath.Join(dir, "admin.token")))
	boot, err := readTokenFile(filepath.Join(dir, "admin.token"))
	must(t, err)
	f.tokens["boot"] = boot

	grants := map[string][]Assignment{
		"ta":   {role(policy.RoleTenantAdmin, "")},
		"ca":   {role(policy.RoleCommunityAdmin, commC)},
		"ds":   {role(policy.RoleDataSteward, commC), role(policy.RoleCommunityMember, commC)},
		"m":    {role(policy.RoleCommunityMember, commC)},
		"md":   {role(policy.RoleCommunityMember, commD)},
		"mt":   {role(policy.RoleCommunityMember, "")},
		"so":   {role(policy.RoleDataSteward, commC)},
		"none": nil,
		"rev":  {role(policy.RoleTenantAdmin, "")},
		"exp":  {role(policy.RoleTenantAdmin, "")},
		"dis":  {role(policy.RoleTenantAdmin, "")},
		"bob":  {role(policy.RoleCommunityMember, commD)},
	}
	must(t, f.d.AddTokenUser("ing", Assignment{Role: policy.RoleIngest, Prefixes: []string{"site1/", "lab/"}}))
	must(t, f.d.AddTokenUser("rd", role(policy.RoleReader, "")))
	for _, name := range []string{"ing", "rd"} {
		tok, _ := mustToken(t, f.d, name)
		f.tokens[name] = tok
	}
	for name, as := range grants {
		must(t, f.d.AddUser(name, pw(name), as...))
		if name == "exp" {
			tok, _, err := f.d.CreateToken(name, "short", time.Hour)
			must(t, err)
			f.tokens[name] = tok
			continue
		}
		tok, info := mustToken(t, f.d, name)
		f.tokens[name] = tok
		if name == "rev" {
			must(t, f.d.RevokeToken(info.ID))
		}
		if name == "bob" {
			f.bobTok = info
		}
	}
	must(t, f.d.SetDisabled("dis", true))
	f.c.Advance(2 * time.Hour) // exp's token expires; the others last 90 days
	f.h = apiMux(f.d, echo(t), resolver)
	return f
}

// fill turns a pattern into a method and a concrete path.
func (f *fixture) fill(pattern string) (string, string) {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.NewReplacer(
		"{c}", "plant-c", "{user}", "bob", "{id}", f.bobTok.ID, "{name}", "site1%2Fboiler",
		"{tenant}", "partner", "{stream}", "s1", "{kind}", "data", "{role}", "community-member",
		"{$}", "", // the exact path ending in a slash
	).Replace(path)
	return method, path
}

func TestTableCoversEveryRoute(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range Routes() {
		if seen[rt.Pattern] {
			t.Errorf("%s: listed twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		e, ok := expected[rt.Pattern]
		if !ok {
			t.Errorf("%s: no expectation in this test", rt.Pattern)
			continue
		}
		if e.stepUp != rt.StepUp {
			t.Errorf("%s: step-up %v, want %v", rt.Pattern, rt.StepUp, e.stepUp)
		}
		if (rt.Scope == ScopePublic || rt.Scope == ScopeAuthenticated) != (rt.Action == 0) {
			t.Errorf("%s: scope %s with action %d", rt.Pattern, rt.Scope, rt.Action)
		}
	}
	for p := range expected {
		if !seen[p] {
			t.Errorf("%s: expected but not in the table", p)
		}
	}
	// The routes the agent mounts today (agent/api routes() and
	// MountFederation) must all have a rule.
	for _, p := range []string{
		"GET /api/v1/status", "GET /api/v1/streams", "POST /api/v1/streams", "GET /api/v1/streams/{name}",
		"DELETE /api/v1/streams/{name}", "POST /api/v1/streams/{name}/data", "POST /api/v1/data",
		"GET /api/v1/streams/{name}/data", "GET /api/v1/streams/{name}/latest",
		"GET /api/v1/streams/{name}/interpolated", "GET /api/v1/streams/{name}/summaries",
		"GET /api/v1/tenant", "GET /api/v1/communities", "POST /api/v1/communities", "GET /api/v1/communities/{c}",
		"DELETE /api/v1/communities/{c}", "POST /api/v1/communities/{c}/invitations",
		"GET /api/v1/communities/{c}/invitations", "DELETE /api/v1/communities/{c}/invitations/{id}",
		"GET /api/v1/communities/{c}/members", "POST /api/v1/communities/{c}/members/{tenant}/confirm",
		"DELETE /api/v1/communities/{c}/members/{tenant}", "POST /api/v1/communities/{c}/leave",
		"POST /api/v1/communities/{c}/pause", "POST /api/v1/communities/{c}/resume",
		"POST /api/v1/communities/{c}/shares", "DELETE /api/v1/communities/{c}/shares/{stream}",
		"GET /api/v1/communities/{c}/catalog", "GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}",
		"POST /api/v1/invitations/accept", "POST /api/v1/invitations/decline",
	} {
		if _, ok := Lookup(p); !ok {
			t.Errorf("mounted route %s has no rule", p)
		}
	}
}

// TestEveryRouteEveryRole walks every route of the table with every
// principal. Each sends its own password for step-up, so what is
// checked here is the role; TestStepUpEveryRoute checks the step-up.
func TestEveryRouteEveryRole(t *testing.T) {
	f := newFixture(t)
	for _, rt := range Routes() {
		e := expected[rt.Pattern]
		if len(e.want) != len(principals) {
			t.Fatalf("%s: expectation %q has %d letters, want %d", rt.Pattern, e.want, len(e.want), len(principals))
		}
		method, path := f.fill(rt.Pattern)
		for i, who := range principals {
			w := do(f.h, request{method: method, path: path, token: f.tokens[who], password: pw(who)})
			want := map[byte]int{'y': 200, 'n': 403, 'u': 401, 's': 403}[e.want[i]]
			if w.Code != want {
				t.Errorf("%s as %s: %d %s, want %d", rt.Pattern, who, w.Code, strings.TrimSpace(w.Body.String()), want)
				continue
			}
			if want != 200 {
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Reason == "" {
					t.Errorf("%s as %s: refusal body %q is not {error, reason}", rt.Pattern, who, w.Body.String())
				}
				if e.want[i] == 's' && !strings.HasPrefix(body.Reason, "step_up") {
					t.Errorf("%s as %s: refused for %q, want a step-up refusal", rt.Pattern, who, body.Reason)
				}
				if want == 401 && body.Error != f401 {
					t.Errorf("%s as %s: 401 says %q; every 401 must say the same", rt.Pattern, who, body.Error)
				}
			}
		}
	}
}

var f401 = ErrUnauthenticated.Error() + " (send Authorization: Bearer <token>)"

// TestStepUpEveryRoute: a tenant admin without the password gets through
// exactly the routes without step-up; with a wrong one, none of the
// step-up routes; the bootstrap token needs none.
func TestStepUpEveryRoute(t *testing.T) {
	f := newFixture(t)
	for _, rt := range Routes() {
		if rt.Scope == ScopePublic {
			continue
		}
		method, path := f.fill(rt.Pattern)
		w := do(f.h, request{method: method, path: path, token: f.tokens["ta"]})
		if rt.StepUp {
			if w.Code != 403 || !strings.Contains(w.Body.String(), `"step_up_required"`) {
				t.Errorf("%s without password: %d %s, want 403 step_up_required", rt.Pattern, w.Code, w.Body.String())
			}
			w = do(f.h, request{method: method, path: path, token: f.tokens["ta"], password: "not the password"})
			if w.Code != 403 || !strings.Contains(w.Body.String(), `"step_up_failed"`) {
				t.Errorf("%s with a wrong password: %d %s, want 403 step_up_failed", rt.Pattern, w.Code, w.Body.String())
			}
			// Someone else's password is not the caller's.
			w = do(f.h, request{method: method, path: path, token: f.tokens["ta"], password: pw("bob")})
			if w.Code != 403 {
				t.Errorf("%s with bob's password: %d, want 403", rt.Pattern, w.Code)
			}
			must(t, f.d.CheckPassword("ta", pw("ta"))) // reset ta's failure count
		} else if w.Code != 200 {
			t.Errorf("%s without password: %d %s, want 200", rt.Pattern, w.Code, w.Body.String())
		}
		if w := do(f.h, request{method: method, path: path, token: f.tokens["boot"]}); w.Code != 200 {
			t.Errorf("%s as bootstrap without password: %d, want 200", rt.Pattern, w.Code)
		}
	}
}

// TestSelfRoutes: every user manages its own password and tokens, and
// revokes its own tokens, whatever its roles.
func TestSelfRoutes(t *testing.T) {
	f := newFixture(t)
	for _, who := range []string{"none", "md", "ca", "ta"} {
		_, info := mustToken(t, f.d, who)
		for _, q := range []request{
			{method: "PUT", path: "/api/v1/users/" + who + "/password"},
			{method: "GET", path: "/api/v1/users/" + who + "/tokens"},
			{method: "POST", path: "/api/v1/users/" + who + "/tokens"},
			{method: "DELETE", path: "/api/v1/tokens/" + info.ID},
		} {
			q.token, q.password = f.tokens[who], pw(who)
			if w := do(f.h, q); w.Code != 200 {
				t.Errorf("%s %s as %s: %d %s", q.method, q.path, who, w.Code, w.Body.String())
			}
			// Without the password, the step-up routes stay closed to them.
			q.password = ""
			w := do(f.h, q)
			rt, _ := routeOf(httptestRequest(q))
			if rt.StepUp && w.Code != 403 {
				t.Errorf("%s %s as %s without password: %d", q.method, q.path, who, w.Code)
			}
		}
	}
}

func httptestRequest(q request) *http.Request {
	r, _ := http.NewRequest(q.method, "http://agent"+q.path, nil)
	return r
}
