// Package federation is how tenants' agents work together: tenant identity
// (package identity), signed policy records, the three-way community
// handshake, gossip of community state (package gossip) and partner reads
// served in place over mutual TLS.
//
// Every decision is policy's: the node verifies signatures, feeds records
// to policy.Apply, and asks policy.Authorize before serving a partner read
// from its own store, with its own state. Nothing a partner sends is
// trusted beyond what its verified certificate and signatures prove.
package federation

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// Reader serves reads of this tenant's own streams. The agent implements
// it over the store and the API's encoders; federation only decides
// whether and which range.
type Reader interface {
	// ServeRead writes the answer to a read of an own stream to w, as the
	// local API would (JSON or CSV, streamed), and returns the points it
	// covered (for summaries, the points summarised).
	ServeRead(w http.ResponseWriter, r *http.Request, q ReadQuery) (int, error)
	// StreamInfo describes an own stream for the catalog.
	StreamInfo(ctx context.Context, name string) (StreamInfo, error)
}

// ReadQuery is a partner read after policy clipped it.
type ReadQuery struct {
	Stream     string
	Kind       policy.ReadKind
	Start, End int64
	// Lo and Hi are the share's window [Lo, Hi) at the time of the read,
	// as policy decided it; Start and End lie within. The answer must
	// draw on no stored point outside it.
	Lo, Hi     int64
	Interval   time.Duration // summaries, interpolated
	Align      string        // where intervals lie: "epoch" (or "") or "start"
	Offset     time.Duration // shifts the epoch grid
	Count      int           // interpolated
	Limit      int           // window
	PageToken  string        // window
	Format     string        // json or csv
	TimeFormat string        // rfc3339 or ns
}

// StreamInfo is a stream's metadata as partners see it in the catalog.
// Only shared streams are described, so partners see the labels of
// those and of no other stream.
type StreamInfo struct {
	Kind        string `json:"kind"`
	Unit        string `json:"unit,omitempty"`
	Description string `json:"description,omitempty"`
	// Labels are the stream's key/value metadata. A partner's are
	// cleaned on arrival (see cleanInfo): they are another tenant's data.
	Labels map[string]string `json:"labels,omitempty"`
}

// Options configure a Node.
type Options struct {
	DataDir    string
	Name       string // tenant display name, for a new identity
	Listen     string // mTLS endpoint, host:port
	Gossip     string // gossip endpoint, host:port (TCP and UDP)
	Advertise  string // host partners dial; empty: the listen host
	Reader     Reader
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	Policy     policy.Config
	// GossipTiming tunes the clusters; tests use gossip.FastTiming().
	GossipTiming gossip.Timing
	// MaxPartnerReads bounds concurrent reads per partner tenant; beyond
	// it the partner gets 429 with Retry-After. Default 8.
	MaxPartnerReads int
	// Audit, when set, receives every partner read and denial (on the
	// owner's side and on the reader's) and every refused record.
	Audit func(ctx context.Context, e AuditEvent)
	// SendMail, when set, e-mails invitation tokens to the invitee.
	SendMail func(ctx context.Context, to, subject, body string) error
	// PartnerPointsPerSecond bounds the points served to one partner
	// tenant, averaged over PartnerBurst; 0 means no bound.
	PartnerPointsPerSecond float64
	// PartnerBurst is the points a partner may read at once before the
	// rate applies. Default 10 s worth of PartnerPointsPerSecond.
	PartnerBurst float64
}

// AuditEvent is one cross-tenant event for the agent's audit log.
type AuditEvent struct {
	Kind       string // partner_read, read_denied, record_rejected
	Side       string // owner or reader
	Actor      string // the local user (reader side) or the partner tenant (owner side)
	Tenant     policy.TenantID
	Community  policy.CommunityID
	Connection bool // the read went over a connection rather than a community
	Stream     string
	Read       string
	Start, End int64
	Points     int
	Outcome    string // allowed, denied, error
	Reason     string
}

func (n *Node) audit(ctx context.Context, e AuditEvent) {
	if n.opts.Audit != nil {
		n.opts.Audit(ctx, e)
	}
}

