// Package mqtt is the MQTT source: it subscribes to a broker with
// paho.mqtt.golang, decodes payloads (plain values, JSON, InfluxDB line
// protocol, Sparkplug B) into points, names their streams from the topic,
// and writes them to the agent's sink.
//
// Delivery is at least once. Messages are acknowledged to the broker only
// after the batch holding all their points is durably written (Sink.Write
// returned nil), in the order they arrived. With QoS 1 or 2 and a
// persistent session (clean_session false and a fixed client_id), what is
// published while the agent is down, restarting or failing to write stays
// on the broker and is delivered again; redelivered points carry the same
// stream and timestamp (when the payload has a timestamp) and collapse in
// the store.
//
// The pipeline:
//
//	paho reader -> handler (decode, name) -> bounded queue -> writer (batch,
//	ensure streams, Sink.Write, retry with backoff) -> Ack in arrival order
//
// The queue is bounded in points. When it is full, QoS 1/2 messages wait in
// the handler, so nothing more is acknowledged and the broker, whose
// in-flight window is then full, stops sending (back-pressure, no loss);
// QoS 0 messages push out the oldest QoS 0 ones (counted as dropped).
// Connection loss is handled by a loop that reconnects with exponential
// backoff and jitter, with a new paho client each time, and subscribes
// again.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

func init() {
	connectors.Register(connectors.Registration{
		Type:    "mqtt",
		Section: "mqtt",
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

// Source is one configured MQTT source.
type Source struct {
	env  connectors.Env
	cfg  Config
	subs []*subscription
	m    *metrics

	// newClient makes the client of each connection attempt; tests replace
	// it with a fake.
	newClient func(clientConfig) client

	logMu  sync.Mutex
	logged map[string]bool // reasons whose first bad payload was logged

	namesMu sync.Mutex
	names   map[string]string // stream names, interned

	sp *spHost // the Sparkplug host state; nil without format sparkplug
}

// subscription is a compiled Subscription.
type subscription struct {
	index             int
	topic             *filter
	filter            string
	qos               byte
	stream            *template
	prefix            string
	dec               decoder
	kind              point.Kind
	unit, description string
	sparkplug         bool            // format sparkplug: decoded by Source.sparkplug, not dec
	labels            []labelTemplate // the labels of its streams, in the order they apply
}

// labelTemplate is one label of a subscription's streams: a named topic
// level or a configured label.
type labelTemplate struct {
	key   string
	value *template
}

// New validates cfg and builds a source. It does no I/O.
func New(env connectors.Env, cfg Config) (*Source, error) {
	subs, err := compile(&cfg)
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
		env:       env,
		cfg:       cfg,
		subs:      subs,
		m:         newMetrics(env.Metrics, env.Name),
		newClient: newPahoClient,
		logged:    map[string]bool{},
		names:     map[string]string{},
	}
	s.sp = newSPHost(s)
	return s, nil
}

// Run ingests until ctx ends, then stops taking messages, writes and
// acknowledges what is queued (for up to drain_timeout), disconnects and
// returns nil. Connection problems are retried, never returned.
func (s *Source) Run(ctx context.Context, sink connectors.Sink) error {
	q := newQueue(s.cfg.QueueSize, s.m)
	w := &writer{name: s.env.Name, q: q, batchSize: s.cfg.BatchSize, batchDelay: s.cfg.BatchDelay,
		w: connectors.NewWriter(connectors.WriterOptions{Source: s.env.Name, Sink: sink, Metrics: s.m.all, Log: s.env.Logger,
			Backoff: retry.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}, Convert: convert})}
	// The writer outlives ctx by up to drain_timeout, so that what is
	// queued at shutdown is still written and acknowledged.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	written := make(chan struct{})
	go func() {
		defer close(written)
		w.run(wctx)
	}()

	c := s.connectLoop(ctx, q)

	q.close()
	drain := time.NewTimer(s.cfg.DrainTimeout)
	select {
	case <-written:
	case <-drain.C:
		wcancel()
		<-written
		s.env.Logger.Warn("shutdown: queued messages left unacknowledged; the broker redelivers QoS 1/2 ones",
			"drain_timeout", s.cfg.DrainTimeout)
	}
	drain.Stop()
	if c != nil {
		if s.sp != nil {
			s.sp.offline(c)
		}
		c.Disconnect(250 * time.Millisecond)
	}
	s.m.connected.Set(0)
	s.m.depth.Set(0)
	return nil
}

// connectLoop keeps a connection up until ctx ends and returns the client
// of the connection open at that moment, if any.
func (s *Source) connectLoop(ctx context.Context, q *queue) client {
	bo := retry.Backoff{Min: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax}
	log := s.env.Logger
	connectedOnce := false
	for attempt := 0; ; {
		if ctx.Err() != nil {
			return nil
		}
		lost := make(chan error, 1)
		c, err := s.connect(ctx, q, lost)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.m.error("connect")
			delay := bo.Delay(attempt)
			log.Warn("mqtt connect failed", "brokers", s.cfg.Brokers, "attempt", attempt+1, "retry_in", delay, "err", err)
			attempt++
			if !retry.Sleep(ctx, delay) {
				return nil
			}
			continue
		}
		if connectedOnce {
			s.m.reconnects.Inc()
		}
		connectedOnce = true
		attempt = 0
		s.m.connected.Set(1)
		log.Info("mqtt connected", "brokers", s.cfg.Brokers, "client_id", s.cfg.ClientID)
		select {
		case <-ctx.Done():
			return c
		case err := <-lost:
			if s.sp != nil {
				s.sp.disconnected()
			}
			s.m.connected.Set(0)
			s.m.error("connection_lost")
			c.Disconnect(0)
			delay := bo.Delay(0)
			log.Warn("mqtt connection lost; reconnecting", "retry_in", delay, "err", err)
			if !retry.Sleep(ctx, delay) {
				return nil
			}
		}
	}
}

