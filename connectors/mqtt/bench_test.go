package mqtt

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// BenchmarkIngest compares, on one local Mosquitto and in the same run,
// the rate at which the source makes points readable in a sink that
// fsyncs every batch (standing in for the store with SyncWrites) with the
// raw receive rate of a bare paho subscriber that does nothing with its
// messages. b.N small JSON messages are queued on the broker for both
// persistent sessions while they are offline, then each connects and
// drains them, timed from connection to the last message. The broker's
// in-flight window (max_inflight_messages) bounds unacknowledged QoS 1
// messages, so QoS 1 runs with mosquitto's default (20) and a wider one.
//
// Metrics: bare-msgs/s, agent-points/s and agent/bare (target >= 0.8).
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name     string
		qos      byte
		inflight int
	}{
		{"qos0", 0, 20},
		{"qos1/inflight20", 1, 20},
		{"qos1/inflight1000", 1, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchIngest(b, bc.qos, bc.inflight)
		})
	}
}

func benchIngest(b *testing.B, qos byte, inflight int) {
	b.StopTimer()
	broker := startMosquitto(b, fmt.Sprintf("max_inflight_messages %d\nqueue_qos0_messages true\nmax_queued_bytes 0\n", inflight))
	n := b.N

	// The bare subscriber: paho with its default auto-ack.
	var received atomic.Int64
	done := make(chan struct{})
	bareOpts := func() *paho.ClientOptions {
		return paho.NewClientOptions().AddBroker(broker.url()).SetClientID("bare").SetCleanSession(false).
			SetDefaultPublishHandler(func(paho.Client, paho.Message) {
				if received.Add(1) == int64(n) {
					close(done)
				}
			})
	}
	bare := paho.NewClient(bareOpts())
	if tok := bare.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	if tok := bare.Subscribe("bench/#", qos, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	bare.Disconnect(100)

	// The agent's source: make its session, then go offline.
	cfg := sourceYAML(broker.url(), "agent", fmt.Sprintf(`
qos: %d
subscriptions: [{topic: "bench/+", format: json, json: {value: v, time: t, time_format: ns}}]
`, qos))
	warm := runSource(b, "bench", cfg, connectortest.NewSink(b, connectortest.Options{}), "")
	connectortest.Eventually(b, 10*time.Second, "the source's session", warm.connected)
	warm.stop()

	// Queue n messages for both sessions.
	pub := publisher(b, broker.url())
	var toks []paho.Token
	for i := range n {
		toks = append(toks, pub.Publish(fmt.Sprintf("bench/s%d", i%100), 1, false,
			fmt.Sprintf(`{"v":%d.5,"t":%d}`, i, 1_700_000_000_000_000_000+int64(i))))
		if len(toks) == 1000 {
			waitAll(b, toks)
			toks = toks[:0]
		}
	}
	waitAll(b, toks)

	// Bare drain.
	start := time.Now()
	bare = paho.NewClient(bareOpts())
	if tok := bare.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("bare subscriber got %d of %d", received.Load(), n)
	}
	bareRate := float64(n) / time.Since(start).Seconds()
	bare.Disconnect(100)

	// Agent drain into an fsyncing sink.
	sink := connectortest.NewSink(b, connectortest.Options{File: filepath.Join(b.TempDir(), "points.tsv"), CountOnly: true})
	b.StartTimer()
	start = time.Now()
	ss := &sizeSink{Sink: sink}
	r := runSource(b, "bench", cfg, ss, "")
	defer ss.dump(b)
	sink.WaitFor(b, 5*time.Minute, "every point", func() bool { return sink.Received() >= n })
	agentRate := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	r.stop()

	b.ReportMetric(bareRate, "bare-msgs/s")
	b.ReportMetric(agentRate, "agent-points/s")
	b.ReportMetric(agentRate/bareRate, "agent/bare")
	b.ReportMetric(float64(n)/float64(max(1, sink.Writes())), "points/batch")
}

func waitAll(b *testing.B, toks []paho.Token) {
	for _, tok := range toks {
		if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			b.Fatalf("publish: %v", tok.Error())
		}
	}
}
