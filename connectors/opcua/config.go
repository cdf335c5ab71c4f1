package opcua

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Sample is the documented `opcua:` section, as registered with the
// connector registry. It is the section's contents (without the `opcua:`
// key) and decodes into a valid Config.
//
//go:embed sample.yaml
var Sample string

// Config is the `opcua:` section of a source. DefaultConfig gives the
// values of omitted keys; sample.yaml documents every key.
type Config struct {
	// Endpoint is the server's opc.tcp:// URL. The source always dials
	// it, whatever host name the server advertises in its endpoints.
	Endpoint string `yaml:"endpoint"`
	// Security selects the endpoint by policy and mode.
	Security SecurityConfig `yaml:"security"`
	// Certificate and PrivateKey are the client's application instance
	// certificate (PEM or DER) and RSA key (PEM PKCS#1 or PKCS#8, or DER).
	// Both empty: a certificate is generated once and kept under
	// <data_dir>/opcua/own/. Relative paths are under the data dir.
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"private_key"`
	// PKI is the folder holding trusted/, issuers/ and rejected/ server
	// certificates. Empty: <data_dir>/opcua/<source>/pki.
	PKI string `yaml:"pki"`
	// Auth is the user identity of the session.
	Auth AuthConfig `yaml:"auth"`
	// DialTimeout bounds the TCP connection and the HEL/ACK handshake;
	// RequestTimeout every service call but Publish; SessionTimeout is
	// asked of the server (it keeps a session that long without us).
	DialTimeout    time.Duration `yaml:"dial_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// connection attempts.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// WatchdogMargin is added to publishing interval x max keep-alive
	// count: when neither data nor a keep-alive arrives for that long, the
	// session is torn down and rebuilt.
	WatchdogMargin time.Duration `yaml:"watchdog_margin"`
	// Collection is subscription (default) or polling.
	Collection   string             `yaml:"collection"`
	Subscription SubscriptionConfig `yaml:"subscription"`
	Polling      PollingConfig      `yaml:"polling"`
	// Timestamp picks a point's time: source (default), server or receive.
	// A missing timestamp falls back to the next one in that order.
	Timestamp string `yaml:"timestamp"`
	// DateTime is how DateTime values are stored: string (RFC 3339, the
	// default), unix_s (float seconds), unix_ms or unix_ns (int).
	DateTime string `yaml:"datetime"`
	// MarkGaps writes, when a session is lost, one point per stream with
	// quality BadCommunicationError at the time the loss was noticed.
	MarkGaps bool `yaml:"mark_gaps"`
	// QueueSize bounds the points held between the server and the store;
	// BatchSize the points of one write.
	QueueSize int `yaml:"queue_size"`
	BatchSize int `yaml:"batch_size"`
	// DrainTimeout bounds the final flush on shutdown.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// StreamPrefix is prepended to every stream name.
	StreamPrefix string `yaml:"stream_prefix"`
	// Nodes are the variables to collect, or the folders to discover them
	// under.
	Nodes []NodeConfig `yaml:"nodes"`
}

// SecurityConfig selects the endpoint.
type SecurityConfig struct {
	// Policy: None, Basic256Sha256, Aes128_Sha256_RsaOaep,
	// Aes256_Sha256_RsaPss; Basic128Rsa15 and Basic256 with
	// AllowDeprecated.
	Policy string `yaml:"policy"`
	// Mode: None, Sign or SignAndEncrypt. None only with policy None,
	// and only when written out.
	Mode            string `yaml:"mode"`
	AllowDeprecated bool   `yaml:"allow_deprecated"`
}

