// Package opcua is the OPC UA source: it connects to an OPC UA server with
// github.com/gopcua/opcua, finds the configured variables (by node id, by
// browse path, or by discovery under a folder), collects their values by
// subscription or by polling, and writes them to the agent's sink.
//
// Each value becomes a point whose quality is the OPC UA status code of
// the value: bad and uncertain values are stored, with their code, not
// dropped (a bad value without a value is stored as NaN, or the zero of
// its stream's kind).
//
// Sessions are built and rebuilt by the source itself: gopcua's automatic
// reconnection is off, because after a reconnection it can stall silently
// (no notifications, state still "connected"). One session is
//
//	GetEndpoints -> pick policy/mode -> check the server certificate in the
//	PKI folder -> secure channel + session -> resolve the nodes ->
//	(after a reconnection: read every value once) -> subscribe or poll
//
// and it ends on any error, or when the watchdog sees neither data nor a
// keep-alive for publishing interval x max keep-alive count plus a
// margin. Then the client is closed, a point of quality
// BadCommunicationError marks the gap in every stream (mark_gaps), and a
// new session is built after a backoff. An unreachable server at start is
// retried the same way, never fatal.
//
// The source runs its own Publish loop (two requests outstanding) rather
// than gopcua's, so that it sees keep-alives, which gopcua swallows.
// Points go through a queue bounded in points to a writer that batches
// them into Sink.Write; a full queue stops the Publish loop, so the server
// queues (back-pressure) instead of the source dropping.
package opcua

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

func init() {
	connectors.Register(connectors.Registration{
		Type:    "opcua",
		Section: "opcua",
		Sample:  Sample,
		New: func(env connectors.Env, decode func(any) error) (connectors.Source, error) {
			cfg := DefaultConfig()
			if err := decode(&cfg); err != nil {
				return nil, err
			}
			return New(env, cfg)
		},
	})
}

// QualityNoCommunication is the quality of the points that mark a gap:
// OPC UA's BadCommunicationError.
const QualityNoCommunication point.Quality = 0x80050000

// Source is one configured OPC UA source.
type Source struct {
	env  connectors.Env
	cfg  Config
	plan *plan
	dt   dateTime
	m    *metrics

	// dial connects and returns a client with an activated session; tests
	// replace it.
	dial func(ctx context.Context) (uaClient, error)

	logMu  sync.Mutex
	logged map[string]bool

	streamsMu sync.Mutex
	streams   map[string]*streamMeta // what the writer needs to create a stream
}

// streamMeta describes a stream the source has named.
type streamMeta struct {
	spec point.StreamSpec // Kind 0: the first value decides
	seen bool             // a point was queued for it (so a gap is worth marking)
}

// New validates cfg and builds a source. It does no I/O.
func New(env connectors.Env, cfg Config) (*Source, error) {
	pl, err := compile(&cfg)
	if err != nil {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Metrics == nil {
		env.Metrics = connectors.NewMetrics(nil)
	}
	s := &Source{
		env:     env,
		cfg:     cfg,
		plan:    pl,
		dt:      dateTimeKinds[cfg.DateTime],
		m:       newMetrics(env.Metrics, env.Name),
		logged:  map[string]bool{},
		streams: map[string]*streamMeta{},
	}
	s.dial = s.dialGopcua
	return s, nil
}

// Run ingests until ctx ends, then closes the session, writes what is
// queued (for up to drain_timeout) and returns nil. Connection problems
// are retried, never returned.
func (s *Source) Run(ctx context.Context, sink connectors.Sink) error {
	q := newQueue(s.cfg.QueueSize, s.m)
	w := &writer{q: q, batch: s.cfg.BatchSize, meta: s.meta, name: s.env.Name,
		w: connectors.NewWriter(connectors.WriterOptions{Source: s.env.Name, Sink: sink, Metrics: s.m.all, Log: s.env.Logger,
			Backoff: retry.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}})}
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	written := make(chan struct{})
	go func() {
		defer close(written)
		w.run(wctx)
	}()

	s.loop(ctx, q)

	q.close()
	drain := time.NewTimer(s.cfg.DrainTimeout)
	select {
	case <-written:
	case <-drain.C:
		wcancel()
		<-written
		s.env.Logger.Warn("shutdown: queued opc ua points were not written in time", "drain_timeout", s.cfg.DrainTimeout)
	}
	drain.Stop()
	s.m.connected.Set(0)
	s.m.depth.Set(0)
	return nil
}

