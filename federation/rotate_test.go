package federation

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/policy"
)

// counterSum adds up every sample of a counter family in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

type nopDelegate struct{ got chan []byte }

func (d nopDelegate) LocalState() []byte          { return nil }
func (d nopDelegate) MergeRemoteState(buf []byte) {}
func (d nopDelegate) NotifyMsg(msg []byte) {
	select {
	case d.got <- msg:
	default:
	}
}

// TestKeyRotationOnRemoval: removing a member rotates the community's
// gossip key on the owner and every remaining member, gossip between them
// goes on, and a holder of the old key is shut out: what it sends is
// dropped as undecryptable and it hears nothing.
func TestKeyRotationOnRemoval(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk, "s", "s2")
	north := newNode(t, "northwind", clk)
	third := newNode(t, "third", clk)
	acme.create("c")
	join(t, acme, north, "c")
	join(t, acme, third, "c")
	cid := policy.CommunityID(communityID(t, acme, "c"))
	old := acme.local.key(cid)
	eventually(t, "every member holds the community key", func() bool {
		return bytes.Equal(north.local.key(cid), old) && bytes.Equal(third.local.key(cid), old)
	})

	acme.ok(acme.Remove(bg, "c", string(third.ID())))
	eventually(t, "the owner and the remaining member use a new key, and only it", func() bool {
		k := acme.local.keys(cid)
		return len(k) == 1 && !bytes.Equal(k[0], old) && len(north.local.keys(cid)) == 1 &&
			bytes.Equal(north.local.key(cid), k[0]) && counterSum(t, acme.reg, "sluice_federation_key_rotations_total") == 1
	})
	fresh := acme.local.key(cid)
	for _, n := range []*tnode{acme, north} {
		v, ok := n.clusters.Load(cid)
		if !ok {
			t.Fatalf("%s left the community's cluster", n.Name())
		}
		if keys := v.(*gossip.Cluster).Keys(); len(keys) != 1 || !bytes.Equal(keys[0], fresh) {
			t.Fatalf("%s's cluster still holds %d keys after the rotation", n.Name(), len(keys))
		}
	}
	if bytes.Equal(third.local.key(cid), fresh) {
		t.Fatal("the removed member was given the new key")
	}

	// Gossip between the remaining members goes on under the new key.
	acme.share("c", "s2")
	eventually(t, "north hears of a share made after the rotation", func() bool {
		return len(north.book.snapshot().Shares(policy.Scope{Community: cid})) == 1
	})

	// A node holding the old key, posing as the remaining member (so only
	// the key keeps it out), is dropped as undecryptable.
	before := counterSum(t, acme.reg, "sluice_gossip_decrypt_failures_total")
	gm, err := gossip.NewManager(gossip.Options{BindAddr: "127.0.0.1:0", AdvertiseAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer gm.Shutdown()
	heard := nopDelegate{got: make(chan []byte, 1)}
	rogue, err := gm.Join(context.Background(), gossip.ClusterConfig{
		ID: string(cid), Key: old, NodeName: string(north.ID()) + "-rogue", Delegate: heard,
		Seeds: []string{acme.GossipAddr()}, Timing: gossip.FastTiming(),
	})
	if err == nil {
		defer rogue.Shutdown()
	}
	eventually(t, "the owner drops the old key's packets", func() bool {
		return counterSum(t, acme.reg, "sluice_gossip_decrypt_failures_total") > before
	})
	acme.ok(acme.Pause(bg, "c"))
	eventually(t, "north hears of the pause", func() bool {
		return north.book.snapshot().Paused(policy.Scope{Community: cid}, acme.ID())
	})
	select {
	case msg := <-heard.got:
		t.Fatalf("a holder of the old key heard %d bytes of gossip after the rotation", len(msg))
	default:
	}
	if err == nil && rogue.NumAlive() > 1 {
		t.Fatalf("a holder of the old key joined the cluster: %d members alive", rogue.NumAlive())
	}

	// A member that leaves by itself is shut out the same way.
	north.ok(north.Leave(bg, "c"))
	eventually(t, "the owner rotates again after the leave", func() bool {
		return counterSum(t, acme.reg, "sluice_federation_key_rotations_total") == 2 &&
			!bytes.Equal(acme.local.key(cid), fresh)
	})
}