// AuthConfig is the session's user identity.
type AuthConfig struct {
	// Type: anonymous (default), username or certificate.
	Type string `yaml:"type"`
	// Username and Password (a configs.Secret reference) for username.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Certificate and PrivateKey of the user, for certificate.
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"private_key"`
	// AllowPlaintextPassword permits sending the password unencrypted,
	// which happens only on a None channel whose user token policy is
	// None as well.
	AllowPlaintextPassword bool `yaml:"allow_plaintext_password"`
}

// SubscriptionConfig parameterises collection: subscription.
type SubscriptionConfig struct {
	PublishingInterval time.Duration `yaml:"publishing_interval"`
	// SamplingInterval is asked for every monitored item; 0 is the
	// fastest the server offers (often: on every change).
	SamplingInterval time.Duration `yaml:"sampling_interval"`
	QueueSize        uint32        `yaml:"queue_size"`
	DiscardOldest    bool          `yaml:"discard_oldest"`
	// Trigger: status, status_value (default) or status_value_timestamp.
	Trigger  string         `yaml:"trigger"`
	Deadband DeadbandConfig `yaml:"deadband"`
	// MaxKeepAliveCount and LifetimeCount are in publishing intervals.
	MaxKeepAliveCount          uint32 `yaml:"max_keepalive_count"`
	LifetimeCount              uint32 `yaml:"lifetime_count"`
	MaxNotificationsPerPublish uint32 `yaml:"max_notifications_per_publish"`
}

// DeadbandConfig is a data-change filter's deadband.
type DeadbandConfig struct {
	// Type: none, absolute or percent (of the variable's EURange).
	Type  string  `yaml:"type"`
	Value float64 `yaml:"value"`
}

// PollingConfig parameterises collection: polling.
type PollingConfig struct {
	Interval time.Duration `yaml:"interval"`
}

// NodeConfig is one entry of nodes: a variable, or a folder (an object)
// whose variables are discovered.
type NodeConfig struct {
	// NodeID (ns=2;s=Boiler.Temp, i=, g=, b=, or nsu=URI;s=...) or
	// Browse (Objects/Plant/Boiler/Temp; an element may be 2:Name) names
	// the node; exactly one is set.
	NodeID string `yaml:"node_id"`
	Browse string `yaml:"browse"`
	// Stream is the stream name template (see sample.yaml).
	Stream string `yaml:"stream"`
	// Kind overrides the kind derived from the variable's data type.
	Kind        string `yaml:"kind"`
	Unit        string `yaml:"unit"`
	Description string `yaml:"description"`
	// Depth, MaxNodes, Include and Exclude bound discovery under a
	// folder. Include and Exclude are path.Match patterns on {path}.
	Depth    int      `yaml:"depth"`
	MaxNodes int      `yaml:"max_nodes"`
	Include  []string `yaml:"include"`
	Exclude  []string `yaml:"exclude"`
	// SamplingInterval and Deadband override the subscription's.
	SamplingInterval *time.Duration  `yaml:"sampling_interval"`
	Deadband         *DeadbandConfig `yaml:"deadband"`
}

// DefaultConfig returns the values used for omitted keys. Security is
// Basic256Sha256 with SignAndEncrypt: a plaintext session must be asked for.
func DefaultConfig() Config {
	return Config{
		Security:       SecurityConfig{Policy: "Basic256Sha256", Mode: "SignAndEncrypt"},
		Auth:           AuthConfig{Type: "anonymous"},
		DialTimeout:    10 * time.Second,
		RequestTimeout: 10 * time.Second,
		SessionTimeout: 10 * time.Minute,
		ReconnectMin:   time.Second,
		ReconnectMax:   time.Minute,
		WatchdogMargin: 5 * time.Second,
		Collection:     "subscription",
		Subscription: SubscriptionConfig{
			PublishingInterval: time.Second,
			SamplingInterval:   500 * time.Millisecond,
			QueueSize:          10,
			DiscardOldest:      true,
			Trigger:            "status_value",
			Deadband:           DeadbandConfig{Type: "none"},
			MaxKeepAliveCount:  10,
			LifetimeCount:      60,
		},
		Polling:      PollingConfig{Interval: time.Second},
		Timestamp:    "source",
		DateTime:     "string",
		MarkGaps:     true,
		QueueSize:    100000,
		BatchSize:    5000,
		DrainTimeout: 5 * time.Second,
	}
}

// The security policies by config name, and which are deprecated (OPC UA
// 1.04 deprecated both for SHA-1 and, for Basic128Rsa15, PKCS#1 v1.5).
var (
	policies = map[string]string{
		"None":                  ua.SecurityPolicyURINone,
		"Basic256Sha256":        ua.SecurityPolicyURIBasic256Sha256,
		"Aes128_Sha256_RsaOaep": ua.SecurityPolicyURIAes128Sha256RsaOaep,
		"Aes256_Sha256_RsaPss":  ua.SecurityPolicyURIAes256Sha256RsaPss,
		"Basic128Rsa15":         ua.SecurityPolicyURIBasic128Rsa15,
		"Basic256":              ua.SecurityPolicyURIBasic256,
	}
	deprecatedPolicies = map[string]bool{"Basic128Rsa15": true, "Basic256": true}
	modes              = map[string]ua.MessageSecurityMode{
		"None":           ua.MessageSecurityModeNone,
		"Sign":           ua.MessageSecurityModeSign,
		"SignAndEncrypt": ua.MessageSecurityModeSignAndEncrypt,
	}
	triggers = map[string]ua.DataChangeTrigger{
		"status":                 ua.DataChangeTriggerStatus,
		"status_value":           ua.DataChangeTriggerStatusValue,
		"status_value_timestamp": ua.DataChangeTriggerStatusValueTimestamp,
	}
	deadbands = map[string]uint32{
		"none":     uint32(ua.DeadbandTypeNone),
		"absolute": uint32(ua.DeadbandTypeAbsolute),
		"percent":  uint32(ua.DeadbandTypePercent),
	}
)

// Limits of discovery.
const (
	defaultDepth    = 3
	maxDepth        = 10
	defaultMaxNodes = 10000
)

// problems collects validation errors, each naming its key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// plan is a validated Config, compiled.
type plan struct {
	policyURI string
	mode      ua.MessageSecurityMode
	authType  ua.UserTokenType
	trigger   ua.DataChangeTrigger
	deadband  deadband
	polling   bool
	entries   []*entry
}

type deadband struct {
	typ   uint32
	value float64
}

// entry is a compiled NodeConfig.
type entry struct {
	index    int
	key      string    // "nodes[3]"
	id       *nodeRef  // node_id, or nil
	path     []pathElt // browse, or nil
	stream   *template
	kind     point.Kind // 0: from the data type
	unit     string
	desc     string
	depth    int
	maxNodes int
	include  []string
	exclude  []string
	sampling time.Duration
	deadband deadband
}

// compile validates cfg. Every problem is reported, each prefixed with its
// key relative to the section.
func compile(cfg *Config) (*plan, error) {
	var p problems
	pl := &plan{}
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case cfg.Endpoint == "":
		p.add("endpoint", "empty")
	case err != nil:
		p.add("endpoint", "%v", err)
	case u.Scheme != "opc.tcp":
		p.add("endpoint", "%q: want an opc.tcp:// URL", cfg.Endpoint)
	case u.Host == "":
		p.add("endpoint", "%q has no host", cfg.Endpoint)
	}

	sec := cfg.Security
	if uri, ok := policies[sec.Policy]; !ok {
		p.add("security.policy", "unknown %q (want None, Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss)", sec.Policy)
	} else if deprecatedPolicies[sec.Policy] && !sec.AllowDeprecated {
		p.add("security.policy", "%s is deprecated (SHA-1); set security.allow_deprecated: true to use it anyway", sec.Policy)
	} else {
		pl.policyURI = uri
	}
	if m, ok := modes[sec.Mode]; !ok {
		p.add("security.mode", "unknown %q (want None, Sign or SignAndEncrypt)", sec.Mode)
	} else {
		pl.mode = m
	}
	if (sec.Policy == "None") != (sec.Mode == "None") && pl.policyURI != "" && pl.mode != 0 {
		if sec.Policy == "None" {
			p.add("security.mode", "%s needs a security policy other than None", sec.Mode)
		} else {
			p.add("security.mode", "None goes with policy None only (policy is %s)", sec.Policy)
		}
	}
	if (cfg.Certificate == "") != (cfg.PrivateKey == "") {
		if cfg.Certificate == "" {
			p.add("certificate", "empty while private_key is set")
		} else {
			p.add("private_key", "empty while certificate is set")
		}
	}

	a := cfg.Auth
	switch a.Type {
	case "", "anonymous":
		pl.authType = ua.UserTokenTypeAnonymous
		if a.Username != "" || a.Password != "" || a.Certificate != "" || a.PrivateKey != "" {
			p.add("auth", "credentials set, but auth.type is anonymous")
		}
	case "username":
		pl.authType = ua.UserTokenTypeUserName
		if a.Username == "" {
			p.add("auth.username", "empty")
		}
		if a.Password == "" {
			p.add("auth.password", "empty")
		} else if err := configs.CheckSecret(a.Password); err != nil {
			p.add("auth.password", "%v", err)
		}
	case "certificate":
		pl.authType = ua.UserTokenTypeCertificate
		if a.Certificate == "" {
			p.add("auth.certificate", "empty")
		}
		if a.PrivateKey == "" {
			p.add("auth.private_key", "empty")
		}
	default:
		p.add("auth.type", "unknown %q (want anonymous, username or certificate)", a.Type)
	}

	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{
		{"dial_timeout", cfg.DialTimeout, time.Millisecond},
		{"request_timeout", cfg.RequestTimeout, time.Millisecond},
		{"session_timeout", cfg.SessionTimeout, time.Second},
		{"reconnect_min", cfg.ReconnectMin, time.Millisecond},
		{"watchdog_margin", cfg.WatchdogMargin, 0},
		{"drain_timeout", cfg.DrainTimeout, 0},
	} {
		if d.v < d.min {
			p.add(d.key, "%v is less than %v", d.v, d.min)
		}
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		p.add("reconnect_max", "%v is less than reconnect_min %v", cfg.ReconnectMax, cfg.ReconnectMin)
	}

	switch cfg.Collection {
	case "subscription":
		s := cfg.Subscription
		if s.PublishingInterval < time.Millisecond {
			p.add("subscription.publishing_interval", "%v is less than 1ms", s.PublishingInterval)
		}
		if s.SamplingInterval < 0 {
			p.add("subscription.sampling_interval", "negative")
		}
		if s.QueueSize < 1 {
			p.add("subscription.queue_size", "must be at least 1")
		}
		if s.MaxKeepAliveCount < 1 {
			p.add("subscription.max_keepalive_count", "must be at least 1")
		}
		if s.LifetimeCount < 3*s.MaxKeepAliveCount {
			p.add("subscription.lifetime_count", "%d is less than 3 x max_keepalive_count (%d)", s.LifetimeCount, 3*s.MaxKeepAliveCount)
		}
		if t, ok := triggers[s.Trigger]; ok {
			pl.trigger = t
		} else {
			p.add("subscription.trigger", "unknown %q (want status, status_value or status_value_timestamp)", s.Trigger)
		}
		pl.deadband = compileDeadband(s.Deadband, "subscription.deadband", &p)
	case "polling":
		pl.polling = true
		if cfg.Polling.Interval < time.Millisecond {
			p.add("polling.interval", "%v is less than 1ms", cfg.Polling.Interval)
		}
		if cfg.Subscription.Deadband.Type != "none" && cfg.Subscription.Deadband.Type != "" {
			p.add("subscription.deadband", "set, but collection is polling (deadbands are applied by the server's subscriptions)")
		}
	default:
		p.add("collection", "unknown %q (want subscription or polling)", cfg.Collection)
	}

	switch cfg.Timestamp {
	case "source", "server", "receive":
	default:
		p.add("timestamp", "unknown %q (want source, server or receive)", cfg.Timestamp)
	}
	if _, ok := dateTimeKinds[cfg.DateTime]; !ok {
		p.add("datetime", "unknown %q (want string, unix_s, unix_ms or unix_ns)", cfg.DateTime)
	}
	if cfg.BatchSize < 1 {
		p.add("batch_size", "must be at least 1")
	}
	if cfg.QueueSize < cfg.BatchSize {
		p.add("queue_size", "%d is less than batch_size %d", cfg.QueueSize, cfg.BatchSize)
	}

	if len(cfg.Nodes) == 0 {
		p.add("nodes", "empty")
	}
	for i := range cfg.Nodes {
		if e := compileEntry(cfg, i, pl, &p); e != nil {
			pl.entries = append(pl.entries, e)
		}
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return pl, nil
}

func compileDeadband(d DeadbandConfig, key string, p *problems) deadband {
	t, ok := deadbands[d.Type]
	if d.Type == "" {
		t, ok = uint32(ua.DeadbandTypeNone), true
	}
	if !ok {
		p.add(key+".type", "unknown %q (want none, absolute or percent)", d.Type)
	}
	switch {
	case d.Value < 0:
		p.add(key+".value", "negative")
	case d.Type == "percent" && d.Value > 100:
		p.add(key+".value", "%v is more than 100 percent", d.Value)
	case (d.Type == "none" || d.Type == "") && d.Value != 0:
		p.add(key+".value", "set, but deadband type is none")
	}
	return deadband{typ: t, value: d.Value}
}

// compileEntry validates one node entry; it returns nil when it added
// problems.
func compileEntry(cfg *Config, i int, pl *plan, p *problems) *entry {
	before := len(*p)
	nc := cfg.Nodes[i]
	key := fmt.Sprintf("nodes[%d]", i)
	e := &entry{index: i, key: key, unit: nc.Unit, desc: nc.Description, depth: nc.Depth, maxNodes: nc.MaxNodes,
		include: nc.Include, exclude: nc.Exclude, sampling: cfg.Subscription.SamplingInterval, deadband: pl.deadband}
	vars := templateVars{}
	switch {
	case nc.NodeID != "" && nc.Browse != "":
		p.add(key, "both node_id and browse are set; give one")
	case nc.NodeID != "":
		r, err := parseNodeRef(nc.NodeID)
		if err != nil {
			p.add(key+".node_id", "%v", err)
		}
		e.id = r
	case nc.Browse != "":
		pe, err := parseBrowsePath(nc.Browse)
		if err != nil {
			p.add(key+".browse", "%v", err)
		}
		e.path = pe
	default:
		p.add(key, "neither node_id nor browse is set")
	}
	k, err := point.ParseKind(nc.Kind)
	if err != nil {
		p.add(key+".kind", "%v", err)
	}
	if nc.Kind != "" {
		e.kind = k
	}
	if e.depth == 0 {
		e.depth = defaultDepth
	}
	if e.depth < 1 || e.depth > maxDepth {
		p.add(key+".depth", "%d is not between 1 and %d", nc.Depth, maxDepth)
	}
	if e.maxNodes == 0 {
		e.maxNodes = defaultMaxNodes
	}
	if e.maxNodes < 1 {
		p.add(key+".max_nodes", "must be at least 1")
	}
	for j, pat := range append(append([]string(nil), nc.Include...), nc.Exclude...) {
		if _, err := path.Match(pat, ""); err != nil {
			which := fmt.Sprintf("include[%d]", j)
			if j >= len(nc.Include) {
				which = fmt.Sprintf("exclude[%d]", j-len(nc.Include))
			}
			p.add(key+"."+which, "%q: %v", pat, err)
		}
	}
	if nc.SamplingInterval != nil {
		if pl.polling {
			p.add(key+".sampling_interval", "set, but collection is polling")
		} else if *nc.SamplingInterval < 0 {
			p.add(key+".sampling_interval", "negative")
		}
		e.sampling = *nc.SamplingInterval
	}
	if nc.Deadband != nil {
		if pl.polling {
			p.add(key+".deadband", "set, but collection is polling")
		}
		e.deadband = compileDeadband(*nc.Deadband, key+".deadband", p)
	}
	src := nc.Stream
	if src == "" {
		src = "{path}"
		if nc.NodeID != "" {
			src = "{id}"
		}
	}
	t, err := parseTemplate(src, vars)
	if err != nil {
		p.add(key+".stream", "%v", err)
	}
	e.stream = t
	if t != nil {
		t.prefix = cfg.StreamPrefix
	}
	if len(*p) > before {
		return nil
	}
	return e
}

// parseBrowsePath splits "Objects/Plant/2:Boiler/Temp" into elements. A
// leading "/" is allowed; "\/" is a slash inside a name. Paths start at
// the Root folder, so the first element is usually Objects.
func parseBrowsePath(s string) ([]pathElt, error) {
	s = strings.TrimPrefix(s, "/")
	if s == "" {
		return nil, errors.New("empty")
	}
	var out []pathElt
	var cur strings.Builder
	flush := func() error {
		name := cur.String()
		cur.Reset()
		if name == "" {
			return fmt.Errorf("%q has an empty element", s)
		}
		e := pathElt{name: name, ns: -1}
		if i := strings.IndexByte(name, ':'); i > 0 {
			var ns int
			if _, err := fmt.Sscanf(name[:i], "%d", &ns); err == nil && fmt.Sprint(ns) == name[:i] && ns >= 0 && ns <= 65535 {
				e.ns, e.name = ns, name[i+1:]
				if e.name == "" {
					return fmt.Errorf("%q: element %q has no name", s, name)
				}
			}
		}
		out = append(out, e)
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '/':
			cur.WriteByte('/')
			i++
		case s[i] == '/':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(s[i])
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// pathElt is one element of a browse path: a browse name, in namespace ns
// or (ns -1) in any.
type pathElt struct {
	name string
	ns   int
}

func (e pathElt) String() string {
	if e.ns < 0 {
		return e.name
	}
	return fmt.Sprintf("%d:%s", e.ns, e.name)
}

// nodeRef is a parsed node_id: either a NodeID, or a namespace URI and an
// identifier resolved against the server's namespace table.
type nodeRef struct {
	text string
	id   *ua.NodeID // nil when nsu is set
	nsu  string
}

// parseNodeRef parses the node id forms of OPC UA Part 6, 5.3.1.10:
// i=, s=, g=, b= with an optional ns=<index>; or nsu=<uri>; ahead.
func parseNodeRef(s string) (*nodeRef, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if rest, ok := strings.CutPrefix(s, "nsu="); ok {
		uri, idpart, ok := strings.Cut(rest, ";")
		if !ok || uri == "" {
			return nil, fmt.Errorf("%q: want nsu=<namespace uri>;<i|s|g|b>=<id>", s)
		}
		if _, err := ua.ParseNodeID(idpart); err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		return &nodeRef{text: s, nsu: uri}, nil
	}
	id, err := ua.ParseNodeID(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	if !strings.Contains(s, "=") {
		// ua.ParseNodeID reads a bare word as a string id in ns 0, which
		// is almost never what was meant.
		return nil, fmt.Errorf("%q: want ns=<index>;<i|s|g|b>=<id> (or a browse path under browse:)", s)
	}
	return &nodeRef{text: s, id: id}, nil
}

// resolve returns the NodeID, looking the namespace URI up in the
// server's table.
func (r *nodeRef) resolve(namespaces []string) (*ua.NodeID, error) {
	if r.id != nil {
		return r.id, nil
	}
	idx := -1
	for i, n := range namespaces {
		if n == r.nsu {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("namespace %q is not in the server's namespace array", r.nsu)
	}
	_, idpart, _ := strings.Cut(strings.TrimPrefix(r.text, "nsu="), ";")
	return ua.ParseNodeID(fmt.Sprintf("ns=%d;%s", idx, idpart))
}
