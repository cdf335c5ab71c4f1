package users

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/policy"
)

// BootstrapUser is the built-in tenant administrator whose token is the
// agent's admin.token file (see EnsureBootstrap).
const BootstrapUser = "admin"

// Errors. Authentication failures wrap ErrUnauthenticated (tokens) or
// ErrBadCredentials (passwords) and differ only internally: callers answer
// every one of them with the outer error's message.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrInvalid   = errors.New("invalid")
	ErrBuiltin   = errors.New("the built-in admin user cannot be removed (disable it, or revoke its token)")
	ErrLastAdmin = errors.New("this would leave no enabled tenant administrator")

	ErrBadCredentials = errors.New("wrong user name or password")
	ErrNoSuchUser     = fmt.Errorf("%w: no such user", ErrBadCredentials)
	ErrWrongPassword  = fmt.Errorf("%w: wrong password", ErrBadCredentials)
	ErrNoPassword     = fmt.Errorf("%w: user has no password", ErrBadCredentials)
	ErrUserDisabled   = fmt.Errorf("%w: user disabled", ErrBadCredentials)

	ErrUnauthenticated = errors.New("missing, invalid or expired token")
	ErrTokenMalformed  = fmt.Errorf("%w: malformed", ErrUnauthenticated)
	ErrTokenUnknown    = fmt.Errorf("%w: unknown", ErrUnauthenticated)
	ErrTokenExpired    = fmt.Errorf("%w: expired", ErrUnauthenticated)
	ErrTokenRevoked    = fmt.Errorf("%w: revoked", ErrUnauthenticated)
	ErrTokenDisabled   = fmt.Errorf("%w: user disabled", ErrUnauthenticated)
)

// Options configure a Directory. The zero value is usable.
type Options struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default: discard
	// Registerer receives the directory's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Argon2 sets the cost of new password hashes; the zero value means
	// DefaultArgon2Params. Existing hashes keep their own parameters and
	// are rehashed at the next successful login when they differ.
	Argon2 Argon2Params
	// CookieSuffix, when set, makes the session cookie's name this
	// agent's own (sluice_session_<suffix>): browsers share cookies across
	// the ports of one host, so two agents there need two names.
	CookieSuffix string
}

// Assignment is one role a user holds: in one community, or tenant-wide
// when Community is "". Tenant-admin, ingest and reader are tenant-wide
// only (policy.Role.TenantWide).
type Assignment struct {
	Role      policy.Role
	Community policy.CommunityID
	// Prefixes are the stream name prefixes an ingest grant may write
	// (policy.WithinPrefixes): at least one, at most MaxPrefixes, sorted,
	// no duplicates. Empty for every other role. Never change the slice
	// of an Assignment you got: it may be shared.
	Prefixes []string
}

// MaxPrefixes bounds the prefixes of one ingest grant.
const MaxPrefixes = 64

func (a Assignment) String() string {
	s := a.Role.String()
	if len(a.Prefixes) > 0 {
		s += " of " + strings.Join(a.Prefixes, ", ")
	}
	if a.Community == "" {
		return s + " (tenant-wide)"
	}
	return s + " in " + string(a.Community)
}

// same reports whether a and b are the same role in the same place,
// whatever their prefixes.
func (a Assignment) same(b Assignment) bool { return a.Role == b.Role && a.Community == b.Community }

// roleNames lists every role as the CLI spells it.
var roleNames = func() []string {
	var out []string
	for r := policy.RoleCommunityMember; r <= policy.RoleReader; r++ {
		out = append(out, r.String())
	}
	return out
}()

// ParseRole parses a role as the CLI spells it (policy.Role.String).
func ParseRole(s string) (policy.Role, error) {
	for r := policy.RoleCommunityMember; r <= policy.RoleReader; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w role %q (want one of %s)", ErrInvalid, s, strings.Join(roleNames, ", "))
}

// UserInfo describes a user. It never carries the password hash.
type UserInfo struct {
	Name            string
	Created         time.Time
	PasswordChanged time.Time // zero if the user has no password
	HasPassword     bool      // false: a user for tokens only (a device, an integration)
	Disabled        bool
	Builtin         bool // the bootstrap admin
	Roles           []Assignment
}

