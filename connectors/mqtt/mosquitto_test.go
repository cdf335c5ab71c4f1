package mqtt

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Tests in this file run against a real Mosquitto (see broker_test.go).

func gauge(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func sourceYAML(broker, clientID, extra string) string {
	return fmt.Sprintf("brokers: [%s]\nclient_id: %s\nkeepalive: 5s\nconnect_timeout: 2s\nreconnect_min: 20ms\nreconnect_max: 200ms\n%s",
		broker, clientID, extra)
}

func TestMosquittoFormatsAndWildcards(t *testing.T) {
	b := startMosquitto(t, "")
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "plant", sourceYAML(b.url(), "fmt", `
stream_prefix: "site1/"
subscriptions:
  - {topic: "plant/{area}/+/temp", stream: "{area}/{2}/temp", unit: degC, labels: {plant: "{0}", line: "{2}"}}
  - {topic: "deep/#", stream: "deep/{#}", kind: int}
  - {topic: "state/+", kind: string}
  - topic: "json/+/single"
    stream: "{1}/single"
    format: json
    json: {value: v, time: t, quality: q}
  - topic: "json/+/array"
    stream: "{1}/{id}"
    format: json
    json: {points: rows, value: v, time: t, time_format: ms, id: tag}
  - topic: "json/+/multi"
    format: json
    json: {fields: ["*"], time: t, time_format: s}
  - topic: "json/+/notime"
    stream: "{1}/notime"
    format: json
    json: {value: v, time: t}
  - topic: "lp/#"
    format: influx
    influx: {precision: ms}
`), sink, "")
	connectortest.Eventually(t, waitLong, "connected", r.connected)

	pub := publisher(t, b.url())
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	publish(t, pub, "plant/north/boiler1/temp", 1, "81.5")
	publish(t, pub, "deep/a/b/c", 1, "7")
	publish(t, pub, "state/pump", 1, "running")
	publish(t, pub, "json/boiler/single", 1, `{"v": 1.25, "t": "2024-05-01T12:00:00Z", "q": "uncertain"}`)
	publish(t, pub, "json/boiler/array", 1, fmt.Sprintf(`{"rows": [{"tag": "flow", "v": 3, "t": %d}, {"tag": "level", "v": 4, "t": %d}]}`, t0.UnixMilli(), t0.UnixMilli()+1))
	publish(t, pub, "json/boiler/multi", 1, fmt.Sprintf(`{"t": %d, "temp": 20.5, "pressure": 1.01, "note": "x"}`, t0.Unix()))
	publish(t, pub, "lp/x", 1, fmt.Sprintf("cpu,host=gw1 usage=12.5,procs=3i %d\nmem free=100i %d\ndisk,path=/,host=gw1 used=1i", t0.UnixMilli(), t0.UnixMilli()))
	before := time.Now()
	publish(t, pub, "json/boiler/notime", 1, `{"v": 21.5}`) // the README's example payload, without a time

	want := map[string]point.Value{
		"site1/north/boiler1/temp":         point.Float(81.5),
		"site1/deep/a/b/c":                 point.Int(7),
		"site1/state/pump":                 point.String("running"),
		"site1/boiler/single":              point.Float(1.25),
		"site1/boiler/flow":                point.Float(3),
		"site1/boiler/level":               point.Float(4),
		"site1/json/boiler/multi/temp":     point.Float(20.5),
		"site1/json/boiler/multi/pressure": point.Float(1.01),
		"site1/cpu/gw1/usage":              point.Float(12.5),
		"site1/cpu/gw1/procs":              point.Float(3),
		"site1/mem/free":                   point.Float(100),
		"site1/disk/gw1/-/used":            point.Float(1),
		"site1/boiler/notime":              point.Float(21.5),
	}
	sink.WaitFor(t, waitLong, "every stream", func() bool { return sink.Len() == len(want) })
	for name, v := range want {
		pts := sink.Points(name)
		if len(pts) != 1 || pts[0].Value != v {
			t.Errorf("%s: %+v, want %v (streams: %v)", name, pts, v, sink.StreamNames())
		}
	}
	if p := sink.Points("site1/boiler/single"); len(p) == 1 && (p[0].Time != t0.UnixNano() || p[0].Quality != point.QualityUncertain) {
		t.Errorf("single: time %d quality %#x", p[0].Time, p[0].Quality)
	}
	if p := sink.Points("site1/boiler/level"); len(p) == 1 && p[0].Time != t0.UnixNano()+1e6 {
		t.Errorf("array: time %d", p[0].Time)
	}
	if spec, _ := sink.Stream("site1/north/boiler1/temp"); spec.Unit != "degC" || spec.Source != "plant:plant/north/boiler1/temp" {
		t.Errorf("spec %+v", spec)
	}
	if spec, _ := sink.Stream("site1/state/pump"); spec.Kind != point.KindString {
		t.Errorf("spec %+v", spec)
	}
	// A payload without its time takes the time of receipt, counted.
	if p := sink.Points("site1/boiler/notime"); len(p) == 1 && (p[0].Time < before.UnixNano() || p[0].Time > time.Now().UnixNano()) {
		t.Errorf("notime: time %v, want the time of receipt (after %v)", time.Unix(0, p[0].Time), before)
	}
	if n := gauge(r.m.ReceiveTime.WithLabelValues("plant")); n != 1 {
		t.Errorf("sluice_connector_points_receive_time_total = %v, want 1", n)
	}
	if n := gauge(r.m.Errors.WithLabelValues("plant", reasonMissingTime)); n != 0 {
		t.Errorf("missing_time errors = %v, want 0", n)
	}
	// Labels: named topic levels and configured ones; influx tags.
	for name, want := range map[string]map[string]string{
		"site1/north/boiler1/temp": {"area": "north", "plant": "plant", "line": "boiler1"},
		"site1/cpu/gw1/usage":      {"host": "gw1"},
		"site1/disk/gw1/-/used":    {"host": "gw1", "path": "/"},
		"site1/mem/free":           nil,
		"site1/boiler/notime":      nil,
	} {
		if spec, _ := sink.Stream(name); !maps.Equal(spec.Labels, want) {
			t.Errorf("%s: labels %v, want %v", name, spec.Labels, want)
		}
	}
}

