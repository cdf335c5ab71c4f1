package users

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// BenchmarkAuthenticate is the per-request cost of a token: a SHA-256 and
// a map lookup, no argon2 (the directory uses the default, costly argon2
// parameters here to show they do not matter per request).
func BenchmarkAuthenticate(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "users.json"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var tok string
	for i := range 1000 {
		name := fmt.Sprintf("user%d", i)
		if i == 0 {
			must(b, d.AddUser(name, pw(name), Assignment{Role: policy.RoleCommunityMember, Community: commC}))
		} else {
			must(b, d.update(func(s *state, _ time.Time) error {
				s.users[name] = &user{name: name}
				return nil
			}))
		}
		tok, _ = mustToken(b, d, name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Authenticate(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGate is the whole per-request cost of routing and the gate:
// matching, authentication, authorization.
func BenchmarkGate(b *testing.B) {
	dir := b.TempDir()
	d := openDir(b, dir, newClock())
	must(b, d.AddUser("alice", pw("alice"), Assignment{Role: policy.RoleCommunityMember, Community: commC}))
	tok, _ := mustToken(b, d, "alice")
	h := apiMux(d, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), resolver)
	r := httptest.NewRequest("GET", "/api/v1/communities/plant-c/streams/t1/site1%2Fboiler/data", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.Code != 200 {
		b.Fatal(w.Code)
	}
}

// BenchmarkHashPassword is the cost of a login or step-up with the
// default parameters (aim: 50-100 ms on a gateway).
func BenchmarkHashPassword(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "users.json"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d.hashPassword("correct horse battery")
	}
}
