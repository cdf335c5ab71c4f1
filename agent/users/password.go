package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of new password hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2Params: 46 MiB, 2 passes, 2 lanes, about 70 ms on one
// 2-core gateway (above OWASP's minimum of 19 MiB x 2 or 46 MiB x 1).
// Each concurrent check holds Memory; the directory runs at most
// GOMAXPROCS/Threads of them at once.
func DefaultArgon2Params() Argon2Params { return Argon2Params{Memory: 46 * 1024, Time: 2, Threads: 2} }

// Bounds accepted when reading a hash, so a damaged or hostile file cannot
// make a login allocate gigabytes or spin for minutes.
const (
	maxArgonMemory  = 1 << 20 // 1 GiB
	maxArgonTime    = 32
	maxArgonThreads = 64
	saltLen         = 16
	keyLen          = 32
)

func (p Argon2Params) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("%w argon2 threads %d", ErrInvalid, p.Threads)
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("%w argon2 time %d", ErrInvalid, p.Time)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		return fmt.Errorf("%w argon2 memory %d KiB", ErrInvalid, p.Memory)
	}
	return nil
}

// Password rules. Passwords travel in the X-Sluice-Password header for
// step-up, so they may not hold control characters (no header can) nor
// start or end with white space (header values are trimmed).
const (
	MinPasswordLen   = 12   // characters
	maxPasswordBytes = 1024 // bounds the work an unauthenticated caller causes
)

func checkPassword(name, pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w password: not UTF-8", ErrInvalid)
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("%w password: at least %d characters", ErrInvalid, MinPasswordLen)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("%w password: at most %d bytes", ErrInvalid, maxPasswordBytes)
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		return fmt.Errorf("%w password: control characters are not allowed", ErrInvalid)
	case strings.TrimSpace(pw) != pw:
		return fmt.Errorf("%w password: may not start or end with white space", ErrInvalid)
	case strings.EqualFold(pw, name):
		return fmt.Errorf("%w password: may not be the user name", ErrInvalid)
	}
	return nil
}

// hashPassword returns pw's argon2id hash in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, salt and
// hash in unpadded standard base64.
func (d *Directory) hashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := d.argon
	d.hashes <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	<-d.hashes
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parsePHC reads an argon2id PHC string, bounding its parameters.
func parsePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	bad := func(what string) (Argon2Params, []byte, []byte, error) {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w password hash: %s", ErrInvalid, what)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("not $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + f[2])
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return bad("parameters " + f[3])
	}
	var v [3]uint64
	for i, k := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(kv[i], k)
		if !ok {
			return bad("parameters " + f[3])
		}
		if v[i], err = strconv.ParseUint(num, 10, 32); err != nil {
			return bad("parameters " + f[3])
		}
	}
	if v[2] > maxArgonThreads {
		return bad("parameters " + f[3])
	}
	p = Argon2Params{Memory: uint32(v[0]), Time: uint32(v[1]), Threads: uint8(v[2])}
	if err := p.validate(); err != nil {
		return bad(err.Error())
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(f[4])
	key, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return bad("salt or hash")
	}
	return p, salt, key, nil
}

// verify checks pw against a PHC hash in constant time; rehash reports
// that the hash's parameters differ from the directory's.
func (d *Directory) verify(pw, phc string) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	d.hashes <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	<-d.hashes
	return subtle.ConstantTimeCompare(got, key) == 1, p != d.argon || len(salt) != saltLen || len(key) != keyLen, nil
}

