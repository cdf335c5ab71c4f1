package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-edge/sluice/policy"
)

// StepUpHeader carries the caller's password on step-up routes. The
// gate removes it before the request goes on, so no handler or log
// sees it.
const StepUpHeader = "X-Sluice-Password"

// Resolver maps the {c} path value, a community id or display name, to
// the community's id. An error (unknown, ambiguous) is not shown to the
// caller: the request is then judged on tenant-wide roles alone, so a
// tenant admin reaches the handler and gets its 404 or 409, and anyone
// else gets the same 403 as for a community they have no role in.
type Resolver func(ctx context.Context, ref string) (policy.CommunityID, error)

// Access is what the gate decided, for the handler.
type Access struct {
	Principal Principal
	Route     Route
	// Community is the resolved {c} on ScopeCommunity routes; "" when the
	// route has none or the resolver failed.
	Community policy.CommunityID
	// Session is set when the request was authenticated by the session
	// cookie rather than a bearer token.
	Session bool
}

type accessKey struct{}

// FromContext returns the access the gate granted the request.
func FromContext(ctx context.Context) (Access, bool) {
	a, ok := ctx.Value(accessKey{}).(*Access)
	if !ok || a == nil {
		return Access{}, false
	}
	return *a, true
}

// PrincipalFrom returns the request's authenticated principal.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	a, ok := FromContext(ctx)
	return a.Principal, ok
}

// Gate puts the checks of the route registry in front of the API's
// handlers. The API mounts each row's handler behind Gate.Route, so the
// one mux that serves a request has also picked its row: nothing matches
// a request twice, and no row can be served without its rule. For a
// request on a row it:
//
//  1. lets a public row (login) through without credentials;
//  2. authenticates "Authorization: Bearer <token>" with the directory,
//     or, when the request has no Authorization header, the
//     sluice_session cookie of a session this process started; else 401.
//     A request authenticated by the cookie must carry the session's
//     X-CSRF-Token unless it is a GET or HEAD, else 403 csrf;
//  3. checks the row's action in its scope, resolving {c} with the
//     Resolver (nil: the path value is taken as the id), else 403;
//  4. on step-up rows checks the X-Sluice-Password header against the
//     caller's own password (missing: 403 step_up_required; wrong: 403
//     step_up_failed; locked: 429 with Retry-After);
//  5. passes the request on with the Access in its context and without
//     the X-Sluice-Password header.
//
// A path under /api/ that no row matches gets Gate.NoRoute: 401 without
// credentials, else 404, failing closed without showing strangers the
// table. Refusals are JSON {"error": "...", "reason": "..."}. A request
// never carries a principal in from outside: one put in the context by
// anything else is replaced, so only the directory's own users get
// through.
type Gate struct {
	dir     *Directory
	resolve Resolver
}

// NewGate returns the gate of dir's users; resolve may be nil.
func NewGate(dir *Directory, resolve Resolver) *Gate {
	return &Gate{dir: dir, resolve: resolve}
}

// Route returns next behind the checks of row rt.
func (g *Gate) Route(rt Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, rt, true, next)
	})
}

// NoRoute answers a request under /api/ that matches no row.
func (g *Gate) NoRoute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, Route{}, false, nil)
	})
}

// serve judges r, which the mux matched to rt when matched (so its path
// values are rt's).
func (g *Gate) serve(w http.ResponseWriter, r *http.Request, rt Route, matched bool, next http.Handler) {
	if matched && rt.Scope == ScopePublic {
		next.ServeHTTP(w, strip(context.WithValue(r.Context(), accessKey{}, (*Access)(nil)), r))
		return
	}
	var (
		p       Principal
		session bool
		err     error
	)
	if matched && rt.QueryToken() {
		// The token may come in the URL here: take it out before anything
		// (handlers, logs, the audit log) sees the request. The clone
		// keeps the path values.
		var tok string
		var has bool
		r, tok, has = stripQueryToken(r)
		if has && len(r.Header.Values("Authorization")) == 0 {
			p, err = g.dir.Authenticate(strings.TrimSpace(tok))
		} else {
			p, session, err = g.authenticate(r, true)
		}
	} else {
		p, session, err = g.authenticate(r, false)
	}
	if err != nil {
		if matched && rt.QueryToken() {
			// Offer Basic too (the token as the password), for clients
			// that send credentials only when challenged. The message
			// stays the one every 401 has.
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
		}
		g.refuse(w, r, http.StatusUnauthorized, "unauthenticated", reasonOf(err),
			ErrUnauthenticated.Error()+" (send Authorization: Bearer <token>)", "")
		return
	}
	if session && r.Method != http.MethodGet && r.Method != http.MethodHead {
		hs := r.Header.Values(CSRFHeader)
		if len(hs) != 1 || !g.dir.sessions.checkCSRF(p.TokenID, hs[0]) {
			g.refuse(w, r, http.StatusForbidden, "csrf", "csrf",
				"missing or wrong "+CSRFHeader+" header (sign in again if this persists)", p.User)
			return
		}
	}
	if !matched {
		g.refuse(w, r, http.StatusNotFound, "no_route", "no_route",
			"no such API route: "+r.Method+" "+r.URL.Path+" (names in paths must be URL-escaped, e.g. site1%2Fboiler%2Ftemp)", p.User)
		return
	}
	acc := &Access{Principal: p, Route: rt, Session: session}
	if !g.authorize(r.Context(), acc, r.PathValue) {
		g.refuse(w, r, http.StatusForbidden, "forbidden", "forbidden", denial(p, rt, r.PathValue), p.User)
		return
	}
	if rt.StepUp && !p.Bootstrap {
		pws := r.Header.Values(StepUpHeader)
		if len(pws) == 0 || pws[0] == "" {
			g.refuse(w, r, http.StatusForbidden, "step_up_required", "step_up_required",
				"this action needs your password again: send it in the "+StepUpHeader+" header", p.User)
			return
		}
		err := g.dir.CheckPassword(p.User, pws[0])
		if len(pws) > 1 && err == nil {
			err = ErrWrongPassword
		}
		var le *LockedError
		switch {
		case errors.As(err, &le):
			w.Header().Set("Retry-After", strconv.Itoa(int(le.RetryAfter().Seconds())))
			g.refuse(w, r, http.StatusTooManyRequests, "locked", "locked", le.Error(), p.User)
			return
		case err != nil:
			g.refuse(w, r, http.StatusForbidden, "step_up_failed", "step_up_failed",
				"wrong password in the "+StepUpHeader+" header", p.User)
			return
		}
	}
	next.ServeHTTP(w, strip(context.WithValue(r.Context(), accessKey{}, acc), r))
}

