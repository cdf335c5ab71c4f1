package users

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sessionReq is one request of a browser session: the cookie, and the
// CSRF header when csrf is not "".
type sessionReq struct {
	method, path, cookie, csrf, body, bearer string
}

func doSession(h http.Handler, q sessionReq) *httptest.ResponseRecorder {
	var r *http.Request
	if q.body != "" {
		r = httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	} else {
		r = httptest.NewRequest(q.method, q.path, nil)
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: q.cookie})
	}
	if q.csrf != "" {
		r.Header.Set(CSRFHeader, q.csrf)
	}
	if q.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// sessionLogin signs alice in as the console does and returns the cookie
// and the CSRF token.
func sessionLogin(t *testing.T, h http.Handler, body string) (*http.Cookie, string) {
	t.Helper()
	w := do(h, request{method: "POST", path: "/api/v1/login", body: body})
	if w.Code != 201 {
		t.Fatalf("session login: %d %s", w.Code, w.Body.String())
	}
	var out struct {
		CSRF    string    `json:"csrf"`
		User    string    `json:"user"`
		Token   string    `json:"token"`
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.CSRF == "" || out.User != "alice" || out.Token != "" || strings.Contains(w.Body.String(), TokenPrefix) {
		t.Fatalf("session login body %s: want the CSRF token and no bearer token", w.Body.String())
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != SessionCookie {
		t.Fatalf("cookies %v", cs)
	}
	return cs[0], out.CSRF
}

func newSessionAPI(t *testing.T) (*Directory, *clock, http.Handler, string) {
	t.Helper()
	d, c, h, boot := newAPI(t)
	call(t, h, request{method: "POST", path: "/api/v1/users", token: boot,
		body: `{"name":"alice","password":"` + pw("alice") + `","roles":[{"role":"tenant-admin"}]}`}, 201, nil)
	return d, c, h, boot
}

var aliceSession = `{"user":"alice","password":"` + pw("alice") + `","session":true}`

func TestSessionCookie(t *testing.T) {
	d, c, h, _ := newSessionAPI(t)
	ck, csrf := sessionLogin(t, h, aliceSession)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure ||
		ck.MaxAge != int(DefaultSessionTTL/time.Second) || !tokenRE.MatchString(ck.Value) {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP, Max-Age 12h, a token", ck)
	}
	p, err := d.Authenticate(ck.Value)
	must(t, err)
	info, err := d.Token(p.TokenID)
	must(t, err)
	if info.Label != "session" || !info.Expires.Equal(c.Now().Add(DefaultSessionTTL)) {
		t.Fatalf("session token %+v", info)
	}
	if csrf != d.sessions.csrf(p.TokenID) {
		t.Fatal("CSRF token is not the one derived from the token id")
	}

	// Over TLS the cookie is Secure; a ttl gives its Max-Age.
	r := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"user":"alice","password":"`+pw("alice")+`","session":true,"ttl":"1h"}`))
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 201 {
		t.Fatalf("TLS session login: %d %s", w.Code, w.Body.String())
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].MaxAge != 3600 {
		t.Fatalf("TLS cookie %+v", cs)
	}

	// Wrong password: no cookie.
	w = do(h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"wrong password!","session":true}`})
	if w.Code != 401 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("bad session login: %d %v", w.Code, w.Result().Cookies())
	}

	// A login posted by a page of another origin is refused.
	r = httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(aliceSession))
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), `"csrf"`) {
		t.Fatalf("cross-site session login: %d %s", w.Code, w.Body.String())
	}
}

