package gossip

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Worst-case bytes memberlist adds around one user message in a gossip
// packet (net.go, security.go): compound header, per-entry length, user
// message type, CRC, AES-GCM (version 0 padding included).
const packetOverhead = 2 + 2 + 1 + 5 + 45

// Every message travels in an envelope: a kind byte and a random id.
// Receivers re-gossip envGossip messages the first time they see them (as
// serf does: memberlist itself only re-gossips its own membership
// messages), which is what makes a broadcast epidemic rather than limited
// to the sender's own retransmissions.
const (
	envGossip    = 1 // packet path: re-gossiped by every receiver
	envDirect    = 2 // stream path: sent to each member, not re-gossiped
	envHeaderLen = 1 + 16
	seenCapacity = 8192 // message ids remembered for de-duplication
)

// maxQueuedBroadcasts bounds the packet broadcast queue; the oldest-sent
// messages are pruned beyond it (push/pull covers them).
const maxQueuedBroadcasts = 4096

// Cluster is this agent's member of one community's memberlist cluster.
// All methods are safe for concurrent use.
type Cluster struct {
	id       string
	name     string
	mgr      *Manager
	ml       *memberlist.Memberlist
	log      *slog.Logger
	met      *metrics
	timing   Timing
	seeds    []string
	delegate Delegate
	admit    func(Member) error

	keyMu   sync.Mutex          // serializes changes to keyring (see keys.go)
	keyring *memberlist.Keyring // memberlist reads it on every packet

	decryptUDP, decryptTCP prometheus.Counter // sluice_gossip_decrypt_failures_total

	queue        *memberlist.TransmitLimitedQueue
	maxPacketMsg int
	seen         seenSet

	inbox     chan []byte // NotifyMsg payloads for the worker
	merges    chan []byte // remote states for the worker
	streamOut chan []byte // oversized broadcasts
	events    chan Event

	metaMu sync.Mutex
	meta   []byte // encoded: flags byte + user meta

	mu           sync.Mutex // guards members, eventsClosed
	members      map[string]*memberRecord
	eventsClosed bool

	lifeMu sync.Mutex // serializes Leave, SetMeta and Shutdown
	left   atomic.Bool
	shut   atomic.Bool
	alive  atomic.Int64 // alive members, from observe; sizes retransmissions

	firstAttempt chan struct{} // closed after the first seed contact attempt
	done         chan struct{}
	wg           sync.WaitGroup
}

type memberRecord struct {
	Member
	since time.Time // of the last state change
}

func newCluster(m *Manager, cfg ClusterConfig) (*Cluster, error) {
	t := cfg.Timing.withDefaults()
	qs := cfg.QueueSize
	if qs == 0 {
		qs = 1024
	}
	d := cfg.Delegate
	if d == nil {
		d = nopDelegate{}
	}
	c := &Cluster{
		id:           cfg.ID,
		name:         cfg.NodeName,
		mgr:          m,
		log:          m.log.With("community", cfg.ID),
		met:          m.met,
		timing:       t,
		seeds:        slices.Clone(cfg.Seeds),
		delegate:     d,
		admit:        cfg.Admit,
		maxPacketMsg: memberlistUDPBufferSize - packetOverhead - (2 + len(cfg.ID)) - envHeaderLen,
		inbox:        make(chan []byte, qs),
		merges:       make(chan []byte, 4),
		streamOut:    make(chan []byte, 64),
		events:       make(chan Event, qs),
		meta:         encodeMeta(nodeMeta{User: cfg.Meta}),
		members:      make(map[string]*memberRecord),
		firstAttempt: make(chan struct{}),
		done:         make(chan struct{}),
	}
	keys := make([][]byte, len(cfg.SecondaryKeys))
	for i, k := range cfg.SecondaryKeys {
		keys[i] = bytes.Clone(k)
	}
	kr, err := memberlist.NewKeyring(keys, bytes.Clone(cfg.Key))
	if err != nil { // cannot happen: Validate checked the sizes
		return nil, fmt.Errorf("gossip: community %q: keyring: %w", cfg.ID, err)
	}
	c.keyring = kr
	c.queue = &memberlist.TransmitLimitedQueue{
		RetransmitMult: t.RetransmitMult,
		// Not ml.NumMembers: no memberlist lock from inside its callbacks.
		NumNodes: func() int { return int(max(c.alive.Load(), 1)) },
	}

	// Before memberlist starts: its log tap may count from the first packet.
	c.decryptUDP = m.met.decrypt.WithLabelValues(cfg.ID, "udp")
	c.decryptTCP = m.met.decrypt.WithLabelValues(cfg.ID, "tcp")
	ct, err := m.tr.register(cfg.ID, t.TCPTimeout)
	if err != nil {
		m.met.decrypt.DeletePartialMatch(prometheus.Labels{"community": cfg.ID})
		return nil, err
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.Transport = ct
	mc.Label = cfg.ID // see the package comment: memberlist adds and checks it
	mc.Keyring = kr
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	mc.BindPort = ct.shared.advPort // default port for seeds given without one
	mc.AdvertisePort = ct.shared.advPort
	mc.Logger = newMemberlistLogger(c.log.With("component", "memberlist"), c.tapLog)
	mc.Delegate = &delegate{c}
	mc.Events = &eventDelegate{c}
	if cfg.Admit != nil {
		mc.Merge = &mergeDelegate{c}
		mc.Alive = &aliveDelegate{c}
	}
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.RetransmitMult = t.RetransmitMult
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = t.TCPTimeout
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.DeadNodeReclaimTime = t.GossipToTheDeadTime // a restarted agent may come back on a new address

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = ct.Shutdown()
		m.met.decrypt.DeletePartialMatch(prometheus.Labels{"community": cfg.ID})
		return nil, fmt.Errorf("gossip: community %q: %w", cfg.ID, err)
	}
	c.ml = ml
	c.wg.Add(3)
	go c.deliverLoop()
	go c.streamLoop()
	go c.rejoinLoop()
	return c, nil
}