// Sign signs msg with the tenant key (the audit log's checkpoints).
func (n *Node) Sign(msg []byte) []byte { return n.id.Sign(msg) }

// VerifyOwn checks a signature made by Sign.
func (n *Node) VerifyOwn(msg, sig []byte) error {
	return identity.Verify(string(n.self), n.id.PublicKey(), msg, sig)
}

// Node is one agent's federation component.
type Node struct {
	opts  Options
	log   *slog.Logger
	id    *identity.Tenant
	self  policy.TenantID
	book  *book
	local *localState
	m     *metrics

	srv      *http.Server
	fedAddr  string
	gossip   *gossip.Manager
	clusters sync.Map // policy.CommunityID -> *gossip.Cluster
	joinMu   sync.Mutex

	clients sync.Map // policy.TenantID -> *http.Client pinned to that tenant

	readsMu sync.Mutex
	reads   map[policy.TenantID]int
	budget  map[policy.TenantID]*bucket

	recordBudget *limiter // records pushed per peer
	rotating     sync.Map // policy.CommunityID -> *sync.Mutex: one key rotation at a time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New loads (or creates) the tenant identity and the record book. It
// binds nothing; Start does.
func New(opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Policy.InvitationTTL == 0 {
		opts.Policy = policy.DefaultConfig()
	}
	if opts.MaxPartnerReads <= 0 {
		opts.MaxPartnerReads = 8
	}
	if opts.PartnerPointsPerSecond > 0 && opts.PartnerBurst <= 0 {
		opts.PartnerBurst = 10 * opts.PartnerPointsPerSecond
	}
	adv := advertiseHost(opts.Listen, opts.Advertise)
	id, err := identity.LoadOrInit(opts.DataDir, opts.Name, identity.Options{
		Advertise: []string{adv}, Now: opts.Now, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("tenant identity: %w", err)
	}
	dir := filepath.Join(opts.DataDir, "federation")
	self := policy.TenantID(id.ID())
	b, bad, err := openBook(dir, self, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("federation records: %w", err)
	}
	for _, e := range bad {
		opts.Logger.Warn("record book", "err", e)
	}
	loc, err := loadLocal(dir, opts.Logger)
	if err != nil {
		b.close()
		return nil, err
	}
	n := &Node{
		opts: opts, log: opts.Logger, id: id, self: self, book: b, local: loc,
		m: newMetrics(opts.Registerer), reads: map[policy.TenantID]int{}, budget: map[policy.TenantID]*bucket{},
		recordBudget: newLimiter(recordsPerMinute),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.local.setTenant(n.self, tenantInfo{Name: id.Name()})
	return n, nil
}

// goOwned runs f in a goroutine the node owns: f's context ends with
// Close, which waits for f to return.
func (n *Node) goOwned(f func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

// advertiseHost is the host partners dial: the configured one, else the
// listen host when it is not a wildcard, else this machine's name.
func advertiseHost(listen, advertise string) string {
	if advertise != "" {
		return advertise
	}
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host
	}
	h, _ := os.Hostname()
	return h
}

// ID is this tenant's id.
func (n *Node) ID() policy.TenantID { return n.self }

// Name is this tenant's display name.
func (n *Node) Name() string { return n.id.Name() }

// Start binds the mTLS endpoint and the gossip port and joins the
// communities this tenant is a member of.
func (n *Node) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", n.opts.Listen)
	if err != nil {
		return fmt.Errorf("federation.listen %s: %w", n.opts.Listen, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n.fedAddr = net.JoinHostPort(advertiseHost(n.opts.Listen, n.opts.Advertise), port)
	n.srv = &http.Server{
		Handler:           n.partnerHandler(),
		TLSConfig:         n.id.ServerConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("federation server stopped", "err", err)
		}
	}()
	gm, err := gossip.NewManager(gossip.Options{
		BindAddr:      n.opts.Gossip,
		AdvertiseAddr: advertiseHost(n.opts.Gossip, n.opts.Advertise),
		Logger:        n.log.With("component", "gossip"),
		Registerer:    n.opts.Registerer,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("federation.gossip %s: %w", n.opts.Gossip, err)
	}
	n.gossip = gm
	n.local.setTenant(n.self, tenantInfo{Name: n.id.Name(), Fed: n.fedAddr, Gossip: gm.Addr()})
	n.reconcile()
	n.refreshKeys()
	n.wg.Add(1)
	go n.renewLoop()
	n.log.Info("federation ready", "tenant", n.self, "name", n.id.Name(), "listen", n.fedAddr, "gossip", gm.Addr())
	return nil
}

// Close leaves every community cluster (so partners see "left", not
// "failed"), then stops serving.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel()
	}
	if n.gossip != nil {
		n.gossip.Leave(2 * time.Second)
		n.gossip.Shutdown()
	}
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.srv.Shutdown(ctx)
		cancel()
	}
	n.wg.Wait()
	n.clients.Range(func(_, c any) bool {
		c.(*http.Client).CloseIdleConnections()
		return true
	})
	return n.book.close()
}

// renewLoop re-issues the agent's leaf certificate before it expires; an
// agent may run for months without a restart.
func (n *Node) renewLoop() {
	defer n.wg.Done()
	t := time.NewTicker(12 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			if renewed, err := n.id.RenewLeaf(); err != nil {
				n.log.Error("renew agent certificate", "err", err)
			} else if renewed {
				n.log.Info("agent certificate renewed")
			}
		}
	}
}