// connect makes one connection and subscribes.
func (s *Source) connect(ctx context.Context, q *queue, lost chan<- error) (client, error) {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		s.m.error("tls")
		return nil, err
	}
	var password string
	if s.cfg.Password != "" {
		if password, err = configs.Secret(s.cfg.Password); err != nil {
			return nil, fmt.Errorf("resolving password: %w", err)
		}
	}
	clientID := s.cfg.ClientID
	var stateTS int64 // the Sparkplug STATE timestamp of this connection
	var will *will
	if s.sp != nil {
		stateTS, will = s.sp.will()
	}
	c := s.newClient(clientConfig{
		Brokers:        s.cfg.Brokers,
		ClientID:       clientID,
		Username:       s.cfg.Username,
		Password:       password,
		TLS:            tlsCfg,
		KeepAlive:      s.cfg.KeepAlive,
		ConnectTimeout: s.cfg.ConnectTimeout,
		CleanSession:   s.cfg.CleanSession,
		Will:           will,
		OnMessage:      func(m message) { s.handle(q, m) },
		OnLost: func(err error) {
			select {
			case lost <- err:
			default:
			}
		},
	})
	cctx, cancel := context.WithTimeout(ctx, 2*s.cfg.ConnectTimeout)
	defer cancel()
	if err := c.Connect(cctx); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("connecting: %w", err)
	}
	filters := make(map[string]byte, len(s.subs))
	for _, sub := range s.subs {
		filters[sub.filter] = sub.qos
	}
	if s.sp != nil {
		s.sp.filters(filters)
	}
	granted, err := c.Subscribe(cctx, filters)
	if err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("subscribing: %w", err)
	}
	for _, sub := range s.subs {
		g, ok := granted[sub.filter]
		switch {
		case !ok || g == 0x80:
			s.m.error("subscribe")
			s.env.Logger.Error("broker refused subscription", "topic", sub.filter)
		case g < sub.qos:
			s.env.Logger.Warn("broker granted a lower QoS than asked; at-least-once holds only at QoS 1 and 2",
				"topic", sub.filter, "qos", sub.qos, "granted", g)
		}
	}
	if s.sp != nil {
		if err := s.sp.online(cctx, c, stateTS); err != nil {
			c.Disconnect(0)
			return nil, fmt.Errorf("publishing the sparkplug STATE birth: %w", err)
		}
	}
	return c, nil
}

