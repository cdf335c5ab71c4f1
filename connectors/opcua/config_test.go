package opcua

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

func newFromYAML(t *testing.T, src string) (*Source, error) {
	t.Helper()
	reg, ok := connectors.Lookup("opcua")
	if !ok {
		t.Fatal("opcua is not registered")
	}
	s, err := reg.New(connectors.Env{Name: "test"}, connectortest.DecodeYAML(src))
	if err != nil {
		return nil, err
	}
	return s.(*Source), nil
}

func TestRegistration(t *testing.T) {
	reg, ok := connectors.Lookup("opcua")
	if !ok || reg.Section != "opcua" || reg.Sample == "" {
		t.Fatalf("registration = %+v, %v", reg, ok)
	}
	s, err := newFromYAML(t, reg.Sample)
	if err != nil {
		t.Fatalf("the sample does not validate: %v", err)
	}
	if len(s.plan.entries) != 3 || s.plan.policyURI != ua.SecurityPolicyURIBasic256Sha256 || s.plan.mode != ua.MessageSecurityModeSignAndEncrypt {
		t.Fatalf("sample decoded to %+v", s.plan)
	}
	if e := s.plan.entries[0]; e.kind != point.KindFloat || e.deadband.typ != uint32(ua.DeadbandTypeAbsolute) || e.sampling != time.Second {
		t.Fatalf("sample entry 0: %+v", e)
	}
}

