package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBindAddr is the gossip listen address when Options.BindAddr is empty.
const DefaultBindAddr = "0.0.0.0:7946"

// KeySize is the length of a community key: AES-256.
const KeySize = 32

// MaxMetaSize is the largest ClusterConfig.Meta: memberlist's MetaMaxSize
// minus the one byte this package prepends (see metaFlagLeaving).
const MaxMetaSize = memberlist.MetaMaxSize - 1

// MaxMessageSize is the largest message Cluster.Broadcast accepts. Messages
// above Cluster.MaxPacketMessage go by stream; this bounds that path.
const MaxMessageSize = 1 << 20

var (
	// ErrShutdown is returned by operations on a Manager or Cluster that
	// has been shut down (or a Cluster that has left).
	ErrShutdown = errors.New("gossip: shut down")
	// ErrAlreadyJoined is returned by Manager.Join for a community that
	// already has a running Cluster on this Manager.
	ErrAlreadyJoined = errors.New("gossip: community already joined")
	// ErrMessageTooLarge is returned by Cluster.Broadcast above MaxMessageSize.
	ErrMessageTooLarge = errors.New("gossip: message too large")
	// ErrQueueFull is returned by Cluster.Broadcast when the stream path for
	// oversized messages is saturated; the message was dropped and counted.
	ErrQueueFull = errors.New("gossip: stream broadcast queue full")
	// ErrInvalidKey is returned by the Cluster key methods for a key that
	// is not KeySize bytes long.
	ErrInvalidKey = errors.New("gossip: key must be 32 bytes")
	// ErrUnknownKey is returned by Cluster.UseKey for a key that is not
	// installed.
	ErrUnknownKey = errors.New("gossip: key not installed")
	// ErrPrimaryKey is returned by Cluster.RemoveKey for the key in use:
	// switch to another one with UseKey first.
	ErrPrimaryKey = errors.New("gossip: cannot remove the primary key")
)

// ConfigError names the field of Options or ClusterConfig that is invalid.
type ConfigError struct {
	Field  string // e.g. "ClusterConfig.Key"
	Reason string
}

func (e *ConfigError) Error() string { return "gossip: " + e.Field + ": " + e.Reason }

// Options configure a Manager: the one gossip port of an agent.
type Options struct {
	// BindAddr is host:port for both the UDP socket and the TCP listener.
	// Port 0 picks a free port (the same for both). Empty means
	// DefaultBindAddr.
	BindAddr string

	// AdvertiseAddr is the IP address or host name partners reach this
	// agent's gossip port at. Empty means the bind IP, or a private IP of
	// this host when bound to an unspecified address. A host name is
	// resolved once, in NewManager.
	AdvertiseAddr string

	// AdvertisePort is the port partners dial; 0 means the bound port
	// (set it when a NAT or port forward sits in between).
	AdvertisePort int

	// Logger receives this package's and memberlist's logs; nil discards.
	Logger *slog.Logger

	// Registerer registers the sluice_gossip_* metrics; nil leaves them
	// unregistered (they still count, for tests).
	Registerer prometheus.Registerer

	// StreamLabelTimeout bounds how long an inbound TCP connection may take
	// to send its label header before it is dropped. Default 5s.
	StreamLabelTimeout time.Duration

	// MaxPendingStreams bounds inbound TCP connections whose label has not
	// arrived yet; beyond it new connections are closed at once and
	// counted. Default 256.
	MaxPendingStreams int
}

