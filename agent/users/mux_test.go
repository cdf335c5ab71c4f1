package users

import (
	"net/http"
	"path"
	"strings"
)

// apiMux is the API's own wiring in small, for these tests (agent/api
// imports this package, so they cannot use it): one mux whose rows are
// next behind the gate, a catch-all for the rest of /api/, and next for
// every other path unless its decoded path is under /api/.
func apiMux(dir *Directory, next http.Handler, resolve Resolver) http.Handler {
	g := NewGate(dir, resolve)
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Pattern, g.Route(rt, next))
	}
	mux.Handle("/api/", g.NoRoute())
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if underAPI(r.URL.Path) {
			g.NoRoute().ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}))
	return mux
}

// routeOf is the row r is served under.
func routeOf(r *http.Request) (Route, bool) {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Pattern, http.NotFoundHandler())
	}
	_, pattern := mux.Handler(r)
	return Lookup(pattern)
}

func underAPI(p string) bool {
	return strings.HasPrefix(path.Clean("/"+p)+"/", "/api/")
}
