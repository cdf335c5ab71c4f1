package users

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/agent/internal/durable"
	"github.com/sluice-edge/sluice/policy"
)

// fileVersion is the version of the users.json format (see the package
// documentation). A file of another version is refused, not guessed at.
const fileVersion = 1

type fileFormat struct {
	Version int         `json:"version"`
	Users   []fileUser  `json:"users"`
	Tokens  []fileToken `json:"tokens"`
	Roles   []fileRole  `json:"roles"`
}

type fileUser struct {
	Name            string    `json:"name"`
	Password        string    `json:"password,omitempty"` // PHC argon2id string
	Created         time.Time `json:"created"`
	PasswordChanged time.Time `json:"password_changed,omitzero"`
	Disabled        bool      `json:"disabled,omitempty"`
	Builtin         bool      `json:"builtin,omitempty"`
}

type fileToken struct {
	ID        string    `json:"id"`
	SHA256    string    `json:"sha256"` // hex SHA-256 of the secret
	User      string    `json:"user"`
	Label     string    `json:"label,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Bootstrap bool      `json:"bootstrap,omitempty"`
	Legacy    bool      `json:"legacy,omitempty"` // sha256 covers the whole bearer, not slu_<id>_<secret>
}

type fileRole struct {
	User      string   `json:"user"`
	Role      string   `json:"role"`
	Community string   `json:"community,omitempty"`
	Prefixes  []string `json:"prefixes,omitempty"` // ingest only: the stream prefixes it may write
}

// load reads the file, validating every entry; errors name the entry.
func (d *Directory) load() (*state, error) {
	s := &state{users: map[string]*user{}, tokens: map[string]*token{}, roles: map[string][]Assignment{}}
	b, err := os.ReadFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if fi, err := os.Stat(d.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.log.Warn("users file was readable by others; made it 0600", "path", d.path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(d.path, 0o600); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
	}
	bad := func(format string, a ...any) (*state, error) {
		return nil, fmt.Errorf("users: %s: "+format, append([]any{d.path}, a...)...)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the JSON object")
	}
	if f.Version != fileVersion {
		return bad("version %d, want %d", f.Version, fileVersion)
	}
	for i, fu := range f.Users {
		if err := checkName(fu.Name); err != nil {
			return bad("users[%d]: %v", i, err)
		}
		if _, dup := s.users[fu.Name]; dup {
			return bad("users[%d]: duplicate user %q", i, fu.Name)
		}
		if fu.Password != "" {
			if _, _, _, err := parsePHC(fu.Password); err != nil {
				return bad("users[%d] (%s): %v", i, fu.Name, err)
			}
		}
		s.users[fu.Name] = &user{name: fu.Name, hash: fu.Password, created: fu.Created, pwChanged: fu.PasswordChanged,
			disabled: fu.Disabled, builtin: fu.Builtin}
	}
	for i, ft := range f.Tokens {
		sum, err := hex.DecodeString(ft.SHA256)
		switch {
		case len(ft.ID) != idLen || !isHex(ft.ID):
			return bad("tokens[%d]: id %q: want %d hex digits", i, ft.ID, idLen)
		case s.tokens[ft.ID] != nil:
			return bad("tokens[%d]: duplicate id %q", i, ft.ID)
		case err != nil || len(sum) != 32:
			return bad("tokens[%d] (%s): sha256: want 64 hex digits", i, ft.ID)
		case s.users[ft.User] == nil:
			return bad("tokens[%d] (%s): no user %q", i, ft.ID, ft.User)
		case checkLabel(ft.Label) != nil:
			return bad("tokens[%d] (%s): %v", i, ft.ID, checkLabel(ft.Label))
		case ft.Legacy && (!ft.Bootstrap || s.legacy != nil):
			return bad("tokens[%d] (%s): only one legacy token, the bootstrap one", i, ft.ID)
		case ft.Expires.IsZero() && !ft.Bootstrap:
			return bad("tokens[%d] (%s): no expiry", i, ft.ID)
		}
		t := &token{id: ft.ID, user: ft.User, label: ft.Label, created: ft.Created, expires: ft.Expires,
			revoked: ft.Revoked, bootstrap: ft.Bootstrap, legacy: ft.Legacy, used: new(usage)}
		copy(t.sum[:], sum)
		if !ft.LastUsed.IsZero() {
			t.used.last.Store(ft.LastUsed.UnixNano())
			t.used.saved.Store(ft.LastUsed.UnixNano())
		}
		if t.legacy {
			s.legacy = t
		}
		s.tokens[t.id] = t
	}
	for i, fr := range f.Roles {
		role, err := ParseRole(fr.Role)
		if err != nil {
			return bad("roles[%d]: %v", i, err)
		}
		a, err := normAssignment(Assignment{Role: role, Community: policy.CommunityID(fr.Community), Prefixes: fr.Prefixes})
		if err != nil {
			return bad("roles[%d]: %v", i, err)
		}
		if s.users[fr.User] == nil {
			return bad("roles[%d]: no user %q", i, fr.User)
		}
		if s.roles[fr.User], err = addAssignment(s.roles[fr.User], a); err != nil {
			return bad("roles[%d]: %v", i, err)
		}
	}
	return s, nil
}

// save writes s to the file atomically: a temp file in the same
// directory, fsync, rename, fsync of the directory. It records the last
// uses it wrote.
func (d *Directory) save(s *state) error {
	f := fileFormat{Version: fileVersion, Users: []fileUser{}, Tokens: []fileToken{}, Roles: []fileRole{}}
	for _, u := range s.users {
		f.Users = append(f.Users, fileUser{Name: u.name, Password: u.hash, Created: u.created.UTC(),
			PasswordChanged: u.pwChanged.UTC(), Disabled: u.disabled, Builtin: u.builtin})
	}
	slices.SortFunc(f.Users, func(a, b fileUser) int { return strings.Compare(a.Name, b.Name) })
	used := make(map[*usage]int64, len(s.tokens))
	for _, t := range s.tokens {
		ft := fileToken{ID: t.id, SHA256: hex.EncodeToString(t.sum[:]), User: t.user, Label: t.label,
			Created: t.created.UTC(), Expires: t.expires.UTC(), Revoked: t.revoked.UTC(), Bootstrap: t.bootstrap, Legacy: t.legacy}
		if ns := t.used.last.Load(); ns != 0 {
			ft.LastUsed = time.Unix(0, ns).UTC()
			used[t.used] = ns
		}
		f.Tokens = append(f.Tokens, ft)
	}
	slices.SortFunc(f.Tokens, func(a, b fileToken) int { return strings.Compare(a.ID, b.ID) })
	for _, name := range slices.Sorted(maps.Keys(s.roles)) {
		for _, a := range s.roles[name] {
			f.Roles = append(f.Roles, fileRole{User: name, Role: a.Role.String(), Community: string(a.Community), Prefixes: a.Prefixes})
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(d.path, append(b, '\n')); err != nil {
		d.metrics.saveErrors.Inc()
		return fmt.Errorf("users: write %s: %w", d.path, err)
	}
	for u, ns := range used {
		u.saved.Store(ns)
	}
	return nil
}

// unsavedUsage reports whether a last use is newer in memory than on disk.
func (d *Directory) unsavedUsage() bool {
	for _, t := range d.cur.Load().tokens {
		if t.used.last.Load() != t.used.saved.Load() {
			return true
		}
	}
	return false
}

// metrics are the directory's and its gate's counters.
// rejectionReasons are the reason labels of sluice_api_auth_rejections_total:
// reasonOf's authentication failures, then the gate's refusals.
var rejectionReasons = []string{"expired", "revoked", "disabled", "unknown", "malformed", "unauthenticated",
	"csrf", "no_route", "forbidden", "step_up_required", "step_up_failed", "locked"}

type metrics struct {
	password   *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	saveErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		password: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_password_checks_total", Help: "Password checks (login and step-up) by result: ok, failed, locked.",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_api_auth_rejections_total",
			Help: "API requests refused by authentication or authorization, by reason.",
		}, []string{"reason"}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_users_write_errors_total", Help: "Failed writes of the users file.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.password, m.rejected, m.saveErrors)
	}
	// Every result and reason exists at 0 from the start, so an alert on
	// increase() sees the first one.
	for _, r := range []string{"ok", "failed", "locked"} {
		m.password.WithLabelValues(r)
	}
	for _, r := range rejectionReasons {
		m.rejected.WithLabelValues(r)
	}
	return m
}