// Directory holds one tenant's local users, their tokens and their roles,
// persisted in one JSON file. It is safe for concurrent use: readers
// (Authenticate, ListUsers, ...) take no lock; writers are serialized and
// each writes the whole file atomically before its change becomes visible,
// so a failed write changes nothing.
type Directory struct {
	path   string
	now    func() time.Time
	log    *slog.Logger
	argon  Argon2Params
	hashes chan struct{} // bounds concurrent argon2 runs (each holds Argon2.Memory)
	cookie string        // the session cookie's name

	mu  sync.Mutex            // serializes writers
	cur atomic.Pointer[state] // immutable once published

	locks   lockout
	dummy   func() string // a hash to verify against when the user is unknown
	metrics *metrics
	closed  atomic.Bool

	sessions sessionStore // browser sessions of this run (session.go)

	handlerOnce sync.Once
	handler     http.Handler
	handled     []mounted // the rows the handler serves
}

// state is one immutable version of the directory: writers clone it,
// change the clone, persist it, then publish it.
type state struct {
	users  map[string]*user
	tokens map[string]*token       // by id
	roles  map[string][]Assignment // by user, sorted, no duplicates
	legacy *token                  // the bootstrap token when it is not in slu_ form
}

type user struct {
	name      string
	hash      string // PHC string; "" for no password
	created   time.Time
	pwChanged time.Time
	disabled  bool
	builtin   bool
}

type token struct {
	id        string
	sum       [32]byte // SHA-256 of the secret
	user      string
	label     string
	created   time.Time
	expires   time.Time // zero: never (bootstrap only)
	revoked   time.Time // zero: not revoked
	bootstrap bool
	legacy    bool   // bootstrap token not in slu_ form: sum covers the whole bearer
	used      *usage // shared by every version of this token
}

// usage is a token's last use, kept in memory and persisted lazily.
type usage struct {
	last  atomic.Int64 // unix ns, 0 = never
	saved atomic.Int64 // what the file holds
}

func (s *state) clone() *state {
	return &state{users: maps.Clone(s.users), tokens: maps.Clone(s.tokens), roles: maps.Clone(s.roles), legacy: s.legacy}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName reports whether s is a valid user name:
// [a-z0-9][a-z0-9._-]{0,63}.
func ValidName(s string) bool { return nameRE.MatchString(s) }

func checkName(s string) error {
	if !ValidName(s) {
		return fmt.Errorf("%w user name %q: want 1-64 of a-z 0-9 . _ - starting with a letter or digit", ErrInvalid, s)
	}
	return nil
}

// Open loads the directory from path (normally <data dir>/users.json). A
// missing file is an empty directory; the file is written on the first
// change. A file readable by others is made 0600, with a warning.
func Open(path string, opts Options) (*Directory, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Argon2 == (Argon2Params{}) {
		opts.Argon2 = DefaultArgon2Params()
	}
	if err := opts.Argon2.validate(); err != nil {
		return nil, fmt.Errorf("users: argon2 parameters: %w", err)
	}
	d := &Directory{
		path:    path,
		now:     opts.Now,
		log:     opts.Logger,
		argon:   opts.Argon2,
		hashes:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/int(opts.Argon2.Threads))),
		metrics: newMetrics(opts.Registerer),
		cookie:  SessionCookie,
	}
	if opts.CookieSuffix != "" {
		d.cookie = SessionCookie + "_" + opts.CookieSuffix
	}
	d.locks.tracked = make(map[string]*attempts)
	d.sessions.init()
	d.dummy = sync.OnceValue(func() string {
		h, _ := d.hashPassword(randomString(24))
		return h
	})
	s, err := d.load()
	if err != nil {
		return nil, err
	}
	d.cur.Store(s)
	return d, nil
}

// Close writes pending last-use times. The directory stays readable, but
// later changes fail.
func (d *Directory) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	if d.unsavedUsage() {
		return d.save(d.cur.Load())
	}
	return nil
}

// update applies fn to a copy of the state, writes it, and publishes it.
func (d *Directory) update(fn func(s *state, now time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return errors.New("users: directory closed")
	}
	s := d.cur.Load().clone()
	now := d.now()
	if err := fn(s, now); err != nil {
		return err
	}
	s.prune(now)
	if err := d.save(s); err != nil {
		return err
	}
	d.cur.Store(s)
	return nil
}

