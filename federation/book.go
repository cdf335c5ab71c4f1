package federation

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// Envelope is a signed policy record as it travels and as it is stored:
// the record's canonical bytes, the issuer's public key and the issuer's
// signature. The key is self-certifying (its fingerprint is the issuer's
// tenant id), so any agent can check an envelope without prior contact.
type Envelope struct {
	Record []byte `json:"r"`
	Key    []byte `json:"k"`
	Sig    []byte `json:"s"`
}

// open verifies an envelope and returns its record.
func (e Envelope) open() (policy.Record, error) {
	rec, err := policy.ParseRecord(e.Record)
	if err != nil {
		return rec, err
	}
	return rec, e.verify(rec)
}

// verify checks the signature of e, whose record is rec.
func (e Envelope) verify(rec policy.Record) error {
	if err := identity.Verify(string(rec.Issuer), ed25519.PublicKey(e.Key), e.Record, e.Sig); err != nil {
		return fmt.Errorf("%s record of %s: %w", rec.Kind, identity.ShortID(string(rec.Issuer)), err)
	}
	return nil
}

func recordHash(record []byte) string {
	sum := sha256.Sum256(record)
	return string(sum[:])
}

// book is the agent's record set: every verified record it has admitted,
// the policy.State they make, and the file that keeps them across
// restarts. Gossip, handshakes and local actions all go through merge.
//
// Merges are serialised by mergeMu; readers never wait for one: the state
// is published through an atomic pointer after the new records are on
// disk, and the envelope index is swapped in under a short lock.
type book struct {
	self policy.TenantID
	now  func() time.Time

	mergeMu sync.Mutex
	file    *os.File // guarded by mergeMu

	state atomic.Pointer[policy.State]
	mu    sync.RWMutex
	envs  map[string]Envelope // by record hash
	comm  map[policy.CommunityID][]string
}

