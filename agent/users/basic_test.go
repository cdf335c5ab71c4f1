package users

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBasicTokenOnToolRoutes: the routes for tools (the view export and
// its OData feed) take an API token as the password of HTTP Basic, as
// Power BI's and Excel's "Basic" credentials send it, and challenge for
// Basic when refused; every other route refuses Basic, and a user's own
// password never passes as Basic.
func TestBasicTokenOnToolRoutes(t *testing.T) {
	f := newFixture(t)
	get := func(path, user, pass string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	feed := "/api/v1/views/boiler/odata/Rows"
	// Power BI asks for a user name; it is not checked, the token names
	// the user.
	for _, user := range []string{"rd", "token", ""} {
		if rec := get(feed, user, f.tokens["rd"]); rec.Code != 200 || rec.Body.String() != "ok rd" {
			t.Fatalf("Basic %q:<reader token> on the feed: %d %s", user, rec.Code, rec.Body)
		}
	}
	if rec := get("/api/v1/views/boiler/odata/$metadata", "x", f.tokens["rd"]); rec.Code != 200 {
		t.Fatalf("Basic on $metadata: %d %s", rec.Code, rec.Body)
	}
	if rec := get("/api/v1/views/boiler/export", "x", f.tokens["ta"]); rec.Code != 200 || rec.Body.String() != "ok ta" {
		t.Fatalf("Basic on the export: %d %s", rec.Code, rec.Body)
	}
	// A password is not a token; a revoked token is refused; a 401 on a
	// tool route offers Basic beside Bearer.
	for _, c := range []struct{ user, pass string }{{"ta", pw("ta")}, {"rev", f.tokens["rev"]}, {"x", "sk_wrong"}} {
		rec := get(feed, c.user, c.pass)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("Basic %s on the feed: %d, want 401", c.user, rec.Code)
		}
		ch := strings.Join(rec.Header().Values("WWW-Authenticate"), " | ")
		if !strings.Contains(ch, `Basic realm="sluice"`) || !strings.Contains(ch, "Bearer") {
			t.Fatalf("challenge %q: want Basic and Bearer", ch)
		}
	}
	// Elsewhere Basic is not a way in, and no Basic challenge is made.
	rec := get("/api/v1/streams", "x", f.tokens["ta"])
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("Basic on /api/v1/streams: %d, want 401", rec.Code)
	}
	if ch := strings.Join(rec.Header().Values("WWW-Authenticate"), " | "); strings.Contains(ch, "Basic") {
		t.Fatalf("challenge on a non-tool route: %q", ch)
	}
	// The ?token= of Power BI's "Web API" key reaches the feed, and is
	// gone from the request the handler sees.
	req := httptest.NewRequest(http.MethodGet, feed+"?$top=5&token="+f.tokens["rd"], nil)
	var seen string
	h := apiMux(f.d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.RawQuery }), resolver)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != 200 || strings.Contains(seen, "token") || !strings.Contains(seen, "top=5") {
		t.Fatalf("?token= on the feed: %d, handler saw %q", rr.Code, seen)
	}
}
