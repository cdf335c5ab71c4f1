package mqtt

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// BenchmarkIngest compares, on one local Mosquitto and in the same run,
// the rate at which the source makes points readable in a sink that
// fsyncs every batch (standing in for the store with SyncWrites) with the
// receive rate of a bare paho subscriber that does nothing with its
// messages (and so acknowledges at once). Each gets b.N small JSON
// messages, published at QoS 1 and subscribed at the case's QoS:
//
//   - live: two publishers publish while the subscriber is connected; the
//     time runs from the first publish to the last message received (bare)
//     or stored (agent). The publishers share the machine, so on a small one
//     they can be what limits both.
//   - backlog: the messages are queued in both persistent sessions while
//     the subscribers are offline (an agent restart after downtime); the
//     time runs from connecting to the last message. Only the subscriber
//     and the broker run.
//
// Metrics: bare-msgs/s, agent-points/s, agent/bare (target >= 0.8),
// points/batch, and the broker's and this process's CPU per message in
// each phase (the process's includes the publishers when live).
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"live", "backlog"} {
		for _, qos := range []byte{0, 1} {
			b.Run(fmt.Sprintf("%s/qos%d", mode, qos), func(b *testing.B) {
				benchIngest(b, mode == "backlog", qos)
			})
		}
	}
}

func benchIngest(b *testing.B, backlog bool, qos byte) {
	b.StopTimer()
	broker := startMosquitto(b, "queue_qos0_messages true\nmax_queued_bytes 0\n")
	n := b.N
	pubs := []paho.Client{publisher(b, broker.url()), publisher(b, broker.url())}
	agentCfg := sourceYAML(broker.url(), "agent", fmt.Sprintf(`
qos: %d
subscriptions: [{topic: "bench/+", format: json, json: {value: v, time: t, time_format: ns}}]
`, qos))

	// The bare subscriber: paho with its default auto-ack.
	var received atomic.Int64
	done := make(chan struct{})
	bareOpts := paho.NewClientOptions().AddBroker(broker.url()).SetClientID("bare").SetCleanSession(false).
		SetDefaultPublishHandler(func(paho.Client, paho.Message) {
			if received.Add(1) == int64(n) {
				close(done)
			}
		})
	bare := paho.NewClient(bareOpts)
	if tok := bare.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	if tok := bare.Subscribe("bench/#", qos, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	if backlog {
		bare.Disconnect(100)
		// The source makes its session too, then goes offline.
		warm := runSource(b, "bench", agentCfg, connectortest.NewSink(b, connectortest.Options{}), "")
		connectortest.Eventually(b, 10*time.Second, "the source's session", warm.connected)
		warm.stop()
		publishAll(b, pubs, n)
	}

	// Bare.
	cpu0, bcpu0 := processCPU(), broker.cpu()
	start := time.Now()
	if backlog {
		bare = paho.NewClient(bareOpts)
		if tok := bare.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
	} else {
		publishAll(b, pubs, n)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("bare subscriber got %d of %d", received.Load(), n)
	}
	bareRate := float64(n) / time.Since(start).Seconds()
	bareCPU, bareBroker := processCPU()-cpu0, broker.cpu()-bcpu0
	bare.Disconnect(100)

	// The source, into an fsyncing sink.
	sink := connectortest.NewSink(b, connectortest.Options{File: filepath.Join(b.TempDir(), "points.tsv"), CountOnly: true})
	var r *source
	if !backlog {
		r = runSource(b, "bench", agentCfg, sink, "")
		connectortest.Eventually(b, 10*time.Second, "the source to connect", r.connected)
	}
	cpu0, bcpu0 = processCPU(), broker.cpu()
	b.StartTimer()
	start = time.Now()
	if backlog {
		r = runSource(b, "bench", agentCfg, sink, "")
	} else {
		publishAll(b, pubs, n)
	}
	dropped := func() int {
		return int(testutil.ToFloat64(r.m.Dropped.WithLabelValues("bench", "queue_full")))
	}
	sink.WaitFor(b, 5*time.Minute, "every point", func() bool { return sink.Received()+dropped() >= n })
	agentRate := float64(sink.Received()) / time.Since(start).Seconds()
	b.StopTimer()
	agentCPU, agentBroker := processCPU()-cpu0, broker.cpu()-bcpu0
	r.stop()
	if d := dropped(); d > 0 {
		b.Logf("the source dropped %d QoS 0 points (queue full)", d)
	}

	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(bareRate, "bare-msgs/s")
	b.ReportMetric(agentRate, "agent-points/s")
	b.ReportMetric(agentRate/bareRate, "agent/bare")
	b.ReportMetric(float64(sink.Received())/float64(max(1, sink.Writes())), "points/batch")
	b.ReportMetric(perMsg(bareCPU), "bare-cpu-us/msg")
	b.ReportMetric(perMsg(agentCPU), "agent-cpu-us/msg")
	b.ReportMetric(perMsg(bareBroker), "broker-bare-us/msg")
	b.ReportMetric(perMsg(agentBroker), "broker-agent-us/msg")
}

// processCPU is this process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// publishAll publishes n messages at QoS 1, split over the publishers,
// with at most 1000 unacknowledged per publisher. Each call has its own
// timestamps, so no two points collide.
var published atomic.Int64

func publishAll(b *testing.B, pubs []paho.Client, n int) {
	base := published.Add(int64(n)) - int64(n)
	var wg sync.WaitGroup
	for p, pub := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var toks []paho.Token
			for i := p; i < n; i += len(pubs) {
				toks = append(toks, pub.Publish(fmt.Sprintf("bench/s%d", i%100), 1, false,
					fmt.Sprintf(`{"v":%d.5,"t":%d}`, i, 1_700_000_000_000_000_000+base+int64(i))))
				if len(toks) == 1000 {
					waitAll(b, toks)
					toks = toks[:0]
				}
			}
			waitAll(b, toks)
		}()
	}
	wg.Wait()
}

func waitAll(b *testing.B, toks []paho.Token) {
	for _, tok := range toks {
		if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			b.Errorf("publish: %v", tok.Error())
			return
		}
	}
}