// FedAddr is the mTLS address partners dial.
func (n *Node) FedAddr() string { return n.fedAddr }

// GossipAddr is the gossip address partners dial.
func (n *Node) GossipAddr() string {
	if n.gossip == nil {
		return ""
	}
	return n.gossip.Addr()
}

// issue signs a new record of this tenant, merges it into the book and
// spreads it: by gossip to the community, and directly to the tenants it
// concerns (so a removal or a confirmation does not wait for gossip). A
// record that would change nothing (it loses to one already held) is an
// error: an action must never report success without taking effect.
func (n *Node) issue(ctx context.Context, rec policy.Record, notify ...policy.TenantID) (Envelope, error) {
	return n.issueWith(ctx, rec, nil, notify...)
}

// issueWith is issue, spreading the records in with alongside the new one
// in the same message (a confirmation travels with the acceptance it
// confirms, which members take only together).
func (n *Node) issueWith(ctx context.Context, rec policy.Record, with []Envelope, notify ...policy.TenantID) (Envelope, error) {
	env, err := n.book.issue(func(st policy.State) (Envelope, error) {
		now := n.opts.Now().UnixNano()
		rec.Issuer = n.self
		rec.Version = st.NextVersion(n.self, now)
		if rec.Version == 0 {
			return Envelope{}, errors.New("this tenant's record clock is exhausted: no record can be issued")
		}
		if rec.Time == 0 {
			rec.Time = now
		}
		return n.seal(rec), nil
	})
	if err != nil {
		return env, err
	}
	n.m.records.WithLabelValues("issued").Inc()
	n.reconcile()
	n.spread(rec.Community, append(with, env), notify...)
	return env, nil
}

func (n *Node) seal(rec policy.Record) Envelope {
	b := rec.SigningBytes()
	return Envelope{Record: b, Key: n.id.PublicKey(), Sig: n.id.Sign(b)}
}