func TestMosquittoTLS(t *testing.T) {
	b := newMosquitto(t)
	pki := filepath.Join(b.dir, "pki")
	if err := os.Mkdir(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	testPKI(t, pki)
	tlsPort := connectortest.FreePort(t, false)
	b.conf = fmt.Sprintf("listener %d 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server-key.pem\nrequire_certificate true\n",
		tlsPort, pki, pki, pki)
	b.start()
	ssl := fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort)

	// Relative paths are under the data directory.
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "tls", sourceYAML(ssl, "tls-ok", `
tls: {ca: pki/ca.pem, cert: pki/client.pem, key: pki/client-key.pem, server_name: broker.test}
subscriptions: [{topic: "secure/+"}]
`), sink, b.dir)
	// Without a client certificate the broker refuses the handshake.
	refused := runSource(t, "tls-refused", sourceYAML(ssl, "tls-no-cert", `
tls: {ca: pki/ca.pem}
subscriptions: [{topic: "secure/+"}]
`), connectortest.NewSink(t, connectortest.Options{}), b.dir)
	// A CA that did not sign the broker's certificate fails verification.
	other := t.TempDir()
	testPKI(t, other)
	untrusted := runSource(t, "tls-untrusted", sourceYAML(ssl, "tls-bad-ca", fmt.Sprintf(`
tls: {ca: %s/ca.pem, cert: pki/client.pem, key: pki/client-key.pem}
subscriptions: [{topic: "secure/+"}]
`, other)), connectortest.NewSink(t, connectortest.Options{}), b.dir)

	connectortest.Eventually(t, waitLong, "the TLS source connected", r.connected)
	publish(t, publisher(t, b.url()), "secure/x", 1, "42")
	sink.WaitFor(t, waitLong, "the point over TLS", func() bool { return sink.Len() == 1 })
	for _, s := range []*source{refused, untrusted} {
		connectortest.Eventually(t, waitLong, s.src.env.Name+" failing to connect", func() bool {
			return gauge(s.m.Errors.WithLabelValues(s.src.env.Name, "connect")) >= 2
		})
		if s.connected() {
			t.Errorf("%s connected", s.src.env.Name)
		}
	}
}

