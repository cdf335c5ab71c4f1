package opcua

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// fakeServer stands in for gopcua and a server in the unit tests of the
// session logic: it answers the reads, subscription and Publish requests
// of one variable, ns=1;s=V (a Double), whose value goes up at every
// Publish.
type fakeServer struct {
	mu       sync.Mutex
	sessions int
	value    float64
	// stall makes the Publish requests of session n (from 1) hang without
	// an answer, as a stalled server does.
	stall func(session int) bool
	// perPublish is the number of values in each data change notification.
	perPublish int
}

func (f *fakeServer) dial(ctx context.Context) (uaClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions++
	return &fakeClient{f: f, session: f.sessions}, nil
}

func (f *fakeServer) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions
}

type fakeClient struct {
	f       *fakeServer
	session int
	seq     uint32
}

func (c *fakeClient) Namespaces() []string {
	return []string{"http://opcfoundation.org/UA/", "urn:fake"}
}
func (c *fakeClient) Close(ctx context.Context) error { return nil }

func (c *fakeClient) Send(ctx context.Context, req ua.Request, h func(ua.Response) error) error {
	now := time.Now()
	switch r := req.(type) {
	case *ua.ReadRequest:
		res := &ua.ReadResponse{}
		for _, n := range r.NodesToRead {
			dv := &ua.DataValue{Status: ua.StatusOK}
			switch {
			case n.NodeID.Namespace() == 0:
				dv.Status = ua.StatusBadNodeIDUnknown
			case n.AttributeID == ua.AttributeIDNodeClass:
				dv.Value = ua.MustVariant(int32(ua.NodeClassVariable))
			case n.AttributeID == ua.AttributeIDBrowseName:
				dv.Value = ua.MustVariant(&ua.QualifiedName{NamespaceIndex: 1, Name: "V"})
			case n.AttributeID == ua.AttributeIDDisplayName:
				dv.Value = ua.MustVariant(&ua.LocalizedText{Text: "V"})
			case n.AttributeID == ua.AttributeIDDataType:
				dv.Value = ua.MustVariant(ua.NewNumericNodeID(0, id.Double))
			case n.AttributeID == ua.AttributeIDValueRank:
				dv.Value = ua.MustVariant(int32(-1))
			case n.AttributeID == ua.AttributeIDDescription:
				dv.Value = ua.MustVariant(&ua.LocalizedText{Text: "a fake"})
			case n.AttributeID == ua.AttributeIDValue:
				c.f.mu.Lock()
				dv.Value, dv.SourceTimestamp = ua.MustVariant(c.f.value), now.Add(-time.Hour) // unchanged for an hour
				c.f.mu.Unlock()
			}
			res.Results = append(res.Results, dv)
		}
		return h(res)
	case *ua.CreateSubscriptionRequest:
		return h(&ua.CreateSubscriptionResponse{SubscriptionID: 7, RevisedPublishingInterval: 20, RevisedMaxKeepAliveCount: 5, RevisedLifetimeCount: 100})
	case *ua.CreateMonitoredItemsRequest:
		res := &ua.CreateMonitoredItemsResponse{}
		for range r.ItemsToCreate {
			res.Results = append(res.Results, &ua.MonitoredItemCreateResult{StatusCode: ua.StatusOK})
		}
		return h(res)
	case *ua.PublishRequest:
		if c.f.stall != nil && c.f.stall(c.session) {
			<-ctx.Done()
			return ctx.Err()
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		c.f.mu.Lock()
		var items []*ua.MonitoredItemNotification
		for range max(1, c.f.perPublish) {
			c.f.value++
			items = append(items, &ua.MonitoredItemNotification{ClientHandle: 0, Value: &ua.DataValue{
				Value: ua.MustVariant(c.f.value), SourceTimestamp: time.Now().Add(time.Duration(c.f.value)), Status: ua.StatusOK,
			}})
		}
		c.seq++
		seq := c.seq
		c.f.mu.Unlock()
		return h(&ua.PublishResponse{SubscriptionID: 7, NotificationMessage: &ua.NotificationMessage{
			SequenceNumber:   seq,
			NotificationData: []*ua.ExtensionObject{ua.NewExtensionObject(&ua.DataChangeNotification{MonitoredItems: items})},
		}})
	}
	return fmt.Errorf("fake: unexpected %T", req)
}

func runFake(t *testing.T, f *fakeServer, extra string, sink connectors.Sink) *source {
	t.Helper()
	cfg := DefaultConfig()
	y := "endpoint: opc.tcp://fake:4840\nsecurity: {policy: None, mode: None}\nreconnect_min: 10ms\nreconnect_max: 50ms\nwatchdog_margin: 50ms\n" +
		"subscription: {publishing_interval: 20ms, max_keepalive_count: 5, lifetime_count: 15}\nnodes: [{node_id: 'ns=1;s=V', stream: v}]\n" + extra
	if err := connectortest.DecodeYAML(y)(&cfg); err != nil {
		t.Fatal(err)
	}
	m := connectors.NewMetrics(nil)
	s, err := New(connectors.Env{Name: "fake", Metrics: m}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.dial = f.dial
	ctx, cancel := context.WithCancel(context.Background())
	r := &source{t: t, src: s, m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = s.Run(ctx, sink)
	}()
	t.Cleanup(r.stop)
	return r
}

// A session whose Publish requests go unanswered (no data, no keep-alive)
// is rebuilt by the watchdog; the gap is marked and closed by a read.
func TestWatchdogWithFake(t *testing.T) {
	f := &fakeServer{stall: func(n int) bool { return n == 1 }}
	f.value = 100
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runFake(t, f, "", sink)
	connectortest.Eventually(t, waitLong, "the watchdog", func() bool { return r.errors("watchdog") == 1 })
	pts := waitPoints(t, sink, "v", 5)
	if f.sessionCount() != 2 || r.counter(r.m.Reconnects) != 1 {
		t.Fatalf("sessions %d, reconnects %v", f.sessionCount(), r.counter(r.m.Reconnects))
	}
	// No point came in the stalled session, so there is no gap to mark;
	// the read after the reconnection stores the value (unchanged for an
	// hour) at the time of the read.
	if pts[0].Value != point.Float(100) || time.Since(time.Unix(0, pts[0].Time)) > time.Minute {
		t.Errorf("first point %+v", pts[0])
	}
	if spec, _ := sink.Stream("v"); spec.Kind != point.KindFloat || spec.Description != "a fake" || spec.Source != "fake:ns=1;s=V" {
		t.Errorf("spec %+v", spec)
	}
}

// A stall after data has flowed marks the gap in the stream.
func TestGapMarkWithFake(t *testing.T) {
	var mu sync.Mutex
	stallNow := false
	f := &fakeServer{stall: func(n int) bool { mu.Lock(); defer mu.Unlock(); return n == 1 && stallNow }}
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runFake(t, f, "", sink)
	waitPoints(t, sink, "v", 3)
	mu.Lock()
	stallNow = true
	mu.Unlock()
	connectortest.Eventually(t, waitLong, "the watchdog", func() bool { return r.errors("watchdog") == 1 })
	sink.WaitFor(t, waitLong, "the gap marker", func() bool {
		for _, p := range sink.Points("v") {
			if p.Quality == QualityNoCommunication {
				return p.Value.Kind == point.KindFloat && p.Value.F != p.Value.F // NaN
			}
		}
		return false
	})
}

// While the store holds the source back, the Publish loop waits and the
// server's silence is not mistaken for a stall.
func TestBackPressureIsNotAStall(t *testing.T) {
	f := &fakeServer{perPublish: 100}
	sink := connectortest.NewSink(t, connectortest.Options{})
	release := sink.Block()
	defer release()
	r := runFake(t, f, "queue_size: 200\nbatch_size: 100\n", sink)
	connectortest.Eventually(t, waitLong, "the writer blocked", func() bool { return sink.Waiting() == 1 })
	time.Sleep(500 * time.Millisecond) // > 3 watchdog windows
	if r.errors("watchdog") != 0 || f.sessionCount() != 1 {
		t.Fatalf("the watchdog fired under back-pressure: %v, sessions %d", r.errors("watchdog"), f.sessionCount())
	}
	if d := gauge(r.m.QueueDepth.WithLabelValues("fake")); d > 200 {
		t.Fatalf("queue depth %v over its bound", d)
	}
	release()
	waitPoints(t, sink, "v", 1000)
	if r.errors("watchdog") != 0 {
		t.Fatalf("watchdog %v", r.errors("watchdog"))
	}
}