// accept admits envelopes that came from outside and counts the ones
// refused, by reason. Refusals of records handed over directly are logged
// and audited; gossip re-sends what a peer holds on every exchange, so its
// refusals are counted and logged at debug level only. It returns how many
// records were new.
func (n *Node) accept(envs []Envelope, via string, direct bool) int {
	added, errs := n.book.merge(envs, false)
	for _, err := range errs {
		reason := rejectReason(err)
		n.m.records.WithLabelValues("rejected_" + reason).Inc()
		if !direct {
			n.log.Debug("record refused", "via", via, "reason", reason, "err", err)
			continue
		}
		n.log.Warn("record refused", "via", via, "reason", reason, "err", err)
		n.audit(context.Background(), AuditEvent{Kind: "record_rejected", Side: "owner", Actor: via, Outcome: "denied", Reason: reason})
	}
	if len(added) > 0 {
		n.m.records.WithLabelValues("accepted").Add(float64(len(added)))
		n.reconcile()
	}
	for _, rec := range added {
		// A member left a community of ours: it must not read on.
		if rec.Kind == policy.KindMemberLeft && rec.Community.Owner() == n.self {
			n.rotateLater(rec.Community)
		}
	}
	return len(added)
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, identity.ErrBadSignature), errors.Is(err, identity.ErrWrongTenant), errors.Is(err, identity.ErrInvalidID):
		return "signature"
	case errors.Is(err, policy.ErrNoStanding):
		return "standing"
	case errors.Is(err, policy.ErrFuture):
		return "future"
	case errors.Is(err, policy.ErrNoAuthority):
		return "authority"
	case errors.Is(err, policy.ErrExpired):
		return "expired"
	case errors.Is(err, policy.ErrConflict), errors.Is(err, errNoChange):
		return "conflict"
	case errors.Is(err, policy.ErrDeleted):
		return "deleted"
	case errors.Is(err, policy.ErrMalformed), errors.Is(err, policy.ErrEncoding):
		return "malformed"
	}
	return "other"
}

// spread broadcasts envelopes in their community's cluster and posts them
// to the given tenants' agents directly.
func (n *Node) spread(c policy.CommunityID, envs []Envelope, to ...policy.TenantID) {
	if c != "" {
		if cl, ok := n.clusters.Load(c); ok {
			b, _ := json.Marshal(envs)
			cl.(*gossip.Cluster).Broadcast(b)
		}
	}
	for _, t := range to {
		if t == n.self {
			continue
		}
		n.goOwned(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := n.postJSON(ctx, t, "/fed/v1/records", envs, nil); err != nil {
				n.log.Warn("could not deliver records; gossip will", "tenant", t, "err", err)
			}
		})
	}
}

// reconcile joins the gossip cluster of every community this tenant owns
// or is a confirmed member of (and has the key for), and leaves the others.
func (n *Node) reconcile() {
	if n.gossip == nil {
		return
	}
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	st := n.book.snapshot()
	want := map[policy.CommunityID]bool{}
	for _, ci := range st.Communities() {
		if ci.Deleted {
			continue
		}
		if ci.Owner == n.self || st.MemberStatus(ci.ID, n.self) == policy.MemberConfirmed {
			if ci.Owner == n.self && n.local.key(ci.ID) == nil {
				if err := n.local.setKey(ci.ID, newKey()); err != nil {
					n.log.Error("could not keep a new gossip key", "community", ci.ID, "err", err)
				}
			}
			if n.local.key(ci.ID) != nil {
				want[ci.ID] = true
			}
		}
	}
	n.clusters.Range(func(k, v any) bool {
		if !want[k.(policy.CommunityID)] {
			cl := v.(*gossip.Cluster)
			n.clusters.Delete(k)
			// Not here: reconcile may run on this very cluster's delivery
			// goroutine (a removal learnt by its gossip), which Shutdown
			// waits for.
			n.goOwned(func(context.Context) {
				cl.Leave(time.Second)
				cl.Shutdown()
				n.log.Info("left community cluster", "community", k)
			})
		}
		return true
	})
	for c := range want {
		if _, ok := n.clusters.Load(c); ok {
			continue
		}
		meta, _ := json.Marshal(nodeMeta{Tenant: n.self, Name: n.id.Name(), Fed: n.fedAddr})
		cl, err := n.gossip.Join(n.ctx, gossip.ClusterConfig{
			ID:            string(c),
			Key:           n.local.key(c),
			SecondaryKeys: n.local.secondaryKeys(c),
			NodeName:      string(n.self),
			Meta:          meta,
			Delegate:      &delegate{n: n, c: c},
			Admit:         n.admit(c),
			Seeds:         n.seeds(st, c),
			Timing:        n.opts.GossipTiming,
		})
		if err != nil {
			n.log.Error("join community cluster", "community", c, "err", err)
			continue
		}
		n.clusters.Store(c, cl)
		n.log.Info("joined community cluster", "community", c)
	}
}

