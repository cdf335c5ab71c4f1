// Package users holds one tenant's local users: passwords, API tokens and
// role assignments, and the authorization of every /api/v1 route. Each
// agent has its own Directory, for its own tenant only: there is no path
// by which one tenant sees or changes another's users, and nothing here
// is ever sent to a partner. A partner learns a user only as the
// policy.UserID (tenant, name) on an audit line and in a partner read's
// request, with the roles the agent vouches for (Principal.RoleSet).
//
// # Users and passwords
//
// A user has a name ([a-z0-9][a-z0-9._-]{0,63}), an argon2id password hash
// with its own random salt, the time it was created and whether it is
// disabled. Passwords have at least 12 characters, differ from the name,
// and hold no control characters nor leading or trailing white space
// (they must fit in an HTTP header for step-up). Hashes are PHC strings,
// $argon2id$v=19$m=47104,t=2,p=2$<salt>$<hash> (unpadded standard
// base64), so the parameters travel with each hash; a hash made with
// other parameters than the directory's is redone at the next successful
// check. DefaultArgon2Params costs about 70 ms and 46 MiB; at most
// GOMAXPROCS/threads checks run at once, which bounds memory.
//
// CheckPassword answers every failure (unknown user, wrong password, no
// password, disabled) with ErrBadCredentials after the same argon2 work.
// After 5 failures in a row a user is locked for 30 s, then each further
// failure doubles the lock, up to 15 min; meanwhile CheckPassword returns
// a *LockedError at once (it never sleeps) and the API answers 429 with
// Retry-After. A success resets the count; locks are in memory.
//
// # Tokens
//
// A token is shown once, as slu_<id>_<secret>: id is 12 hex digits,
// public (it names the token in lists, logs and revocations); secret is
// 32 random bytes in unpadded base64url. Only SHA-256(secret) is stored:
// a 256-bit random secret needs no slow hash, so Authenticate costs one
// SHA-256 and a map lookup, and compares hashes in constant time. Tokens
// expire (DefaultTokenTTL 90 days, login tokens 30 days, at most
// MaxTokenTTL) and can be revoked at once. Revoked and expired tokens
// are listed for 30 days, then dropped. The last use is kept in memory to
// the minute and written to the file at most hourly, with the next
// change, or on Close: never a write per request. Expired, revoked,
// unknown tokens and disabled users fail with distinct errors for logs
// and metrics, and one message for the caller.
//
// # Browser sessions
//
// The web console signs in with POST /api/v1/login and "session": true.
// The new token (label "session", DefaultSessionTTL 12 h unless "ttl"
// says otherwise) then goes only into the cookie sluice_session (with a
// per-agent suffix, Options.CookieSuffix):
// HttpOnly, SameSite=Strict, Path=/, Max-Age its lifetime, Secure when the
// login came over TLS; the body is {"csrf","user","expires"}. A session
// login that a browser sends from another origin is refused (403 csrf),
// so no site can sign the browser in to an account of its choosing.
//
// The Gate reads the cookie when a request has no Authorization
// header, and accepts only tokens this process issued as sessions. Every
// cookie-authenticated request but GET and HEAD must carry the header
// X-CSRF-Token with the session's CSRF token, base64url(HMAC-SHA256(key,
// token id)), compared in constant time; else 403 {"reason": "csrf"}.
// Bearer requests need no CSRF token: a browser never adds the header by
// itself. The key and the list of sessions live in memory only, so
// sessions end when the agent restarts (their tokens expire unused, after
// at most their lifetime). POST /api/v1/logout revokes the session's
// token and clears the cookie; called with a bearer token it only clears
// the cookie and leaves the token alone.
//
// # Roles
//
// An Assignment is a policy.Role in a community, or tenant-wide when the
// community is "". policy decides what roles allow (RoleSet.Can):
//
//	tenant-admin      tenant-wide only; everything
//	community-admin   chooses which of the tenant's users take part in
//	                  the community (grants and revokes roles there)
//	data-steward      shares, unshares, pauses, resumes; only together
//	                  with community-member, as in the cloud products
//	community-member  reads: the catalog, shared streams, members; and,
//	                  tenant-wide, keeps the data views
//	ingest            tenant-wide only, for devices: writes points to the
//	                  local streams within its prefixes (creating them
//	                  with ?create=1), over the API and OMF; nothing else
//	reader            tenant-wide only, for dashboards: reads local
//	                  streams, every community's catalog and shared
//	                  streams, connections' reads, data views and their
//	                  export; changes nothing
//
// An ingest grant carries stream name prefixes (Assignment.Prefixes, at
// least one): "site1/" lets it write site1/boiler/temp, not site10/x
// (policy.WithinPrefixes matches whole segments). Granting ingest again
// adds prefixes; revoking with prefixes takes only those. The prefixes
// live here, beside the grant, not in a policy role record: they matter
// only to this agent (role grants never leave the tenant; partners are
// told only whether a user reads, policy.RoleSet.Vouched), and a record's
// signed encoding has no field for them. The gate checks the
// stream of every write route against them: {name} on ScopeStream
// routes, and each stream of a bulk body through MayWrite, which the API
// calls before it looks any stream up, so one stream outside refuses the
// whole body with 403 naming it. HTTP sources (OMF) apply the same rule
// to each stream they write for a user's token.
//
// Devices and dashboards are usually token users (AddTokenUser): users
// without a password, which cannot sign in nor pass a step-up, and work
// with the tokens an administrator makes for them. A token acts with its
// user's roles at the time of each request.
//
// In a community a user holds the roles granted there plus its
// tenant-wide ones; tenant-level routes (local streams, connections,
// audit) count tenant-wide roles only, as policy.State.Roles does. So a
// tenant-wide community-member reads local streams and every community.
// The last enabled tenant admin cannot be removed, disabled or demoted
// (ErrLastAdmin). The agent calls ForgetCommunity when a community is
// deleted or left, so stale grants cannot outlive it.
//
// # Bootstrap
//
// EnsureBootstrap keeps <data dir>/admin.token working: it makes the
// built-in user "admin" (tenant-admin, no password, cannot be removed)
// and registers the file's content as admin's token. That token never
// expires and is exempt from step-up: whoever can read the file already
// owns the agent's data. Older files (64 hex digits) work as they are; a
// missing file gets a new slu_ token. Revoke it to close that door once
// real administrators exist (it stays revoked across restarts); delete
// the file and restart to get a new one.
//
// # Authorization
//
// Routes lists every /api/v1 route with the action it needs, the scope
// in which that action must be allowed, and whether it needs step-up. The
// Gate, which the API puts in front of each row's handler as it mounts
// it (so the API's one mux picks the row), authenticates the bearer
// token or the session cookie, resolves the {c} community with the
// agent's Resolver, checks Allowed (and, on write routes, the stream
// against an ingest user's prefixes), and enforces step-up: the caller's
// own password again, in the X-Sluice-Password header, checked (and rate
// limited) like a login. Step-up guards accepting a connection,
// confirming and removing a member, deleting or leaving a community,
// deleting a stream, and whatever creates or widens credentials (adding
// and enabling users, passwords, tokens, tenant-wide roles); taking
// things away (revoke, disable) never needs it. A route that is not in
// the table is refused: fail closed. Refusals are JSON
// {"error": "...", "reason": "..."}: 401 unauthenticated, 403 forbidden,
// csrf, step_up_required or step_up_failed, 404 no_route, 429 locked.
//
// The Access the gate granted travels in the request's context
// (FromContext). Handlers should call Authorized(r), which also checks
// that the gate judged the very route the mux chose.
//
// # HTTP API of this package
//
// Mount serves these routes (bodies JSON; role names as above):
//
//	POST   /api/v1/login                  {"user","password","label"?,"ttl"?} -> 201 token (public)
//	POST   /api/v1/login                  {"user","password","session":true,"ttl"?} -> 201 {"csrf","user","expires"} + cookie
//	POST   /api/v1/logout                 -> 204 (revokes the session, clears the cookie)
//	GET    /api/v1/whoami                 -> {"user","token_id","admin","roles"}
//	GET    /api/v1/users                  -> [User] (community admins see roles of their communities)
//	POST   /api/v1/users                  {"name","password","roles"?:[{"role","community"?,"prefixes"?}]} -> 201 User
//	POST   /api/v1/users                  {"name","no_password":true,"roles"?:[...]} -> 201 User (a token user)
//	GET    /api/v1/users/{user}           -> User
//	DELETE /api/v1/users/{user}           -> 204 (with its tokens and roles)
//	POST   /api/v1/users/{user}/disable   -> User;  .../enable -> User
//	PUT    /api/v1/users/{user}/password  {"password"} -> 204 (step-up: the caller's current password)
//	POST   /api/v1/users/{user}/roles     {"role","community"?,"prefixes"?} -> User (prefixes: ingest only, required)
//	DELETE /api/v1/users/{user}/roles/{role}?community=&prefix=... -> User (prefix: take only those)
//	GET    /api/v1/users/{user}/tokens    -> [Token];  POST {"label","ttl"} -> 201 Token with "token"
//	GET    /api/v1/tokens                 -> the caller's [Token];  POST {"label","ttl"} -> 201
//	DELETE /api/v1/tokens/{id}            -> 204 (revoke)
//	GET    /api/v1/communities/{c}/users  -> [{"user","disabled","roles"}] taking part in {c}
//	POST   /api/v1/communities/{c}/users  {"user","role"} -> User (roles in {c} only)
//	DELETE /api/v1/communities/{c}/users/{user}?role= -> 204 (one role, or all in {c})
//
// User: {"name","created","password_changed","has_password","disabled","builtin","roles"}.
// Role: {"role","community" (absent: tenant-wide),"prefixes" (ingest)}.
// Token: {"token" (on creation only),"id","user","label","created","expires","revoked","last_used","bootstrap","active",
// "roles" (its user's, in lists)}.
// ttl: a Go duration, or days ("30d") or weeks ("2w").
//
// # File
//
// The directory lives in one JSON file, <data dir>/users.json, mode 0600,
// replaced atomically on every change (temp file, fsync, rename, fsync of
// the directory); a change becomes visible only once written. It never
// holds a password or a token secret:
//
//	{
//	  "version": 1,
//	  "users": [
//	    {"name": "admin", "created": "...", "builtin": true},
//	    {"name": "alice", "password": "$argon2id$v=19$m=47104,t=2,p=2$...$...",
//	     "created": "...", "password_changed": "...", "disabled": false}
//	  ],
//	  "tokens": [
//	    {"id": "3f9c0a1b2c4d", "sha256": "<hex of SHA-256(secret)>", "user": "alice",
//	     "label": "laptop", "created": "...", "expires": "...", "revoked": "...",
//	     "last_used": "...", "bootstrap": false, "legacy": false}
//	  ],
//	  "roles": [
//	    {"user": "admin", "role": "tenant-admin"},
//	    {"user": "alice", "role": "data-steward", "community": "<owner tenant id>/<nonce>"},
//	    {"user": "plc-gw", "role": "ingest", "prefixes": ["site1/"]}
//	  ]
//	}
//
// Times are RFC 3339 UTC; zero times and false flags are left out. A
// token user has no "password". "prefixes" belong to ingest alone, which
// needs at least one; they are sorted and made unique on loading. An
// agent older than the ingest and reader roles refuses a file that
// grants them (it names the entry).
// "legacy" marks the one bootstrap token whose hash covers the whole
// bearer (an admin.token file older than this package). Loading is strict:
// unknown keys, another version, invalid names, roles, ids or hashes, and
// references to missing users are errors that name the entry.
//
// # Concurrency
//
// A Directory is safe for concurrent use. Readers load an immutable
// snapshot without locking; writers are serialized, change a copy, write
// it, then publish it, so a failed write changes nothing.
package users
