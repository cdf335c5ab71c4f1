package mqtt

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// spBenchFormat is one side of the Sparkplug/JSON comparison: the
// subscription, the births (Sparkplug only) and the i-th data message of
// edge node (publisher) p, carrying m values.
type spBenchFormat struct {
	name   string
	sub    string
	births func(p, m int) []benchMsg
	data   func(p, i, k, m int) benchMsg // k: the publisher's k-th data message
}

const spBenchDevices = 100

func spBenchFormats() []spBenchFormat {
	const t0 = 1_700_000_000_000 // ms
	return []spBenchFormat{{
		name: "json",
		sub:  `{topic: "bench/+/+", format: json, json: {fields: ["*"], time: t, time_format: ms}}`,
		// The streams are made before the clock runs, as the Sparkplug
		// births make theirs.
		births: func(p, m int) []benchMsg {
			var out []benchMsg
			for d := range spBenchDevices {
				out = append(out, spJSON(p, d, t0-spBenchDevices+d, 0, m))
			}
			return out
		},
		data: func(p, i, k, m int) benchMsg { return spJSON(p, i%spBenchDevices, t0+i, i, m) },
	}, {
		name: "sparkplug",
		sub:  `{topic: "spBv1.0/bench/#", format: sparkplug}`,
		births: func(p, m int) []benchMsg {
			node := fmt.Sprintf("gw%d", p)
			out := []benchMsg{{topic: "spBv1.0/bench/NBIRTH/" + node, payload: tPayload{ts: u64(t0), seq: u64(0), metrics: []tMetric{
				metric("bdSeq", 0, spUInt64, uint64(0)), metric("Node Control/Rebirth", 1, spBoolean, false),
			}}.encode()}}
			for d := range spBenchDevices {
				var ms []tMetric
				for j := range m {
					ms = append(ms, tMetric{name: str(fmt.Sprintf("m%d", j)), alias: u64(uint64(100 + d*m + j)), datatype: u32(spDouble), value: 0.5})
				}
				out = append(out, benchMsg{topic: fmt.Sprintf("spBv1.0/bench/DBIRTH/%s/d%d", node, d),
					payload: tPayload{ts: u64(t0), seq: u64(uint64(1+d) % 256), metrics: ms}.encode()})
			}
			return out
		},
		data: func(p, i, k, m int) benchMsg {
			d := i % spBenchDevices
			ms := make([]tMetric, m)
			for j := range ms {
				ms[j] = tMetric{alias: u64(uint64(100 + d*m + j)), ts: u64(uint64(t0 + i)), value: float64(i+j) + 0.5}
			}
			return benchMsg{topic: fmt.Sprintf("spBv1.0/bench/DDATA/gw%d/d%d", p, d),
				payload: tPayload{ts: u64(uint64(t0 + i)), seq: u64(uint64(1+spBenchDevices+k) % 256), metrics: ms}.encode()}
		},
	}}
}

// spJSON is a JSON message of device d of edge node p with m values.
func spJSON(p, d, ms, v, m int) benchMsg {
	var b strings.Builder
	fmt.Fprintf(&b, `{"t":%d`, ms)
	for j := range m {
		fmt.Fprintf(&b, `,"m%d":%d.5`, j, v+j)
	}
	b.WriteByte('}')
	return benchMsg{topic: fmt.Sprintf("bench/gw%d/d%d", p, d), payload: []byte(b.String())}
}

