package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/policy"
)

// Rotating a community's gossip key when a member is removed or leaves, so
// that it cannot read the community's gossip from then on. The owner runs
// the three phases of package gossip (install, use, remove), each on every
// remaining confirmed member over mTLS before the next begins, so members
// keep understanding each other throughout. A member that missed a phase
// (its agent was down) asks the owner for the current keys when it starts.

// Key rotation steps, in order.
const (
	stepInstall = "install"
	stepUse     = "use"
	stepRemove  = "remove"
)

// keyStep is one phase of a rotation, sent by the owner to a member.
type keyStep struct {
	Community policy.CommunityID `json:"community"`
	Step      string             `json:"step"`
	Key       []byte             `json:"key"`
}

// keySet is a community's keys, primary first, as a member fetches them.
type keySet struct {
	Keys [][]byte `json:"keys"`
}

// rotateLater starts a rotation of c's key in a goroutine the node owns;
// rotations of one community run one at a time.
func (n *Node) rotateLater(c policy.CommunityID) {
	if c.Owner() != n.self {
		return
	}
	n.goOwned(func(ctx context.Context) {
		mu, _ := n.rotating.LoadOrStore(c, &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
		if err := n.rotateKey(ctx, c); err != nil {
			n.log.Error("gossip key rotation", "community", c, "err", err)
		}
	})
}

// rotateKey replaces the gossip key of community c, which this tenant owns.
func (n *Node) rotateKey(ctx context.Context, c policy.CommunityID) error {
	old := n.local.key(c)
	if old == nil {
		return nil
	}
	fresh := newKey()
	var members []policy.TenantID
	for _, m := range participants(n.book.snapshot(), c) {
		if m != n.self {
			members = append(members, m)
		}
	}
	for _, st := range []keyStep{{c, stepInstall, fresh}, {c, stepUse, fresh}, {c, stepRemove, old}} {
		if err := n.applyKeyStep(st); err != nil {
			return fmt.Errorf("%s: %w", st.Step, err)
		}
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := n.postJSON(ctx, m, "/fed/v1/key", st, nil); err != nil {
					// It fetches the keys from the owner when it starts.
					n.log.Warn("member missed a key rotation step", "community", c, "tenant", m, "step", st.Step, "err", err)
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	n.m.rotations.Inc()
	n.log.Info("gossip key rotated", "community", c, "members", len(members))
	return nil
}

// applyKeyStep applies one phase here: to the kept keys first (a crash
// must not lose a key in use), then to the running cluster, if joined.
func (n *Node) applyKeyStep(st keyStep) error {
	if len(st.Key) != gossip.KeySize {
		return fmt.Errorf("gossip key has %d bytes, want %d", len(st.Key), gossip.KeySize)
	}
	if err := n.local.keyStep(st); err != nil {
		return err
	}
	v, ok := n.clusters.Load(st.Community)
	if !ok {
		return nil
	}
	cl := v.(*gossip.Cluster)
	switch st.Step {
	case stepInstall:
		return cl.InstallKey(st.Key)
	case stepUse:
		if err := cl.InstallKey(st.Key); err != nil {
			return err
		}
		return cl.UseKey(st.Key)
	default:
		return cl.RemoveKey(st.Key)
	}
}

// handleKey: the owner hands a confirmed member one phase of a rotation.
func (n *Node) handleKey(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	var st keyStep
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		return deny(400, "malformed", "body: %v", err)
	}
	switch {
	case st.Community.Owner() != peer:
		return deny(403, "not_owner", "only the owner of %s rotates its key", st.Community)
	case n.book.snapshot().MemberStatus(st.Community, n.self) != policy.MemberConfirmed:
		return deny(409, "not_confirmed", "this tenant is not confirmed in %s", st.Community)
	case st.Step != stepInstall && st.Step != stepUse && st.Step != stepRemove:
		return deny(400, "malformed", "unknown step %q", st.Step)
	}
	if err := n.applyKeyStep(st); err != nil {
		return deny(400, "malformed", "%v", err)
	}
	w.WriteHeader(204)
	return nil
}

// handleKeys answers a confirmed member's request for the current keys.
func (n *Node) handleKeys(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	var req struct {
		Community policy.CommunityID `json:"community"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return deny(400, "malformed", "body: %v", err)
	}
	c := req.Community
	if c.Owner() != n.self {
		return deny(404, "not_owner", "community %s is not this tenant's", c)
	}
	if n.book.snapshot().MemberStatus(c, peer) != policy.MemberConfirmed {
		return deny(403, "not_confirmed", "not a confirmed member of %s", c)
	}
	writeJSON(w, 200, keySet{Keys: n.local.keys(c)})
	return nil
}

// refreshKeys asks the owners of the communities this tenant is a member
// of for their current keys, in case a rotation happened while this agent
// was down.
func (n *Node) refreshKeys() {
	st := n.book.snapshot()
	for _, ci := range st.Communities() {
		if ci.Deleted || ci.Owner == n.self || st.MemberStatus(ci.ID, n.self) != policy.MemberConfirmed {
			continue
		}
		c := ci.ID
		n.goOwned(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			var ks keySet
			if err := n.postJSON(ctx, c.Owner(), "/fed/v1/keys", map[string]policy.CommunityID{"community": c}, &ks); err != nil {
				n.log.Debug("could not fetch the community's keys from its owner", "community", c, "err", err)
				return
			}
			if len(ks.Keys) == 0 || bytes.Equal(ks.Keys[0], n.local.key(c)) {
				return
			}
			if err := n.applyKeyStep(keyStep{c, stepUse, ks.Keys[0]}); err != nil {
				n.log.Error("adopt the community's current key", "community", c, "err", err)
				return
			}
			n.log.Info("adopted the community's current gossip key", "community", c)
		})
	}
}

// keyStep applies one rotation phase to the kept keys.
func (l *localState) keyStep(st keyStep) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := st.Community
	primary, others := l.data.Keys[c], l.data.OldKeys[c]
	has := func(k []byte) bool {
		return bytes.Equal(primary, k) || slices.ContainsFunc(others, func(o []byte) bool { return bytes.Equal(o, k) })
	}
	switch st.Step {
	case stepInstall:
		if has(st.Key) {
			return nil
		}
		others = append(slices.Clone(others), st.Key)
	case stepUse:
		if bytes.Equal(primary, st.Key) {
			return nil
		}
		others = slices.DeleteFunc(slices.Clone(others), func(o []byte) bool { return bytes.Equal(o, st.Key) })
		if primary != nil {
			others = append(others, primary)
		}
		primary = st.Key
	case stepRemove:
		if bytes.Equal(primary, st.Key) {
			return errors.New("the key to remove is the primary key")
		}
		others = slices.DeleteFunc(slices.Clone(others), func(o []byte) bool { return bytes.Equal(o, st.Key) })
	}
	oldP, oldO := l.data.Keys[c], l.data.OldKeys[c]
	l.data.Keys[c] = primary
	if len(others) == 0 {
		delete(l.data.OldKeys, c)
	} else {
		l.data.OldKeys[c] = others
	}
	if err := l.saveLocked(); err != nil {
		l.data.Keys[c], l.data.OldKeys[c] = oldP, oldO
		return err
	}
	return nil
}

// keys returns c's keys, primary first.
func (l *localState) keys(c policy.CommunityID) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.data.Keys[c] == nil {
		return nil
	}
	return append([][]byte{l.data.Keys[c]}, l.data.OldKeys[c]...)
}

// secondaryKeys returns c's keys other than the primary.
func (l *localState) secondaryKeys(c policy.CommunityID) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.data.OldKeys[c])
}