// The broker is stopped mid-stream and started again on the same port: at
// QoS 1 with a persistent session, every message arrives.
func TestMosquittoBrokerRestartNoLoss(t *testing.T) {
	b := startMosquitto(t, "")
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "restart", sourceYAML(b.url(), "restart-sub", `
subscriptions: [{topic: "r/+", format: json, json: {value: v, time: t, time_format: ms}}]
`), sink, "")
	connectortest.Eventually(t, waitLong, "connected", r.connected)

	const n = 3000
	pub := publisher(t, b.url())
	published := make(chan error, 1)
	go func() {
		// At-least-once publishing: retry until the broker acknowledges.
		for i := range n {
			payload := fmt.Sprintf(`{"v": %d, "t": %d}`, i, 1_700_000_000_000+int64(i))
			deadline := time.Now().Add(30 * time.Second)
			for {
				tok := pub.Publish(fmt.Sprintf("r/%d", i%10), 1, false, payload)
				if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
					break
				}
				if time.Now().After(deadline) {
					published <- fmt.Errorf("publishing %d: %w", i, tok.Error())
					return
				}
			}
		}
		published <- nil
	}()
	sink.WaitFor(t, waitLong, "a third of the points", func() bool { return sink.Len() >= n/3 })
	// Hold a batch in the store while the broker goes down, so that its
	// messages are received but not yet acknowledged.
	release := sink.Block()
	sink.WaitFor(t, waitLong, "a write in progress", func() bool { return sink.Waiting() == 1 })
	b.stop(syscall.SIGTERM)
	release()
	b.start()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, 30*time.Second, "every point", func() bool { return sink.Len() == n })
	if got := gauge(r.m.Reconnects.WithLabelValues("restart")); got < 1 {
		t.Errorf("reconnects = %v", got)
	}
	for i := range 10 {
		pts := sink.Points(fmt.Sprintf("r/%d", i))
		if len(pts) != n/10 {
			t.Fatalf("r/%d has %d points", i, len(pts))
		}
		for j, p := range pts {
			if want := float64(i + 10*j); p.Value.F != want {
				t.Fatalf("r/%d[%d] = %v, want %v", i, j, p.Value.F, want)
			}
		}
	}
	if sink.Received() <= n {
		t.Errorf("the store received %d points: the batch held across the restart was not redelivered", sink.Received())
	}
	t.Logf("%d points stored once each; %d received with redeliveries", n, sink.Received())
}

// While the store fails, nothing is acknowledged; after a restart of the
// source with the same client id, the broker delivers everything again,
// including what was published while the source was down.
func TestMosquittoRedeliveryAfterFailedWrites(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := sourceYAML(b.url(), "redeliver", `
drain_timeout: 100ms
subscriptions: [{topic: "d/+", format: json, json: {value: v, time: t}}]
`)
	failing := connectortest.NewSink(t, connectortest.Options{})
	failing.Fail(errors.New("store unavailable"))
	r1 := runSource(t, "d", cfg, failing, "")
	connectortest.Eventually(t, waitLong, "connected", r1.connected)
	pub := publisher(t, b.url())
	for i := range 100 {
		publish(t, pub, "d/a", 1, fmt.Sprintf(`{"v": %d, "t": %d}`, i, 1000+i))
	}
	connectortest.Eventually(t, waitLong, "the messages to arrive", func() bool {
		return gauge(r1.m.Messages.WithLabelValues("d")) >= 20 && gauge(r1.m.Errors.WithLabelValues("d", "ensure_stream")) >= 1
	})
	r1.stop()
	for i := 100; i < 150; i++ {
		publish(t, pub, "d/a", 1, fmt.Sprintf(`{"v": %d, "t": %d}`, i, 1000+i))
	}

	sink := connectortest.NewSink(t, connectortest.Options{})
	runSource(t, "d", cfg, sink, "")
	sink.WaitFor(t, waitLong, "all 150 points", func() bool { return sink.Len() == 150 })
	for i, p := range sink.Points("d/a") {
		if p.Value.F != float64(i) || p.Time != int64(1000+i)*1e9 {
			t.Fatalf("point %d: %+v", i, p)
		}
	}
}