// memberlistUDPBufferSize is memberlist's default UDPBufferSize, kept.
const memberlistUDPBufferSize = 1400

// ID is the community id.
func (c *Cluster) ID() string { return c.id }

// LocalName is this agent's node name in the community.
func (c *Cluster) LocalName() string { return c.name }

// MaxPacketMessage is the largest message Broadcast gossips in packets;
// larger ones go by stream (see Broadcast).
func (c *Cluster) MaxPacketMessage() int { return c.maxPacketMsg }

// Broadcast sends msg to every member of the community, best effort; the
// slice is copied, and this agent's own Delegate does not receive it. Up to
// MaxPacketMessage bytes it is gossiped: piggy-backed on gossip packets, and
// every member re-gossips it on first receipt, RetransmitMult*log10(N+1)
// sends each, so it reaches the members alive while it spreads. Larger
// messages (up to MaxMessageSize) are sent once over an encrypted TCP stream
// to each member alive when the sender gets to it, in the background. In
// both cases a member that misses the message learns the state from the
// next push/pull of Delegate.LocalState. Never blocks.
func (c *Cluster) Broadcast(msg []byte) error {
	if c.left.Load() || c.shut.Load() {
		return ErrShutdown
	}
	if len(msg) > MaxMessageSize {
		return ErrMessageTooLarge
	}
	kind := byte(envGossip)
	if len(msg) > c.maxPacketMsg {
		kind = envDirect
	}
	env := make([]byte, envHeaderLen, envHeaderLen+len(msg))
	env[0] = kind
	id := newMsgID()
	copy(env[1:envHeaderLen], id[:])
	env = append(env, msg...)
	c.seen.add(id) // our own message, when it comes back, is old news
	if kind == envDirect {
		select {
		case c.streamOut <- env:
			c.met.broadcasts.WithLabelValues("stream").Inc()
			return nil
		default:
			c.met.drop(dropStreamOutFull)
			return ErrQueueFull
		}
	}
	c.enqueue(env)
	c.met.broadcasts.WithLabelValues("packet").Inc()
	return nil
}

// enqueue puts an envelope on the packet broadcast queue, keeping the queue
// bounded. Never blocks.
func (c *Cluster) enqueue(env []byte) {
	c.queue.QueueBroadcast(broadcast(env))
	if n := c.queue.NumQueued(); n > maxQueuedBroadcasts {
		c.queue.Prune(maxQueuedBroadcasts)
		c.met.dropped.WithLabelValues(dropBroadcastPruned).Add(float64(n - maxQueuedBroadcasts))
	}
}

// receive handles one envelope from memberlist (packet or stream): drop
// duplicates, re-gossip new packet-path messages, hand the payload to the
// worker. Runs on memberlist's goroutines: never blocks, copies b.
func (c *Cluster) receive(b []byte) {
	if len(b) < envHeaderLen || (b[0] != envGossip && b[0] != envDirect) {
		c.met.drop(dropMalformedMessage)
		return
	}
	if !c.seen.add(msgID(b[1:envHeaderLen])) {
		return
	}
	if b[0] == envGossip && len(b)-envHeaderLen <= c.maxPacketMsg && !c.left.Load() {
		c.enqueue(bytes.Clone(b))
	}
	select {
	case c.inbox <- bytes.Clone(b[envHeaderLen:]):
	default:
		c.met.drop(dropNotifyQueueFull)
	}
}