// prune drops tokens that expired or were revoked more than a retention
// ago. The bootstrap token stays, so a revoked admin.token stays revoked.
func (s *state) prune(now time.Time) {
	const keep = 30 * 24 * time.Hour
	for id, t := range s.tokens {
		if t.bootstrap {
			continue
		}
		if (!t.revoked.IsZero() && now.Sub(t.revoked) > keep) || (!t.expires.IsZero() && now.Sub(t.expires) > keep) {
			delete(s.tokens, id)
		}
	}
}

// tenantAdmins counts the enabled users holding tenant-admin.
func (s *state) tenantAdmins() int {
	n := 0
	for name, u := range s.users {
		if !u.disabled && hasTenantAdmin(s.roles[name]) {
			n++
		}
	}
	return n
}

func hasTenantAdmin(as []Assignment) bool {
	return slices.ContainsFunc(as, Assignment{Role: policy.RoleTenantAdmin}.same)
}

// AddUser creates a user with a password and, optionally, roles. The
// password must have at least 12 characters and differ from the name.
func (d *Directory) AddUser(name, password string, roles ...Assignment) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkPassword(name, password); err != nil {
		return err
	}
	as, err := newAssignments(roles)
	if err != nil {
		return err
	}
	hash, err := d.hashPassword(password)
	if err != nil {
		return err
	}
	return d.insertUser(name, hash, as)
}

// AddTokenUser creates a user without a password, with roles: a device's
// or an integration's account, which works with the tokens an
// administrator makes for it (CreateToken), and cannot sign in nor pass
// a step-up, so it never mints tokens or changes anything that needs one.
func (d *Directory) AddTokenUser(name string, roles ...Assignment) error {
	if err := checkName(name); err != nil {
		return err
	}
	as, err := newAssignments(roles)
	if err != nil {
		return err
	}
	return d.insertUser(name, "", as)
}

func newAssignments(roles []Assignment) ([]Assignment, error) {
	var as []Assignment
	for _, a := range roles {
		a, err := normAssignment(a)
		if err != nil {
			return nil, err
		}
		if as, err = addAssignment(as, a); err != nil {
			return nil, err
		}
	}
	return as, nil
}

func (d *Directory) insertUser(name, hash string, as []Assignment) error {
	return d.update(func(s *state, now time.Time) error {
		if _, ok := s.users[name]; ok {
			return fmt.Errorf("user %q: %w", name, ErrExists)
		}
		u := &user{name: name, hash: hash, created: now}
		if hash != "" {
			u.pwChanged = now
		}
		s.users[name] = u
		if len(as) > 0 {
			s.roles[name] = as
		}
		return nil
	})
}