// CheckPassword verifies name's password. Failures wrap ErrBadCredentials
// (unknown user, wrong password, no password, disabled user: all cost the
// same argon2 run, so timing does not tell them apart; only a name that
// is not a valid user name is refused without hashing). After 5 failures
// in a row the user is locked: CheckPassword returns a *LockedError,
// without checking the password, until the lock ends. Each failure after
// the lock ends doubles it, from 30 s up to 15 min; a success resets the
// count. Locks live in memory: a restart clears them.
func (d *Directory) CheckPassword(name, password string) error {
	if !ValidName(name) {
		// No such user can exist: answer at once, track nothing (an
		// attacker's junk names must not fill the lockout table).
		d.metrics.password.WithLabelValues("failed").Inc()
		return ErrNoSuchUser
	}
	now := d.now()
	if err := d.locks.check(name, now); err != nil {
		d.metrics.password.WithLabelValues("locked").Inc()
		return err
	}
	s := d.cur.Load()
	u := s.users[name]
	phc := d.dummy()
	if u != nil && u.hash != "" {
		phc = u.hash
	}
	if len(password) > maxPasswordBytes {
		password = password[:maxPasswordBytes] // bounded work; it cannot match anyway
		phc = d.dummy()
	}
	ok, rehash, verr := d.verify(password, phc)
	if verr != nil {
		d.log.Error("stored password hash unreadable", "user", name, "err", verr)
	}
	var err error
	switch {
	case u == nil:
		err = ErrNoSuchUser
	case u.hash == "":
		err = ErrNoPassword
	case !ok || phc != u.hash:
		err = ErrWrongPassword
	case u.disabled:
		err = ErrUserDisabled
	}
	if err != nil {
		locked := d.locks.fail(name, now, u != nil)
		d.metrics.password.WithLabelValues("failed").Inc()
		if locked {
			d.log.Warn("user locked after repeated wrong passwords", "user", name)
		}
		return err
	}
	d.locks.reset(name)
	d.metrics.password.WithLabelValues("ok").Inc()
	if rehash {
		d.rehash(name, u.hash, password)
	}
	return nil
}

// rehash stores a new hash with the current parameters, unless the
// password changed meanwhile. Best effort: a failure only logs.
func (d *Directory) rehash(name, old, pw string) {
	h, err := d.hashPassword(pw)
	if err == nil {
		err = d.update(func(s *state, now time.Time) error {
			u, ok := s.users[name]
			if !ok || u.hash != old {
				return nil
			}
			nu := *u
			nu.hash = h
			s.users[name] = &nu
			return nil
		})
	}
	if err != nil {
		d.log.Warn("rehash password", "user", name, "err", err)
	}
}

// ErrLocked is what a *LockedError is.
var ErrLocked = errors.New("too many wrong passwords")

// LockedError says that a user is locked out after repeated wrong
// passwords, and until when.
type LockedError struct {
	User  string
	Until time.Time
	Now   time.Time // when it was decided, so RetryAfter needs no clock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many wrong passwords for %q: try again in %s", e.User, e.RetryAfter())
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// RetryAfter is how long the lock still lasts, rounded up to a second.
func (e *LockedError) RetryAfter() time.Duration {
	d := e.Until.Sub(e.Now)
	return (d + time.Second - 1).Truncate(time.Second)
}

const (
	lockAfter   = 5
	lockBase    = 30 * time.Second
	lockMax     = 15 * time.Minute
	lockForget  = 24 * time.Hour // failures older than this are forgotten
	lockTracked = 10000          // names tracked at most (unknown names beyond are not)
)

type lockout struct {
	mu      sync.Mutex
	tracked map[string]*attempts
}

type attempts struct {
	failures int
	until    time.Time
	last     time.Time
}

func (l *lockout) check(name string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.tracked[name]
	if a != nil && now.Before(a.until) {
		return &LockedError{User: name, Until: a.until, Now: now}
	}
	return nil
}

// fail counts a failure and reports whether it locked the user.
func (l *lockout) fail(name string, now time.Time, known bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.tracked[name]
	if a != nil && now.Sub(a.last) > lockForget {
		a.failures = 0
	}
	if a == nil {
		if len(l.tracked) >= lockTracked {
			for n, o := range l.tracked {
				if now.Sub(o.last) > lockForget || (o.failures < lockAfter && now.Sub(o.last) > lockMax) {
					delete(l.tracked, n)
				}
			}
			if len(l.tracked) >= lockTracked && !known {
				return false
			}
		}
		a = &attempts{}
		l.tracked[name] = a
	}
	a.failures++
	a.last = now
	if a.failures < lockAfter {
		return false
	}
	lock := lockMax
	if n := a.failures - lockAfter; n < 6 {
		lock = min(lockBase<<n, lockMax)
	}
	a.until = now.Add(lock)
	return true
}

func (l *lockout) reset(name string) {
	l.mu.Lock()
	delete(l.tracked, name)
	l.mu.Unlock()
}

// randomString returns n random bytes in unpadded base64url.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