type msgID [16]byte

func newMsgID() (id msgID) {
	binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	return id
}

// seenSet remembers the last seenCapacity message ids. A message seen again
// after its id was evicted is delivered again: receivers must tolerate rare
// duplicates (Sluice's signed records are idempotent).
type seenSet struct {
	mu    sync.Mutex
	ids   map[msgID]struct{}
	order []msgID // ring of ids in insertion order
	next  int
}

// add records id and reports whether it was new.
func (s *seenSet) add(id msgID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[msgID]struct{}, seenCapacity)
		s.order = make([]msgID, 0, seenCapacity)
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	if len(s.order) < seenCapacity {
		s.order = append(s.order, id)
	} else {
		delete(s.ids, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % seenCapacity
	}
	s.ids[id] = struct{}{}
	return true
}

// Members returns every member this agent knows of, itself included, sorted
// by name: alive ones, and dead or left ones until Timing.ForgetAfter.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	out := make([]Member, 0, len(c.members))
	for _, r := range c.members {
		out = append(out, r.Member)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// NumAlive is the number of alive members, this agent included.
func (c *Cluster) NumAlive() int { return c.ml.NumMembers() }

// Events delivers membership changes in order. It is buffered
// (ClusterConfig.QueueSize); when the reader falls behind, events are
// dropped and counted, never waited for: Members is the source of truth.
// Closed by Shutdown.
func (c *Cluster) Events() <-chan Event { return c.events }

// SetMeta changes this agent's metadata and gossips it, waiting up to
// timeout for the update to be sent.
func (c *Cluster) SetMeta(meta []byte, timeout time.Duration) error {
	if len(meta) > MaxMetaSize {
		return &ConfigError{"meta", fmt.Sprintf("%d bytes, more than %d", len(meta), MaxMetaSize)}
	}
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.shut.Load() || c.left.Load() {
		return ErrShutdown
	}
	c.setMeta(nodeMeta{User: bytes.Clone(meta)})
	return c.ml.UpdateNode(timeout)
}

func (c *Cluster) setMeta(m nodeMeta) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.meta = encodeMeta(m)
}

// Leave tells the community this agent is leaving, so peers record it as
// left rather than failed, waiting up to timeout overall (half for the
// leaving mark, half for memberlist's leave). The cluster stops rejoining
// and broadcasting but keeps answering until Shutdown, which must follow.
// Calling it again returns nil; after Shutdown it returns ErrShutdown.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.shut.Load() {
		return ErrShutdown
	}
	if c.left.Swap(true) {
		return nil
	}
	if timeout <= 0 {
		timeout = c.timing.TCPTimeout
	}
	deadline := time.Now().Add(timeout)
	c.metaMu.Lock()
	m := decodeMeta(c.meta)
	c.metaMu.Unlock()
	m.Leaving = true
	c.setMeta(m)
	// UpdateNode returns when the alive message carrying the mark has been
	// fully retransmitted, so it goes out before memberlist's leave.
	err := c.ml.UpdateNode(timeout / 2)
	if err != nil {
		c.log.Warn("gossip: leave mark not fully gossiped", "err", err)
	}
	// memberlist.Leave waits forever on a zero timeout.
	rest := max(time.Until(deadline), timeout/4, time.Millisecond)
	if err := c.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: community %q: leave: %w", c.id, err)
	}
	c.log.Info("gossip: left community")
	return nil
}

// Shutdown stops this agent's member of the community without leaving
// (call Leave first, or peers see a failure), waits for its goroutines and
// closes Events. Idempotent.
func (c *Cluster) Shutdown() {
	c.lifeMu.Lock()
	if c.shut.Swap(true) {
		c.lifeMu.Unlock()
		return
	}
	c.lifeMu.Unlock()

	close(c.done)
	// Shuts the clusterTransport down first, which aborts dials and closes
	// streams, so a rejoin or stream send in flight returns at once.
	_ = c.ml.Shutdown()
	c.wg.Wait()

	c.mu.Lock()
	c.eventsClosed = true
	close(c.events)
	c.mu.Unlock()
	c.met.members.DeleteLabelValues(c.id)
	// A late memberlist log line increments the counters held in c, which
	// are no longer in the vector: the series stay deleted.
	c.met.decrypt.DeletePartialMatch(prometheus.Labels{"community": c.id})
	c.mgr.forget(c)
}