// errWatchdog ends a session that went silent.
var errWatchdog = errors.New("watchdog: neither data nor keep-alive within the keep-alive window")

// loop builds sessions until ctx ends.
func (s *Source) loop(ctx context.Context, q *queue) {
	bo := retry.Backoff{Min: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax}
	log := s.env.Logger
	var gapStart time.Time // when the last session was lost; zero before the first
	established := false
	short := 0 // sessions in a row that were lost within a minute
	for attempt := 0; ctx.Err() == nil; {
		ss, err := s.open(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			reason := "connect"
			var ce *connectError
			if errors.As(err, &ce) {
				reason = ce.reason
			}
			s.m.error(reason)
			delay := bo.Delay(attempt)
			level := slog.LevelWarn
			if reason == "untrusted_certificate" || reason == "auth" || reason == "endpoint" {
				level = slog.LevelError
			}
			log.Log(ctx, level, "opc ua connection failed", "endpoint", s.cfg.Endpoint, "attempt", attempt+1, "retry_in", delay, "err", err)
			attempt++
			if !retry.Sleep(ctx, delay) {
				return
			}
			continue
		}
		attempt = 0
		if established {
			s.m.reconnects.Inc()
		}
		log.Info("opc ua session open", "endpoint", s.cfg.Endpoint, "variables", len(ss.vars),
			"security", policyName(s.plan.policyURI)+"/"+modeName(s.plan.mode), "collection", s.cfg.Collection)
		if !gapStart.IsZero() {
			ss.readOnce(ctx, gapStart)
		}
		established = true
		opened := time.Now()
		err = ss.collect(ctx)
		lost := time.Now()
		s.m.connected.Set(0)
		ss.close()
		if ctx.Err() != nil {
			return
		}
		gapStart = lost
		if errors.Is(err, errWatchdog) {
			s.m.error("watchdog")
		} else {
			s.m.error("session_lost")
		}
		if s.cfg.MarkGaps {
			s.markGap(ctx, q, ss.vars, gapStart)
		}
		// A server that accepts sessions but fails them at once (refused
		// subscriptions, say) is not hammered: the backoff grows until a
		// session lasts.
		if lost.Sub(opened) < time.Minute {
			short++
		} else {
			short = 0
		}
		delay := bo.Delay(short - 1)
		log.Warn("opc ua session lost; rebuilding it", "endpoint", s.cfg.Endpoint, "retry_in", delay, "err", err)
		if !retry.Sleep(ctx, delay) {
			return
		}
	}
}

// open connects and resolves the nodes.
func (s *Source) open(ctx context.Context, q *queue) (*session, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	ss := &session{s: s, c: c, q: q}
	ss.readLimits(ctx)
	vars, err := ss.resolve(ctx)
	if err != nil {
		ss.close()
		return nil, &connectError{reason: "resolve", err: err}
	}
	ss.vars = vars
	s.streamsMu.Lock()
	for _, v := range vars {
		if m, ok := s.streams[v.stream]; ok {
			m.spec.Labels = v.labels() // the server may have changed; ensured again at the next start
		} else {
			s.streams[v.stream] = &streamMeta{spec: point.StreamSpec{
				Name: v.stream, Description: v.desc, Unit: v.entry.unit, Kind: v.kind,
				Source: s.env.Name + ":" + v.idText, Labels: v.labels(),
			}}
		}
	}
	s.streamsMu.Unlock()
	return ss, nil
}

