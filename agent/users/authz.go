package users

import (
	"slices"
	"strings"

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
	// streams (bulk writes): the gate checks Action tenant-wide,
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

// Route is one row of the API's route registry: what the mux serves
// (Pattern), how it is measured (Name), and what the gate demands
// of a caller. Handlers are attached to rows by pattern
// (api.Server.Mount); a pattern with no row cannot be mounted, and the
// agent does not serve until every row has its handler.
type Route struct {
	Pattern string        // as registered on the http.ServeMux: "METHOD /path/{wildcard}"
	Name    string        // the route label of the API's metrics
	Action  policy.Action // what the caller must be allowed to do; 0 for public and authenticated
	Scope   Scope
	// StepUp: the caller must send its password again in the
	// X-Sluice-Password header (the bootstrap token is exempt).
	StepUp bool
}

// Audited reports whether a call of the route is an action the audit log
// records: every route that can change something, except writes of
// points, which are ingest (counted by metrics, not logged one by one),
// and the exports (see exports). Other reads are audited where they
// cross tenants, by federation.
func (r Route) Audited() bool {
	return exports[r.Pattern] || !strings.HasPrefix(r.Pattern, "GET ") && r.Action != policy.ActionWrite
}

// exports are the reads that hand a view's data over in bulk, often to a
// tool holding a token in its URL: the audit log records each call.
var exports = map[string]bool{
	"GET /api/v1/views/{name}/export":            true,
	"GET /api/v1/views/{name}/odata/Rows":        true,
	"GET /api/v1/views/{name}/odata/Rows/$count": true,
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

// routes is the registry of every /api/v1 route; a route not listed here
// is refused (404) by the Gate and cannot be mounted. Step-up is required for
// what the issue names as sensitive (accepting a connection, confirming
// and removing a member, deleting a community), for what is as
// irreversible (leaving a community, deleting a stream and its history),
// and for what mints or widens credentials (users, passwords, tokens,
// tenant-wide roles). Revoking and disabling never need it: they only
// take away.
var routes = []Route{
	// Session.
	{"POST /api/v1/login", "login", 0, ScopePublic, false},
	{"POST /api/v1/logout", "logout", 0, ScopeAuthenticated, false},
	{"GET /api/v1/whoami", "whoami", 0, ScopeAuthenticated, false},
	{"GET /api/v1/status", "status", 0, ScopeAuthenticated, false},
	{"GET /api/v1/tenant", "tenant", 0, ScopeAuthenticated, false},

	// Local streams: tenant-wide roles (a tenant-wide community-member or
	// reader reads them; writing points is the tenant admin's and, under
	// its prefixes, ingest's; managing them is the tenant admin's).
	{"GET /api/v1/streams", "streams_list", read, ScopeTenant, false},
	{"POST /api/v1/streams", "streams_create", admin, ScopeTenant, false},
	{"GET /api/v1/streams/{name}", "streams_get", read, ScopeTenant, false},
	{"DELETE /api/v1/streams/{name}", "streams_delete", admin, ScopeTenant, true},
	{"POST /api/v1/streams/{name}/data", "write", write, ScopeStream, false},
	{"POST /api/v1/data", "write_bulk", write, ScopeStreams, false},
	{"GET /api/v1/streams/{name}/data", "read_window", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/latest", "read_latest", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/interpolated", "read_interpolated", read, ScopeTenant, false},
	{"GET /api/v1/streams/{name}/summaries", "read_summaries", read, ScopeTenant, false},

	// Communities (docs/federation-api.md).
	{"GET /api/v1/communities", "communities_list", read, ScopeAnyCommunity, false},
	{"POST /api/v1/communities", "community_create", admin, ScopeTenant, false},
	{"GET /api/v1/communities/{c}", "community_show", read, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}", "community_delete", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/invitations", "invite", admin, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/invitations", "invitations_list", admin, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/invitations/{id}", "invitation_revoke", admin, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/members", "members_list", read, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/members/{tenant}/confirm", "member_confirm", admin, ScopeCommunity, true},
	{"DELETE /api/v1/communities/{c}/members/{tenant}", "member_remove", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/leave", "community_leave", admin, ScopeCommunity, true},
	{"POST /api/v1/communities/{c}/pause", "sharing_pause", share, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/resume", "sharing_resume", share, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/shares", "share", share, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/shares/{stream}", "unshare", share, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/catalog", "catalog", read, ScopeCommunity, false},
	{"GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}", "partner_read", read, ScopeCommunity, false},
	{"POST /api/v1/invitations/accept", "invitation_accept", admin, ScopeTenant, false},
	{"POST /api/v1/invitations/decline", "invitation_decline", admin, ScopeTenant, false},

	// Who of this tenant's users takes part in a community (community admin).
	{"GET /api/v1/communities/{c}/users", "community_users", manage, ScopeCommunity, false},
	{"POST /api/v1/communities/{c}/users", "community_users_grant", manage, ScopeCommunity, false},
	{"DELETE /api/v1/communities/{c}/users/{user}", "community_users_revoke", manage, ScopeCommunity, false},

	// Connections (one-way; {tenant} is the other side). Reads and shares
	// over a connection use tenant-wide roles, as policy says.
	{"GET /api/v1/connections", "connections_list", read, ScopeTenant, false},
	{"POST /api/v1/connections", "connection_request", admin, ScopeTenant, false},
	// Reviewing may accept a connection: the password again, as the seeds' products ask.
	{"POST /api/v1/connections/{tenant}/review", "connection_review", admin, ScopeTenant, true},
	{"POST /api/v1/connections/{tenant}/cancel", "connection_cancel", admin, ScopeTenant, false},
	{"GET /api/v1/connections/{tenant}/catalog", "connection_catalog", read, ScopeTenant, false},
	{"GET /api/v1/connections/{tenant}/streams/{stream}/{kind}", "connection_read", read, ScopeTenant, false},
	{"POST /api/v1/connections/{tenant}/shares", "connection_share", share, ScopeTenant, false},
	{"DELETE /api/v1/connections/{tenant}/shares/{stream}", "connection_unshare", share, ScopeTenant, false},

	// Users of this tenant.
	{"GET /api/v1/users", "users_list", manage, ScopeAnyCommunity, false},
	{"POST /api/v1/users", "user_add", admin, ScopeTenant, true},
	{"GET /api/v1/users/{user}", "user_get", manage, ScopeAnyCommunity, false},
	{"DELETE /api/v1/users/{user}", "user_remove", admin, ScopeTenant, true},
	{"POST /api/v1/users/{user}/disable", "user_disable", admin, ScopeTenant, false},
	{"POST /api/v1/users/{user}/enable", "user_enable", admin, ScopeTenant, true},
	{"PUT /api/v1/users/{user}/password", "user_password", admin, ScopeSelf, true},
	{"POST /api/v1/users/{user}/roles", "role_grant", admin, ScopeTenant, true},
	{"DELETE /api/v1/users/{user}/roles/{role}", "role_revoke", admin, ScopeTenant, false},
	{"GET /api/v1/users/{user}/tokens", "user_tokens", admin, ScopeSelf, false},
	{"POST /api/v1/users/{user}/tokens", "user_token_create", admin, ScopeSelf, true},

	// The caller's own tokens, and revocation by id.
	{"GET /api/v1/tokens", "tokens", 0, ScopeAuthenticated, false},
	{"POST /api/v1/tokens", "token_create", 0, ScopeAuthenticated, true},
	{"DELETE /api/v1/tokens/{id}", "token_revoke", admin, ScopeTokenOwner, false},

	// Audit log.
	{"GET /api/v1/audit", "audit", admin, ScopeTenant, false},
	{"GET /api/v1/audit/verify", "audit", admin, ScopeTenant, false},
	{"GET /api/v1/audit/report", "audit", admin, ScopeTenant, false},
	{"GET /api/v1/audit/tail", "audit", admin, ScopeTenant, false},

	// Backup: the whole data dir as one archive, the tenant's private key
	// and every token hash included, so the password again (the
	// bootstrap token, which the CLI on the gateway uses, is exempt).
	{"GET /api/v1/backup", "backup", admin, ScopeTenant, true},

	// Data views: per-tenant saved queries, so reading the tenant's data
	// is enough to see and export them, and a tenant-wide member keeps
	// them (a reader only reads; docs/api.md). The export's own reads of
	// each stream are checked again, route by route, by Gate.Allow.
	{"GET /api/v1/views", "views", read, ScopeTenant, false},
	{"POST /api/v1/views", "views", views, ScopeTenant, false},
	{"GET /api/v1/views/{name}", "views", read, ScopeTenant, false},
	{"PUT /api/v1/views/{name}", "views", views, ScopeTenant, false},
	{"DELETE /api/v1/views/{name}", "views", views, ScopeTenant, false},
	{"GET /api/v1/views/{name}/export", "views_export", read, ScopeTenant, false},
	// The view's OData v4 feed (service document, $metadata, rows, count)
	// for Power BI and Excel: reads, like the export.
	{"GET /api/v1/views/{name}/odata", "views_odata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/{$}", "views_odata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/$metadata", "views_odata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/Rows", "views_odata", read, ScopeTenant, false},
	{"GET /api/v1/views/{name}/odata/Rows/$count", "views_odata", read, ScopeTenant, false},

	// Prometheus-compatible reads for Grafana (agent/promapi; also at
	// /prometheus/api/v1/..., and POSTed forms arrive as these GETs).
	// Reading somewhere is enough: the handler shows the local streams
	// only to tenant-wide readers, and each community's shared streams
	// only to those who read there.
	{"GET /api/v1/prometheus/query", "prometheus_query", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/query_range", "prometheus_query_range", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/series", "prometheus_series", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/labels", "prometheus_labels", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/label/{name}/values", "prometheus_label_values", read, ScopeAnyCommunity, false},
	{"GET /api/v1/prometheus/metadata", "prometheus_metadata", read, ScopeAnyCommunity, false},
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
// queryToken). The gate removes the parameter before the request
// goes on.
func (r Route) QueryToken() bool { return queryToken[r.Pattern] }

// Routes returns a copy of the authorization table.
func Routes() []Route { return slices.Clone(routes) }

// Lookup returns the row of a pattern exactly as registered on the mux
// ("GET /api/v1/streams/{name}"): the API mounts a handler only there.
func Lookup(pattern string) (Route, bool) {
	i := slices.IndexFunc(routes, func(r Route) bool { return r.Pattern == pattern })
	if i < 0 {
		return Route{}, false
	}
	return routes[i], true
}
