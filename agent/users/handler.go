package users

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// DefaultLoginTTL is the lifetime of a token made by POST /api/v1/login
// (sluice login) when the request names none.
const DefaultLoginTTL = 30 * 24 * time.Hour

// Authorized returns the access the Gate granted r, but only if it was
// granted for the very pattern r was routed by (r.Pattern). A handler
// registered with the table's pattern calls it as a second lock: it fails
// when the gate is missing, or when a mux routed the request to another
// route than the one the gate judged.
func Authorized(r *http.Request) (Access, bool) {
	a, ok := FromContext(r.Context())
	if !ok || a.Route.Pattern != r.Pattern || a.Principal.dir == nil {
		return Access{}, false
	}
	return a, true
}

// Mount attaches the users, tokens, login and community-users handlers
// to their rows of the route registry with mount (api.Server.Mount, or an
// http.ServeMux's Handle in tests). They must sit behind the Gate of the
// same directory: they refuse requests it did not authorize for it.
func (d *Directory) Mount(mount func(pattern string, h http.Handler)) {
	d.handlerOnce.Do(d.buildHandler)
	for _, m := range d.handled {
		mount(m.pattern, m.h) // the row's own handler: the API's mux has matched it
	}
}

// mounted is one row's handler.
type mounted struct {
	pattern string
	h       http.Handler
}

// Handler serves the routes Mount registers, for tests and for mounting
// it by hand.
func (d *Directory) Handler() http.Handler {
	d.handlerOnce.Do(d.buildHandler)
	return d.handler
}

func (d *Directory) buildHandler() {
	mux := http.NewServeMux()
	d.handler, d.handled = mux, nil
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request, a Access) error) {
		rt, ok := Lookup(pattern)
		if !ok {
			panic("users: route not in the table: " + pattern)
		}
		hf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, ok := Authorized(r)
			switch {
			case rt.Scope == ScopePublic:
			case !ok:
				writeJSON(w, http.StatusUnauthorized, errorBody{"request not authorized by this agent's users gate", "unauthenticated"})
				return
			case a.Principal.dir != d:
				writeJSON(w, http.StatusForbidden, errorBody{"principal of another user directory", "forbidden"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := f(w, r, a); err != nil {
				d.writeError(w, r, err)
			}
		})
		d.handled = append(d.handled, mounted{pattern, hf})
		mux.Handle(pattern, hf)
	}
	h("POST /api/v1/login", d.login)
	h("POST /api/v1/logout", d.logout)
	h("GET /api/v1/whoami", d.whoami)
	h("GET /api/v1/users", d.listUsers)
	h("POST /api/v1/users", d.addUser)
	h("GET /api/v1/users/{user}", d.getUser)
	h("DELETE /api/v1/users/{user}", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return noContent(w, d.RemoveUser(r.PathValue("user")))
	})
	h("POST /api/v1/users/{user}/disable", d.setDisabled(true))
	h("POST /api/v1/users/{user}/enable", d.setDisabled(false))
	h("PUT /api/v1/users/{user}/password", d.setPassword)
	h("POST /api/v1/users/{user}/roles", d.grant)
	h("DELETE /api/v1/users/{user}/roles/{role}", d.revoke)
	h("GET /api/v1/users/{user}/tokens", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return d.listTokens(w, r.PathValue("user"))
	})
	h("POST /api/v1/users/{user}/tokens", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return d.createToken(w, r, r.PathValue("user"))
	})
	h("GET /api/v1/tokens", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return d.listTokens(w, a.Principal.User)
	})
	h("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return d.createToken(w, r, a.Principal.User)
	})
	h("DELETE /api/v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request, a Access) error {
		return noContent(w, d.RevokeToken(r.PathValue("id")))
	})
	h("GET /api/v1/communities/{c}/users", d.communityUsers)
	h("POST /api/v1/communities/{c}/users", d.communityGrant)
	h("DELETE /api/v1/communities/{c}/users/{user}", d.communityRevoke)
}

// JSON shapes.

type roleJSON struct {
	Role      string   `json:"role"`
	Community string   `json:"community,omitempty"` // "" for tenant-wide
	Prefixes  []string `json:"prefixes,omitempty"`  // ingest: the stream prefixes it may write
}

