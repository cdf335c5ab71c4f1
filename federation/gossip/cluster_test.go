package gossip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two agents, three communities, one port each: every community sees only
// its own members, and a broadcast stays inside its community.
func TestCommunitiesShareOnePortAndStayApart(t *testing.T) {
	a, b := newTestManager(t, ""), newTestManager(t, "")
	keys := map[string][]byte{"x": testKey(1), "y": testKey(2), "z": testKey(3)}
	recA, recB := map[string]*recorder{}, map[string]*recorder{}
	ca, cb := map[string]*Cluster{}, map[string]*Cluster{}
	for _, id := range []string{"x", "y"} {
		recA[id], recB[id] = newRecorder(), newRecorder()
		ca[id] = join(t, a, id, keys[id], "a-"+id, recA[id])
		cb[id] = join(t, b, id, keys[id], "b-"+id, recB[id], a.Addr())
	}
	// z exists only on a; a names b as a seed, but b serves no z.
	recA["z"] = newRecorder()
	ca["z"] = join(t, a, "z", keys["z"], "a-z", recA["z"], b.Addr())

	for _, id := range []string{"x", "y"} {
		want := fmt.Sprintf("a-%s=alive,b-%s=alive", id, id)
		waitFor(t, 5*time.Second, id+" formed", func() bool {
			return memberStates(ca[id]) == want && memberStates(cb[id]) == want
		})
		for _, m := range ca[id].Members() {
			if (m.Name == "a-"+id && m.Addr != a.Addr()) || (m.Name == "b-"+id && m.Addr != b.Addr()) {
				t.Errorf("%s: member %s at %s, want its manager's one port", id, m.Name, m.Addr)
			}
			if string(m.Meta) != "meta-"+m.Name {
				t.Errorf("%s: member %s meta %q", id, m.Name, m.Meta)
			}
		}
	}
	if got := memberStates(ca["z"]); got != "a-z=alive" {
		t.Fatalf("z members = %s, want a-z alone", got)
	}
	waitFor(t, 5*time.Second, "b to drop a's z stream as unknown", func() bool {
		return testutil.ToFloat64(b.met.unknownLabel.WithLabelValues("tcp")) >= 1
	})

	// A small (packet) and a large (stream) broadcast in x.
	big := "big:" + strings.Repeat("x", 4000)
	if err := ca["x"].Broadcast([]byte("hello x")); err != nil {
		t.Fatal(err)
	}
	if err := ca["x"].Broadcast([]byte(big)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "x messages at b", func() bool {
		return recB["x"].got("hello x") && recB["x"].got(big)
	})
	// A marker in y proves y delivers; x's messages must not be there.
	if err := cb["y"].Broadcast([]byte("hello y")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "y message at a", func() bool { return recA["y"].got("hello y") })
	for _, r := range []*recorder{recA["y"], recB["y"], recA["z"]} {
		for _, m := range r.messages() {
			if m != "hello y" {
				t.Errorf("message %.20q leaked into another community", m)
			}
		}
	}
	if got := testutil.ToFloat64(a.met.broadcasts.WithLabelValues("stream")); got != 1 {
		t.Errorf("stream broadcasts = %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.met.members.WithLabelValues("x")); got != 2 {
		t.Errorf("sluice_gossip_members{community=x} = %v, want 2", got)
	}
	if _, err := a.Join(t.Context(), ClusterConfig{ID: "x", Key: keys["x"], NodeName: "again"}); !errors.Is(err, ErrAlreadyJoined) {
		t.Errorf("second Join of x: %v, want ErrAlreadyJoined", err)
	}
}

// A node holding the wrong key can neither join nor read a community.
func TestWrongKeyCannotJoinOrRead(t *testing.T) {
	a, b, c := newTestManager(t, ""), newTestManager(t, ""), newTestManager(t, "")
	recA, recB, recC := newRecorder(), newRecorder(), newRecorder()
	recA.set("secret-of-a")
	recC.set("state-of-c")
	ca := join(t, a, "x", testKey(1), "a", recA)
	cb := join(t, b, "x", testKey(1), "b", recB, a.Addr())
	cc := join(t, c, "x", testKey(9), "c", recC, a.Addr(), b.Addr())

	waitFor(t, 5*time.Second, "c's join attempts to fail", func() bool {
		return testutil.ToFloat64(c.met.joins.WithLabelValues("failure")) >= 2
	})
	if err := ca.Broadcast([]byte("for members only")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b to get the broadcast and a's state", func() bool {
		return recB.got("for members only") && recB.hasState("secret-of-a")
	})
	if got := testutil.ToFloat64(c.met.joins.WithLabelValues("success")); got != 0 {
		t.Errorf("c joined %v times", got)
	}
	for _, cl := range []*Cluster{ca, cb} {
		if got := memberStates(cl); got != "a=alive,b=alive" {
			t.Errorf("%s sees %s", cl.LocalName(), got)
		}
	}
	if got := memberStates(cc); got != "c=alive" {
		t.Errorf("c sees %s", got)
	}
	if len(recC.messages()) != 0 || recC.hasState("secret-of-a") {
		t.Errorf("c read the community: msgs %q", recC.messages())
	}
	if recA.hasState("state-of-c") || recB.hasState("state-of-c") {
		t.Error("c's state was merged by a member")
	}
}

// Anti-entropy alone: a state set on one node reaches all, no broadcast.
func TestPushPullConvergence(t *testing.T) {
	var recs []*recorder
	var first string
	for i := range 3 {
		m := newTestManager(t, "")
		r := newRecorder()
		recs = append(recs, r)
		var seeds []string
		if i > 0 {
			seeds = []string{first}
		} else {
			first = m.Addr()
		}
		join(t, m, "x", testKey(1), fmt.Sprintf("n%d", i), r, seeds...)
	}
	recs[2].set("record-42")
	waitFor(t, 10*time.Second, "record-42 everywhere", func() bool {
		return recs[0].hasState("record-42") && recs[1].hasState("record-42")
	})
	for i, r := range recs {
		if len(r.messages()) != 0 {
			t.Errorf("n%d got broadcasts %q", i, r.messages())
		}
	}
}