// 10,000 malformed payloads mixed with good ones: every good one is
// stored, every bad one is counted, nothing blocks.
func TestMosquittoMalformedPayloads(t *testing.T) {
	b := startMosquitto(t, "max_inflight_messages 200\n")
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "bad", sourceYAML(b.url(), "malformed", `
subscriptions:
  - {topic: "m/plain/+", stream: "plain/{2}"}
  - {topic: "m/json/+", stream: "json/{2}", format: json, json: {value: v, time: t, time_format: ns}}
  - {topic: "m/lp/+", format: influx}
`), sink, "")
	connectortest.Eventually(t, waitLong, "connected", r.connected)
	pub := publisher(t, b.url())

	bad := []string{"m/plain/x|12abc", "m/json/x|{\"v\":", "m/json/x|{\"v\":\"NaN\",\"t\":1}", "m/lp/x|cpu usage=", "m/json/x|\x00\xff", "m/plain/x|"}
	const nBad, every = 10000, 5 // one good message after every 5 bad ones
	var toks []paho.Token
	good := 0
	for i := range nBad {
		topic, payload, _ := strings.Cut(bad[i%len(bad)], "|")
		toks = append(toks, pub.Publish(topic, 1, false, payload))
		if i%every == every-1 {
			ts := int64(1_700_000_000_000_000_000) + int64(good)
			switch good % 3 {
			case 0:
				toks = append(toks, pub.Publish("m/json/g", 1, false, fmt.Sprintf(`{"v":%d,"t":%d}`, good, ts)))
			case 1:
				toks = append(toks, pub.Publish("m/lp/g", 1, false, fmt.Sprintf("good v=%d %d", good, ts)))
			case 2:
				toks = append(toks, pub.Publish(fmt.Sprintf("m/plain/%d", good), 1, false, itoa(good)))
			}
			good++
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	errs := func() float64 {
		sum := 0.0
		for _, reason := range []string{reasonBadNumber, reasonBadJSON, reasonBadValue, reasonBadLine} {
			sum += gauge(r.m.Errors.WithLabelValues("bad", reason))
		}
		return sum
	}
	sink.WaitFor(t, 60*time.Second, "every good point", func() bool { return sink.Len() == good && errs() == nBad })
	if got := gauge(r.m.Messages.WithLabelValues("bad")); got != float64(nBad+good) {
		t.Errorf("messages = %v, want %d", got, nBad+good)
	}
	if got := gauge(r.m.Errors.WithLabelValues("bad", reasonBadValue)); got != math.Ceil(float64(nBad)/float64(len(bad))) {
		t.Errorf("bad_value = %v", got)
	}
	t.Logf("%d good points stored, %v bad payloads counted", good, errs())
}

// QoS 2: the source acknowledges with PUBREC after the commit, paho
// completes the flow, and a restart with the same client id gets nothing
// again.
func TestMosquittoQoS2(t *testing.T) {
	b := startMosquitto(t, "")
	cfg := sourceYAML(b.url(), "qos2", `
qos: 2
subscriptions: [{topic: "q2/+", format: json, json: {value: v, time: t}}]
`)
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "q2", cfg, sink, "")
	connectortest.Eventually(t, waitLong, "connected", r.connected)
	pub := publisher(t, b.url())
	for i := range 50 {
		publish(t, pub, "q2/a", 2, fmt.Sprintf(`{"v": %d, "t": %d}`, i, 1000+i))
	}
	sink.WaitFor(t, waitLong, "50 points", func() bool { return sink.Len() == 50 })
	r.stop()

	again := connectortest.NewSink(t, connectortest.Options{})
	r2 := runSource(t, "q2", cfg, again, "")
	connectortest.Eventually(t, waitLong, "reconnected", r2.connected)
	publish(t, pub, "q2/a", 2, `{"v": 50, "t": 1050}`)
	isNew := func(p point.Point) bool { return p.Value == point.Float(50) }
	again.WaitFor(t, waitLong, "the new point", func() bool { return slices.ContainsFunc(again.Points("q2/a"), isNew) })
	// Every message was stored and acknowledged before the stop, but paho
	// writes acknowledgements and DISCONNECT from different channels, so
	// the last few PUBRECs can miss the connection; the broker then sends
	// those messages again (QoS 2 is once per session state, and the
	// client's did not survive the restart). What comes again must be what
	// was stored already, same time and value, which the store writes over
	// itself; and not every message may come again.
	first := map[point.Value]int64{}
	for _, p := range sink.Points("q2/a") {
		first[p.Value] = p.Time
	}
	again2 := again.Points("q2/a")
	for _, p := range again2 {
		if at, ok := first[p.Value]; !isNew(p) && (!ok || at != p.Time) {
			t.Errorf("after the restart: %+v, which the first run did not store", p)
		}
	}
	if len(again2) > 21 { // the new one and at most mosquitto's default in-flight window of 20
		t.Errorf("after the restart %d messages came again: more than the broker's in-flight window", len(again2)-1)
	}
}