// BenchmarkSparkplugHandle measures the source's own cost per message on
// paho's dispatch goroutine (decode, name, queue), Sparkplug DDATA with
// aliases against JSON carrying the same values.
func BenchmarkSparkplugHandle(b *testing.B) {
	for _, m := range []int{1, 10} {
		for _, f := range spBenchFormats() {
			b.Run(fmt.Sprintf("%s/metrics=%d", f.name, m), func(b *testing.B) {
				cfg := DefaultConfig()
				if err := connectortest.DecodeYAML(fmt.Sprintf("brokers: [tcp://x:1]\nclient_id: c\nsubscriptions: [%s]\n", f.sub))(&cfg); err != nil {
					b.Fatal(err)
				}
				s, err := New(connectors.Env{Name: "b"}, cfg)
				if err != nil {
					b.Fatal(err)
				}
				q := newQueue(1<<30, s.m)
				if f.births != nil {
					for _, msg := range f.births(0, m) {
						s.handle(q, &msg)
					}
				}
				msgs := make([]benchMsg, 256)
				for i := range msgs {
					msgs[i] = f.data(0, i, i, m)
				}
				b.ReportAllocs()
				b.ResetTimer()
				points := 0
				for i := 0; b.Loop(); i++ {
					s.handle(q, &msgs[i%len(msgs)])
					points += m
					if i%4096 == 0 {
						var dst []entry
						q.take(b.Context(), &dst, 1<<30, time.Time{})
					}
				}
				b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
				if g := gauge(s.m.all.Errors.WithLabelValues("b", reasonSPSeqGap)); g != 0 {
					b.Fatalf("%v sequence gaps", g)
				}
			})
		}
	}
}

// BenchmarkSparkplugIngest compares, on one local Mosquitto, the rate at
// which the source makes points readable in a sink that fsyncs every
// batch: Sparkplug B DDATA with aliases against JSON carrying the same
// values, 1 or 10 per message. Two edge nodes (publishers) publish b.N
// messages at QoS 1 over 100 devices each while the source is subscribed
// (QoS 1); the messages are encoded beforehand, and the time runs from the
// first publication to the last point stored. Metrics: points/s, msgs/s
// and this process's CPU per point (it includes the publishers').
func BenchmarkSparkplugIngest(b *testing.B) {
	for _, m := range []int{1, 10} {
		for _, f := range spBenchFormats() {
			b.Run(fmt.Sprintf("%s/metrics=%d", f.name, m), func(b *testing.B) {
				benchSparkplugIngest(b, f, m)
			})
		}
	}
}

func benchSparkplugIngest(b *testing.B, f spBenchFormat, m int) {
	b.StopTimer()
	broker := startMosquitto(b, "max_queued_bytes 0\n")
	pubs := []paho.Client{publisher(b, broker.url()), publisher(b, broker.url())}
	sink := connectortest.NewSink(b, connectortest.Options{File: filepath.Join(b.TempDir(), "points.tsv"), CountOnly: true})
	r := runSource(b, "bench", sourceYAML(broker.url(), "agent", "subscriptions: ["+f.sub+"]\n"), sink, "")
	connectortest.Eventually(b, 10*time.Second, "the source to connect", r.connected)
	if f.births != nil {
		births := 0
		for p, pub := range pubs {
			for _, msg := range f.births(p, m) {
				publish(b, pub, msg.topic, 1, string(msg.payload))
			}
			births += spBenchDevices * m
		}
		sink.WaitFor(b, time.Minute, "the births", func() bool { return len(sink.StreamNames()) == births })
	}
	base := sink.Received()
	n := b.N
	// Every message is encoded before the clock runs, so that the test's
	// encoders are not what is compared.
	msgs := make([][]benchMsg, len(pubs))
	for p := range pubs {
		k := 0
		for i := p; i < n; i += len(pubs) {
			msgs[p] = append(msgs[p], f.data(p, i, k, m))
			k++
		}
	}
	cpu0 := processCPU()
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p, pub := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var toks []paho.Token
			for _, msg := range msgs[p] {
				toks = append(toks, pub.Publish(msg.topic, 1, false, msg.payload))
				if len(toks) == 1000 {
					waitAll(b, toks)
					toks = toks[:0]
				}
			}
			waitAll(b, toks)
		}()
	}
	wg.Wait()
	total := n * m
	sink.WaitFor(b, 5*time.Minute, "every point", func() bool { return sink.Received()-base >= total })
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU() - cpu0
	r.stop()
	if g := gauge(r.m.Errors.WithLabelValues("bench", reasonSPSeqGap)); g != 0 {
		b.Fatalf("%v sequence gaps", g)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "points/s")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-us/point")
}