// A killed agent is marked dead; a new Manager on its address with its node
// name comes back without seeds, found by the others' rejoin loop.
func TestFailureDetectionAndRejoin(t *testing.T) {
	a, b := newTestManager(t, ""), newTestManager(t, "")
	c1, err := NewManager(Options{BindAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Shutdown()
	ca := join(t, a, "x", testKey(1), "a", nil)
	cb := join(t, b, "x", testKey(1), "b", nil, a.Addr())
	join(t, c1, "x", testKey(1), "c", nil, a.Addr())
	waitFor(t, 5*time.Second, "three members", func() bool {
		return memberStates(ca) == "a=alive,b=alive,c=alive" && memberStates(cb) == "a=alive,b=alive,c=alive"
	})

	addrC := c1.Addr()
	c1.Shutdown() // killed: no Leave
	waitFor(t, 10*time.Second, "c marked dead", func() bool {
		return memberStates(ca) == "a=alive,b=alive,c=dead" && memberStates(cb) == "a=alive,b=alive,c=dead"
	})

	c2 := newTestManager(t, addrC)
	cc := join(t, c2, "x", testKey(1), "c", nil) // no seeds
	waitFor(t, 10*time.Second, "c back everywhere", func() bool {
		want := "a=alive,b=alive,c=alive"
		return memberStates(ca) == want && memberStates(cb) == want && memberStates(cc) == want
	})
}

// Leave makes the others record "left", not "dead", and they do not chase it.
func TestLeaveIsSeenAsLeft(t *testing.T) {
	a, b := newTestManager(t, ""), newTestManager(t, "")
	ca := join(t, a, "x", testKey(1), "a", nil)
	cb := join(t, b, "x", testKey(1), "b", nil, a.Addr())
	waitFor(t, 5*time.Second, "two members", func() bool { return memberStates(ca) == "a=alive,b=alive" })

	if err := b.Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := cb.Broadcast([]byte("after leave")); !errors.Is(err, ErrShutdown) {
		t.Errorf("Broadcast after Leave: %v, want ErrShutdown", err)
	}
	b.Shutdown()
	b.Shutdown() // idempotent
	cb.Shutdown()
	if err := cb.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: %v", err)
	}
	waitFor(t, 5*time.Second, "b left", func() bool { return memberStates(ca) == "a=alive,b=left" })

	var sawLeft bool
	for !sawLeft {
		select {
		case ev := <-ca.Events():
			sawLeft = ev.Type == EventLeave && ev.Member.Name == "b" && ev.Member.State == StateLeft
		default:
			t.Fatal("no leave event with state left on a")
		}
	}
	if got := ca.rejoinTargets(); len(got) != 0 {
		t.Errorf("rejoin targets after leave: %v", got)
	}
}

// Admit keeps a foreign peer out even when it holds the key (habit 5).
func TestAdmitRejectsForeignPeer(t *testing.T) {
	a, b := newTestManager(t, ""), newTestManager(t, "")
	ctx := t.Context()
	ca, err := a.Join(ctx, ClusterConfig{
		ID: "x", Key: testKey(1), NodeName: "tenant1/a", Timing: FastTiming(),
		Admit: func(m Member) error {
			if !strings.HasPrefix(m.Name, "tenant1/") {
				return errors.New("not a member tenant")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	join(t, b, "x", testKey(1), "tenant9/b", nil, a.Addr())
	waitFor(t, 5*time.Second, "the rejection", func() bool {
		return testutil.ToFloat64(a.met.dropped.WithLabelValues(dropPeerRejected)) >= 1
	})
	if got := memberStates(ca); got != "tenant1/a=alive" {
		t.Errorf("a sees %s", got)
	}
}

func TestClusterConfigValidate(t *testing.T) {
	good := ClusterConfig{ID: "c", Key: testKey(1), NodeName: "n"}
	for _, tc := range []struct {
		field string
		edit  func(*ClusterConfig)
	}{
		{"ClusterConfig.ID", func(c *ClusterConfig) { c.ID = "" }},
		{"ClusterConfig.ID", func(c *ClusterConfig) { c.ID = strings.Repeat("i", 256) }},
		{"ClusterConfig.Key", func(c *ClusterConfig) { c.Key = c.Key[:16] }},
		{"ClusterConfig.SecondaryKeys[1]", func(c *ClusterConfig) { c.SecondaryKeys = [][]byte{testKey(2), testKey(3)[:24]} }},
		{"ClusterConfig.NodeName", func(c *ClusterConfig) { c.NodeName = "" }},
		{"ClusterConfig.Meta", func(c *ClusterConfig) { c.Meta = make([]byte, MaxMetaSize+1) }},
		{"ClusterConfig.Seeds[1]", func(c *ClusterConfig) { c.Seeds = []string{"h:1", ""} }},
	} {
		c := good
		tc.edit(&c)
		var ce *ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []nodeMeta{{}, {Leaving: true}, {User: []byte("addr")}, {Leaving: true, User: []byte("x")}} {
		got := decodeMeta(encodeMeta(m))
		if got.Leaving != m.Leaving || string(got.User) != string(m.User) {
			t.Errorf("%+v -> %+v", m, got)
		}
	}
	if got := decodeMeta(nil); got.Leaving || got.User != nil {
		t.Errorf("empty meta decoded to %+v", got)
	}
}