func (o *Options) setDefaults() {
	if o.BindAddr == "" {
		o.BindAddr = DefaultBindAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StreamLabelTimeout <= 0 {
		o.StreamLabelTimeout = 5 * time.Second
	}
	if o.MaxPendingStreams <= 0 {
		o.MaxPendingStreams = 256
	}
}

// Delegate is what the federation layer plugs into one community's cluster.
//
// NotifyMsg and MergeRemoteState are called from one worker goroutine per
// Cluster, one call at a time, never from memberlist's network goroutines.
// They may take their time: meanwhile incoming messages queue up to
// ClusterConfig.QueueSize and beyond it are dropped and counted
// (sluice_gossip_messages_dropped_total{reason="notify_queue_full"|
// "merge_queue_full"}). The buffers are owned by the callee.
//
// LocalState is the exception: memberlist needs its answer inside a push/pull
// exchange, so it is called synchronously on memberlist's push/pull
// goroutines, possibly concurrently with the worker and with itself. It must
// be safe for concurrent use and quick (return a prepared snapshot); the
// exchange is bounded by Timing.TCPTimeout. memberlist refuses remote states
// above 20 MB.
type Delegate interface {
	// LocalState returns this agent's full state for push/pull
	// anti-entropy (for Sluice: the signed record set).
	LocalState() []byte
	// MergeRemoteState receives a peer's LocalState.
	MergeRemoteState(buf []byte)
	// NotifyMsg receives one message some member passed to Broadcast.
	NotifyMsg(msg []byte)
}

// ClusterConfig describes one community's cluster on this agent.
type ClusterConfig struct {
	// ID is the community id. It is memberlist's packet label, so it
	// travels in clear text in every packet header; 1 to 255 bytes.
	ID string

	// Key is the community's shared 32-byte AES-256 key: this agent's
	// primary key, which encrypts everything it sends and is tried first
	// on what it receives. The slice is copied.
	Key []byte

	// SecondaryKeys are further 32-byte keys accepted on receipt but never
	// used to send: the other keys of a key rotation in progress (see the
	// package doc), so that an agent restarting mid-rotation still
	// understands every member. Usually empty. Duplicates are ignored; the
	// slices are copied.
	SecondaryKeys [][]byte

	// NodeName identifies this agent in the community and must be unique
	// in it and stable across restarts (e.g. tenant id + "/" + agent id).
	NodeName string

	// Meta is opaque node metadata gossiped with membership (e.g. the
	// agent's federation address); at most MaxMetaSize bytes. Change it
	// later with Cluster.SetMeta.
	Meta []byte

	// Delegate receives messages and state; nil ignores them.
	Delegate Delegate

	// Admit, when set, is asked about every peer memberlist is about to
	// accept (on join and push/pull merges, and on every alive message).
	// A non-nil error keeps that peer out (counted as
	// reason="peer_rejected"). It runs on memberlist's goroutines, under
	// its locks: it must be pure and fast (no I/O, no Cluster calls).
	Admit func(Member) error

	// Seeds are host:port addresses of agents believed to be members.
	// Unreachable seeds are not an error: they are retried with backoff
	// while this agent is alone in the cluster.
	Seeds []string

	// Timing tunes failure detection, dissemination and rejoin. Zero
	// fields take DefaultTiming's value; FastTiming suits tests.
	Timing Timing

	// QueueSize bounds received messages and remote states waiting for
	// the Delegate, and membership events waiting on Events. Default 1024.
	QueueSize int
}

// Timing tunes one cluster. memberlist field names are kept where they map
// one to one.
type Timing struct {
	ProbeInterval       time.Duration // failure detection period
	ProbeTimeout        time.Duration // wait for a direct ack (>= one RTT)
	SuspicionMult       int           // suspicion timeout = mult * log10(N) * ProbeInterval
	GossipInterval      time.Duration // dissemination period
	GossipNodes         int           // fan-out per gossip round
	RetransmitMult      int           // retransmits = mult * log10(N+1)
	PushPullInterval    time.Duration // full state exchange period
	TCPTimeout          time.Duration // dial and push/pull deadline
	GossipToTheDeadTime time.Duration // keep gossiping to, and reclaiming, dead nodes
	RejoinInterval      time.Duration // rejoin loop period, and its backoff floor
	RejoinMaxInterval   time.Duration // rejoin backoff ceiling
	ForgetAfter         time.Duration // dead/left members are dropped from Members and rejoin after this
}

// DefaultTiming is for partner agents across the internet: WAN-grade failure
// detection (memberlist.DefaultWANConfig) but LAN-grade dissemination, since
// an idle gossip tick costs nothing and broadcasts should converge in about a
// second. RetransmitMult is 6 rather than memberlist's 4: each receiver sends
// a message 6*ceil(log10(N+1)) times to random members, and with 4 about one
// broadcast in a hundred misses one agent of 50 (it then waits for push/pull);
// with 6, about one in four thousand. Community clusters are small and
// messages rare, so the extra traffic is cheap.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:       5 * time.Second,
		ProbeTimeout:        3 * time.Second,
		SuspicionMult:       6,
		GossipInterval:      200 * time.Millisecond,
		GossipNodes:         4,
		RetransmitMult:      6,
		PushPullInterval:    30 * time.Second,
		TCPTimeout:          10 * time.Second,
		GossipToTheDeadTime: 60 * time.Second,
		RejoinInterval:      5 * time.Second,
		RejoinMaxInterval:   2 * time.Minute,
		ForgetAfter:         72 * time.Hour,
	}
}

