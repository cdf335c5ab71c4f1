package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

const waitLong = 10 * time.Second

// fakeBroker stands in for paho in unit tests: it hands out fake clients
// and records acknowledgements.
type fakeBroker struct {
	mu          sync.Mutex
	failConnect int // connection attempts still to fail
	clients     []*fakeClient
	acked       []int // message ids, in ack order
	nextID      int
	changed     chan struct{}
}

func newFakeBroker() *fakeBroker { return &fakeBroker{changed: make(chan struct{}, 1)} }

func (b *fakeBroker) newClient(cfg clientConfig) client {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &fakeClient{b: b, cfg: cfg}
	b.clients = append(b.clients, c)
	return c
}

type fakeClient struct {
	b          *fakeBroker
	cfg        clientConfig
	subscribed map[string]byte
	connected  bool
	gone       bool // disconnected or lost: acks are dropped
}

func (c *fakeClient) Connect(ctx context.Context) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.b.failConnect > 0 {
		c.b.failConnect--
		return errors.New("connection refused")
	}
	c.connected = true
	return nil
}

func (c *fakeClient) Subscribe(ctx context.Context, filters map[string]byte) (map[string]byte, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.subscribed = filters
	return filters, nil
}

func (c *fakeClient) Disconnect(time.Duration) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.gone = true
}

// lose simulates a lost connection.
func (c *fakeClient) lose() {
	c.b.mu.Lock()
	c.gone = true
	c.b.mu.Unlock()
	c.cfg.OnLost(errors.New("connection reset"))
}

type fakeMsg struct {
	c       *fakeClient
	id      int
	topic   string
	payload []byte
	qos     byte
	once    sync.Once
}

func (m *fakeMsg) Topic() string   { return m.topic }
func (m *fakeMsg) Payload() []byte { return m.payload }
func (m *fakeMsg) Qos() byte       { return m.qos }
func (m *fakeMsg) Ack() {
	m.once.Do(func() {
		m.c.b.mu.Lock()
		defer m.c.b.mu.Unlock()
		if !m.c.gone && m.qos > 0 {
			m.c.b.acked = append(m.c.b.acked, m.id)
		}
	})
}

// current waits for a connected, subscribed client.
func (b *fakeBroker) current(t *testing.T) *fakeClient {
	t.Helper()
	var c *fakeClient
	connectortest.Eventually(t, waitLong, "a subscribed client", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if n := len(b.clients); n > 0 && b.clients[n-1].subscribed != nil && !b.clients[n-1].gone {
			c = b.clients[n-1]
			return true
		}
		return false
	})
	return c
}

// publish delivers a message through the client's handler, as paho's
// router would; it blocks while the source applies back-pressure.
func (c *fakeClient) publish(topic, payload string, qos byte) int {
	c.b.mu.Lock()
	c.b.nextID++
	id := c.b.nextID
	c.b.mu.Unlock()
	c.cfg.OnMessage(&fakeMsg{c: c, id: id, topic: topic, payload: []byte(payload), qos: qos})
	return id
}

func (b *fakeBroker) ackedIDs() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.acked)
}

type harness struct {
	t      *testing.T
	logs   *logRecorder
	src    *Source
	sink   *connectortest.Sink
	broker *fakeBroker
	m      *connectors.Metrics
	cancel context.CancelFunc
	done   chan error
}