// deliverLoop is the worker that calls the user Delegate, so memberlist's
// goroutines never wait on it (STYLE habit 4).
func (c *Cluster) deliverLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case msg := <-c.inbox:
			c.delegate.NotifyMsg(msg)
		case st := <-c.merges:
			c.delegate.MergeRemoteState(st)
		}
	}
}

// streamLoop sends oversized broadcasts to each alive member over TCP.
func (c *Cluster) streamLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case msg := <-c.streamOut:
			for _, n := range c.ml.Members() {
				if n.Name == c.name {
					continue
				}
				select {
				case <-c.done:
					return
				default:
				}
				if err := c.ml.SendReliable(n, msg); err != nil {
					c.met.drop(dropStreamSendFailed)
					c.log.Debug("gossip: stream broadcast failed", "member", n.Name, "err", err)
				}
			}
		}
	}
}

// rejoinLoop first contacts the seeds, then keeps reconnecting: to every
// member last seen dead (a partner back from a restart or a partition), and
// to the seeds while alone. memberlist gives up on dead nodes after
// GossipToTheDeadTime; this does not, until ForgetAfter.
func (c *Cluster) rejoinLoop() {
	defer c.wg.Done()
	interval := c.timing.RejoinInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		select {
		case <-c.done:
			if first {
				close(c.firstAttempt)
			}
			return
		case <-timer.C:
		}
		if c.left.Load() {
			if first {
				close(c.firstAttempt)
			}
			return
		}
		targets := c.rejoinTargets()
		if len(targets) > 0 {
			n, err := c.joinAll(targets)
			if n > 0 {
				c.met.joins.WithLabelValues("success").Inc()
				interval = c.timing.RejoinInterval
				c.log.Debug("gossip: joined", "reached", n, "of", targets)
			} else {
				c.met.joins.WithLabelValues("failure").Inc()
				interval = min(2*interval, c.timing.RejoinMaxInterval)
				c.log.Debug("gossip: join failed, backing off", "targets", targets, "retry_in", interval, "err", err)
			}
		} else {
			interval = c.timing.RejoinInterval
		}
		if first {
			close(c.firstAttempt)
			first = false
		}
		// Up to 25% jitter so restarted agents do not rejoin in lockstep.
		timer.Reset(interval + time.Duration(rand.Int64N(int64(interval)/4+1)))
	}
}

// joinAll pushes/pulls with every target concurrently, so one blackholed
// address (waiting out TCPTimeout) does not hold up the others.
func (c *Cluster) joinAll(targets []string) (int, error) {
	var (
		wg   sync.WaitGroup
		ok   atomic.Int64
		errs = make([]error, len(targets))
	)
	for i, t := range targets {
		wg.Go(func() {
			n, err := c.ml.Join([]string{t})
			ok.Add(int64(n))
			errs[i] = err
		})
	}
	wg.Wait()
	return int(ok.Load()), errors.Join(errs...)
}

// rejoinTargets returns the addresses to push/pull with now, forgetting
// members dead or left for longer than ForgetAfter.
func (c *Cluster) rejoinTargets() []string {
	self := c.mgr.Addr()
	now := time.Now()
	alive := 0
	var targets []string
	c.mu.Lock()
	for name, r := range c.members {
		switch r.State {
		case StateAlive:
			alive++
		case StateDead, StateLeft:
			if now.Sub(r.since) > c.timing.ForgetAfter {
				delete(c.members, name)
				continue
			}
			if r.State == StateDead && r.Addr != self {
				targets = append(targets, r.Addr)
			}
		}
	}
	c.mu.Unlock()
	if alive <= 1 {
		for _, s := range c.seeds {
			if s != self {
				targets = append(targets, s)
			}
		}
	}
	slices.Sort(targets)
	return slices.Compact(targets)
}

