package federation

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

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
	if err := identity.Verify(string(rec.Issuer), ed25519.PublicKey(e.Key), e.Record, e.Sig); err != nil {
		return rec, fmt.Errorf("%s record of %s: %w", rec.Kind, identity.ShortID(string(rec.Issuer)), err)
	}
	return rec, nil
}

func (e Envelope) id() string {
	sum := sha256.Sum256(e.Record)
	return string(sum[:])
}

// book is the agent's record set: every verified record it has accepted,
// the policy.State they make, and the file that keeps them across
// restarts. Gossip, handshakes and local actions all go through merge.
type book struct {
	mu    sync.RWMutex
	state policy.State
	envs  map[string]Envelope // by record hash
	comm  map[policy.CommunityID][]string
	file  *os.File
}

func openBook(dir string) (*book, []error, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "records.jsonl")
	b := &book{envs: map[string]Envelope{}, comm: map[policy.CommunityID][]string{}}
	var bad []error
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var envs []Envelope
		for sc.Scan() {
			var e Envelope
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				// A torn last line after a crash: the record was never
				// acknowledged to anyone, so dropping it is safe.
				bad = append(bad, fmt.Errorf("%s: skipping unreadable line: %w", path, err))
				continue
			}
			envs = append(envs, e)
		}
		f.Close()
		_, errs := b.mergeLocked(envs)
		bad = append(bad, errs...)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	b.file = f
	return b, bad, nil
}

// merge verifies and applies envelopes, persists the new ones (one fsync
// per call) and returns the records that were new.
func (b *book) merge(envs []Envelope) ([]policy.Record, []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	added, errs := b.mergeLocked(envs)
	if len(added) > 0 && b.file != nil {
		w := bufio.NewWriter(b.file)
		for _, a := range added {
			line, _ := json.Marshal(b.envs[a.hash])
			w.Write(line)
			w.WriteByte('\n')
		}
		if err := w.Flush(); err == nil {
			err = b.file.Sync()
			if err != nil {
				errs = append(errs, fmt.Errorf("persist records: %w", err))
			}
		} else {
			errs = append(errs, fmt.Errorf("persist records: %w", err))
		}
	}
	out := make([]policy.Record, len(added))
	for i, a := range added {
		out[i] = a.rec
	}
	return out, errs
}

type addedRecord struct {
	hash string
	rec  policy.Record
}

func (b *book) mergeLocked(envs []Envelope) ([]addedRecord, []error) {
	var added []addedRecord
	var errs []error
	for _, e := range envs {
		h := e.id()
		if _, ok := b.envs[h]; ok {
			continue
		}
		rec, err := e.open()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := policy.Apply(b.state, rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.state = st
		b.envs[h] = e
		if rec.Community != "" {
			b.comm[rec.Community] = append(b.comm[rec.Community], h)
		}
		added = append(added, addedRecord{hash: h, rec: rec})
	}
	return added, errs
}

// snapshot returns the current state; policy.State is a value that Apply
// never mutates in place, so it can be read without the lock.
func (b *book) snapshot() policy.State {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.state
}

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

func (b *book) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.file == nil {
		return nil
	}
	err := b.file.Close()
	b.file = nil
	return err
}
