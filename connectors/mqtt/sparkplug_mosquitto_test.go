package mqtt

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Sparkplug B against a real Mosquitto: an edge node (a paho client
// publishing payloads built from sparkplug_b.proto by the test encoder)
// births a node and a device with aliases and sends data by alias only;
// an observer on spBv1.0/# sees what the source publishes.

// spObserver records every message on a filter.
type spObserver struct {
	mu   sync.Mutex
	msgs []spObserved
}

type spObserved struct {
	topic    string
	payload  []byte
	retained bool
}

func observe(t testing.TB, broker, filter string) *spObserver {
	o := &spObserver{}
	c := connectPaho(t, paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("obs-%d", time.Now().UnixNano())))
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.msgs = append(o.msgs, spObserved{m.Topic(), append([]byte(nil), m.Payload()...), m.Retained()})
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribing %s: %v", filter, tok.Error())
	}
	return o
}

// on returns the messages seen on topic.
func (o *spObserver) on(topic string) []spObserved {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []spObserved
	for _, m := range o.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// wait waits for the n-th message on topic and returns it.
func (o *spObserver) wait(t testing.TB, topic string, n int) spObserved {
	t.Helper()
	connectortest.Eventually(t, waitLong, fmt.Sprintf("message %d on %s", n, topic), func() bool { return len(o.on(topic)) >= n })
	return o.on(topic)[n-1]
}

type spState struct {
	Online    *bool  `json:"online"`
	Timestamp *int64 `json:"timestamp"`
}

func parseState(t testing.TB, m spObserved) (online bool, ts int64) {
	t.Helper()
	var st spState
	if err := json.Unmarshal(m.payload, &st); err != nil || st.Online == nil || st.Timestamp == nil {
		t.Fatalf("STATE payload %q: %v", m.payload, err)
	}
	return *st.Online, *st.Timestamp
}

// tcpProxy relays TCP connections to target until drop cuts them (as a
// network failure would: no MQTT DISCONNECT), and keeps accepting.
func tcpProxy(t testing.TB, target string) (url string, drop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	drop = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	t.Cleanup(func() {
		l.Close()
		drop()
		wg.Wait()
	})
	return "tcp://" + l.Addr().String(), drop
}

func spPublish(t testing.TB, c paho.Client, topic string, p tPayload) {
	t.Helper()
	publish(t, c, topic, 0, string(p.encode()))
}

func TestMosquittoSparkplug(t *testing.T) {
	b := startMosquitto(t, "")
	obs := observe(t, b.url(), "spBv1.0/#")
	hostURL, dropHost := tcpProxy(t, fmt.Sprintf("127.0.0.1:%d", b.port))
	sink := connectortest.NewSink(t, connectortest.Options{})
	started := time.Now().UnixMilli()
	r := runSource(t, "sp", sourceYAML(hostURL, "sp-host", `
clean_session: true
subscriptions: [{topic: "spBv1.0/plant1/#", format: sparkplug}]
sparkplug: {host_id: sluice-test, rebirth_interval: 1h}
`), sink, "")
	const state = "spBv1.0/STATE/sluice-test"

	// STATE: published online when connected, and retained.
	online, birthTS := parseState(t, obs.wait(t, state, 1))
	if !online || birthTS < started || birthTS > time.Now().UnixMilli() {
		t.Fatalf("STATE online %v at %d (started %d)", online, birthTS, started)
	}
	late := observe(t, b.url(), state)
	if m := late.wait(t, state, 1); !m.retained {
		t.Error("STATE is not retained")
	} else if on, ts := parseState(t, m); !on || ts != birthTS {
		t.Errorf("retained STATE online %v at %d, want true at %d", on, ts, birthTS)
	}

	// The edge node, connected through a proxy so that its will can be
	// made to fire.
	edgeURL, dropEdge := tcpProxy(t, fmt.Sprintf("127.0.0.1:%d", b.port))
	ndeath := tPayload{metrics: []tMetric{{name: str("bdSeq"), datatype: u32(spUInt64), value: uint64(0)}}}
	edge := connectPaho(t, paho.NewClientOptions().AddBroker(edgeURL).SetClientID("gw1").SetCleanSession(true).SetAutoReconnect(false).
		SetBinaryWill("spBv1.0/plant1/NDEATH/gw1", ndeath.encode(), 1, false))
	pub := publisher(t, b.url()) // for the other edge nodes

	t0 := uint64(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	spPublish(t, edge, "spBv1.0/plant1/NBIRTH/gw1", tPayload{ts: u64(t0), seq: u64(0), metrics: []tMetric{
		{name: str("bdSeq"), ts: u64(t0), datatype: u32(spUInt64), value: uint64(0)},
		{name: str("Node Control/Rebirth"), alias: u64(1), ts: u64(t0), datatype: u32(spBoolean), value: false},
		{name: str("Supply Voltage"), alias: u64(2), ts: u64(t0), datatype: u32(spFloat), value: float32(12.1),
			props: []tProp{{"engUnit", spString, "V"}}},
		{name: str("Properties/Hardware Make"), alias: u64(3), ts: u64(t0), datatype: u32(spString), value: "Raspberry Pi"},
	}})
	spPublish(t, edge, "spBv1.0/plant1/DBIRTH/gw1/pump1", tPayload{ts: u64(t0), seq: u64(1), metrics: []tMetric{
		{name: str("Flow/Rate"), alias: u64(10), ts: u64(t0), datatype: u32(spDouble), value: 1.5,
			props: []tProp{{"engUnit", spString, "m3/h"}}, desc: str("outlet flow")},
		{name: str("Running"), alias: u64(11), ts: u64(t0), datatype: u32(spBoolean), value: false},
		{name: str("Count"), alias: u64(12), ts: u64(t0), datatype: u32(spInt32), value: tInt(0xFFFFFFFB)}, // -5
	}})
	// Data by alias only.
	spPublish(t, edge, "spBv1.0/plant1/NDATA/gw1", tPayload{ts: u64(t0 + 1000), seq: u64(2), metrics: []tMetric{
		{alias: u64(2), ts: u64(t0 + 1000), value: float32(12.5)},
	}})
	spPublish(t, edge, "spBv1.0/plant1/DDATA/gw1/pump1", tPayload{ts: u64(t0 + 1000), seq: u64(3), metrics: []tMetric{
		{alias: u64(10), ts: u64(t0 + 1000), value: 3.25},
		{alias: u64(11), ts: u64(t0 + 1000), value: true},
		{alias: u64(12), ts: u64(t0 + 1000), value: tInt(0xFFFFFFF9)}, // -7
	}})
	ms := func(v uint64) int64 { return int64(v) * 1e6 }
	want := map[string][]point.Value{
		"plant1/gw1/Supply Voltage":           {point.Float(12.1), point.Float(12.5)},
		"plant1/gw1/Properties/Hardware Make": {point.String("Raspberry Pi")},
		"plant1/gw1/pump1/Flow/Rate":          {point.Float(1.5), point.Float(3.25)},
		"plant1/gw1/pump1/Running":            {point.Bool(false), point.Bool(true)},
		"plant1/gw1/pump1/Count":              {point.Int(-5), point.Int(-7)},
	}
	sink.WaitFor(t, waitLong, "the births and data", func() bool { return sink.Len() == 9 })
	if names := sink.StreamNames(); len(names) != len(want) {
		t.Errorf("streams %q", names) // not bdSeq nor Node Control/Rebirth
	}
	for name, vals := range want {
		pts := sink.Points(name)
		if len(pts) != len(vals) {
			t.Errorf("%s: %+v", name, pts)
			continue
		}
		for i, p := range pts {
			if p.Value != vals[i] || p.Time != ms(t0)+int64(i)*1e9 || p.Quality != point.QualityGood {
				t.Errorf("%s[%d] = %+v, want %v", name, i, p, vals[i])
			}
		}
	}
	node := map[string]string{"group": "plant1", "edge_node": "gw1"}
	dev := map[string]string{"group": "plant1", "edge_node": "gw1", "device": "pump1"}
	for name, want := range map[string]point.StreamSpec{
		"plant1/gw1/Supply Voltage":  {Kind: point.KindFloat, Unit: "V", Source: "sp:spBv1.0/plant1/gw1:Supply Voltage", Labels: node},
		"plant1/gw1/pump1/Flow/Rate": {Kind: point.KindFloat, Unit: "m3/h", Description: "outlet flow", Source: "sp:spBv1.0/plant1/gw1/pump1:Flow/Rate", Labels: dev},
		"plant1/gw1/pump1/Running":   {Kind: point.KindBool, Source: "sp:spBv1.0/plant1/gw1/pump1:Running", Labels: dev},
		"plant1/gw1/pump1/Count":     {Kind: point.KindInt, Source: "sp:spBv1.0/plant1/gw1/pump1:Count", Labels: dev},
	} {
		want.Name = name
		if got, _ := sink.Stream(name); !reflect.DeepEqual(got, want) {
			t.Errorf("spec %+v, want %+v", got, want)
		}
	}

	// DDEATH: the device's streams get a bad point at the death.
	spPublish(t, edge, "spBv1.0/plant1/DDEATH/gw1/pump1", tPayload{ts: u64(t0 + 2000), seq: u64(4)})
	sink.WaitFor(t, waitLong, "the device's death", func() bool { return sink.Len() == 12 })
	for _, name := range []string{"plant1/gw1/pump1/Flow/Rate", "plant1/gw1/pump1/Running", "plant1/gw1/pump1/Count"} {
		pts := sink.Points(name)
		last := pts[len(pts)-1]
		spec, _ := sink.Stream(name)
		// No value: NaN in a float stream (never mistaken for a
		// measurement), the zero of other kinds.
		noValue := last.Value == (point.Value{Kind: spec.Kind})
		if spec.Kind == point.KindFloat {
			noValue = math.IsNaN(last.Value.F) && last.Value.Kind == point.KindFloat
		}
		if last.Time != ms(t0+2000) || last.Quality != QualitySparkplugDead || !point.IsBad(last.Quality) || !noValue {
			t.Errorf("%s after DDEATH: %+v", name, last)
		}
	}

	// A sequence gap (5 and 6 lost): the point is kept and a rebirth is
	// requested on the node's NCMD topic.
	spPublish(t, edge, "spBv1.0/plant1/NDATA/gw1", tPayload{ts: u64(t0 + 3000), seq: u64(7), metrics: []tMetric{{alias: u64(2), ts: u64(t0 + 3000), value: float32(13)}}})
	ncmd := obs.wait(t, "spBv1.0/plant1/NCMD/gw1", 1)
	var cmd spPayload
	if err := cmd.decode(ncmd.payload); err != nil || ncmd.retained || len(cmd.metrics) != 1 || !cmd.hasTime {
		t.Fatalf("NCMD %+v: %v", cmd, err)
	}
	if m := cmd.metrics[0]; string(m.name) != "Node Control/Rebirth" || m.datatype != spBoolean || m.value.field != spBoolValue || m.value.u != 1 {
		t.Errorf("NCMD metric %+v", m)
	}
	sink.WaitFor(t, waitLong, "the point after the gap", func() bool { return len(sink.Points("plant1/gw1/Supply Voltage")) == 3 })
	if got := gauge(r.m.Errors.WithLabelValues("sp", reasonSPSeqGap)); got != 1 {
		t.Errorf("gaps %v", got)
	}
	// Another gap within rebirth_interval: no second request.
	spPublish(t, edge, "spBv1.0/plant1/NDATA/gw1", tPayload{ts: u64(t0 + 4000), seq: u64(9), metrics: []tMetric{{alias: u64(2), ts: u64(t0 + 4000), value: float32(14)}}})
	connectortest.Eventually(t, waitLong, "the second gap held back", func() bool { return r.src.sp.suppressed.Load() == 1 })
	if n := len(obs.on("spBv1.0/plant1/NCMD/gw1")); n != 1 || r.src.sp.rebirths.Load() != 1 {
		t.Errorf("%d NCMDs after two gaps, %d requests", n, r.src.sp.rebirths.Load())
	}

	// An alias no birth defined, and data before any birth, on two other
	// edge nodes: each gets its rebirth request.
	spPublish(t, pub, "spBv1.0/plant1/NBIRTH/gw2", tPayload{ts: u64(t0), seq: u64(0), metrics: []tMetric{metric("T", 1, spDouble, 20.0)}})
	spPublish(t, pub, "spBv1.0/plant1/NDATA/gw2", tPayload{ts: u64(t0 + 1000), seq: u64(1), metrics: []tMetric{aliased(42, 1.0)}})
	obs.wait(t, "spBv1.0/plant1/NCMD/gw2", 1)
	spPublish(t, pub, "spBv1.0/plant1/NDATA/gw3", tPayload{ts: u64(t0), seq: u64(5), metrics: []tMetric{aliased(1, 1.0)}})
	obs.wait(t, "spBv1.0/plant1/NCMD/gw3", 1)
	if a, n := gauge(r.m.Errors.WithLabelValues("sp", reasonSPUnknownAlias)), gauge(r.m.Errors.WithLabelValues("sp", reasonSPNoBirth)); a != 1 || n != 1 {
		t.Errorf("unknown alias %v, no birth %v", a, n)
	}

	// An NDEATH of an earlier session (another bdSeq) is ignored: nothing
	// is marked before the data published after it.
	spPublish(t, pub, "spBv1.0/plant1/NDEATH/gw1", tPayload{metrics: []tMetric{{name: str("bdSeq"), datatype: u32(spUInt64), value: uint64(7)}}})
	spPublish(t, edge, "spBv1.0/plant1/NDATA/gw1", tPayload{ts: u64(t0 + 5000), seq: u64(10), metrics: []tMetric{{alias: u64(2), ts: u64(t0 + 5000), value: float32(15)}}})
	sink.WaitFor(t, waitLong, "the data after the stale NDEATH", func() bool { return len(sink.Points("plant1/gw1/Supply Voltage")) == 5 })
	for _, p := range sink.Points("plant1/gw1/Supply Voltage") {
		if p.Quality != point.QualityGood {
			t.Fatalf("stale NDEATH marked %+v", p)
		}
	}

	// The edge node's connection breaks: the broker publishes its will,
	// the NDEATH, and the node's streams get a bad point at its receipt.
	before := time.Now().UnixNano()
	dropEdge()
	sink.WaitFor(t, waitLong, "the node's death", func() bool {
		return len(sink.Points("plant1/gw1/Supply Voltage")) == 6 && len(sink.Points("plant1/gw1/Properties/Hardware Make")) == 2
	})
	for _, name := range []string{"plant1/gw1/Supply Voltage", "plant1/gw1/Properties/Hardware Make"} {
		pts := sink.Points(name)
		if last := pts[len(pts)-1]; last.Quality != QualitySparkplugDead || last.Time < before || last.Time > time.Now().UnixNano() {
			t.Errorf("%s after NDEATH: %+v", name, last)
		}
	}
	if n := len(sink.Points("plant1/gw1/pump1/Count")); n != 3 {
		t.Errorf("the dead device was marked again: %d points", n)
	}

	// The source's own connection breaks: its will sets STATE offline
	// with the timestamp of its birth; it reconnects and is online again.
	dropHost()
	if on, ts := parseState(t, obs.wait(t, state, 2)); on || ts != birthTS {
		t.Errorf("will: STATE online %v at %d, want false at %d", on, ts, birthTS)
	}
	on, rebornTS := parseState(t, obs.wait(t, state, 3))
	if !on || rebornTS < birthTS {
		t.Errorf("after reconnecting: STATE online %v at %d", on, rebornTS)
	}
	connectortest.Eventually(t, waitLong, "reconnected", r.connected)

	// Stopping: STATE offline, retained, with the session's timestamp.
	r.stop()
	if m := obs.wait(t, state, 4); m.retained {
		t.Error("live STATE delivered as retained")
	} else if on, ts := parseState(t, m); on || ts != rebornTS {
		t.Errorf("on stop: STATE online %v at %d, want false at %d", on, ts, rebornTS)
	}
	after := observe(t, b.url(), state)
	if m := after.wait(t, state, 1); !m.retained {
		t.Error("STATE offline is not retained")
	} else if on, _ := parseState(t, m); on {
		t.Error("retained STATE is online after the stop")
	}
}
