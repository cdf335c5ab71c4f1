package users

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Browser sessions (the web console).
const (
	// SessionCookie starts the name of the cookie that holds the session's
	// token (HttpOnly, SameSite=Strict, Path=/, Secure when the login came
	// over TLS). Each agent adds a suffix of its own (CookieName), since
	// browsers do not keep cookies apart by port: two agents on one host
	// would otherwise overwrite each other's sessions.
	SessionCookie = "sluice_session"
	// CSRFHeader must carry the session's CSRF token on every request
	// authenticated by the cookie, except GET and HEAD.
	CSRFHeader = "X-CSRF-Token"
	// DefaultSessionTTL is the lifetime of a session when the login names
	// none.
	DefaultSessionTTL = 12 * time.Hour
	sessionLabel      = "session"
)

// loginCrossOrigin refuses a session login sent by a browser from another
// origin (Sec-Fetch-Site, else Origin against Host), so that no other site
// can sign the browser in to an account of its choosing.
var loginCrossOrigin = http.NewCrossOriginProtection()

// sessionStore is the in-memory side of browser sessions: the key the
// CSRF tokens are derived with, and the ids of the session tokens this
// process issued. Neither is written to users.json, so sessions end when
// the agent restarts (their tokens then expire unused).
type sessionStore struct {
	key [32]byte
	mu  sync.Mutex
	ids map[string]time.Time // token id -> expiry
}

func (s *sessionStore) init() {
	rand.Read(s.key[:]) // never fails (crypto/rand)
	s.ids = make(map[string]time.Time)
}

// csrf derives the CSRF token of the session whose token id is id:
// base64url(HMAC-SHA256(key, id)). The server checks it without storing it.
func (s *sessionStore) csrf(id string) string {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte("sluice csrf v1\x00"))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares got with the session's CSRF token in constant time.
func (s *sessionStore) checkCSRF(id, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf(id)))
}

func (s *sessionStore) add(id string, expires, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.ids { // drop ended sessions: the map stays small
		if !now.Before(exp) {
			delete(s.ids, k)
		}
	}
	s.ids[id] = expires
}

func (s *sessionStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *sessionStore) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// authenticateSession checks the session cookie's token: it must be one
// this process issued as a session (a token copied into the cookie from
// elsewhere is refused, as is a session of an earlier run).
func (d *Directory) authenticateSession(tok string) (Principal, error) {
	p, err := d.Authenticate(tok)
	if err != nil {
		return Principal{}, err
	}
	if !d.sessions.has(p.TokenID) {
		return Principal{}, ErrTokenUnknown
	}
	return p, nil
}

// startSession answers a login with "session": true: the new token goes
// into the cookie only, and the body carries the CSRF token.
func (d *Directory) startSession(w http.ResponseWriter, r *http.Request, secret string, info TokenInfo) {
	now := d.now()
	d.sessions.add(info.ID, info.Expires, now)
	http.SetCookie(w, &http.Cookie{
		Name:     d.CookieName(),
		Value:    secret,
		Path:     "/",
		MaxAge:   max(1, int(info.Expires.Sub(now).Seconds())),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusCreated, struct {
		CSRF    string    `json:"csrf"`
		User    string    `json:"user"`
		Expires time.Time `json:"expires"`
	}{d.sessions.csrf(info.ID), info.User, info.Expires})
}

// logout ends the session the request was authenticated with: its token
// is revoked and the cookie cleared. A bearer token is left alone (the
// console signed in with the admin token must not revoke it); the cookie
// is cleared all the same.
func (d *Directory) logout(w http.ResponseWriter, r *http.Request, a Access) error {
	if a.Session {
		if err := d.RevokeToken(a.Principal.TokenID); err != nil {
			return err
		}
		d.sessions.remove(a.Principal.TokenID)
		d.log.Info("logout", "user", a.Principal.User, "token", a.Principal.TokenID, "remote", r.RemoteAddr)
	}
	http.SetCookie(w, &http.Cookie{Name: d.CookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// CookieName is this agent's session cookie: SessionCookie, plus
// Options.CookieSuffix when the agent set one.
func (d *Directory) CookieName() string { return d.cookie }
