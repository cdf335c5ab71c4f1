package users

import (
	"slices"

	"github.com/sluice-edge/sluice/policy"
)

// Scope says where a route's action must be allowed.
type Scope uint8

const (
	// ScopePublic needs no token (login).
	ScopePublic Scope = iota + 1
	// ScopeAuthenticated needs a valid token and no role.
	ScopeAuthenticated
	// ScopeTenant needs Action from tenant-wide roles (community ""):
	// local streams, connections, audit, users.
	ScopeTenant
	// ScopeCommunity needs Action in the community named by the {c} path
	// value (roles granted there, plus tenant-wide ones).
	ScopeCommunity
	// ScopeAnyCommunity needs Action tenant-wide or in at least one
	// community; the handler shows only what Principal.Communities allows.
	ScopeAnyCommunity
	// ScopeSelf lets the user named by {user} act on its own account;
	// anyone else needs Action tenant-wide.
	ScopeSelf
	// ScopeTokenOwner lets the owner of the token {id} act on it; anyone
	// else needs Action tenant-wide.
	ScopeTokenOwner
	// ScopeStream needs Action (write) tenant-wide on the stream named by
	// {name}: a tenant admin's on any stream, an ingest user's within its
	// prefixes (Principal.MayWrite).
	ScopeStream
	// ScopeStreams is ScopeStream for a route whose body names the
	// streams (bulk writes): the middleware checks Action tenant-wide,
	// and the handler must check every stream with MayWrite before it
	// looks any up or stores anything.
	ScopeStreams
)

var scopeNames = [...]string{"", "public", "authenticated", "tenant", "community", "any-community", "self", "token-owner",
	"stream", "streams"}

func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "scope(?)"
}

// Route is the authorization rule of one API route.
type Route struct {
	Pattern string        // as registered on the http.ServeMux: "METHOD /path/{wildcard}"
	Action  policy.Action // what the caller must be allowed to do; 0 for public and authenticated
	Scope   Scope
	// StepUp: the caller must send its password again in the
	// X-Sluice-Password header (the bootstrap token is exempt).
	StepUp bool
}

// Allowed reports whether p may do action in community ("" for
// tenant-level actions, where only tenant-wide roles count). It is
// policy's RoleSet.Can over the principal's roles there.
func Allowed(p Principal, action policy.Action, community policy.CommunityID) bool {
	return p.User != "" && p.RoleSet(community).Can(action)
}

const (
	read   = policy.ActionRead
	share  = policy.ActionShare
	manage = policy.ActionManageUsers
	admin  = policy.ActionAdminister
	write  = policy.ActionWrite
	views  = policy.ActionEditViews
)