// observe records a membership change reported by memberlist. It is called
// from the event delegate, under memberlist's node lock: no memberlist
// calls here.
func (c *Cluster) observe(n *memberlist.Node, t EventType) {
	meta := decodeMeta(n.Meta)
	mem := Member{
		Name: n.Name,
		Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		Meta: meta.User,
	}
	switch {
	case t != EventLeave:
		mem.State = StateAlive
	case meta.Leaving:
		mem.State = StateLeft
	default:
		mem.State = StateDead
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eventsClosed { // after Shutdown: keep the gauge series deleted
		return
	}
	r, ok := c.members[n.Name]
	if !ok || r.State != mem.State {
		r = &memberRecord{since: now}
		c.members[n.Name] = r
	}
	r.Member = mem
	alive := 0
	for _, r := range c.members {
		if r.State == StateAlive {
			alive++
		}
	}
	c.alive.Store(int64(alive))
	c.met.members.WithLabelValues(c.id).Set(float64(alive))
	select {
	case c.events <- Event{Type: t, Member: mem}:
	default:
		c.met.drop(dropEventQueueFull)
	}
}

func (c *Cluster) admitNode(n *memberlist.Node) error {
	if n.Name == c.name {
		return nil
	}
	err := c.admit(Member{
		Name: n.Name,
		Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		Meta: decodeMeta(n.Meta).User,
	})
	if err != nil {
		c.met.drop(dropPeerRejected)
	}
	return err
}

// nodeMeta is what this package puts in memberlist's node metadata: a flags
// byte, then the user's ClusterConfig.Meta.
type nodeMeta struct {
	Leaving bool // set by Leave: the node is leaving on purpose
	User    []byte
}

const metaFlagLeaving = 1 << 0

func encodeMeta(m nodeMeta) []byte {
	var flags byte
	if m.Leaving {
		flags |= metaFlagLeaving
	}
	return append([]byte{flags}, m.User...)
}

// decodeMeta is the one place node metadata is parsed (STYLE habit 5).
// Empty metadata (a foreign memberlist) decodes to no flags, no user meta.
// The user part is copied: memberlist's buffer is not ours to keep.
func decodeMeta(b []byte) nodeMeta {
	if len(b) == 0 {
		return nodeMeta{}
	}
	m := nodeMeta{Leaving: b[0]&metaFlagLeaving != 0}
	if len(b) > 1 {
		m.User = bytes.Clone(b[1:])
	}
	return m
}

// broadcast is one packet-path message; every message is distinct, so
// nothing invalidates anything.
type broadcast []byte

var _ memberlist.UniqueBroadcast = broadcast(nil)

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}
func (b broadcast) UniqueBroadcast()                      {}

// delegate implements memberlist.Delegate. Apart from LocalState (see
// Delegate) it never calls user code and never blocks: buffers are copied
// and handed over with select/default.
type delegate struct{ c *Cluster }

var _ memberlist.Delegate = (*delegate)(nil)

func (d *delegate) NodeMeta(limit int) []byte {
	d.c.metaMu.Lock()
	defer d.c.metaMu.Unlock()
	if len(d.c.meta) > limit { // cannot happen: Validate bounds it
		return d.c.meta[:1]
	}
	return bytes.Clone(d.c.meta)
}

func (d *delegate) NotifyMsg(b []byte) { d.c.receive(b) }

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(bool) []byte { return d.c.delegate.LocalState() }

func (d *delegate) MergeRemoteState(b []byte, _ bool) {
	if len(b) == 0 {
		return
	}
	select {
	case d.c.merges <- bytes.Clone(b):
	default:
		d.c.met.drop(dropMergeQueueFull)
	}
}

// eventDelegate implements memberlist.EventDelegate.
type eventDelegate struct{ c *Cluster }

var _ memberlist.EventDelegate = (*eventDelegate)(nil)

func (e *eventDelegate) NotifyJoin(n *memberlist.Node)   { e.c.observe(n, EventJoin) }
func (e *eventDelegate) NotifyLeave(n *memberlist.Node)  { e.c.observe(n, EventLeave) }
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { e.c.observe(n, EventUpdate) }

// mergeDelegate implements memberlist.MergeDelegate with ClusterConfig.Admit
// (STYLE habit 5): a join that brings in any foreign peer is refused whole.
type mergeDelegate struct{ c *Cluster }

var _ memberlist.MergeDelegate = (*mergeDelegate)(nil)

func (m *mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := m.c.admitNode(p); err != nil {
			return fmt.Errorf("peer %q refused: %w", p.Name, err)
		}
	}
	return nil
}

// aliveDelegate implements memberlist.AliveDelegate with ClusterConfig.Admit:
// gossip can introduce peers without a merge.
type aliveDelegate struct{ c *Cluster }

var _ memberlist.AliveDelegate = (*aliveDelegate)(nil)

func (a *aliveDelegate) NotifyAlive(p *memberlist.Node) error { return a.c.admitNode(p) }

type nopDelegate struct{}

func (nopDelegate) LocalState() []byte      { return nil }
func (nopDelegate) MergeRemoteState([]byte) {}
func (nopDelegate) NotifyMsg([]byte)        {}