// nodeMeta is what an agent tells its community about itself.
type nodeMeta struct {
	Tenant policy.TenantID `json:"t"`
	Name   string          `json:"n"`
	Fed    string          `json:"f"`
}

// admit keeps every agent out of a community cluster unless its tenant is
// the owner or a confirmed member in this agent's own state.
func (n *Node) admit(c policy.CommunityID) func(gossip.Member) error {
	return func(m gossip.Member) error {
		t := policy.TenantID(m.Name)
		if t == c.Owner() {
			return nil
		}
		if n.book.snapshot().MemberStatus(c, t) != policy.MemberConfirmed {
			return fmt.Errorf("%s is not a confirmed member", identity.ShortID(string(t)))
		}
		return nil
	}
}

func (n *Node) seeds(st policy.State, c policy.CommunityID) []string {
	var out []string
	add := func(t policy.TenantID) {
		if t == n.self {
			return
		}
		if info, ok := n.local.tenant(t); ok && info.Gossip != "" {
			out = append(out, info.Gossip)
		}
	}
	add(c.Owner())
	for _, m := range st.Members(c) {
		if m.Status == policy.MemberConfirmed {
			add(m.Tenant)
		}
	}
	return out
}

// delegate connects one community's cluster to the book.
type delegate struct {
	n *Node
	c policy.CommunityID
}

// LocalState is what a push/pull exchange sends: the community's records
// but those the peer would refuse (declines, and acceptances the owner has
// not confirmed, which only the owner takes, in the handshake).
func (d *delegate) LocalState() []byte {
	st := d.n.book.snapshot()
	envs := d.n.book.find(d.c, func(r policy.Record) bool {
		switch r.Kind {
		case policy.KindInvitationDeclined:
			return false
		case policy.KindInvitationAccepted:
			return st.MemberStatus(d.c, r.Issuer) != policy.MemberAccepted
		}
		return true
	})
	b, _ := json.Marshal(envs)
	return b
}

func (d *delegate) MergeRemoteState(buf []byte) { d.merge(buf, "pushpull") }
func (d *delegate) NotifyMsg(msg []byte)        { d.merge(msg, "broadcast") }

func (d *delegate) merge(buf []byte, via string) {
	var envs []Envelope
	if err := json.Unmarshal(buf, &envs); err != nil {
		d.n.m.records.WithLabelValues("rejected_malformed").Inc()
		d.n.log.Warn("malformed gossip payload", "community", d.c, "via", via, "err", err)
		return
	}
	// Only records of this community travel in its cluster.
	kept := envs[:0]
	for _, e := range envs {
		if rec, err := policy.ParseRecord(e.Record); err == nil && rec.Community == d.c {
			kept = append(kept, e)
		} else {
			d.n.m.records.WithLabelValues("rejected_foreign").Inc()
		}
	}
	d.n.accept(kept, "gossip-"+via, false)
}

func newKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

type metrics struct {
	records   *prometheus.CounterVec
	reads     *prometheus.CounterVec
	rotations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_federation_records_total", Help: "Signed records issued, accepted, or rejected by reason.",
		}, []string{"outcome"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_partner_reads_total", Help: "Partner reads served or denied by this agent as owner, by outcome (allowed or the policy reason).",
		}, []string{"community", "tenant", "outcome"}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_federation_key_rotations_total", Help: "Gossip key rotations this agent completed as a community's owner (after a member was removed or left).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.reads, m.rotations)
	}
	// The outcomes every agent can have exist at 0 from the start, so an
	// alert on increase(...{outcome=~"rejected_.*"}) sees the first one.
	// Partner reads are labelled by community and tenant, which come and
	// go: they appear with the first read.
	for _, o := range []string{"issued", "accepted", "rejected_signature", "rejected_authority", "rejected_malformed",
		"rejected_foreign", "rejected_standing", "rejected_rate"} {
		m.records.WithLabelValues(o)
	}
	return m
}
