package mqtt

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
)

type benchMsg struct {
	topic   string
	payload []byte
}

func (m *benchMsg) Topic() string   { return m.topic }
func (m *benchMsg) Payload() []byte { return m.payload }
func (m *benchMsg) Qos() byte       { return 1 }
func (m *benchMsg) Ack()            {}

// BenchmarkHandle measures the source's own cost per message on paho's
// dispatch goroutine: decode, name, queue.
func BenchmarkHandle(b *testing.B) {
	for _, bc := range []struct{ name, sub, topic, payload string }{
		{"json", `{topic: "bench/+", format: json, json: {value: v, time: t, time_format: ns}}`, "bench/s1", `{"v":123.5,"t":1700000000000000001}`},
		{"plain", `{topic: "bench/+"}`, "bench/s1", `123.5`},
		{"influx", `{topic: "bench/+", format: influx}`, "bench/s1", `cpu,host=a usage=1.5 1700000000000000001`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			if err := connectortest.DecodeYAML(fmt.Sprintf("brokers: [tcp://x:1]\nclient_id: c\nsubscriptions: [%s]\n", bc.sub))(&cfg); err != nil {
				b.Fatal(err)
			}
			s, err := New(connectors.Env{Name: "b"}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			q := newQueue(1<<30, s.m)
			m := &benchMsg{topic: bc.topic, payload: []byte(bc.payload)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.handle(q, m)
				if i%4096 == 0 {
					var dst []entry
					q.take(b.Context(), &dst, 1<<30, time.Time{})
				}
			}
		})
	}
}