type userJSON struct {
	Name            string     `json:"name"`
	Created         time.Time  `json:"created"`
	PasswordChanged time.Time  `json:"password_changed,omitzero"`
	HasPassword     bool       `json:"has_password"`
	Disabled        bool       `json:"disabled"`
	Builtin         bool       `json:"builtin,omitempty"`
	Roles           []roleJSON `json:"roles"`
}

type tokenJSON struct {
	Token     string    `json:"token,omitempty"` // only when created, never again
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Label     string    `json:"label,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Bootstrap bool      `json:"bootstrap,omitempty"`
	Active    bool      `json:"active"`
	// Roles are the user's: a token acts with its user's roles at the
	// time of each request. Listed, not on creation.
	Roles []roleJSON `json:"roles,omitempty"`
}

func rolesJSON(as []Assignment, keep func(Assignment) bool) []roleJSON {
	out := []roleJSON{}
	for _, a := range as {
		if keep == nil || keep(a) {
			out = append(out, roleJSON{Role: a.Role.String(), Community: string(a.Community), Prefixes: a.Prefixes})
		}
	}
	return out
}

func (rj roleJSON) assignment() (Assignment, error) {
	role, err := ParseRole(rj.Role)
	return Assignment{Role: role, Community: policy.CommunityID(rj.Community), Prefixes: rj.Prefixes}, err
}

func toUserJSON(u UserInfo, keep func(Assignment) bool) userJSON {
	return userJSON{Name: u.Name, Created: u.Created, PasswordChanged: u.PasswordChanged, HasPassword: u.HasPassword,
		Disabled: u.Disabled, Builtin: u.Builtin, Roles: rolesJSON(u.Roles, keep)}
}

func (d *Directory) toTokenJSON(t TokenInfo) tokenJSON {
	return tokenJSON{ID: t.ID, User: t.User, Label: t.Label, Created: t.Created, Expires: t.Expires, Revoked: t.Revoked,
		LastUsed: t.LastUsed, Bootstrap: t.Bootstrap, Active: t.Active(d.now())}
}

// visible limits what a community admin sees of other users' roles to the
// communities it manages; tenant admins see everything.
func visible(p Principal) func(Assignment) bool {
	all, cs := p.Communities(policy.ActionManageUsers)
	if all {
		return nil
	}
	return func(a Assignment) bool { return slices.Contains(cs, a.Community) }
}

// Handlers.

func (d *Directory) login(w http.ResponseWriter, r *http.Request, _ Access) error {
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
		Label    string `json:"label"`
		TTL      string `json:"ttl"`
		Session  bool   `json:"session"` // a browser session: cookie and CSRF token
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	def, label := DefaultLoginTTL, "login"
	if req.Session {
		// A cross-site page must not sign the browser in (login CSRF).
		if err := loginCrossOrigin.Check(r); err != nil {
			return &httpError{http.StatusForbidden, "csrf", "cross-origin session login refused"}
		}
		def, label = DefaultSessionTTL, sessionLabel
	}
	ttl, err := parseTTL(req.TTL, def)
	if err != nil {
		return err
	}
	if req.Label == "" {
		req.Label = label
	}
	if err := checkLabel(req.Label); err != nil {
		return err
	}
	if err := d.CheckPassword(req.User, req.Password); err != nil {
		if !errors.Is(err, ErrLocked) {
			d.log.Info("login failed", "user", req.User, "remote", r.RemoteAddr, "err", err)
			return ErrBadCredentials // one message for every reason
		}
		return err
	}
	secret, info, err := d.CreateToken(req.User, req.Label, ttl)
	if err != nil {
		return err
	}
	d.log.Info("login", "user", req.User, "token", info.ID, "session", req.Session, "remote", r.RemoteAddr)
	if req.Session {
		d.startSession(w, r, secret, info)
		return nil
	}
	tj := d.toTokenJSON(info)
	tj.Token = secret
	writeJSON(w, http.StatusCreated, tj)
	return nil
}

func (d *Directory) whoami(w http.ResponseWriter, r *http.Request, a Access) error {
	p := a.Principal
	writeJSON(w, http.StatusOK, struct {
		User      string     `json:"user"`
		TokenID   string     `json:"token_id"`
		Admin     bool       `json:"admin"`
		Bootstrap bool       `json:"bootstrap,omitempty"`
		Roles     []roleJSON `json:"roles"`
	}{p.User, p.TokenID, p.Admin, p.Bootstrap, rolesJSON(p.Roles, nil)})
	return nil
}

func (d *Directory) listUsers(w http.ResponseWriter, r *http.Request, a Access) error {
	keep := visible(a.Principal)
	out := []userJSON{}
	for _, u := range d.ListUsers() {
		out = append(out, toUserJSON(u, keep))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Directory) getUser(w http.ResponseWriter, r *http.Request, a Access) error {
	u, err := d.User(r.PathValue("user"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u, visible(a.Principal)))
	return nil
}

func (d *Directory) addUser(w http.ResponseWriter, r *http.Request, a Access) error {
	var req struct {
		Name       string     `json:"name"`
		Password   string     `json:"password"`
		NoPassword bool       `json:"no_password"` // a user for tokens only (a device, an integration)
		Roles      []roleJSON `json:"roles"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	var as []Assignment
	for _, rj := range req.Roles {
		as0, err := rj.assignment()
		if err != nil {
			return err
		}
		as = append(as, as0)
	}
	var err error
	switch {
	case req.NoPassword && req.Password != "":
		err = fmt.Errorf("%w: a password with no_password", ErrInvalid)
	case req.NoPassword:
		err = d.AddTokenUser(req.Name, as...)
	default:
		err = d.AddUser(req.Name, req.Password, as...)
	}
	if err != nil {
		return err
	}
	d.log.Info("user added", "user", req.Name, "by", a.Principal.User)
	u, err := d.User(req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u, nil))
	return nil
}

