package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// labelMagic is memberlist's hasLabelMsg message type (label.go): the first
// byte of every labelled packet and stream.
const labelMagic = 244

const (
	udpBufSize     = 65536           // memberlist's udpPacketBufSize
	udpRecvBufSize = 2 * 1024 * 1024 // memberlist's udpRecvBufSize
	packetQueue    = 1024            // per cluster, UDP packets not yet read by memberlist
	streamQueue    = 64              // per cluster, TCP streams not yet read by memberlist
)

var errTransportClosed = errors.New("gossip: transport closed")

// sharedTransport owns the agent's gossip UDP socket and TCP listener and
// routes what arrives to the clusterTransport registered under its label.
// It never blocks on a cluster. See the package comment for why it peeks at
// the label instead of stripping it.
type sharedTransport struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	advIP   net.IP
	advPort int
	log     *slog.Logger
	met     *metrics

	labelTimeout time.Duration
	pending      chan struct{} // semaphore: inbound streams awaiting their label

	ctx    context.Context // canceled by close: aborts label reads
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	routes map[string]*clusterTransport
	closed bool
}

// listen binds TCP and UDP on the same port. With port 0 the kernel picks
// the TCP port and UDP may find it taken, so that case retries, as
// memberlist's own NetTransport does.
func listen(bind string) (*net.TCPListener, *net.UDPConn, error) {
	ap, err := netip.ParseAddrPort(bind)
	if err != nil {
		host, port, serr := net.SplitHostPort(bind)
		if serr != nil {
			return nil, nil, &ConfigError{"Options.BindAddr", err.Error()}
		}
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return nil, nil, &ConfigError{"Options.BindAddr", fmt.Sprintf("cannot resolve %q: %v", host, lerr)}
		}
		ip, _ := netip.AddrFromSlice(ips[0])
		ap, err = netip.ParseAddrPort(net.JoinHostPort(ip.Unmap().String(), port))
		if err != nil {
			return nil, nil, &ConfigError{"Options.BindAddr", err.Error()}
		}
	}
	attempts := 1
	if ap.Port() == 0 {
		attempts = 10
	}
	for i := 0; ; i++ {
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return nil, nil, fmt.Errorf("gossip: listen tcp %s: %w", ap, err)
		}
		port := tcp.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ap.Addr().AsSlice(), Port: port, Zone: ap.Addr().Zone()})
		if err == nil {
			for size := udpRecvBufSize; size > 0; size /= 2 {
				if udp.SetReadBuffer(size) == nil {
					break
				}
			}
			return tcp, udp, nil
		}
		_ = tcp.Close()
		if i+1 >= attempts {
			return nil, nil, fmt.Errorf("gossip: listen udp port %d: %w", port, err)
		}
	}
}

func newSharedTransport(tcp *net.TCPListener, udp *net.UDPConn, advIP net.IP, advPort int, o *Options, met *metrics) *sharedTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &sharedTransport{
		udp: udp, tcp: tcp, advIP: advIP, advPort: advPort,
		log: o.Logger, met: met,
		labelTimeout: o.StreamLabelTimeout,
		pending:      make(chan struct{}, o.MaxPendingStreams),
		ctx:          ctx, cancel: cancel,
		routes: make(map[string]*clusterTransport),
	}
	t.wg.Add(2)
	go t.udpLoop()
	go t.tcpLoop()
	return t
}

// register creates the virtual transport for one community.
func (t *sharedTransport) register(label string, tcpTimeout time.Duration) (*clusterTransport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrShutdown
	}
	if _, ok := t.routes[label]; ok {
		return nil, ErrAlreadyJoined
	}
	ctx, cancel := context.WithCancel(t.ctx)
	ct := &clusterTransport{
		shared:     t,
		label:      label,
		tcpTimeout: tcpTimeout,
		packetCh:   make(chan *memberlist.Packet, packetQueue),
		streamCh:   make(chan net.Conn, streamQueue),
		ctx:        ctx,
		cancel:     cancel,
		conns:      make(map[*trackedConn]struct{}),
	}
	t.routes[label] = ct
	return ct, nil
}

func (t *sharedTransport) unregister(ct *clusterTransport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.routes[ct.label] == ct {
		delete(t.routes, ct.label)
	}
}

func (t *sharedTransport) route(label []byte) *clusterTransport {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.routes[string(label)]
}

// close stops the listeners and waits for the loops and for streams still
// awaiting their label. Clusters must be shut down first.
func (t *sharedTransport) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	_ = t.tcp.Close()
	_ = t.udp.Close()
	t.wg.Wait()
}

func (t *sharedTransport) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}

// parseLabel reads memberlist's label header at the start of buf: a nil
// label and nil error mean no header at all; an error, a malformed one.
func parseLabel(buf []byte) (label []byte, err error) {
	if len(buf) == 0 || buf[0] != labelMagic {
		return nil, nil
	}
	if len(buf) < 2 || buf[1] == 0 || len(buf) < 2+int(buf[1]) {
		return nil, errors.New("truncated or empty label header")
	}
	return buf[2 : 2+int(buf[1])], nil
}

func (t *sharedTransport) udpLoop() {
	defer t.wg.Done()
	buf := make([]byte, udpBufSize)
	for {
		n, from, err := t.udp.ReadFromUDP(buf)
		ts := time.Now()
		if err != nil {
			if t.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("gossip: reading UDP", "err", err)
			continue
		}
		label, err := parseLabel(buf[:n])
		if err != nil {
			t.met.drop(dropMalformedLabel)
			continue
		}
		ct := t.route(label)
		if ct == nil {
			t.met.unknownLabel.WithLabelValues("udp").Inc()
			continue
		}
		// Copy out of the read buffer: memberlist keeps the slice.
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: ts}
		select {
		case ct.packetCh <- p:
		default:
			t.met.drop(dropPacketQueueFull)
		}
	}
}

