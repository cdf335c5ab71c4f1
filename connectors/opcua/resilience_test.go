package opcua

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// The server is unreachable when the source starts, then runs, is killed
// (SIGKILL: a crash, the connection reset) and started again on the same
// port with the same certificate. The source retries, rebuilds the session
// and the subscription, and the gap is marked in the stream: a point of
// quality BadCommunicationError when the loss was noticed, then a point
// read right after the reconnection.
func TestServerKilledAndRestarted(t *testing.T) {
	port := connectortest.FreePort(t, false)
	endpoint := fmt.Sprintf("opc.tcp://127.0.0.1:%d/sluice", port)
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "restart", testConfig(endpoint, noSecurity, `
nodes: [{node_id: "ns=1;s=Boiler.Counter", stream: counter}, {node_id: "ns=1;i=5001", stream: constant}]
`), sink, t.TempDir())
	connectortest.Eventually(t, waitLong, "failed attempts against the absent server", func() bool { return r.errors("endpoints") >= 3 })

	srv := startNodeServer(t, nodeOpts{Port: port, TickMS: 100})
	waitPoints(t, sink, "counter", 3)
	waitPoints(t, sink, "constant", 1)

	killed := time.Now()
	srv.stop(syscall.SIGKILL)
	connectortest.Eventually(t, waitLong, "the session noticed lost", func() bool {
		return r.errors("session_lost")+r.errors("watchdog") >= 1 && !r.connected()
	})
	time.Sleep(300 * time.Millisecond) // a visible gap
	restarted := time.Now()
	srv.start()

	// Data resumes: the subscription delivers again (not just the read
	// after the reconnection).
	sink.WaitFor(t, waitLong, "3 counter points after the restart", func() bool {
		n := 0
		for _, p := range sink.Points("counter") {
			if p.Time > restarted.UnixNano() && point.IsGood(p.Quality) {
				n++
			}
		}
		return n >= 3
	})
	if r.counter(r.m.Reconnects) < 1 {
		t.Errorf("reconnects = %v", r.counter(r.m.Reconnects))
	}
	// The constant never changes, so its stream shows the gap plainly:
	// the value, the marker, the value again read after the reconnection.
	pts := waitPoints(t, sink, "constant", 3)
	var marker, after *point.Point
	for i := range pts {
		p := &pts[i]
		switch {
		case p.Quality == QualityNoCommunication && marker == nil:
			marker = p
		case marker != nil && after == nil && point.IsGood(p.Quality):
			after = p
		}
	}
	if marker == nil || after == nil {
		t.Fatalf("no marked gap in %+v", pts)
	}
	if m := time.Unix(0, marker.Time); m.Before(killed) || m.After(restarted) {
		t.Errorf("gap marker at %v, killed %v, restarted %v", m, killed, restarted)
	}
	if !marker.Value.Kind.Valid() || marker.Value.I != 0 {
		t.Errorf("gap marker value %+v, want the int zero", marker.Value)
	}
	if a := time.Unix(0, after.Time); a.Before(restarted) || after.Value != point.Int(7) {
		t.Errorf("value after the gap: %+v at %v (restarted %v)", after.Value, a, restarted)
	}
}

// A server that stops answering without closing the connection (SIGSTOP:
// the symptom of gopcua's stalled reconnection, a session that looks
// connected and delivers nothing) is caught by the watchdog: the session
// is torn down and rebuilt, and data resumes once the server answers.
func TestWatchdogRebuildsStalledSession(t *testing.T) {
	srv := startNodeServer(t, nodeOpts{TickMS: 100})
	sink := connectortest.NewSink(t, connectortest.Options{})
	// Keep-alive window: 50ms x 10 + 300ms margin = 800ms.
	r := runSource(t, "stall", testConfig(srv.endpoint, noSecurity, `
watchdog_margin: 300ms
dial_timeout: 500ms
request_timeout: 500ms
nodes: [{node_id: "ns=1;s=Boiler.Counter", stream: counter}]
`), sink, t.TempDir())
	waitPoints(t, sink, "counter", 3)

	srv.signal(syscall.SIGSTOP)
	stopped := time.Now()
	connectortest.Eventually(t, waitLong, "the watchdog", func() bool { return r.errors("watchdog") >= 1 })
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the watchdog took %v", d)
	}
	if r.connected() {
		t.Error("still reported connected after the watchdog")
	}
	srv.signal(syscall.SIGCONT)
	resumed := time.Now()
	sink.WaitFor(t, waitLong, "data after the rebuild", func() bool {
		n := 0
		for _, p := range sink.Points("counter") {
			if p.Time > resumed.UnixNano() {
				n++
			}
		}
		return n >= 3
	})
	if r.counter(r.m.Reconnects) < 1 {
		t.Errorf("reconnects = %v", r.counter(r.m.Reconnects))
	}
}