// startFake runs a source on a fake broker. yamlExtra is appended to a
// base config with one plain subscription "s/+" (stream "s/{1}").
func startFake(t *testing.T, yamlExtra string, setup ...func(*fakeBroker)) *harness {
	t.Helper()
	src := "brokers: [tcp://fake:1883]\nclient_id: test\nreconnect_min: 5ms\nreconnect_max: 20ms\n" +
		"subscriptions:\n  - {topic: s/+, stream: 's/{1}'}\n  - {topic: j/+, stream: 'j/{1}', format: json, json: {value: v, time: t}}\n" + yamlExtra
	m := connectors.NewMetrics(nil)
	var cfg = DefaultConfig()
	if err := connectortest.DecodeYAML(src)(&cfg); err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	s, err := New(connectors.Env{Name: "fake", Metrics: m, Logger: slog.New(logs)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, logs: logs, src: s, sink: connectortest.NewSink(t, connectortest.Options{}), broker: newFakeBroker(), m: m, done: make(chan error, 1)}
	for _, f := range setup {
		f(h.broker)
	}
	s.newClient = h.broker.newClient
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- s.Run(ctx, h.sink) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil
	case <-time.After(waitLong):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) errors(reason string) float64 {
	return testutil.ToFloat64(h.m.Errors.WithLabelValues("fake", reason))
}

func (h *harness) dropped(reason string) float64 {
	return testutil.ToFloat64(h.m.Dropped.WithLabelValues("fake", reason))
}

func TestAckOnlyAfterCommit(t *testing.T) {
	h := startFake(t, "")
	c := h.broker.current(t)
	release := h.sink.Block()
	defer release()
	ids := []int{c.publish("s/a", "1", 1), c.publish("s/b", "2", 1), c.publish("s/c", "3", 1)}
	h.sink.WaitFor(t, waitLong, "a write waiting", func() bool { return h.sink.Waiting() > 0 })
	if got := h.broker.ackedIDs(); len(got) != 0 {
		t.Fatalf("acked %v before the write returned", got)
	}
	release()
	connectortest.Eventually(t, waitLong, "acks", func() bool { return len(h.broker.ackedIDs()) == 3 })
	if got := h.broker.ackedIDs(); !slices.Equal(got, ids) {
		t.Fatalf("acked %v, want %v in order", got, ids)
	}
	if h.sink.Len() != 3 || len(h.sink.Points("s/b")) != 1 {
		t.Fatalf("stored %d points, streams %v", h.sink.Len(), h.sink.StreamNames())
	}
}

func TestWriteFailureRetriesWithoutAck(t *testing.T) {
	h := startFake(t, "")
	c := h.broker.current(t)
	h.sink.Fail(errors.New("disk full"))
	id := c.publish("s/a", "1", 1)
	connectortest.Eventually(t, waitLong, "two failed attempts", func() bool { return h.errors("ensure_stream") >= 2 })
	if got := h.broker.ackedIDs(); len(got) != 0 {
		t.Fatalf("acked %v although every write failed", got)
	}
	h.sink.Fail(nil)
	connectortest.Eventually(t, waitLong, "the ack after recovery", func() bool { return slices.Equal(h.broker.ackedIDs(), []int{id}) })
	if h.sink.Len() != 1 {
		t.Fatalf("stored %d points", h.sink.Len())
	}
}

func TestBadPayloadsAreCountedAndAckedInOrder(t *testing.T) {
	h := startFake(t, "")
	c := h.broker.current(t)
	var ids []int
	for _, p := range []struct{ topic, payload string }{
		{"s/a", "1"}, {"s/a", "x"}, {"j/a", `{"v":2,"t":5}`}, {"j/a", `{"v":`}, {"other", "1"}, {"j/b", `{"t":5}`}, {"s/c", "4"},
	} {
		ids = append(ids, c.publish(p.topic, p.payload, 1))
	}
	connectortest.Eventually(t, waitLong, "all acks", func() bool { return len(h.broker.ackedIDs()) == len(ids) })
	if got := h.broker.ackedIDs(); !slices.Equal(got, ids) {
		t.Fatalf("acked %v, want %v", got, ids)
	}
	ids = append(ids, c.publish("s/a", "y", 1)) // a second bad number: counted, not logged
	connectortest.Eventually(t, waitLong, "all acks", func() bool { return slices.Equal(h.broker.ackedIDs(), ids) })
	for reason, want := range map[string]float64{reasonBadNumber: 2, reasonBadJSON: 1, reasonUnmatched: 1, reasonMissingValue: 1} {
		if got := h.errors(reason); got != want {
			t.Errorf("errors{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	// The first bad payload of each reason is logged, with its topic.
	logged := map[string]string{}
	for _, r := range h.logs.records() {
		if r.Message == "bad mqtt payload (first of its kind; later ones are only counted)" {
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			if _, dup := logged[attrs["reason"]]; dup {
				t.Errorf("reason %s logged twice", attrs["reason"])
			}
			logged[attrs["reason"]] = attrs["topic"]
		}
	}
	if want := map[string]string{reasonBadNumber: "s/a", reasonBadJSON: "j/a", reasonUnmatched: "other", reasonMissingValue: "j/b"}; !maps.Equal(logged, want) {
		t.Errorf("logged %v, want %v", logged, want)
	}
	if got := testutil.ToFloat64(h.m.Messages.WithLabelValues("fake")); got != 8 {
		t.Errorf("messages = %v", got)
	}
	if h.sink.Len() != 3 || testutil.ToFloat64(h.m.Written.WithLabelValues("fake")) != 3 {
		t.Errorf("stored %d, written metric %v", h.sink.Len(), testutil.ToFloat64(h.m.Written.WithLabelValues("fake")))
	}
}

func TestBackPressureQoS1(t *testing.T) {
	h := startFake(t, "queue_size: 4\nbatch_size: 2\n")
	c := h.broker.current(t)
	release := h.sink.Block()
	const n = 20
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			c.publish(fmt.Sprintf("s/%d", i), "1", 1)
		}
	}()
	// One batch (2) in the write, the queue full (4): the handler waits.
	connectortest.Eventually(t, waitLong, "a full queue", func() bool {
		return testutil.ToFloat64(h.m.QueueDepth.WithLabelValues("fake")) == 4 && h.sink.Waiting() == 1
	})
	select {
	case <-published:
		t.Fatal("the handler did not block on a full queue")
	default:
	}
	release()
	<-published
	connectortest.Eventually(t, waitLong, "all acks", func() bool { return len(h.broker.ackedIDs()) == n })
	if h.sink.Len() != n || h.dropped("queue_full") != 0 {
		t.Fatalf("stored %d of %d, dropped %v", h.sink.Len(), n, h.dropped("queue_full"))
	}
}

func TestQoS0DropsOldest(t *testing.T) {
	h := startFake(t, "queue_size: 4\nbatch_size: 1\nbatch_delay: 0s\n")
	c := h.broker.current(t)
	release := h.sink.Block()
	c.publish("s/0", "0", 0)
	h.sink.WaitFor(t, waitLong, "the first write", func() bool { return h.sink.Waiting() == 1 })
	for i := 1; i < 10; i++ {
		c.publish(fmt.Sprintf("s/%d", i), "1", 0) // never blocks
	}
	if got := h.dropped("queue_full"); got != 5 {
		t.Fatalf("dropped %v, want 5", got)
	}
	release()
	h.sink.WaitFor(t, waitLong, "5 points", func() bool { return h.sink.Len() == 5 })
	if got := h.sink.StreamNames(); !slices.Equal(got, []string{"s/0", "s/6", "s/7", "s/8", "s/9"}) {
		t.Fatalf("kept %v, want the first and the 4 newest", got)
	}
}

func TestQoS0BatchesWaitForBatchDelay(t *testing.T) {
	h := startFake(t, "batch_size: 3\nbatch_delay: 1h\n")
	c := h.broker.current(t)
	c.publish("s/a", "1", 0)
	c.publish("s/b", "1", 0)
	c.publish("s/c", "1", 0) // the third fills the batch
	h.sink.WaitFor(t, waitLong, "one batch of 3", func() bool { return h.sink.Len() == 3 })
	if w := h.sink.Writes(); w != 1 {
		t.Fatalf("%d writes, want 1 batch", w)
	}
	c.publish("s/d", "1", 0)
	c.publish("s/e", "1", 1) // a QoS 1 message cuts the batch at once
	h.sink.WaitFor(t, waitLong, "the second batch", func() bool { return h.sink.Len() == 5 })
}

func TestShutdownDrainsQueue(t *testing.T) {
	h := startFake(t, "")
	c := h.broker.current(t)
	release := h.sink.Block()
	ids := []int{c.publish("s/a", "1", 1), c.publish("s/b", "1", 1)}
	h.sink.WaitFor(t, waitLong, "a write waiting", func() bool { return h.sink.Waiting() == 1 })
	h.cancel()
	release()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil
	if got := h.broker.ackedIDs(); !slices.Equal(got, ids) || h.sink.Len() != 2 {
		t.Fatalf("after shutdown: acked %v, stored %d", got, h.sink.Len())
	}
}

func TestReconnectsAndResubscribes(t *testing.T) {
	h := startFake(t, "", func(b *fakeBroker) { b.failConnect = 3 })
	c := h.broker.current(t)
	if got := h.errors("connect"); got != 3 {
		t.Fatalf("connect errors = %v, want 3", got)
	}
	if got := c.subscribed; got["s/+"] != 1 || got["j/+"] != 1 {
		t.Fatalf("subscribed %v", got)
	}
	release := h.sink.Block()
	c.publish("j/a", `{"v":1,"t":5}`, 1) // in flight when the connection drops
	h.sink.WaitFor(t, waitLong, "a write waiting", func() bool { return h.sink.Waiting() == 1 })
	c.lose()
	c2 := h.broker.current(t)
	if c2 == c {
		t.Fatal("no new client after the loss")
	}
	release()
	h.sink.WaitFor(t, waitLong, "the point", func() bool { return h.sink.Len() == 1 })
	// Its ack went to the dead connection; the broker would redeliver.
	id := c2.publish("j/a", `{"v":1,"t":5}`, 1)
	connectortest.Eventually(t, waitLong, "the redelivery's ack", func() bool { return slices.Equal(h.broker.ackedIDs(), []int{id}) })
	if h.sink.Len() != 1 {
		t.Fatalf("the duplicate did not collapse: %d points", h.sink.Len())
	}
	if got := testutil.ToFloat64(h.m.Reconnects.WithLabelValues("fake")); got != 1 {
		t.Fatalf("reconnects = %v", got)
	}
	if got := testutil.ToFloat64(h.m.Connected.WithLabelValues("fake")); got != 1 {
		t.Fatalf("connected = %v", got)
	}
}

func TestStreamKindsAndRefusals(t *testing.T) {
	h := startFake(t, "")
	c := h.broker.current(t)
	h.sink.Create(point.StreamSpec{Name: "s/int", Kind: point.KindInt})
	h.sink.Refuse("s/no")
	for _, p := range []struct{ topic, payload string }{{"s/int", "3"}, {"s/int", "3.5"}, {"s/no", "1"}, {"s/ok", "1"}} {
		c.publish(p.topic, p.payload, 1)
	}
	connectortest.Eventually(t, waitLong, "all acks", func() bool { return len(h.broker.ackedIDs()) == 4 })
	if pts := h.sink.Points("s/int"); len(pts) != 1 || pts[0].Value != point.Int(3) {
		t.Fatalf("s/int holds %+v, want the converted 3", pts)
	}
	if h.dropped("kind_mismatch") != 1 || h.dropped("stream_refused") != 1 || h.sink.Len() != 2 {
		t.Fatalf("dropped kind %v refused %v, stored %d", h.dropped("kind_mismatch"), h.dropped("stream_refused"), h.sink.Len())
	}
	spec, _ := h.sink.Stream("s/ok")
	if spec.Source != "fake:s/ok" || spec.Kind != point.KindFloat {
		t.Fatalf("spec %+v", spec)
	}
}

// logRecorder is a slog.Handler that keeps records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) records() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}
