package users

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// clock is an injected clock; tests advance it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheap argon2 parameters keep tests fast; the default cost has its own test.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1}

func openDir(t testing.TB, dir string, c *clock) *Directory {
	t.Helper()
	d, err := Open(filepath.Join(dir, "users.json"), Options{Now: c.Now, Argon2: cheap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newDir(t testing.TB) (*Directory, *clock) {
	t.Helper()
	c := newClock()
	return openDir(t, t.TempDir(), c), c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustToken(t testing.TB, d *Directory, user string) (string, TokenInfo) {
	t.Helper()
	tok, info, err := d.CreateToken(user, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok, info
}

const (
	commC = policy.CommunityID("tenantA/c1")
	commD = policy.CommunityID("tenantA/d1")
)

func pw(name string) string { return "pw-of-" + name + "-long-enough" }

func role(r policy.Role, c policy.CommunityID) Assignment { return Assignment{Role: r, Community: c} }

// resolver knows C as "plant-c" and D as "lab-d", and both by id.
func resolver(_ context.Context, ref string) (policy.CommunityID, error) {
	switch ref {
	case "plant-c", string(commC):
		return commC, nil
	case "lab-d", string(commD):
		return commD, nil
	}
	return "", errors.New("no such community")
}

// echo is the guarded handler in authorization tests: it answers 200 with
// the principal's name, and fails if the step-up header leaked through.
func echo(t testing.TB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(StepUpHeader) != "" {
			t.Errorf("%s %s: step-up header reached the handler", r.Method, r.URL.Path)
		}
		p, _ := PrincipalFrom(r.Context())
		io.WriteString(w, "ok "+p.User)
	})
}

type request struct {
	method, path, token, password, body string
}

func do(h http.Handler, q request) *httptest.ResponseRecorder {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.password != "" {
		r.Header.Set(StepUpHeader, q.password)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