// QueryTokenParam is the query parameter that carries the API token on
// the routes whose rule allows it (Route.QueryToken).
const QueryTokenParam = "token"

// stripQueryToken returns r without the token query parameter, the
// token, and whether there was one. More than one is malformed: the token
// returned is then "", which does not authenticate.
func stripQueryToken(r *http.Request) (*http.Request, string, bool) {
	q := r.URL.Query()
	vs, ok := q[QueryTokenParam]
	if !ok {
		return r, "", false
	}
	q.Del(QueryTokenParam)
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	r2.RequestURI = r2.URL.RequestURI()
	r2.Form, r2.PostForm = nil, nil
	if len(vs) != 1 {
		return r2, "", true
	}
	return r2, vs[0], true
}

// Refusal is the gate's no to an in-process read (Gate.Allow): the
// status the caller's own request would have got, its reason, and what
// to tell the caller.
type Refusal struct {
	Code   int
	Reason string
	Msg    string
}

func (e *Refusal) Error() string { return e.Msg }

// Allow judges a read made in process on behalf of a request the gate
// already let through (a data view's export reads each of its streams
// through the API, as its caller): pattern's row, its path values from
// value, as if the caller had sent that request itself. The caller is the
// Access in ctx, granted by a gate of the same directory, and is never
// authenticated again; only GET rows without step-up pass. It returns ctx
// with the Access for that row.
func (g *Gate) Allow(ctx context.Context, pattern string, value func(string) string) (context.Context, error) {
	outer, ok := ctx.Value(accessKey{}).(*Access)
	if !ok || outer == nil || outer.Principal.User == "" || outer.Principal.dir != g.dir {
		return ctx, &Refusal{http.StatusUnauthorized, "unauthenticated", ErrUnauthenticated.Error()}
	}
	rt, ok := Lookup(pattern)
	if !ok {
		return ctx, &Refusal{http.StatusNotFound, "no_route", "no such API route: " + pattern}
	}
	acc := &Access{Principal: outer.Principal, Route: rt, Session: outer.Session}
	if !strings.HasPrefix(pattern, "GET ") || rt.StepUp || rt.Scope == ScopePublic || !g.authorize(ctx, acc, value) {
		return ctx, &Refusal{http.StatusForbidden, "forbidden", denial(outer.Principal, rt, value)}
	}
	return context.WithValue(ctx, accessKey{}, acc), nil
}

// strip returns r with ctx and without the step-up header.
func strip(ctx context.Context, r *http.Request) *http.Request {
	r2 := r.WithContext(ctx)
	if _, ok := r.Header[StepUpHeader]; ok {
		r2.Header = r.Header.Clone()
		r2.Header.Del(StepUpHeader)
	}
	return r2
}

// authenticate reads exactly one "Authorization: Bearer <token>" header,
// or, when there is none, exactly one session cookie (session true).
// With basic, "Authorization: Basic" is taken too, its password being an
// API token (the user name is not checked: the token names its user).
// Never a user's password: that would put a password, which no scope or
// expiry limits, into a report's saved credentials.
func (g *Gate) authenticate(r *http.Request, basic bool) (p Principal, session bool, err error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		cs := r.CookiesNamed(g.dir.CookieName())
		if len(cs) != 1 {
			return Principal{}, false, ErrTokenMalformed
		}
		p, err := g.dir.authenticateSession(cs[0].Value)
		return p, err == nil, err
	}
	if len(hs) != 1 {
		return Principal{}, false, ErrTokenMalformed
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	if ok && basic && strings.EqualFold(scheme, "Basic") {
		_, pass, ok := r.BasicAuth()
		if !ok || pass == "" {
			return Principal{}, false, ErrTokenMalformed
		}
		p, err = g.dir.Authenticate(strings.TrimSpace(pass))
		return p, false, err
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, false, ErrTokenMalformed
	}
	p, err = g.dir.Authenticate(strings.TrimSpace(tok))
	return p, false, err
}