// routes is the authorization table of every /api/v1 route; a route not
// listed here is refused (404) by the Middleware. Step-up is required for
// what the issue names as sensitive (accepting a connection, confirming
// and removing a member, deleting a community), for what is as
// irreversible (leaving a community, deleting a stream and its history),
// and for what mints or widens credentials (users, passwords, tokens,
// tenant-wide roles). Revoking and disabling never need it: they only
// take away.
var routes = []Route{
	// Session.
	{"POST /api/v1/login", 0, ScopePublic, false},
	{"POST /api/v1/logout", 0, ScopeAuthenticated, false},
	{"GET /api/v1/whoami", 0, ScopeAuthenticated, false},
	{"GET /api/v1/status", 0, ScopeAuthenticated, false},
	{"GET /api/v1/tenant", 0, ScopeAuthenticated, false},

	// Local streams: tenant-wide roles (a tenant-wide community-member or
	// reader reads them; writing points is the tenant admin's and, under
	// its prefixes, ingest's; managing them is the tenant admin's).
	{"GET /api/v1/streams", read, ScopeTenant, false},
	{"POST /api/v1/streams", admin, ScopeTenant, false},
	{"GET /api/v1/streams/{name}", read, ScopeTenant, false},
	{"DELETE /api/v1/streams/{name}", admin, ScopeTenant, true},
	{"POST /api/v1/streams/{name}/data", write, ScopeStream, false},
	{"POST /api/v1/data", write, ScopeStreams, false},
	{"GET /api/v1/streams/{name}/data", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/latest", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/interpolated", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/summaries", read, ScopeTenant, false},

	// Communities (docs/federation-api.md).
	{"GET /api/v1/communities", read, ScopeAnyCommunity, false},
	{"POST /api/v1/communities", admin, ScopeTenant, false},
	{"GET /api/v1/communities/{c}", read, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/invitations", admin, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/invitations", admin, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/invitations/{id}", admin, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/members", read, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/members/{tenant}/confirm", admin, ScopeCommunity, true},
	{"DELETE /api/v1/communities/{c}/members/{tenant}", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/leave", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/pause", share, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/resume", share, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/shares", share, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/shares/{stream}", share, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/catalog", read, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}", read, ScopeCommunity, false},
	{"POST /api/v1/invitations/accept", admin, ScopeTenant, false},
	{"POST /api/v1/invitations/decline", admin, ScopeTenant, false},

	// Who of this tenant's users takes part in a community (community admin).
	{"GET /api/v1/communities/{c}/users", manage, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/users", manage, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/users/{user}", manage, ScopeCommunity, false},

	// Connections (one-way; {tenant} is the other side). Reads and shares
	// over a connection use tenant-wide roles, as policy says.
	{"GET /api/v1/connections", read, ScopeTenant, false},
	{"POST /api/v1/connections", admin, ScopeTenant, false},
	// Reviewing may accept a connection: the password again, as the seeds' products ask.
	{"POST /api/v1/connections/{tenant}/review", admin, ScopeTenant, true},
	{"POST /api/v1/connections/{tenant}/cancel", admin, ScopeTenant, false},
	{"GET /api/v1/connections/{tenant}/catalog", read, ScopeTenant, false},
	{"GET /api/v1/connections/{tenant}/streams/{stream}/{kind}", read, ScopeTenant, false},
	{"POST /api/v1/connections/{tenant}/shares", share, ScopeTenant, false},
	{"DELETE /api/v1/connections/{tenant}/shares/{stream}", share, ScopeTenant, false},

	// Users of this tenant.
	{"GET /api/v1/users", manage, ScopeAnyCommunity, false},
	{"POST /api/v1/users", admin, ScopeTenant, true},
	{"GET /api/v1/users/{user}", manage, ScopeAnyCommunity, false},
	{"DELETE /api/v1/users/{user}", admin, ScopeTenant, true},
	{"POST /api/v1/users/{user}/disable", admin, ScopeTenant, false},
	{"POST /api/v1/users/{user}/enable", admin, ScopeTenant, true},
	{"PUT /api/v1/users/{user}/password", admin, ScopeSelf, true},
	{"POST /api/v1/users/{user}/roles", admin, ScopeTenant, true},
	{"DELETE /api/v1/users/{user}/roles/{role}", admin, ScopeTenant, false},
	{"GET /api/v1/users/{user}/tokens", admin, ScopeSelf, false},
	{"POST /api/v1/users/{user}/tokens", admin, ScopeSelf, true},

	// The caller's own tokens, and revocation by id.
	{"GET /api/v1/tokens", 0, ScopeAuthenticated, false},
	{"POST /api/v1/tokens", 0, ScopeAuthenticated, true},
	{"DELETE /api/v1/tokens/{id}", admin, ScopeTokenOwner, false},

	// Audit log.
	{"GET /api/v1/audit", admin, ScopeTenant, false},
	{"GET /api/v1/audit/verify", admin, ScopeTenant, false},
	{"GET /api/v1/audit/report", admin, ScopeTenant, false},
	{"GET /api/v1/audit/tail", admin, ScopeTenant, false},

	// Backup: the whole data dir as one archive, the tenant's private key
	// and every token hash included, so the password again (the
	// bootstrap token, which the CLI on the gateway uses, is exempt).
	{"GET /api/v1/backup", admin, ScopeTenant, true},

	// Data views: per-tenant saved queries, so reading the tenant's data
	// is enough to see and export them, and a tenant-wide member keeps
	// them (a reader only reads; docs/api.md). The export's own reads of
	// each stream are checked again, route by route, by Internal.
	{"GET /api/v1/views", read, ScopeTenant, false},
	{"POST /api/v1/views", views, ScopeTenant, false},
	{"GET /api/v1/views/{name}", read, ScopeTenant, false},
	{"PUT /api/v1/views/{name}", views, ScopeTenant, false},
	{"DELETE /api/v1/views/{name}", views, ScopeTenant, false},
	{"GET /api/v1/views/{name}/export", read, ScopeTenant, false},
	// The view's OData v4 feed (service document, $metadata, rows, count)
	// for Power BI and Excel: reads, like the export.
	{"GET /api/v1/views/{name}/odata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/{$}", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/$metadata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/Rows", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/Rows/$count", read, ScopeTenant, false},

	// Prometheus-compatible reads for Grafana (agent/promapi; also at
	// /prometheus/api/v1/..., and POSTed forms arrive as these GETs).
	// Reading somewhere is enough: the handler shows the local streams
	// only to tenant-wide readers, and each community's shared streams
	// only to those who read there.
	{"GET /api/v1/prometheus/query", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/query_range", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/series", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/labels", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/label/{name}/values", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/metadata", read, ScopeAnyCommunity, false},
}

// queryToken lists the routes that also take the API token as the
// ?token= query parameter, or as the password of HTTP Basic
// authentication, for tools that cannot set a Bearer header: Excel,
// Power BI (its "Web API" key is sent as a query parameter, its "Basic"
// credentials as Basic), Grafana's CSV/JSON sources. Only GET routes of
// data reads, never step-up.
var queryToken = map[string]bool{
	"GET /api/v1/views/{name}/export":            true,
	"GET /api/v1/views/{name}/odata":             true,
	"GET /api/v1/views/{name}/odata/{$}":         true,
	"GET /api/v1/views/{name}/odata/$metadata":   true,
	"GET /api/v1/views/{name}/odata/Rows":        true,
	"GET /api/v1/views/{name}/odata/Rows/$count": true,
}

// QueryToken reports whether the route accepts ?token= and Basic (see
// queryToken). The middleware removes the parameter before the request
// goes on.
func (r Route) QueryToken() bool { return queryToken[r.Pattern] }

// Routes returns a copy of the authorization table.
func Routes() []Route { return slices.Clone(routes) }

// Lookup returns the rule of a pattern exactly as registered on the mux
// ("GET /api/v1/streams/{name}"). The agent's tests use it to check that
// every route it mounts under /api/ has a rule.
func Lookup(pattern string) (Route, bool) {
	i := slices.IndexFunc(routes, func(r Route) bool { return r.Pattern == pattern })
	if i < 0 {
		return Route{}, false
	}
	return routes[i], true
}
