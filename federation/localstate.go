package federation

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// localState is what this agent knows that is not a signed record: the
// gossip keys of its communities, the secrets of the invitations it
// issued, and the addresses and names of tenants. It is kept in a small
// JSON file, replaced atomically and durably on every change.
type localState struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
	data struct {
		Keys map[policy.CommunityID][]byte `json:"keys"` // the primary gossip key
		// OldKeys are the other keys of a rotation in progress: accepted on
		// receipt, never used to send.
		OldKeys map[policy.CommunityID][][]byte `json:"old_keys,omitempty"`
		Tenants map[policy.TenantID]tenantInfo  `json:"tenants"`
		// Secrets holds the SHA-256 of each invitation token's secret, by
		// "<community> <invitation>".
		Secrets map[string][]byte `json:"secrets,omitempty"`
	}
}

type tenantInfo struct {
	Name   string `json:"name,omitempty"`
	Fed    string `json:"fed,omitempty"`
	Gossip string `json:"gossip,omitempty"`
}

func loadLocal(dir string, log *slog.Logger) (*localState, error) {
	l := &localState{path: filepath.Join(dir, "local.json"), log: log}
	b, err := os.ReadFile(l.path)
	if err == nil {
		if err := json.Unmarshal(b, &l.data); err != nil {
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if l.data.Keys == nil {
		l.data.Keys = map[policy.CommunityID][]byte{}
	}
	if l.data.Tenants == nil {
		l.data.Tenants = map[policy.TenantID]tenantInfo{}
	}
	if l.data.OldKeys == nil {
		l.data.OldKeys = map[policy.CommunityID][][]byte{}
	}
	if l.data.Secrets == nil {
		l.data.Secrets = map[string][]byte{}
	}
	return l, nil
}

func (l *localState) saveLocked() error {
	b, err := json.MarshalIndent(&l.data, "", "  ")
	if err != nil {
		return fmt.Errorf("federation local state: %w", err)
	}
	return identity.WriteFileAtomic(l.path, b, 0o600)
}

func (l *localState) key(c policy.CommunityID) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.data.Keys[c]
}

// setKey keeps a community's gossip key; the agent must not use a key it
// could lose in a crash, so the error is the caller's to act on.
func (l *localState) setKey(c policy.CommunityID, k []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.data.Keys[c]
	l.data.Keys[c] = k
	if err := l.saveLocked(); err != nil {
		if had {
			l.data.Keys[c] = old
		} else {
			delete(l.data.Keys, c)
		}
		return err
	}
	return nil
}

// setSecret keeps the hash of an invitation token's secret.
func (l *localState) setSecret(c policy.CommunityID, invitation string, secret string) error {
	sum := sha256.Sum256([]byte(secret))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.data.Secrets[string(c)+" "+invitation] = sum[:]
	return l.saveLocked()
}

// secretMatches reports whether secret is the one of the token of the
// invitation. Invitations issued before tokens carried a secret have none
// kept, and any answer passes this check (the others still apply).
func (l *localState) secretMatches(c policy.CommunityID, invitation, secret string) bool {
	l.mu.Lock()
	want, ok := l.data.Secrets[string(c)+" "+invitation]
	l.mu.Unlock()
	if !ok {
		return true
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

func (l *localState) tenant(t policy.TenantID) (tenantInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.data.Tenants[t]
	return i, ok
}

// setTenant records what we learned of a tenant; empty fields keep what
// was known. Addresses are learned again on the next contact, so a failed
// save is logged rather than failing the request that taught them.
func (l *localState) setTenant(t policy.TenantID, info tenantInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.data.Tenants[t]
	if info.Name == "" {
		info.Name = old.Name
	}
	if info.Fed == "" {
		info.Fed = old.Fed
	}
	if info.Gossip == "" {
		info.Gossip = old.Gossip
	}
	if info == old {
		return
	}
	l.data.Tenants[t] = info
	if err := l.saveLocked(); err != nil {
		l.log.Error("could not save what this agent knows of a tenant", "tenant", t, "err", err)
	}
}

// byName finds tenants by display name.
func (l *localState) byName(name string) []policy.TenantID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []policy.TenantID
	for id, i := range l.data.Tenants {
		if i.Name == name {
			out = append(out, id)
		}
	}
	return out
}