// FastTiming is memberlist.DefaultLocalConfig with short intervals, for
// in-process clusters on loopback in tests: failures are detected and
// rejoins happen within about a second.
func FastTiming() Timing {
	return Timing{
		ProbeInterval:       200 * time.Millisecond,
		ProbeTimeout:        100 * time.Millisecond,
		SuspicionMult:       2,
		GossipInterval:      20 * time.Millisecond,
		GossipNodes:         3,
		RetransmitMult:      4,
		PushPullInterval:    300 * time.Millisecond,
		TCPTimeout:          time.Second,
		GossipToTheDeadTime: 2 * time.Second,
		RejoinInterval:      100 * time.Millisecond,
		RejoinMaxInterval:   time.Second,
		ForgetAfter:         time.Minute,
	}
}

// withDefaults fills zero fields from DefaultTiming.
func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fillInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.ProbeInterval, d.ProbeInterval)
	fill(&t.ProbeTimeout, d.ProbeTimeout)
	fillInt(&t.SuspicionMult, d.SuspicionMult)
	fill(&t.GossipInterval, d.GossipInterval)
	fillInt(&t.GossipNodes, d.GossipNodes)
	fillInt(&t.RetransmitMult, d.RetransmitMult)
	fill(&t.PushPullInterval, d.PushPullInterval)
	fill(&t.TCPTimeout, d.TCPTimeout)
	fill(&t.GossipToTheDeadTime, d.GossipToTheDeadTime)
	fill(&t.RejoinInterval, d.RejoinInterval)
	fill(&t.RejoinMaxInterval, d.RejoinMaxInterval)
	fill(&t.ForgetAfter, d.ForgetAfter)
	if t.RejoinMaxInterval < t.RejoinInterval {
		t.RejoinMaxInterval = t.RejoinInterval
	}
	return t
}

// Validate checks c and names the first invalid field.
func (c *ClusterConfig) Validate() error {
	switch {
	case c.ID == "":
		return &ConfigError{"ClusterConfig.ID", "must not be empty"}
	case len(c.ID) > memberlist.LabelMaxSize:
		return &ConfigError{"ClusterConfig.ID", fmt.Sprintf("longer than %d bytes", memberlist.LabelMaxSize)}
	case len(c.Key) != KeySize:
		return &ConfigError{"ClusterConfig.Key", fmt.Sprintf("must be %d bytes, got %d", KeySize, len(c.Key))}
	case c.NodeName == "":
		return &ConfigError{"ClusterConfig.NodeName", "must not be empty"}
	case len(c.Meta) > MaxMetaSize:
		return &ConfigError{"ClusterConfig.Meta", fmt.Sprintf("%d bytes, more than %d", len(c.Meta), MaxMetaSize)}
	case c.QueueSize < 0:
		return &ConfigError{"ClusterConfig.QueueSize", "must not be negative"}
	}
	for i, k := range c.SecondaryKeys {
		if len(k) != KeySize {
			return &ConfigError{fmt.Sprintf("ClusterConfig.SecondaryKeys[%d]", i), fmt.Sprintf("must be %d bytes, got %d", KeySize, len(k))}
		}
	}
	for i, s := range c.Seeds {
		if s == "" {
			return &ConfigError{fmt.Sprintf("ClusterConfig.Seeds[%d]", i), "must not be empty"}
		}
	}
	return nil
}

// MemberState is a member's state as this agent sees it.
type MemberState int

const (
	// StateAlive: answering probes (or suspected but not yet declared dead).
	StateAlive MemberState = iota
	// StateDead: declared failed by failure detection; rejoin is attempted.
	StateDead
	// StateLeft: left on purpose (Cluster.Leave); not chased by rejoin.
	StateLeft
)

func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	default:
		return fmt.Sprintf("MemberState(%d)", int(s))
	}
}

// Member is one agent in a community's cluster, this agent included.
type Member struct {
	Name  string
	Addr  string // gossip host:port
	Meta  []byte // the member's ClusterConfig.Meta; do not modify
	State MemberState
}

// EventType says what changed about a member.
type EventType int

const (
	// EventJoin: a member became alive (first seen, or back from dead/left).
	EventJoin EventType = iota
	// EventLeave: a member became dead or left; see Member.State.
	EventLeave
	// EventUpdate: an alive member changed its metadata or address.
	EventUpdate
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventUpdate:
		return "update"
	default:
		return fmt.Sprintf("EventType(%d)", int(t))
	}
}

// Event is one membership change.
type Event struct {
	Type   EventType
	Member Member
}