// Username and password (a file: secret reference).
func TestMosquittoAuth(t *testing.T) {
	b := newMosquitto(t)
	pw := filepath.Join(b.dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "sluice", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mqtt.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.conf = "allow_anonymous false\npassword_file " + pw + "\n"
	b.start()

	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "auth", sourceYAML(b.url(), "auth-ok", "username: sluice\npassword: file:"+filepath.Join(b.dir, "mqtt.pw")+"\nsubscriptions: [{topic: 'auth/+'}]\n"), sink, "")
	wrong := runSource(t, "auth-bad", sourceYAML(b.url(), "auth-bad", "username: sluice\npassword: nope\nsubscriptions: [{topic: 'auth/+'}]\n"),
		connectortest.NewSink(t, connectortest.Options{}), b.dir)
	connectortest.Eventually(t, waitLong, "the source with the password connected", r.connected)
	pub := connectPaho(t, paho.NewClientOptions().AddBroker(b.url()).SetClientID("auth-pub").SetUsername("sluice").SetPassword("s3cret"))
	publish(t, pub, "auth/x", 1, "1")
	sink.WaitFor(t, waitLong, "the point", func() bool { return sink.Len() == 1 })
	connectortest.Eventually(t, waitLong, "the wrong password refused", func() bool {
		return gauge(wrong.m.Errors.WithLabelValues("auth-bad", "connect")) >= 2
	})
}

// ws:// goes through paho's websocket transport to the broker. Debian's
// mosquitto 2.0.11 fails to open websocket listeners here, so a small
// websocket-to-TCP bridge in front of its TCP listener stands in.
func TestMosquittoWebsocket(t *testing.T) {
	b := startMosquitto(t, "")
	ws := wsBridge(t, fmt.Sprintf("127.0.0.1:%d", b.port))
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "ws", sourceYAML(ws, "ws", "subscriptions: [{topic: 'ws/+'}]\n"), sink, "")
	connectortest.Eventually(t, waitLong, "connected over ws://", r.connected)
	publish(t, publisher(t, b.url()), "ws/x", 1, "5")
	sink.WaitFor(t, waitLong, "the point", func() bool { return sink.Len() == 1 })
}

// wsBridge serves MQTT over websocket and relays it to a TCP broker.
func wsBridge(t *testing.T, broker string) string {
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}, CheckOrigin: func(*http.Request) bool { return true }}
	var mu sync.Mutex
	var conns []io.Closer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		tcp, err := net.Dial("tcp", broker)
		if err != nil {
			c.Close()
			return
		}
		mu.Lock()
		conns = append(conns, c.NetConn(), tcp)
		mu.Unlock()
		go func() {
			defer tcp.Close()
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				if _, err := tcp.Write(data); err != nil {
					return
				}
			}
		}()
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := tcp.Read(buf)
			if err != nil {
				return
			}
			if err := c.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "ws://" + srv.Listener.Addr().String() + "/mqtt"
}

// A queue smaller than what the broker sends: while the store is blocked
// the handler waits (nothing is acknowledged or dropped), and once it is
// free every message is stored.
func TestMosquittoBackPressure(t *testing.T) {
	b := startMosquitto(t, "max_inflight_messages 100\n")
	sink := connectortest.NewSink(t, connectortest.Options{})
	release := sink.Block()
	r := runSource(t, "bp", sourceYAML(b.url(), "bp", `
queue_size: 10
batch_size: 5
subscriptions: [{topic: "bp/+", format: json, json: {value: v, time: t}}]
`), sink, "")
	connectortest.Eventually(t, waitLong, "connected", r.connected)
	pub := publisher(t, b.url())
	var toks []paho.Token
	for i := range 300 {
		toks = append(toks, pub.Publish("bp/a", 1, false, fmt.Sprintf(`{"v": %d, "t": %d}`, i, 1000+i)))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(waitLong) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	connectortest.Eventually(t, waitLong, "a full queue", func() bool {
		return gauge(r.m.QueueDepth.WithLabelValues("bp")) == 10 && sink.Waiting() == 1
	})
	if got := gauge(r.m.Messages.WithLabelValues("bp")); got > 16 {
		t.Errorf("%v messages taken in with a queue of 10 and a batch of 5 in the store", got)
	}
	release()
	sink.WaitFor(t, waitLong, "all 300 points", func() bool { return sink.Len() == 300 })
	if gauge(r.m.Dropped.WithLabelValues("bp", "queue_full")) != 0 {
		t.Error("QoS 1 points were dropped")
	}
}
