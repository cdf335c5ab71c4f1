package opcua

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// TestNodeOPCUA runs the functional tests against one node-opcua server
// that offers every policy and mode, anonymous and username logins.
func TestNodeOPCUA(t *testing.T) {
	srv := startNodeServer(t, nodeOpts{
		Policies: allPolicies,
		Modes:    []string{"None", "Sign", "SignAndEncrypt"},
		Users:    map[string]string{"operator": "s3cret"},
		TickMS:   100,
	})

	t.Run("NodeIDsAndBrowsePaths", func(t *testing.T) {
		t.Parallel()
		sink := connectortest.NewSink(t, connectortest.Options{})
		ns := srv.ns
		r := runSource(t, "ids", testConfig(srv.endpoint, noSecurity, fmt.Sprintf(`
stream_prefix: "site/"
nodes:
  - {node_id: "ns=%d;s=Boiler.Counter", unit: count}
  - {node_id: "ns=%d;i=5001", stream: numeric}
  - {node_id: "ns=%d;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63", stream: guid}
  - {node_id: "ns=%d;b=c2x1aWNl", stream: opaque}
  - {node_id: "nsu=%s;s=Boiler.State", stream: "by-uri/{name}"}
  - {browse: Objects/Plant/Boiler/Temp}
  - {browse: "/Objects/%d:Plant/Boiler/Running", stream: "running"}
  - {browse: Objects/Plant/Nope/Temp, stream: missing}
`, ns, ns, ns, ns, srv.nsURI, ns)), sink, t.TempDir())
		want := map[string]point.Kind{
			"site/Boiler.Counter":    point.KindInt,
			"site/numeric":           point.KindInt,
			"site/guid":              point.KindInt,
			"site/opaque":            point.KindInt,
			"site/by-uri/State":      point.KindString,
			"site/Plant/Boiler/Temp": point.KindFloat,
			"site/running":           point.KindBool,
		}
		var streams []string
		for name := range want {
			streams = append(streams, name)
		}
		slices.Sort(streams)
		waitEvery(t, sink, streams)
		if got := sink.StreamNames(); !slices.Equal(got, streams) {
			t.Errorf("streams %v\nwant    %v", got, streams)
		}
		for name, kind := range want {
			spec, ok := sink.Stream(name)
			if !ok || spec.Kind != kind {
				t.Errorf("stream %s: %+v, want kind %v (streams %v)", name, spec, kind, sink.StreamNames())
			}
		}
		if spec, _ := sink.Stream("site/Boiler.Counter"); spec.Unit != "count" || spec.Source != fmt.Sprintf("ids:ns=%d;s=Boiler.Counter", ns) {
			t.Errorf("spec %+v", spec)
		}
		if spec, _ := sink.Stream("site/Plant/Boiler/Temp"); spec.Labels["node_id"] != fmt.Sprintf("ns=%d;s=Boiler.Temp", ns) ||
			spec.Labels["browse_name"] != "Temp" || spec.Labels["data_type"] != "Double" || spec.Labels["display_name"] == "" {
			t.Errorf("labels of a browsed variable: %v", spec.Labels)
		}
		if spec, _ := sink.Stream("site/running"); spec.Labels["data_type"] != "Boolean" {
			t.Errorf("labels of site/running: %v", spec.Labels)
		}
		// The counter changes every 100ms: values arrive in order with
		// their source timestamps.
		pts := waitPoints(t, sink, "site/Boiler.Counter", 5)
		for i := 1; i < len(pts); i++ {
			if pts[i].Value.I <= pts[i-1].Value.I || pts[i].Quality != point.QualityGood {
				t.Fatalf("counter points out of order or bad: %+v", pts)
			}
		}
		if d := time.Since(time.Unix(0, pts[len(pts)-1].Time)); d < 0 || d > 10*time.Second {
			t.Errorf("source timestamp %v ago", d)
		}
		if p := sink.Points("site/numeric"); len(p) == 0 || p[0].Value != point.Int(7) {
			t.Errorf("numeric: %+v", p)
		}
		if p := sink.Points("site/opaque"); len(p) == 0 || p[0].Value != point.Int(9) {
			t.Errorf("opaque: %+v", p)
		}
		if r.errors("resolve") < 1 {
			t.Errorf("the missing browse path was not counted")
		}
	})

	t.Run("Discovery", func(t *testing.T) {
		t.Parallel()
		sink := connectortest.NewSink(t, connectortest.Options{})
		r := runSource(t, "disc", testConfig(srv.endpoint, noSecurity, `
nodes:
  - {browse: Objects/Plant, stream: "plant/{path}", depth: 3, exclude: ["Ids/*"]}
  - {browse: Objects/Plant/Line, stream: "deep/{name}", depth: 4, include: ["Sub/*/*"]}
`), sink, t.TempDir())
		want := []string{
			"deep/Var",
			"plant/Boiler/Counter", "plant/Boiler/Level", "plant/Boiler/Pressure", "plant/Boiler/Running",
			"plant/Boiler/State", "plant/Boiler/Status", "plant/Boiler/Temp", "plant/Line/Speed",
		}
		waitEvery(t, sink, want)
		// Discovery is over before the first point is collected: what the
		// session resolved is all that will ever arrive.
		if got := r.resolved(); !slices.Equal(got, want) {
			t.Errorf("discovered %v\nwant       %v", got, want)
		}
		if got := sink.StreamNames(); !slices.Equal(got, want) {
			t.Errorf("streams %v\nwant    %v", got, want)
		}
	})

	t.Run("Polling", func(t *testing.T) {
		t.Parallel()
		sink := connectortest.NewSink(t, connectortest.Options{})
		r := runSource(t, "poll", testConfig(srv.endpoint, noSecurity, fmt.Sprintf(`
collection: polling
polling: {interval: 150ms}
timestamp: receive
nodes: [{node_id: "ns=%d;s=Boiler.Counter", stream: counter}, {node_id: "ns=%d;i=5001", stream: constant}]
`, srv.ns, srv.ns)), sink, t.TempDir())
		// With receive timestamps every read is a point, 150ms apart on
		// average (a ticker: a late read is followed by an early one, so
		// the span from read i to read j is j-i ticks plus the difference
		// of their latencies). Read 0 is left out: it is made as the
		// session opens, off the tick grid, on a server busy with the
		// other subtests' secure channels. Once reads 0..3 averaged 103ms:
		// read 0 took 141ms longer than read 3.
		pts := waitPoints(t, sink, "constant", 6)[1:]
		span := time.Duration(pts[len(pts)-1].Time - pts[0].Time)
		if avg := span / time.Duration(len(pts)-1); avg < 120*time.Millisecond || avg > time.Second {
			var gaps []time.Duration
			for i := 1; i < len(pts); i++ {
				gaps = append(gaps, time.Duration(pts[i].Time-pts[i-1].Time))
			}
			t.Errorf("polls %v apart on average: %v", avg, gaps)
		}
		if r.counter(r.m.Notifications) != 0 || r.counter(r.m.Messages) < 4 {
			t.Errorf("polling counted %v notifications, %v messages", r.counter(r.m.Notifications), r.counter(r.m.Messages))
		}
	})

	t.Run("Deadband", func(t *testing.T) {
		t.Parallel()
		sink := connectortest.NewSink(t, connectortest.Options{})
		r := runSource(t, "deadband", testConfig(srv.endpoint, noSecurity, fmt.Sprintf(`
nodes:
  - {node_id: "ns=%d;s=Boiler.Level", stream: level, deadband: {type: absolute, value: 5}}
  - {node_id: "ns=%d;s=Boiler.Pressure", stream: pressure, deadband: {type: percent, value: 10}}
  - {node_id: "ns=%d;s=Boiler.Temp", stream: temp-percent, deadband: {type: percent, value: 10}}
`, srv.ns, srv.ns, srv.ns)), sink, t.TempDir())
		waitPoints(t, sink, "level", 1)
		waitPoints(t, sink, "pressure", 1)
		values := func(stream string) []float64 {
			var out []float64
			for _, p := range sink.Points(stream) {
				out = append(out, p.Value.F)
			}
			return out
		}
		// Set values in runs; each run ends with a value the deadband
		// passes, which is awaited before the next run, so that the
		// server's sampling cannot merge runs.
		run := func(node, stream string, vs ...float64) {
			for _, v := range vs {
				srv.set(node, v, "")
			}
			last := vs[len(vs)-1]
			sink.WaitFor(t, waitLong, fmt.Sprintf("%s = %v", stream, last), func() bool {
				l := values(stream)
				return len(l) > 0 && l[len(l)-1] == last
			})
		}
		// Level: a change must exceed 5 from the last reported value.
		run("Boiler.Level", "level", 1, 2, 3, 10)
		run("Boiler.Level", "level", 12, 14, 20)
		// Pressure has EURange 0..200: 10 percent is 20.
		run("Boiler.Pressure", "pressure", 5, 15, 25)
		run("Boiler.Pressure", "pressure", 40, 44, 50)
		if got := fmt.Sprint(values("level")); got != "[0 10 20]" {
			t.Errorf("level with absolute deadband 5: %s, want [0 10 20]", got)
		}
		if got := fmt.Sprint(values("pressure")); got != "[0 25 50]" {
			t.Errorf("pressure with 10%% deadband: %s, want [0 25 50]", got)
		}
		// Temp has no EURange: the server refuses the percent filter and
		// the variable is monitored without it.
		waitPoints(t, sink, "temp-percent", 3)
		if r.errors("filter") != 1 {
			t.Errorf("filter refusals counted: %v", r.errors("filter"))
		}
	})

	t.Run("StatusCodes", func(t *testing.T) {
		t.Parallel()
		sink := connectortest.NewSink(t, connectortest.Options{})
		r := runSource(t, "status", testConfig(srv.endpoint, noSecurity, fmt.Sprintf(`
nodes: [{node_id: "ns=%d;s=Boiler.Status", stream: status}]
`, srv.ns)), sink, t.TempDir())
		waitPoints(t, sink, "status", 1)
		for i, s := range []struct {
			v      any
			status string
		}{{1.5, "UncertainLastUsableValue"}, {2.5, "BadSensorFailure"}, {nil, "BadNoCommunication"}, {4.5, "Good"}} {
			srv.set("Boiler.Status", s.v, s.status)
			waitPoints(t, sink, "status", i+2)
		}
		pts := sink.Points("status")
		type pq struct {
			v string
			q uint32
		}
		var got []pq
		for _, p := range pts[1:] {
			got = append(got, pq{p.Value.Text(), p.Quality})
		}
		want := []pq{{"1.5", 0x40900000}, {"2.5", 0x808C0000}, {"NaN", 0x80310000}, {"4.5", 0}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("points %v\nwant   %v", got, want)
		}
		if r.errors("bad_quality") != 2 || r.errors("uncertain_quality") != 1 {
			t.Errorf("quality counters: bad %v uncertain %v", r.errors("bad_quality"), r.errors("uncertain_quality"))
		}
	})

	t.Run("SecurityModes", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		sink := connectortest.NewSink(t, connectortest.Options{})
		type combo struct{ policy, mode string }
		var combos []combo
		for _, p := range allPolicies[1:] {
			for _, m := range []string{"Sign", "SignAndEncrypt"} {
				combos = append(combos, combo{p, m})
			}
		}
		for i, c := range combos {
			name := fmt.Sprintf("sec%d", i)
			srv.trust(dataDir, name)
			runSource(t, name, testConfig(srv.endpoint, fmt.Sprintf("{policy: %s, mode: %s, allow_deprecated: true}", c.policy, c.mode), fmt.Sprintf(`
nodes: [{node_id: "ns=%d;s=Boiler.Counter", stream: "%s/%s"}]
`, srv.ns, c.policy, c.mode)), sink, dataDir)
		}
		for _, c := range combos {
			waitPoints(t, sink, c.policy+"/"+c.mode, 3)
		}
		// Every source shared the agent's one generated certificate.
		if _, err := os.Stat(filepath.Join(dataDir, "opcua", "own", ownCertFile)); err != nil {
			t.Error(err)
		}
	})

	t.Run("UntrustedServer", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		sink := connectortest.NewSink(t, connectortest.Options{})
		r := runSource(t, "untrusted", testConfig(srv.endpoint, "{policy: Basic256Sha256, mode: SignAndEncrypt}", fmt.Sprintf(`
nodes: [{node_id: "ns=%d;s=Boiler.Counter", stream: counter}]
`, srv.ns)), sink, dataDir)
		pki := DefaultPKIDir(dataDir, "untrusted")
		var rejected []os.DirEntry
		connectortest.Eventually(t, waitLong, "the certificate in rejected/", func() bool {
			rejected, _ = os.ReadDir(filepath.Join(pki, rejectedDir))
			return len(rejected) == 1 && r.errors("untrusted_certificate") >= 2
		})
		if r.connected() || sink.Len() != 0 {
			t.Fatal("connected to an untrusted server")
		}
		der, err := loadCert(filepath.Join(pki, rejectedDir, rejected[0].Name()))
		if err != nil || string(der) != string(srv.certDER()) {
			t.Fatalf("rejected/ holds another certificate: %v", err)
		}
		// An operator trusts it.
		moved, err := Trust(dataDir, "untrusted")
		if err != nil || len(moved) != 1 || moved[0] != rejected[0].Name() {
			t.Fatalf("Trust: %v %v", moved, err)
		}
		waitPoints(t, sink, "counter", 2)
		if left, _ := os.ReadDir(filepath.Join(pki, rejectedDir)); len(left) != 0 {
			t.Errorf("rejected/ still holds %v", left)
		}
	})

	t.Run("Username", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		srv.trust(dataDir, "user-ok")
		srv.trust(dataDir, "user-bad")
		pwFile := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sink := connectortest.NewSink(t, connectortest.Options{})
		nodes := fmt.Sprintf("nodes: [{node_id: \"ns=%d;s=Boiler.Counter\", stream: counter}]\n", srv.ns)
		bad := runSource(t, "user-bad", testConfig(srv.endpoint, "{policy: Aes128_Sha256_RsaOaep, mode: SignAndEncrypt}",
			"auth: {type: username, username: operator, password: wrong}\n"+nodes), connectortest.NewSink(t, connectortest.Options{}), dataDir)
		runSource(t, "user-ok", testConfig(srv.endpoint, "{policy: Aes128_Sha256_RsaOaep, mode: SignAndEncrypt}",
			"auth: {type: username, username: operator, password: 'file:"+pwFile+"'}\n"+nodes), sink, dataDir)
		waitPoints(t, sink, "counter", 2)
		connectortest.Eventually(t, waitLong, "the wrong password refused twice", func() bool { return bad.errors("auth") >= 2 })
		if bad.connected() {
			t.Error("a wrong password connected")
		}
		// Over a None channel node-opcua encrypts the password with its
		// certificate: that certificate must be trusted too.
		plain := runSource(t, "user-none", testConfig(srv.endpoint, noSecurity,
			"auth: {type: username, username: operator, password: 'file:"+pwFile+"'}\n"+nodes), connectortest.NewSink(t, connectortest.Options{}), dataDir)
		connectortest.Eventually(t, waitLong, "the None channel refused for an untrusted token key", func() bool {
			return plain.errors("untrusted_certificate") >= 1
		})
	})

	t.Run("UserCertificate", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		srv.trust(dataDir, "x509")
		cert, key := testUserCertificate(t, dataDir)
		sink := connectortest.NewSink(t, connectortest.Options{})
		// Relative paths are under the data directory.
		runSource(t, "x509", testConfig(srv.endpoint, "{policy: Basic256Sha256, mode: Sign}", fmt.Sprintf(`
auth: {type: certificate, certificate: %s, private_key: %s}
nodes: [{node_id: "ns=%d;s=Boiler.Counter", stream: counter}]
`, filepath.Base(cert), filepath.Base(key), srv.ns)), sink, dataDir)
		waitPoints(t, sink, "counter", 2)
	})
}

// The X509 user identity: node-opcua checks that the token's signature
// proves possession of the user's key.
func testUserCertificate(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	der, k, err := newCertificate("operator", "urn:sluice:test-user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "user.der"), filepath.Join(dir, "user-key.der")
	if err := os.WriteFile(cert, der, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, x509.MarshalPKCS1PrivateKey(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