// authorize applies the route's scope, filling acc.Community.
func (g *Gate) authorize(ctx context.Context, acc *Access, value func(string) string) bool {
	p, rt := acc.Principal, acc.Route
	switch rt.Scope {
	case ScopeAuthenticated:
		return true
	case ScopeTenant:
		return Allowed(p, rt.Action, "")
	case ScopeCommunity:
		ref := value("c")
		id := policy.CommunityID(ref)
		if g.resolve != nil {
			var err error
			if id, err = g.resolve(ctx, ref); err != nil {
				return Allowed(p, rt.Action, "")
			}
		}
		if id == "" {
			return Allowed(p, rt.Action, "")
		}
		acc.Community = id
		return Allowed(p, rt.Action, id)
	case ScopeAnyCommunity:
		all, cs := p.Communities(rt.Action)
		return all || len(cs) > 0
	case ScopeSelf:
		return value("user") == p.User || Allowed(p, rt.Action, "")
	case ScopeTokenOwner:
		t, err := g.dir.Token(value("id"))
		return (err == nil && t.User == p.User) || Allowed(p, rt.Action, "")
	case ScopeStream:
		return Allowed(p, rt.Action, "") && p.MayWrite(value("name"))
	case ScopeStreams:
		return Allowed(p, rt.Action, "")
	}
	return false
}

// MayWrite is the check of the ScopeStreams routes, for their handlers:
// it says why the caller of the request behind ctx may not write points
// to stream, or returns nil if it may. The answer to a refusal is 403,
// naming the stream. Without an Access in ctx it refuses.
func MayWrite(ctx context.Context, stream string) error {
	a, ok := FromContext(ctx)
	switch {
	case !ok || a.Principal.User == "":
		return fmt.Errorf("writing stream %q: %w", stream, ErrUnauthenticated)
	case !a.Principal.MayWrite(stream):
		return errors.New(streamDenial(a.Principal, stream))
	}
	return nil
}

// streamDenial says why p may not write stream.
func streamDenial(p Principal, stream string) string {
	if ps := p.Prefixes(); len(ps) > 0 && p.RoleSet("").Can(policy.ActionWrite) {
		return fmt.Sprintf("user %q may not write stream %q: it is outside the user's ingest prefixes (%s)",
			p.User, stream, strings.Join(ps, ", "))
	}
	return fmt.Sprintf("user %q may not write stream %q (needs tenant-admin, or ingest with a prefix of it)", p.User, stream)
}

var actionWords = map[policy.Action]string{
	policy.ActionRead:        "read",
	policy.ActionShare:       "share",
	policy.ActionManageUsers: "manage users",
	policy.ActionAdminister:  "administer",
	policy.ActionWrite:       "write data to",
	policy.ActionEditViews:   "change the data views of",
}

func denial(p Principal, rt Route, value func(string) string) string {
	what := actionWords[rt.Action]
	switch rt.Scope {
	case ScopeCommunity:
		return fmt.Sprintf("user %q may not %s in community %q (needs a role there that allows it)", p.User, what, value("c"))
	case ScopeAnyCommunity:
		return fmt.Sprintf("user %q has no role that allows it to %s", p.User, what)
	case ScopeSelf:
		return fmt.Sprintf("user %q may act only on its own account here", p.User)
	case ScopeTokenOwner:
		return fmt.Sprintf("user %q may revoke only its own tokens", p.User)
	case ScopeStream:
		return streamDenial(p, value("name"))
	}
	return fmt.Sprintf("user %q may not %s this tenant (needs a tenant-wide role that allows it)", p.User, what)
}

// reasonOf names an authentication failure for logs and metrics.
func reasonOf(err error) string {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{ErrTokenExpired, "expired"}, {ErrTokenRevoked, "revoked"}, {ErrTokenDisabled, "disabled"},
		{ErrTokenUnknown, "unknown"}, {ErrTokenMalformed, "malformed"},
	} {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	return "unauthenticated"
}

// refuse answers a refusal; internal (for logs and metrics) may say more
// than reason (for the caller).
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, code int, reason, internal, msg, user string) {
	g.dir.metrics.rejected.WithLabelValues(internal).Inc()
	g.dir.log.Info("api request refused", "method", r.Method, "path", r.URL.Path, "user", user,
		"reason", internal, "remote", r.RemoteAddr)
	if code == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	writeJSON(w, code, errorBody{Error: msg, Reason: reason})
}

type errorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