func (t *sharedTransport) tcpLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// memberlist's NetTransport does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Error("gossip: accepting TCP", "err", err)
			select {
			case <-time.After(delay):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		select {
		case t.pending <- struct{}{}:
		default:
			_ = conn.Close()
			t.met.drop(dropStreamBacklog)
			continue
		}
		t.wg.Add(1)
		go t.routeStream(conn)
	}
}

// routeStream reads the label header of one inbound stream, within
// labelTimeout, and hands the stream to its cluster with the header
// replayed in front.
func (t *sharedTransport) routeStream(conn *net.TCPConn) {
	defer t.wg.Done()
	defer func() { <-t.pending }()

	_ = conn.SetReadDeadline(time.Now().Add(t.labelTimeout))
	stop := context.AfterFunc(t.ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	hdr, err := readStreamLabel(conn)
	stop()
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			if !t.isClosed() {
				t.met.drop(dropStreamTimeout)
			}
		case errors.Is(err, errNoLabel):
			t.met.unknownLabel.WithLabelValues("tcp").Inc()
		default:
			t.met.drop(dropMalformedLabel)
		}
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	ct := t.route(hdr[2:])
	if ct == nil {
		t.met.unknownLabel.WithLabelValues("tcp").Inc()
		_ = conn.Close()
		return
	}
	ct.deliverStream(&trackedConn{Conn: conn, replay: hdr, ct: ct})
}

var errNoLabel = errors.New("stream has no label header")

// readStreamLabel reads exactly the label header, never beyond it, so the
// rest of the stream stays in the socket for memberlist.
func readStreamLabel(r io.Reader) ([]byte, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	if head[0] != labelMagic {
		return nil, errNoLabel
	}
	if head[1] == 0 {
		return nil, errors.New("empty label header")
	}
	hdr := make([]byte, 2+int(head[1]))
	copy(hdr, head[:])
	if _, err := io.ReadFull(r, hdr[2:]); err != nil {
		return nil, err
	}
	return hdr, nil
}

func (t *sharedTransport) writeTo(b []byte, addr string) (time.Time, error) {
	var ua *net.UDPAddr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ua = net.UDPAddrFromAddrPort(ap)
	} else if ua, err = net.ResolveUDPAddr("udp", addr); err != nil {
		return time.Time{}, err
	}
	_, err := t.udp.WriteToUDP(b, ua)
	return time.Now(), err
}

// clusterTransport is one community's view of the shared transport: the
// memberlist.NodeAwareTransport handed to that community's memberlist, which
// wraps it in its label-adding transport.
type clusterTransport struct {
	shared     *sharedTransport
	label      string
	tcpTimeout time.Duration
	packetCh   chan *memberlist.Packet
	streamCh   chan net.Conn

	ctx    context.Context // canceled by Shutdown: aborts dials
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[*trackedConn]struct{} // open streams, both directions
	closed bool
}

var _ memberlist.NodeAwareTransport = (*clusterTransport)(nil)

// FinalAdvertiseAddr ignores memberlist's values: the Manager decides.
func (ct *clusterTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return ct.shared.advIP, ct.shared.advPort, nil
}

func (ct *clusterTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return ct.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (ct *clusterTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if ct.ctx.Err() != nil {
		// memberlist gossips between shutting its transport down and
		// stopping its tickers; an error would log at ERROR on every
		// clean shutdown. Packets are best effort: drop it silently.
		return time.Now(), nil
	}
	return ct.shared.writeTo(b, a.Addr)
}

func (ct *clusterTransport) PacketCh() <-chan *memberlist.Packet { return ct.packetCh }

func (ct *clusterTransport) StreamCh() <-chan net.Conn { return ct.streamCh }

func (ct *clusterTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return ct.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (ct *clusterTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ct.ctx, "tcp", a.Addr)
	if err != nil {
		return nil, err
	}
	// memberlist sets its own deadlines for push/pull and pings but none
	// for user-message streams; give every stream an upper bound.
	_ = c.SetDeadline(time.Now().Add(ct.tcpTimeout))
	tc := &trackedConn{Conn: c, ct: ct}
	if !ct.track(tc) {
		_ = c.Close()
		return nil, errTransportClosed
	}
	return tc, nil
}

func (ct *clusterTransport) deliverStream(c *trackedConn) {
	if !ct.track(c) {
		_ = c.Conn.Close()
		return
	}
	select {
	case ct.streamCh <- c:
	default:
		_ = c.Close()
		ct.shared.met.drop(dropStreamQueueFull)
	}
}

func (ct *clusterTransport) track(c *trackedConn) bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.closed {
		return false
	}
	ct.conns[c] = struct{}{}
	return true
}

func (ct *clusterTransport) untrack(c *trackedConn) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	delete(ct.conns, c)
}

// Shutdown is called by memberlist.Shutdown before it stops its own
// goroutines: unregister the label, abort dials, close open streams so
// memberlist's stream handlers return at once instead of at their deadline.
func (ct *clusterTransport) Shutdown() error {
	ct.shared.unregister(ct)
	ct.cancel()
	ct.mu.Lock()
	ct.closed = true
	conns := ct.conns
	ct.conns = nil
	ct.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
	for {
		select {
		case c := <-ct.streamCh:
			_ = c.Close()
		default:
			return nil
		}
	}
}

// trackedConn is a stream of one cluster. For inbound streams it replays
// the label header the demultiplexer consumed, so memberlist reads exactly
// what the peer sent.
type trackedConn struct {
	net.Conn
	replay []byte // label header not yet re-read; touched by the reader only
	ct     *clusterTransport
	once   sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.ct.untrack(c) })
	return c.Conn.Close()
}