func (d *Directory) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request, Access) error {
	return func(w http.ResponseWriter, r *http.Request, a Access) error {
		name := r.PathValue("user")
		if err := d.SetDisabled(name, disabled); err != nil {
			return err
		}
		d.log.Info("user changed", "user", name, "disabled", disabled, "by", a.Principal.User)
		u, err := d.User(name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toUserJSON(u, nil))
		return nil
	}
}

// setPassword: the gate's step-up has checked the caller's current
// password (the old one, when users change their own).
func (d *Directory) setPassword(w http.ResponseWriter, r *http.Request, a Access) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("user")
	if err := d.SetPassword(name, "", req.Password); err != nil {
		return err
	}
	d.log.Info("password changed", "user", name, "by", a.Principal.User)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Directory) grant(w http.ResponseWriter, r *http.Request, a Access) error {
	var req roleJSON
	if err := decode(r, &req); err != nil {
		return err
	}
	as, err := req.assignment()
	if err != nil {
		return err
	}
	name := r.PathValue("user")
	if err := d.Grant(name, as.Role, as.Community, as.Prefixes...); err != nil {
		return err
	}
	d.log.Info("role granted", "user", name, "role", as.String(), "by", a.Principal.User)
	return d.writeUser(w, name, nil)
}

func (d *Directory) revoke(w http.ResponseWriter, r *http.Request, a Access) error {
	role, err := ParseRole(r.PathValue("role"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	name, c, prefixes := r.PathValue("user"), policy.CommunityID(q.Get("community")), q["prefix"]
	if err := d.Revoke(name, role, c, prefixes...); err != nil {
		return err
	}
	d.log.Info("role revoked", "user", name, "role", Assignment{Role: role, Community: c, Prefixes: prefixes}.String(), "by", a.Principal.User)
	return d.writeUser(w, name, nil)
}

func (d *Directory) writeUser(w http.ResponseWriter, name string, keep func(Assignment) bool) error {
	u, err := d.User(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u, keep))
	return nil
}

func (d *Directory) listTokens(w http.ResponseWriter, name string) error {
	out := []tokenJSON{}
	for _, t := range d.ListTokens(name) {
		tj := d.toTokenJSON(t)
		tj.Roles = rolesJSON(d.Roles(t.User), nil)
		out = append(out, tj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Directory) createToken(w http.ResponseWriter, r *http.Request, name string) error {
	var req struct {
		Label string `json:"label"`
		TTL   string `json:"ttl"`
	}
	if err := decode(r, &req); err != nil && !errors.Is(err, errEmptyBody) { // the body is optional here
		return err
	}
	ttl, err := parseTTL(req.TTL, DefaultTokenTTL)
	if err != nil {
		return err
	}
	secret, info, err := d.CreateToken(name, req.Label, ttl)
	if err != nil {
		return err
	}
	tj := d.toTokenJSON(info)
	tj.Token = secret
	writeJSON(w, http.StatusCreated, tj)
	return nil
}

// community returns the resolved community of a ScopeCommunity route.
func community(a Access) (policy.CommunityID, error) {
	if a.Community == "" {
		return "", &httpError{http.StatusNotFound, "unknown_community", "unknown community"}
	}
	return a.Community, nil
}

func (d *Directory) communityUsers(w http.ResponseWriter, r *http.Request, a Access) error {
	c, err := community(a)
	if err != nil {
		return err
	}
	type entry struct {
		User     string     `json:"user"`
		Disabled bool       `json:"disabled"`
		Roles    []roleJSON `json:"roles"`
	}
	out := []entry{}
	for _, u := range d.ListUsers() {
		rs := rolesJSON(u.Roles, func(as Assignment) bool { return as.Community == c })
		if len(rs) > 0 {
			out = append(out, entry{u.Name, u.Disabled, rs})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Directory) communityGrant(w http.ResponseWriter, r *http.Request, a Access) error {
	c, err := community(a)
	if err != nil {
		return err
	}
	var req struct {
		User string `json:"user"`
		Role string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return err
	}
	if role.TenantWide() {
		return fmt.Errorf("%w: %s is tenant-wide; grant it with POST /api/v1/users/{user}/roles", ErrInvalid, role)
	}
	if err := d.Grant(req.User, role, c); err != nil {
		return err
	}
	d.log.Info("role granted", "user", req.User, "role", Assignment{Role: role, Community: c}.String(), "by", a.Principal.User)
	return d.writeUser(w, req.User, func(as Assignment) bool { return as.Community == c })
}

// communityRevoke takes one role (?role=) or every role in the community.
func (d *Directory) communityRevoke(w http.ResponseWriter, r *http.Request, a Access) error {
	c, err := community(a)
	if err != nil {
		return err
	}
	name := r.PathValue("user")
	if rs := r.URL.Query().Get("role"); rs != "" {
		role, err := ParseRole(rs)
		if err != nil {
			return err
		}
		err = d.Revoke(name, role, c)
	} else {
		err = d.RevokeCommunity(name, c)
	}
	if err != nil {
		return err
	}
	d.log.Info("community roles revoked", "user", name, "community", c, "role", r.URL.Query().Get("role"), "by", a.Principal.User)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Helpers.

type httpError struct {
	code   int
	reason string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var errEmptyBody = &httpError{http.StatusBadRequest, "invalid", "empty request body: want a JSON object"}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
		}
		if errors.Is(err, io.EOF) {
			return errEmptyBody
		}
		return &httpError{http.StatusBadRequest, "invalid", "bad JSON body: " + err.Error()}
	}
	return nil
}

// parseTTL reads a Go duration or a number of days ("30d") or weeks ("2w").
func parseTTL(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	}
	if unit != 0 {
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%w ttl %q: want a duration like 12h, 30d or 2w", ErrInvalid, s)
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w ttl %q: want a duration like 12h, 30d or 2w", ErrInvalid, s)
	}
	return d, nil
}

func noContent(w http.ResponseWriter, err error) error {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
	}
	return err
}

func (d *Directory) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var le *LockedError
	code, reason := http.StatusInternalServerError, "internal"
	switch {
	case errors.As(err, &he):
		code, reason = he.code, he.reason
	case errors.As(err, &le):
		code, reason = http.StatusTooManyRequests, "locked"
		w.Header().Set("Retry-After", strconv.Itoa(int(le.RetryAfter().Seconds())))
	case errors.Is(err, ErrBadCredentials):
		code, reason = http.StatusUnauthorized, "bad_credentials"
	case errors.Is(err, ErrNotFound):
		code, reason = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrExists):
		code, reason = http.StatusConflict, "exists"
	case errors.Is(err, ErrBuiltin):
		code, reason = http.StatusConflict, "builtin"
	case errors.Is(err, ErrLastAdmin):
		code, reason = http.StatusConflict, "last_admin"
	case errors.Is(err, ErrInvalid):
		code, reason = http.StatusBadRequest, "invalid"
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		d.log.Error("users request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, code, errorBody{msg, reason})
}