func TestSessionRequests(t *testing.T) {
	d, c, h, boot := newSessionAPI(t)
	ck, csrf := sessionLogin(t, h, aliceSession)
	tok := ck.Value
	for _, tc := range []struct {
		name string
		q    sessionReq
		want int
		why  string
	}{
		{"GET with the cookie", sessionReq{method: "GET", path: "/api/v1/whoami", cookie: tok}, 200, ""},
		{"HEAD with the cookie", sessionReq{method: "HEAD", path: "/api/v1/streams", cookie: tok}, 200, ""},
		{"GET other route", sessionReq{method: "GET", path: "/api/v1/streams", cookie: tok}, 200, ""},
		{"POST without CSRF", sessionReq{method: "POST", path: "/api/v1/streams", cookie: tok}, 403, "csrf"},
		{"POST with a wrong CSRF", sessionReq{method: "POST", path: "/api/v1/streams", cookie: tok, csrf: csrf[:len(csrf)-2] + "AA"}, 403, "csrf"},
		{"POST with another session's CSRF", sessionReq{method: "POST", path: "/api/v1/streams", cookie: tok, csrf: d.sessions.csrf("000000000000")}, 403, "csrf"},
		{"POST with the CSRF", sessionReq{method: "POST", path: "/api/v1/streams", cookie: tok, csrf: csrf}, 200, ""},
		{"DELETE without CSRF", sessionReq{method: "DELETE", path: "/api/v1/tokens/000000000000", cookie: tok}, 403, "csrf"},
		{"step-up still needed", sessionReq{method: "POST", path: "/api/v1/users", cookie: tok, csrf: csrf, body: `{}`}, 403, "step_up_required"},
		{"bearer needs no CSRF", sessionReq{method: "POST", path: "/api/v1/streams", bearer: boot}, 200, ""},
		{"bearer wins over the cookie", sessionReq{method: "POST", path: "/api/v1/streams", bearer: "slu_bad", cookie: tok}, 401, "unauthenticated"},
		{"a bearer token in the cookie", sessionReq{method: "GET", path: "/api/v1/whoami", cookie: boot}, 401, "unauthenticated"},
		{"garbage cookie", sessionReq{method: "GET", path: "/api/v1/whoami", cookie: "nope"}, 401, "unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := doSession(h, tc.q)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body.String(), tc.want)
			}
			if tc.why != "" {
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Reason != tc.why || body.Error == "" {
					t.Fatalf("body %s, want reason %s", w.Body.String(), tc.why)
				}
			}
		})
	}

	// A login token of the same user (sluice login) is no session.
	var lt tokenJSON
	call(t, h, request{method: "POST", path: "/api/v1/login", body: `{"user":"alice","password":"` + pw("alice") + `"}`}, 201, &lt)
	if w := doSession(h, sessionReq{method: "GET", path: "/api/v1/whoami", cookie: lt.Token}); w.Code != 401 {
		t.Fatalf("login token as cookie: %d", w.Code)
	}
	// Two session cookies are ambiguous.
	r := httptest.NewRequest("GET", "/api/v1/whoami", nil)
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("two session cookies: %d", w.Code)
	}

	// The session ends with its token's lifetime.
	c.Advance(DefaultSessionTTL)
	if w := doSession(h, sessionReq{method: "GET", path: "/api/v1/whoami", cookie: tok}); w.Code != 401 {
		t.Fatalf("expired session: %d", w.Code)
	}
}

func TestLogout(t *testing.T) {
	d, _, h, boot := newSessionAPI(t)
	ck, csrf := sessionLogin(t, h, aliceSession)
	other, _ := sessionLogin(t, h, aliceSession)
	tok := ck.Value
	p, err := d.Authenticate(tok)
	must(t, err)

	// Logout is a POST: it needs the CSRF token.
	if w := doSession(h, sessionReq{method: "POST", path: "/api/v1/logout", cookie: tok}); w.Code != 403 {
		t.Fatalf("logout without CSRF: %d %s", w.Code, w.Body.String())
	}
	w := doSession(h, sessionReq{method: "POST", path: "/api/v1/logout", cookie: tok, csrf: csrf})
	if w.Code != 204 {
		t.Fatalf("logout: %d %s", w.Code, w.Body.String())
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != SessionCookie || cs[0].Value != "" || cs[0].MaxAge >= 0 {
		t.Fatalf("logout cookies %+v: want the session cookie cleared", cs)
	}
	if info, err := d.Token(p.TokenID); err != nil || info.Revoked.IsZero() {
		t.Fatalf("session token after logout: %+v %v", info, err)
	}
	for _, q := range []sessionReq{
		{method: "GET", path: "/api/v1/whoami", cookie: tok},
		{method: "POST", path: "/api/v1/streams", cookie: tok, csrf: csrf},
		{method: "GET", path: "/api/v1/whoami", bearer: tok},
	} {
		if w := doSession(h, q); w.Code != 401 {
			t.Fatalf("%+v after logout: %d", q, w.Code)
		}
	}
	// Other sessions go on.
	if w := doSession(h, sessionReq{method: "GET", path: "/api/v1/whoami", cookie: other.Value}); w.Code != 200 {
		t.Fatalf("other session after logout: %d", w.Code)
	}

	// With a bearer token, logout clears the cookie but revokes nothing.
	w = doSession(h, sessionReq{method: "POST", path: "/api/v1/logout", bearer: boot})
	if w.Code != 204 {
		t.Fatalf("bearer logout: %d %s", w.Code, w.Body.String())
	}
	if w := doSession(h, sessionReq{method: "GET", path: "/api/v1/whoami", bearer: boot}); w.Code != 200 {
		t.Fatalf("bootstrap token after a bearer logout: %d", w.Code)
	}
	// Without credentials: 401.
	if w := doSession(h, sessionReq{method: "POST", path: "/api/v1/logout"}); w.Code != 401 {
		t.Fatalf("anonymous logout: %d", w.Code)
	}
}

// TestSessionsEndWithTheProcess: another Directory on the same file (a
// restarted agent) knows neither the sessions nor their CSRF key.
func TestSessionsEndWithTheProcess(t *testing.T) {
	d, c, h, _ := newSessionAPI(t)
	ck, _ := sessionLogin(t, h, aliceSession)
	must(t, d.Close())
	d2, err := Open(d.path, Options{Now: c.Now, Argon2: cheap})
	must(t, err)
	defer d2.Close()
	h2 := apiMux(d2, d2.Handler(), resolver)
	if w := doSession(h2, sessionReq{method: "GET", path: "/api/v1/whoami", cookie: ck.Value}); w.Code != 401 {
		t.Fatalf("session after restart: %d", w.Code)
	}
}