// openBook reads the record file back. Its records were admitted once, so
// they are admitted again as trusted (no membership rules, which depend on
// the order they came in); records no tenant should have taken (another
// tenant's roles, connections between two others, a community this tenant
// takes no part in, versions from the far future) are dropped, and the
// file is rewritten without them and without superseded records.
func openBook(dir string, self policy.TenantID, now func() time.Time) (*book, []error, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "records.jsonl")
	b := &book{self: self, now: now, envs: map[string]Envelope{}, comm: map[policy.CommunityID][]string{}}
	b.state.Store(&policy.State{})
	var bad []error
	lines := 0
	if f, err := os.Open(path); err == nil {
		br := bufio.NewReaderSize(f, 64<<10)
		var envs []Envelope
		for {
			line, rerr := br.ReadBytes('\n')
			if len(line) == 0 && rerr != nil {
				if rerr != io.EOF {
					f.Close()
					return nil, nil, fmt.Errorf("%s: %w", path, rerr)
				}
				break
			}
			lines++
			var e Envelope
			if err := json.Unmarshal(line, &e); err != nil {
				if rerr == nil {
					// A whole line that does not parse is not what a
					// crash leaves: dropping it would lose a record
					// (and rewriting the file would make that final).
					f.Close()
					return nil, nil, fmt.Errorf("%s:%d: %w: unreadable record: %v", path, lines, ErrCorruptRecords, err)
				}
				// A torn last line after a crash: the record was never
				// acknowledged to anyone, so dropping it is safe. Its
				// bytes are kept beside the file all the same.
				if err := keepTorn(path, line); err != nil {
					f.Close()
					return nil, nil, err
				}
				bad = append(bad, fmt.Errorf("%s: dropped an incomplete last line %d (kept in %s.torn): %w", path, lines, path, err))
				break
			}
			envs = append(envs, e)
		}
		f.Close()
		_, errs, err := b.mergeLocked(envs, true, false)
		if err != nil {
			return nil, nil, err
		}
		bad = append(bad, errs...)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	if kept := len(b.envs); lines > kept {
		if err := b.rewrite(path); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	b.file = f
	return b, bad, nil
}

// ErrCorruptRecords marks a record file that holds a complete line that
// does not parse; the agent refuses to start rather than drop it.
var ErrCorruptRecords = errors.New("record file is damaged")

// keepTorn appends the bytes of a torn last line to path.torn (0600),
// so that dropping it from the record file loses nothing for good.
func keepTorn(path string, line []byte) error {
	f, err := os.OpenFile(path+".torn", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("keep the torn end of %s: %w", path, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keep the torn end of %s: %w", path, err)
	}
	return nil
}

// rewrite replaces the record file with the records held, durably.
func (b *book) rewrite(path string) error {
	var buf bytes.Buffer
	for _, r := range b.state.Load().Records() {
		line, _ := json.Marshal(b.envs[recordHash(r.SigningBytes())])
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return identity.WriteFileAtomic(path, buf.Bytes(), 0o600)
}

// merge verifies and admits envelopes and persists the new ones (one
// fsync per call) before the state that holds them is published. trusted
// is for records this agent issued or checked itself in a handshake (see
// policy.Admission). It returns the records that were new.
func (b *book) merge(envs []Envelope, trusted bool) ([]policy.Record, []error) {
	b.mergeMu.Lock()
	defer b.mergeMu.Unlock()
	added, errs, err := b.mergeLocked(envs, trusted, b.file != nil)
	if err != nil {
		errs = append(errs, err)
	}
	return added, errs
}

// mergeLocked admits envs; with persist, the new records are appended to
// the file and synced before anything is published, and a failed write
// publishes nothing (the sender will send again).
func (b *book) mergeLocked(envs []Envelope, trusted, persist bool) ([]policy.Record, []error, error) {
	var errs []error
	recs := make([]policy.Record, 0, len(envs))
	idx := make([]int, 0, len(envs))
	seen := map[string]bool{}
	b.mu.RLock()
	for i, e := range envs {
		h := recordHash(e.Record)
		if _, dup := b.envs[h]; dup || seen[h] {
			continue
		}
		seen[h] = true
		rec, err := policy.ParseRecord(e.Record)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec)
		idx = append(idx, i)
	}
	b.mu.RUnlock()
	if len(recs) == 0 {
		return nil, errs, nil
	}
	st, res := policy.Admit(*b.state.Load(), recs, policy.Admission{
		Self: b.self, Now: b.now().UnixNano(), Trusted: trusted,
		// Signatures are checked only for records that would change the
		// state: refusals and stale copies cost no Ed25519 check.
		Verify: func(i int) error { return envs[idx[i]].verify(recs[i]) },
	})
	for _, err := range res.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(res.Added) == 0 {
		return nil, errs, nil
	}
	if persist {
		var buf bytes.Buffer
		for _, i := range res.Added {
			line, _ := json.Marshal(envs[idx[i]])
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if _, err := b.file.Write(buf.Bytes()); err != nil {
			return nil, errs, fmt.Errorf("persist records: %w", err)
		}
		if err := b.file.Sync(); err != nil {
			return nil, errs, fmt.Errorf("persist records: %w", err)
		}
	}
	out := make([]policy.Record, len(res.Added))
	b.mu.Lock()
	for j, i := range res.Added {
		e, rec := envs[idx[i]], recs[i]
		h := recordHash(e.Record)
		b.envs[h] = e
		if rec.Community != "" {
			b.comm[rec.Community] = append(b.comm[rec.Community], h)
		}
		out[j] = rec
	}
	b.mu.Unlock()
	b.state.Store(&st)
	return out, errs, nil
}

// errNoChange is an issued record that changes nothing: it lost to one
// already held.
var errNoChange = errors.New("the record changes nothing: a newer one is held")

// issue seals a record of this tenant on the current state (under the
// merge lock, so two actions never draw the same version) and merges it.
func (b *book) issue(seal func(policy.State) (Envelope, error)) (Envelope, error) {
	b.mergeMu.Lock()
	defer b.mergeMu.Unlock()
	env, err := seal(*b.state.Load())
	if err != nil {
		return env, err
	}
	added, errs, err := b.mergeLocked([]Envelope{env}, true, b.file != nil)
	switch {
	case err != nil:
		return env, err
	case len(errs) > 0:
		return env, errs[0]
	case len(added) == 0:
		return env, errNoChange
	}
	return env, nil
}

// snapshot returns the current state without waiting for a merge;
// policy.State is a value that Admit never mutates in place.
func (b *book) snapshot() policy.State { return *b.state.Load() }

// community returns the envelopes of one community in a stable order.
func (b *book) community(c policy.CommunityID) []Envelope {
	b.mu.RLock()
	defer b.mu.RUnlock()
	hs := append([]string(nil), b.comm[c]...)
	sort.Strings(hs)
	out := make([]Envelope, len(hs))
	for i, h := range hs {
		out[i] = b.envs[h]
	}
	return out
}

// find returns the envelopes of community c whose records match.
func (b *book) find(c policy.CommunityID, match func(policy.Record) bool) []Envelope {
	var out []Envelope
	for _, e := range b.community(c) {
		if rec, err := policy.ParseRecord(e.Record); err == nil && match(rec) {
			out = append(out, e)
		}
	}
	return out
}

func (b *book) close() error {
	b.mergeMu.Lock()
	defer b.mergeMu.Unlock()
	if b.file == nil {
		return nil
	}
	err := b.file.Close()
	b.file = nil
	return err
}
