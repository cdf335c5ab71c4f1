package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// Manager is one agent's gossip port: it owns the UDP socket and TCP
// listener and serves every community's Cluster on them.
//
// Lifecycle (STYLE habit 3): NewManager, Join per community, then Leave
// (peers see "left") and Shutdown. Shutdown is idempotent. All methods are
// safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	met  *metrics
	tr   *sharedTransport
	addr string // advertised host:port

	mu       sync.Mutex
	clusters map[string]*Cluster
	shut     bool
}

// NewManager binds the gossip port. Nothing is gossiped until Join.
func NewManager(o Options) (*Manager, error) {
	o.setDefaults()
	if o.AdvertisePort < 0 || o.AdvertisePort > 65535 {
		return nil, &ConfigError{"Options.AdvertisePort", "out of range"}
	}
	met, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	tcp, udp, err := listen(o.BindAddr)
	if err != nil {
		met.unregister()
		return nil, err
	}
	advIP, err := advertiseIP(o.AdvertiseAddr, tcp.Addr().(*net.TCPAddr).IP)
	if err != nil {
		_ = tcp.Close()
		_ = udp.Close()
		met.unregister()
		return nil, err
	}
	advPort := o.AdvertisePort
	if advPort == 0 {
		advPort = tcp.Addr().(*net.TCPAddr).Port
	}
	m := &Manager{
		opts:     o,
		log:      o.Logger,
		met:      met,
		addr:     net.JoinHostPort(advIP.String(), strconv.Itoa(advPort)),
		clusters: make(map[string]*Cluster),
	}
	m.tr = newSharedTransport(tcp, udp, advIP, advPort, &o, met)
	m.log.Info("gossip: listening", "bind", tcp.Addr().String(), "advertise", m.addr)
	return m, nil
}

// advertiseIP picks the address peers reach us at, as memberlist's
// NetTransport.FinalAdvertiseAddr would, plus host name resolution.
func advertiseIP(advertise string, bound net.IP) (net.IP, error) {
	if advertise != "" {
		if ip, err := netip.ParseAddr(advertise); err == nil {
			return net.IP(ip.Unmap().AsSlice()), nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", advertise)
		if err != nil || len(ips) == 0 {
			return nil, &ConfigError{"Options.AdvertiseAddr", fmt.Sprintf("cannot resolve %q: %v", advertise, err)}
		}
		best := ips[0]
		for _, ip := range ips {
			if ip.Unmap().Is4() {
				best = ip
				break
			}
		}
		return net.IP(best.Unmap().AsSlice()), nil
	}
	if !bound.IsUnspecified() {
		if v4 := bound.To4(); v4 != nil {
			return v4, nil
		}
		return bound, nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return nil, &ConfigError{"Options.AdvertiseAddr", fmt.Sprintf("bound to an unspecified address and no private IP found (%v): set it", err)}
	}
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return nil, &ConfigError{"Options.AdvertiseAddr", fmt.Sprintf("bad private IP %q", ip)}
	}
	if v4 := parsed.To4(); v4 != nil {
		return v4, nil
	}
	return parsed, nil
}

// Addr is the advertised gossip host:port: what partners put in Seeds.
func (m *Manager) Addr() string { return m.addr }

// Join starts this agent's member of community cfg.ID and contacts
// cfg.Seeds, all of them concurrently. It returns once that first contact
// attempt has finished or ctx is done, whichever comes first; either way the
// cluster is running and keeps (re)trying unreachable seeds in the
// background, with backoff: an unreachable partner is never an error
// (STYLE habit 9). Errors are for an invalid cfg (*ConfigError), a
// community already joined here (ErrAlreadyJoined), a Manager shut down
// (ErrShutdown). A community can be joined again after its Cluster is shut
// down.
func (m *Manager) Join(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.shut {
		m.mu.Unlock()
		return nil, ErrShutdown
	}
	if _, ok := m.clusters[cfg.ID]; ok {
		m.mu.Unlock()
		return nil, ErrAlreadyJoined
	}
	c, err := newCluster(m, cfg)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.clusters[cfg.ID] = c
	m.met.clusters.Set(float64(len(m.clusters)))
	m.mu.Unlock()

	select {
	case <-c.firstAttempt:
	case <-ctx.Done():
		c.log.Warn("gossip: first contact with seeds still in progress; continuing in the background", "err", ctx.Err())
	}
	return c, nil
}

// Cluster returns the running Cluster of a community, if any.
func (m *Manager) Cluster(id string) (*Cluster, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clusters[id]
	return c, ok
}

// forget is called by Cluster.Shutdown.
func (m *Manager) forget(c *Cluster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clusters[c.id] == c {
		delete(m.clusters, c.id)
		m.met.clusters.Set(float64(len(m.clusters)))
	}
}

func (m *Manager) snapshot() []*Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := make([]*Cluster, 0, len(m.clusters))
	for _, c := range m.clusters {
		cs = append(cs, c)
	}
	return cs
}

// Leave leaves every community, concurrently, each within timeout, so that
// peers record this agent as left rather than failed. Call Shutdown after.
func (m *Manager) Leave(timeout time.Duration) error {
	cs := m.snapshot()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.Leave(timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Shutdown stops every Cluster (without leaving: peers will see this agent
// fail; call Leave first for a clean exit), then the listeners, and
// unregisters the metrics. It waits for every goroutine it started.
// Idempotent.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	if m.shut {
		m.mu.Unlock()
		return
	}
	m.shut = true
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range m.snapshot() {
		wg.Go(c.Shutdown)
	}
	wg.Wait()
	m.tr.close()
	m.met.unregister()
}