// The example in DESIGN.md must stay valid.
func TestDesignExample(t *testing.T) {
	s, err := newFromYAML(t, `
endpoint: opc.tcp://plc1:4840
security: {policy: Basic256Sha256, mode: SignAndEncrypt}
nodes:
  - browse: Objects/Boiler
    stream: "boiler/{name}"
`)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.plan.entries[0]; len(e.path) != 2 || e.path[1].name != "Boiler" || e.depth != defaultDepth {
		t.Fatalf("entry %+v", e)
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := newFromYAML(t, "endpoint: opc.tcp://h:4840\nnodes: [{node_id: 'ns=2;s=A'}]\n")
	if err != nil {
		t.Fatal(err)
	}
	// Secure unless asked otherwise.
	if s.plan.policyURI != ua.SecurityPolicyURIBasic256Sha256 || s.plan.mode != ua.MessageSecurityModeSignAndEncrypt || s.plan.authType != ua.UserTokenTypeAnonymous {
		t.Fatalf("defaults %+v", s.plan)
	}
	if s.cfg.Timestamp != "source" || !s.cfg.MarkGaps || s.plan.polling || s.plan.trigger != ua.DataChangeTriggerStatusValue {
		t.Fatalf("defaults %+v", s.cfg)
	}
	v := &variable{id: ua.MustParseNodeID("ns=2;s=A"), idText: "ns=2;s=A", name: "A"}
	if got := s.plan.entries[0].stream.render(v); got != "A" {
		t.Errorf("default node_id stream %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	const base = "endpoint: opc.tcp://h:4840\n"
	const nodes = "nodes: [{node_id: 'ns=2;s=A'}]\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", base + nodes + "endpont: x\n", "field endpont not found"},
		{"unknown nested key", base + "nodes: [{nodeid: a}]\n", "field nodeid not found"},
		{"no endpoint", nodes, "endpoint: empty"},
		{"scheme", "endpoint: http://h\n" + nodes, `endpoint: "http://h": want an opc.tcp:// URL`},
		{"policy", base + nodes + "security: {policy: Basic512, mode: Sign}\n", `security.policy: unknown "Basic512"`},
		{"deprecated", base + nodes + "security: {policy: Basic128Rsa15, mode: Sign}\n", "security.policy: Basic128Rsa15 is deprecated"},
		{"mode", base + nodes + "security: {policy: Basic256Sha256, mode: Encrypt}\n", `security.mode: unknown "Encrypt"`},
		{"none mode with policy", base + nodes + "security: {policy: Basic256Sha256, mode: None}\n", "security.mode: None goes with policy None only"},
		{"none policy with mode", base + nodes + "security: {policy: None, mode: Sign}\n", "security.mode: Sign needs a security policy other than None"},
		{"cert without key", base + nodes + "certificate: c.der\n", "private_key: empty while certificate is set"},
		{"auth type", base + nodes + "auth: {type: kerberos}\n", `auth.type: unknown "kerberos"`},
		{"username", base + nodes + "auth: {type: username, password: x}\n", "auth.username: empty"},
		{"password", base + nodes + "auth: {type: username, username: u}\n", "auth.password: empty"},
		{"password reference", base + nodes + "auth: {type: username, username: u, password: 'env:'}\n", `auth.password: malformed secret reference "env:"`},
		{"anonymous with password", base + nodes + "auth: {password: x}\n", "auth: credentials set, but auth.type is anonymous"},
		{"user cert", base + nodes + "auth: {type: certificate, certificate: u.pem}\n", "auth.private_key: empty"},
		{"collection", base + nodes + "collection: push\n", `collection: unknown "push"`},
		{"publishing", base + nodes + "subscription: {publishing_interval: 0s}\n", "subscription.publishing_interval: 0s is less than 1ms"},
		{"lifetime", base + nodes + "subscription: {max_keepalive_count: 10, lifetime_count: 20}\n", "subscription.lifetime_count: 20 is less than 3 x max_keepalive_count (30)"},
		{"trigger", base + nodes + "subscription: {trigger: value}\n", `subscription.trigger: unknown "value"`},
		{"deadband type", base + nodes + "subscription: {deadband: {type: relative, value: 1}}\n", `subscription.deadband.type: unknown "relative"`},
		{"deadband percent", base + nodes + "subscription: {deadband: {type: percent, value: 150}}\n", "subscription.deadband.value: 150 is more than 100 percent"},
		{"deadband none value", base + nodes + "subscription: {deadband: {type: none, value: 1}}\n", "subscription.deadband.value: set, but deadband type is none"},
		{"polling interval", base + nodes + "collection: polling\npolling: {interval: 0s}\n", "polling.interval: 0s is less than 1ms"},
		{"deadband with polling", base + "collection: polling\nnodes: [{node_id: 'ns=2;s=A', deadband: {type: absolute, value: 1}}]\n", "nodes[0].deadband: set, but collection is polling"},
		{"timestamp", base + nodes + "timestamp: device\n", `timestamp: unknown "device"`},
		{"datetime", base + nodes + "datetime: iso\n", `datetime: unknown "iso"`},
		{"queue", base + nodes + "queue_size: 10\nbatch_size: 100\n", "queue_size: 10 is less than batch_size 100"},
		{"backoff", base + nodes + "reconnect_min: 2s\nreconnect_max: 1s\n", "reconnect_max: 1s is less than reconnect_min 2s"},
		{"no nodes", base, "nodes: empty"},
		{"both", base + "nodes: [{node_id: 'ns=2;s=A', browse: Objects/A}]\n", "nodes[0]: both node_id and browse are set"},
		{"neither", base + "nodes: [{stream: x}]\n", "nodes[0]: neither node_id nor browse is set"},
		{"bad node id", base + "nodes: [{node_id: 'ns=x;s=A'}]\n", `nodes[0].node_id: "ns=x;s=A"`},
		{"bare node id", base + "nodes: [{node_id: 'Boiler'}]\n", `nodes[0].node_id: "Boiler": want ns=<index>`},
		{"nsu without id", base + "nodes: [{node_id: 'nsu=urn:x'}]\n", "want nsu=<namespace uri>;"},
		{"empty path element", base + "nodes: [{browse: 'Objects//A'}]\n", `nodes[0].browse: "Objects//A" has an empty element`},
		{"kind", base + "nodes: [{node_id: 'ns=2;s=A', kind: complex}]\n", `nodes[0].kind: unknown value kind "complex"`},
		{"depth", base + "nodes: [{browse: Objects/A, depth: 11}]\n", "nodes[0].depth: 11 is not between 1 and 10"},
		{"pattern", base + "nodes: [{browse: Objects/A, exclude: ['[']}]\n", `nodes[0].exclude[0]: "["`},
		{"placeholder", base + "nodes: [{browse: Objects/A, stream: '{site}/{name}'}]\n", "unknown placeholder {site}"},
		{"brace", base + "nodes: [{browse: Objects/A, stream: '{name'}]\n", "unmatched {"},
		{"duration", base + nodes + "dial_timeout: soon\n", "cannot unmarshal !!str `soon` into time.Duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newFromYAML(t, tc.yaml)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := newFromYAML(t, "security: {policy: X, mode: Y}\nnodes: [{node_id: ''}, {browse: A, kind: x}]\n")
	for _, want := range []string{"endpoint: empty", "security.policy", "security.mode", "nodes[0]: neither", "nodes[1].kind"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestBrowsePath(t *testing.T) {
	for in, want := range map[string]string{
		"Objects/Plant/Boiler":    "Objects/Plant/Boiler",
		"/Objects/2:Plant/Boiler": "Objects/2:Plant/Boiler",
		`Objects/A\/B/C`:          "Objects/A/B/C",
		"Objects/x:y":             "Objects/x:y",
	} {
		p, err := parseBrowsePath(in)
		if err != nil || pathString(p) != want {
			t.Errorf("%q -> %q %v, want %q", in, pathString(p), err, want)
		}
	}
	p, _ := parseBrowsePath(`Objects/A\/B`)
	if len(p) != 2 || p[1].name != "A/B" || p[1].ns != -1 {
		t.Errorf("escaped slash: %+v", p)
	}
	p, _ = parseBrowsePath("2:Plant")
	if p[0].ns != 2 || p[0].name != "Plant" {
		t.Errorf("namespace: %+v", p)
	}
}

func TestNodeRefs(t *testing.T) {
	r, err := parseNodeRef("nsu=urn:plant;s=Boiler.Temp")
	if err != nil {
		t.Fatal(err)
	}
	nid, err := r.resolve([]string{"http://opcfoundation.org/UA/", "urn:other", "urn:plant"})
	if err != nil || nid.String() != "ns=2;s=Boiler.Temp" {
		t.Fatalf("resolved %v %v", nid, err)
	}
	if _, err := r.resolve([]string{"http://opcfoundation.org/UA/"}); err == nil {
		t.Fatal("an unknown namespace resolved")
	}
	for in, want := range map[string]string{
		"ns=2;s=Boiler.Temp": "Boiler.Temp",
		"i=2258":             "2258",
		"ns=1;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63": "72962B91-FA75-4AE6-8D28-B404DC7DAF63",
		"ns=1;b=c2x1aWNl": "c2x1aWNl",
		"nsu=urn:x;s=A;B": "A;B",
	} {
		if got := identifier(in); got != want {
			t.Errorf("identifier(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTemplate(t *testing.T) {
	tp, err := parseTemplate("site/{ns}/{path}/{name}:{display}@{id}|{node}", templateVars{})
	if err != nil {
		t.Fatal(err)
	}
	tp.prefix = "p/"
	v := &variable{id: ua.MustParseNodeID("ns=3;s=X.Y"), idText: "ns=3;s=X.Y", name: "Y", display: "Why", path: "X/Y"}
	if got, want := tp.render(v), "p/site/3/X/Y/Y:Why@X.Y|ns=3;s=X.Y"; got != want {
		t.Errorf("render %q, want %q", got, want)
	}
	for _, bad := range []string{"", "a}", "{a", "{}"} {
		if _, err := parseTemplate(bad, templateVars{}); err == nil {
			t.Errorf("template %q accepted", bad)
		}
	}
}

func TestValues(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123, time.UTC)
	guid := ua.NewGUID("72962B91-FA75-4AE6-8D28-B404DC7DAF63")
	for _, tc := range []struct {
		in   any
		dt   dateTime
		want point.Value
	}{
		{true, dtString, point.Bool(true)},
		{int8(-3), dtString, point.Int(-3)},
		{uint8(250), dtString, point.Int(250)},
		{int16(-300), dtString, point.Int(-300)},
		{uint16(65000), dtString, point.Int(65000)},
		{int32(-7), dtString, point.Int(-7)},
		{uint32(4e9), dtString, point.Int(4e9)},
		{int64(-1 << 40), dtString, point.Int(-1 << 40)},
		{uint64(1 << 40), dtString, point.Int(1 << 40)},
		{uint64(math.MaxUint64), dtString, point.Float(math.MaxUint64)},
		{float32(1.5), dtString, point.Float(1.5)},
		{2.25, dtString, point.Float(2.25)},
		{"text", dtString, point.String("text")},
		{ts, dtString, point.String("2024-05-01T12:00:00.000000123Z")},
		{ts, dtUnixS, point.Float(float64(ts.UnixNano()) / 1e9)},
		{ts, dtUnixMS, point.Int(ts.UnixMilli())},
		{ts, dtUnixNS, point.Int(ts.UnixNano())},
		{guid, dtString, point.String("72962B91-FA75-4AE6-8D28-B404DC7DAF63")},
		{[]byte("hi"), dtString, point.String("aGk=")},
		{ua.MustParseNodeID("ns=1;i=5"), dtString, point.String("ns=1;i=5")},
		{ua.StatusBadSensorFailure, dtString, point.Int(0x808C0000)},
		{&ua.QualifiedName{NamespaceIndex: 2, Name: "Q"}, dtString, point.String("2:Q")},
		{&ua.LocalizedText{Text: "hello", Locale: "en"}, dtString, point.String("hello")},
		{ua.XMLElement("<a/>"), dtString, point.String("<a/>")},
	} {
		v, reason := value(ua.MustVariant(tc.in), tc.dt)
		if reason != "" || v != tc.want {
			t.Errorf("%T %v: %+v %q, want %+v", tc.in, tc.in, v, reason, tc.want)
		}
	}
	if v, r := value(nil, dtString); v.Kind != 0 || r != "" {
		t.Errorf("nil variant: %+v %q", v, r)
	}
	if _, r := value(ua.MustVariant([]float64{1, 2}), dtString); r != reasonArray {
		t.Errorf("array: %q", r)
	}
	if _, r := value(ua.MustVariant(ua.NewExtensionObject(&ua.Range{Low: 1, High: 2})), dtString); r != reasonUnsupported {
		t.Errorf("structure: %q", r)
	}
}

func TestKindOfDataType(t *testing.T) {
	for dt, want := range map[uint32]point.Kind{
		id.Boolean: point.KindBool, id.Int32: point.KindInt, id.UInt64: point.KindInt,
		id.Double: point.KindFloat, id.Float: point.KindFloat, id.Duration: point.KindFloat,
		id.String: point.KindString, id.LocalizedText: point.KindString,
		id.DateTime: point.KindString, id.UtcTime: point.KindString,
		id.BaseDataType: 0, id.Structure: 0,
	} {
		if got := kindOfDataType(ua.NewNumericNodeID(0, dt), dtString); got != want {
			t.Errorf("data type %d: %v, want %v", dt, got, want)
		}
	}
	if got := kindOfDataType(ua.NewNumericNodeID(0, id.DateTime), dtUnixMS); got != point.KindInt {
		t.Errorf("DateTime as unix_ms: %v", got)
	}
	if got := kindOfDataType(ua.NewNumericNodeID(2, id.Double), dtString); got != 0 {
		t.Errorf("vendor type: %v", got)
	}
}

func TestPointTime(t *testing.T) {
	src, srv, recv := time.Unix(100, 0), time.Unix(200, 0), time.Unix(300, 0)
	both := &ua.DataValue{SourceTimestamp: src, ServerTimestamp: srv}
	onlyServer := &ua.DataValue{ServerTimestamp: srv}
	for _, tc := range []struct {
		pref string
		dv   *ua.DataValue
		want time.Time
	}{
		{"source", both, src}, {"server", both, srv}, {"receive", both, recv},
		{"source", onlyServer, srv}, {"source", &ua.DataValue{}, recv}, {"server", &ua.DataValue{SourceTimestamp: src}, recv},
	} {
		if got := pointTime(tc.pref, tc.dv, recv); got != tc.want.UnixNano() {
			t.Errorf("%s %+v: %v, want %v", tc.pref, tc.dv, time.Unix(0, got), tc.want)
		}
	}
}