// SetPassword changes name's password. With old != "", old must be the
// current password (checked like CheckPassword, lockout included); with
// old == "" the caller has authorized the change itself (an administrator
// resetting it, or the API after a step-up). Tokens are not revoked.
func (d *Directory) SetPassword(name, old, password string) error {
	if err := checkPassword(name, password); err != nil {
		return err
	}
	if _, ok := d.cur.Load().users[name]; !ok {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if old != "" {
		if err := d.CheckPassword(name, old); err != nil {
			return err
		}
	}
	hash, err := d.hashPassword(password)
	if err != nil {
		return err
	}
	err = d.update(func(s *state, now time.Time) error {
		u, ok := s.users[name]
		if !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		nu := *u
		nu.hash, nu.pwChanged = hash, now
		s.users[name] = &nu
		return nil
	})
	if err == nil {
		d.locks.reset(name)
	}
	return err
}

// SetDisabled disables or enables a user. A disabled user's tokens and
// password stop working at once; enabling restores them (revoked and
// expired tokens stay so).
func (d *Directory) SetDisabled(name string, disabled bool) error {
	return d.update(func(s *state, now time.Time) error {
		u, ok := s.users[name]
		if !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		nu := *u
		nu.disabled = disabled
		s.users[name] = &nu
		if disabled && hasTenantAdmin(s.roles[name]) && s.tenantAdmins() == 0 {
			return ErrLastAdmin
		}
		return nil
	})
}

// RemoveUser deletes a user with its tokens and roles. Audit lines keep
// its name. The built-in admin cannot be removed.
func (d *Directory) RemoveUser(name string) error {
	return d.update(func(s *state, now time.Time) error {
		u, ok := s.users[name]
		if !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		if u.builtin {
			return ErrBuiltin
		}
		wasAdmin := hasTenantAdmin(s.roles[name])
		delete(s.users, name)
		delete(s.roles, name)
		for id, t := range s.tokens {
			if t.user == name {
				delete(s.tokens, id)
			}
		}
		if wasAdmin && s.tenantAdmins() == 0 {
			return ErrLastAdmin
		}
		return nil
	})
}

// ListUsers lists the users by name. It never returns password hashes.
func (d *Directory) ListUsers() []UserInfo {
	s := d.cur.Load()
	out := make([]UserInfo, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, s.info(u))
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// User describes one user.
func (d *Directory) User(name string) (UserInfo, error) {
	s := d.cur.Load()
	u, ok := s.users[name]
	if !ok {
		return UserInfo{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return s.info(u), nil
}

func (s *state) info(u *user) UserInfo {
	return UserInfo{Name: u.name, Created: u.created, PasswordChanged: u.pwChanged, HasPassword: u.hash != "",
		Disabled: u.disabled, Builtin: u.builtin, Roles: cloneAssignments(s.roles[u.name])}
}

// cloneAssignments copies as deeply, so no caller shares a slice with the
// directory's state.
func cloneAssignments(as []Assignment) []Assignment {
	out := slices.Clone(as)
	for i := range out {
		out[i].Prefixes = slices.Clone(out[i].Prefixes)
	}
	return out
}

// Grant gives user the role in community ("" for tenant-wide). Ingest
// needs prefixes, the stream name prefixes it may write; no other role
// takes any. Granting a role the user holds is not an error; granting
// ingest again adds the new prefixes to those it has.
func (d *Directory) Grant(name string, role policy.Role, community policy.CommunityID, prefixes ...string) error {
	a, err := normAssignment(Assignment{Role: role, Community: community, Prefixes: prefixes})
	if err != nil {
		return err
	}
	return d.update(func(s *state, now time.Time) error {
		if _, ok := s.users[name]; !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		as, err := addAssignment(slices.Clone(s.roles[name]), a)
		if err != nil {
			return err
		}
		s.roles[name] = as
		return nil
	})
}

// Revoke takes the role in community from user. With prefixes (ingest
// only) it takes only those prefixes from the ingest grant, and the role
// with the last of them. It is ErrNotFound if the user does not hold the
// role or one of the prefixes, ErrLastAdmin if it is the last enabled
// tenant administrator's tenant-admin role.
func (d *Directory) Revoke(name string, role policy.Role, community policy.CommunityID, prefixes ...string) error {
	a := Assignment{Role: role, Community: community}
	if len(prefixes) > 0 && role != policy.RoleIngest {
		return fmt.Errorf("%w: only ingest has prefixes", ErrInvalid)
	}
	return d.update(func(s *state, now time.Time) error {
		if _, ok := s.users[name]; !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		as := s.roles[name]
		i := slices.IndexFunc(as, a.same)
		if i < 0 {
			return fmt.Errorf("user %q has no role %s: %w", name, a, ErrNotFound)
		}
		as = slices.Clone(as)
		if len(prefixes) > 0 {
			kept := slices.Clone(as[i].Prefixes)
			for _, p := range prefixes {
				j := slices.Index(kept, p)
				if j < 0 {
					return fmt.Errorf("user %q has no ingest prefix %q: %w", name, p, ErrNotFound)
				}
				kept = slices.Delete(kept, j, j+1)
			}
			if len(kept) > 0 {
				as[i].Prefixes = kept
				s.roles[name] = as
				return nil
			}
		}
		as = slices.Delete(as, i, i+1)
		if len(as) == 0 {
			delete(s.roles, name)
		} else {
			s.roles[name] = as
		}
		if role == policy.RoleTenantAdmin && s.tenantAdmins() == 0 {
			return ErrLastAdmin
		}
		return nil
	})
}

// RevokeCommunity takes every role in community from user (the user no
// longer takes part in it). It is ErrNotFound if there was none.
func (d *Directory) RevokeCommunity(name string, community policy.CommunityID) error {
	if community == "" {
		return fmt.Errorf("%w: no community given", ErrInvalid)
	}
	return d.update(func(s *state, now time.Time) error {
		if _, ok := s.users[name]; !ok {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		as := slices.DeleteFunc(slices.Clone(s.roles[name]), func(a Assignment) bool { return a.Community == community })
		if len(as) == len(s.roles[name]) {
			return fmt.Errorf("user %q has no role in %s: %w", name, community, ErrNotFound)
		}
		if len(as) == 0 {
			delete(s.roles, name)
		} else {
			s.roles[name] = as
		}
		return nil
	})
}

// ForgetCommunity drops every role granted in community, for every user.
// The agent calls it when the community is deleted or this tenant leaves
// or is removed, so a later community cannot inherit stale grants.
func (d *Directory) ForgetCommunity(community policy.CommunityID) error {
	if community == "" {
		return fmt.Errorf("%w: no community given", ErrInvalid)
	}
	return d.update(func(s *state, now time.Time) error {
		for name, as := range s.roles {
			kept := slices.DeleteFunc(slices.Clone(as), func(a Assignment) bool { return a.Community == community })
			switch {
			case len(kept) == len(as):
			case len(kept) == 0:
				delete(s.roles, name)
			default:
				s.roles[name] = kept
			}
		}
		return nil
	})
}

// Roles lists user's roles, tenant-wide first, then by community and role.
func (d *Directory) Roles(name string) []Assignment {
	return cloneAssignments(d.cur.Load().roles[name])
}

// normAssignment checks a and returns it with its prefixes sorted and
// without duplicates, in a slice of its own.
func normAssignment(a Assignment) (Assignment, error) {
	a.Prefixes = slices.Compact(slices.Sorted(slices.Values(a.Prefixes)))
	return a, checkAssignment(a)
}

func checkAssignment(a Assignment) error {
	if a.Role < policy.RoleCommunityMember || a.Role > policy.RoleReader {
		return fmt.Errorf("%w role %d", ErrInvalid, a.Role)
	}
	if a.Role.TenantWide() && a.Community != "" {
		return fmt.Errorf("%w: %s is tenant-wide only", ErrInvalid, a.Role)
	}
	if a.Community != "" && !validCommunity(a.Community) {
		return fmt.Errorf("%w community id %q (want <owner tenant id>/<nonce>)", ErrInvalid, a.Community)
	}
	switch {
	case a.Role != policy.RoleIngest && len(a.Prefixes) > 0:
		return fmt.Errorf("%w: only ingest takes stream prefixes, not %s", ErrInvalid, a.Role)
	case a.Role == policy.RoleIngest && len(a.Prefixes) == 0:
		return fmt.Errorf("%w: ingest needs at least one stream prefix (e.g. site1/), the streams it may write", ErrInvalid)
	case len(a.Prefixes) > MaxPrefixes:
		return fmt.Errorf("%w: %d stream prefixes, at most %d", ErrInvalid, len(a.Prefixes), MaxPrefixes)
	}
	for i, p := range a.Prefixes {
		if !policy.ValidPrefix(p) {
			return fmt.Errorf("%w stream prefix %q: want the start of a stream name, 1-%d bytes, segments separated by single slashes (e.g. site1/)",
				ErrInvalid, p, policy.MaxPrefix)
		}
		if i > 0 && a.Prefixes[i-1] >= p {
			return fmt.Errorf("%w: stream prefixes not sorted or repeated at %q", ErrInvalid, p)
		}
	}
	return nil
}

// validCommunity mirrors policy's rule: "<tenant>/<nonce>", each 1-256
// printable ASCII bytes without spaces, no '/' in the nonce.
func validCommunity(c policy.CommunityID) bool {
	i := strings.LastIndexByte(string(c), '/')
	return i >= 0 && printableID(string(c[:i])) && printableID(string(c[i+1:]))
}

func printableID(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func compareAssignments(a, b Assignment) int {
	if c := strings.Compare(string(a.Community), string(b.Community)); c != 0 {
		return c
	}
	return int(a.Role) - int(b.Role)
}

// addAssignment adds a (checked) to as, which the caller owns. Ingest
// granted again takes the union of the prefixes.
func addAssignment(as []Assignment, a Assignment) ([]Assignment, error) {
	i, found := slices.BinarySearchFunc(as, a, compareAssignments)
	if !found {
		return slices.Insert(as, i, a), nil
	}
	if len(a.Prefixes) == 0 {
		return as, nil
	}
	merged := Assignment{Role: a.Role, Community: a.Community, Prefixes: append(slices.Clone(as[i].Prefixes), a.Prefixes...)}
	merged, err := normAssignment(merged)
	if err != nil {
		return nil, err
	}
	as[i] = merged
	return as, nil
}