// labels are a variable's stream labels: what identifies it on the server
// and what it holds, for finding streams by them in the catalog and in
// Grafana.
func (v *variable) labels() map[string]string {
	var b point.Labels
	b.Add("node_id", v.idText)
	b.Add("browse_name", v.name)
	b.Add("display_name", v.display)
	b.Add("data_type", v.dataType)
	m, _ := b.Map()
	return m
}

// meta returns what is known of a stream, for the writer.
func (s *Source) meta(stream string) (point.StreamSpec, bool) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	m, ok := s.streams[stream]
	if !ok {
		return point.StreamSpec{}, false
	}
	return m.spec, true
}

// markSeen notes that points of these streams were queued.
func (s *Source) markSeen(pts []point.Point) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	for i := range pts {
		if m, ok := s.streams[pts[i].Stream]; ok {
			m.seen = true
		}
	}
}

// markGap queues, for every stream of the lost session that has had a
// point, a point without value of quality BadCommunicationError at the
// time the loss was noticed.
func (s *Source) markGap(ctx context.Context, q *queue, vars []*variable, at time.Time) {
	pts := make([]point.Point, 0, len(vars))
	s.streamsMu.Lock()
	for _, v := range vars {
		if m, ok := s.streams[v.stream]; ok && m.seen {
			pts = append(pts, point.Point{Stream: v.stream, Time: at.UnixNano(), Quality: QualityNoCommunication})
		}
	}
	s.streamsMu.Unlock()
	if len(pts) > 0 {
		q.push(ctx, pts)
	}
}

// logOnce logs a warning the first time key is seen.
func (s *Source) logOnce(key, msg string, args ...any) {
	s.logMu.Lock()
	first := !s.logged[key]
	s.logged[key] = true
	s.logMu.Unlock()
	if first {
		s.env.Logger.Warn(msg+" (first of its kind; later ones are only counted)", args...)
	}
}

// metrics are the source's children of the shared connector metrics.
//
//	sluice_connector_messages_total          Publish responses with data, Read responses
//	sluice_connector_notifications_total     data changes received
//	sluice_connector_points_received_total   points decoded
//	sluice_connector_points_written_total    points durably written
//	sluice_connector_reconnects_total        sessions rebuilt after one was established
//	sluice_connector_connected               1 while a session collects (the session state)
//	sluice_connector_errors_total{reason}    watchdog (rebuilds by the watchdog),
//	                                         session_lost, bad_quality and
//	                                         uncertain_quality (points stored with such
//	                                         a status), queue_overflow (the server's
//	                                         monitored item queue overflowed), connect,
//	                                         endpoints, endpoint, auth, untrusted_certificate,
//	                                         resolve, monitor, publish, read, write, ...
//	sluice_connector_points_dropped_total{reason} unsupported_array, unsupported_type,
//	                                         kind_mismatch, stream_refused
type metrics struct {
	all                                         *connectors.Metrics
	name                                        string
	messages, notifications, points, reconnects prometheus.Counter
	bad, uncertain, overflow                    prometheus.Counter
	depth, connected                            prometheus.Gauge
}

func newMetrics(m *connectors.Metrics, name string) *metrics {
	return &metrics{
		all:           m,
		name:          name,
		messages:      m.Messages.WithLabelValues(name),
		notifications: m.Notifications.WithLabelValues(name),
		points:        m.Points.WithLabelValues(name),
		reconnects:    m.Reconnects.WithLabelValues(name),
		bad:           m.Errors.WithLabelValues(name, "bad_quality"),
		uncertain:     m.Errors.WithLabelValues(name, "uncertain_quality"),
		overflow:      m.Errors.WithLabelValues(name, "queue_overflow"),
		depth:         m.QueueDepth.WithLabelValues(name),
		connected:     m.Connected.WithLabelValues(name),
	}
}

func (m *metrics) error(reason string) { m.all.Errors.WithLabelValues(m.name, reason).Inc() }

func (m *metrics) drop(reason string, points int) {
	if points > 0 {
		m.all.Dropped.WithLabelValues(m.name, reason).Add(float64(points))
	}
}

var _ connectors.Source = (*Source)(nil)