// tlsConfig loads the TLS files for ssl:// and wss:// brokers. It runs on
// every connection attempt, so renewed certificates are picked up.
func (s *Source) tlsConfig() (*tls.Config, error) {
	secure := false
	for _, b := range s.cfg.Brokers {
		secure = secure || isSecure(b)
	}
	if !secure {
		return nil, nil
	}
	t := s.cfg.TLS
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // operator's explicit choice
	}
	if t.CA != "" {
		pem, err := os.ReadFile(s.path(t.CA))
		if err != nil {
			return nil, fmt.Errorf("reading tls.ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca %s: no PEM certificate", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(s.path(t.Cert), s.path(t.Key))
		if err != nil {
			return nil, fmt.Errorf("loading tls.cert and tls.key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// path resolves a configured file path against the data directory.
func (s *Source) path(p string) string {
	if filepath.IsAbs(p) || s.env.DataDir == "" {
		return p
	}
	return filepath.Join(s.env.DataDir, p)
}

// handle is the message handler: it decodes and names the points and
// queues the message. It is called in arrival order and may block while
// the queue is full.
func (s *Source) handle(q *queue, m message) {
	recv := time.Now()
	s.m.messages.Inc()
	topic := m.Topic()
	e := entry{msg: m, topic: topic, qos0: m.Qos() == 0, arrived: recv}
	if s.sp != nil && s.sp.isState(topic) {
		s.sp.state(m, topic)
	} else if sub := s.match(topic); sub != nil {
		e.sub = sub
		if sub.sparkplug {
			e.points, e.specs = s.sparkplug(sub, topic, m.Payload(), recv.UnixNano())
		} else {
			e.points, e.specs = s.decode(sub, topic, m.Payload(), recv.UnixNano())
		}
	} else {
		s.bad(topic, m.Payload(), reasonUnmatched, errors.New("no subscription matches the topic"))
	}
	e.weight = max(1, len(e.points))
	s.m.points.Add(float64(len(e.points)))
	q.push(e)
}

// match returns the first subscription whose filter matches topic.
func (s *Source) match(topic string) *subscription {
	for _, sub := range s.subs {
		if sub.topic.match(topic) {
			return sub
		}
	}
	return nil
}

// scratch is per-message working memory, pooled.
type scratch struct {
	samples []sample
	report  report
	buf     []byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// decode turns one payload into named points; bad parts are counted and
// skipped. specs, when not nil, holds the spec of each point whose
// stream the source had not named before (nil for the others), so that
// labels are built once per stream and not for every message.
func (s *Source) decode(sub *subscription, topic string, payload []byte, recv int64) (pts []point.Point, specs []*point.StreamSpec) {
	sc := scratches.Get().(*scratch)
	defer func() {
		clear(sc.samples)
		clear(sc.report.probs)
		sc.samples, sc.report.probs = sc.samples[:0], sc.report.probs[:0]
		scratches.Put(sc)
	}()
	sc.report.receiveTime = 0
	sc.samples = sub.dec.decode(payload, recv, sc.samples[:0], &sc.report)
	for _, p := range sc.report.probs {
		s.bad(topic, payload, p.reason, p.err)
	}
	if n := sc.report.receiveTime; n > 0 {
		s.m.receiveTime.Add(float64(n))
		s.once("receive_time", "mqtt payload without a timestamp; its points take the time of receipt "+
			"(json.time_missing: drop drops them; later ones are only counted)", "topic", topic, "payload", quote(string(payload)))
	}
	if len(sc.samples) == 0 {
		return nil, nil
	}
	pts = make([]point.Point, 0, len(sc.samples))
	for i := range sc.samples {
		sm := &sc.samples[i]
		var ok bool
		sc.buf, ok = sub.stream.render(append(sc.buf[:0], sub.prefix...), topic, sm)
		if !ok || len(sc.buf) == 0 {
			if k, missing := sub.stream.missingTag(sm); missing {
				s.bad(topic, payload, reasonMissingTag, fmt.Errorf("line of measurement %q has no tag %q for the stream template", sm.measurement, k))
			} else {
				s.bad(topic, payload, reasonBadTopic, fmt.Errorf("topic %q has no level for the stream template", topic))
			}
			continue
		}
		name, fresh := s.intern(sc.buf)
		if fresh {
			if specs == nil {
				specs = make([]*point.StreamSpec, len(pts), len(sc.samples))
			}
			spec := &point.StreamSpec{Name: name, Description: sub.description, Unit: sub.unit, Kind: sub.kind,
				Source: topic, Labels: s.labels(sub, topic, sm)}
			specs = append(specs, spec)
		} else if specs != nil {
			specs = append(specs, nil)
		}
		pts = append(pts, point.Point{Stream: name, Time: sm.time, Value: sm.value, Quality: sm.quality})
	}
	return pts, specs
}

// labels builds the labels of a stream from its first message: the
// subscription's (named topic levels, then configured ones), then the
// influx tags.
func (s *Source) labels(sub *subscription, topic string, sm *sample) map[string]string {
	var b point.Labels
	var buf []byte
	for _, l := range sub.labels {
		var ok bool
		if buf, ok = l.value.render(buf[:0], topic, sm); ok {
			b.Add(l.key, string(buf))
		}
	}
	for _, tg := range sm.tags {
		b.Add(tg.key, tg.value)
	}
	m, dropped := b.Map()
	if dropped > 0 {
		s.once("labels_dropped", "some stream labels were dropped (empty, unusable key, or over the limit of 32)",
			"topic", topic, "dropped", dropped)
	}
	return m
}

// once logs a message the first time its key comes up.
func (s *Source) once(key, msg string, args ...any) {
	s.logMu.Lock()
	first := !s.logged[key]
	s.logged[key] = true
	s.logMu.Unlock()
	if first {
		s.env.Logger.Warn(msg, args...)
	}
}

// maxInterned bounds the stream name cache.
const maxInterned = 100000

// intern returns name as a string, shared between the points of a stream,
// and whether the source meets it for the first time (always, past
// maxInterned names).
func (s *Source) intern(name []byte) (string, bool) {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	if n, ok := s.names[string(name)]; ok {
		return n, false
	}
	n := string(name)
	if len(s.names) < maxInterned {
		s.names[n] = n
	}
	return n, true
}

// bad counts a bad payload and logs the first one of each reason.
func (s *Source) bad(topic string, payload []byte, reason string, err error) {
	s.m.error(reason)
	s.logMu.Lock()
	first := !s.logged[reason]
	s.logged[reason] = true
	s.logMu.Unlock()
	if first {
		s.env.Logger.Warn("bad mqtt payload (first of its kind; later ones are only counted)",
			"topic", topic, "reason", reason, "err", err, "payload", quote(string(payload)))
	}
}

// metrics are the source's children of the shared connector metrics.
type metrics struct {
	all                          *connectors.Metrics
	name                         string
	messages, points, reconnects prometheus.Counter
	receiveTime                  prometheus.Counter
	depth, connected             prometheus.Gauge
}

func newMetrics(m *connectors.Metrics, name string) *metrics {
	return &metrics{
		all:         m,
		name:        name,
		messages:    m.Messages.WithLabelValues(name),
		points:      m.Points.WithLabelValues(name),
		reconnects:  m.Reconnects.WithLabelValues(name),
		receiveTime: m.ReceiveTime.WithLabelValues(name),
		depth:       m.QueueDepth.WithLabelValues(name),
		connected:   m.Connected.WithLabelValues(name),
	}
}

func (m *metrics) error(reason string) { m.all.Errors.WithLabelValues(m.name, reason).Inc() }

func (m *metrics) drop(reason string, points int) {
	if points > 0 {
		m.all.Dropped.WithLabelValues(m.name, reason).Add(float64(points))
	}
}

var _ connectors.Source = (*Source)(nil)
