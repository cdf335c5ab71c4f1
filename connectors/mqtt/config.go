package mqtt

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Sample is the documented `mqtt:` section, as registered with the
// connector registry. It is the section's contents (without the `mqtt:`
// key) and decodes into a valid Config.
//
//go:embed sample.yaml
var Sample string

// Config is the `mqtt:` section of a source. DefaultConfig gives the
// values of omitted keys; sample.yaml documents every key.
type Config struct {
	// Brokers are tried in order on every (re)connection: tcp://, ssl://
	// (tls://, mqtts://), ws:// or wss:// URLs.
	Brokers []string `yaml:"brokers"`
	// ClientID names the broker session; required unless CleanSession.
	ClientID string `yaml:"client_id"`
	// Username and Password log in to the broker. Password is a secret
	// reference (configs.Secret: env:NAME, file:/path, credential:NAME, or
	// the password itself), resolved at every connection attempt.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS applies to ssl:// and wss:// brokers.
	TLS TLSConfig `yaml:"tls"`
	// KeepAlive is the MQTT keepalive; ConnectTimeout bounds the dial and
	// the CONNECT/SUBSCRIBE handshakes.
	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// QoS is the default subscription QoS.
	QoS int `yaml:"qos"`
	// CleanSession false keeps a persistent session on the broker.
	CleanSession bool `yaml:"clean_session"`
	// ReconnectMin and ReconnectMax bound the exponential backoff.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// QueueSize bounds the points held between the broker and the store.
	QueueSize int `yaml:"queue_size"`
	// BatchSize and BatchDelay cut batches (BatchDelay only for QoS 0).
	BatchSize  int           `yaml:"batch_size"`
	BatchDelay time.Duration `yaml:"batch_delay"`
	// DrainTimeout bounds the final flush on shutdown.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// StreamPrefix is prepended to every stream name.
	StreamPrefix string `yaml:"stream_prefix"`
	// Subscriptions are matched in order; a message belongs to the first
	// whose filter matches its topic.
	Subscriptions []Subscription `yaml:"subscriptions"`
	// Sparkplug configures the subscriptions of format sparkplug.
	Sparkplug SparkplugConfig `yaml:"sparkplug"`
}

// SparkplugConfig is what the source does as a Sparkplug B host
// application (Eclipse Sparkplug 3.0), for its subscriptions of format
// sparkplug.
type SparkplugConfig struct {
	// HostID, when set, makes the source announce itself as the Sparkplug
	// host application of that id: retained STATE {"online":true} on
	// spBv1.0/STATE/{host_id} after every connection, {"online":false} as
	// its will and when it stops. Edge nodes configured with this primary
	// host wait for it before they publish. Needs clean_session: true.
	HostID string `yaml:"host_id"`
	// Rebirth sends NCMD "Node Control/Rebirth" to an edge node whose
	// messages cannot be read in full: a gap in its sequence numbers, an
	// alias or device its births did not define, data before its birth.
	Rebirth bool `yaml:"rebirth"`
	// RebirthInterval is the least time between two rebirth requests to
	// one edge node.
	RebirthInterval time.Duration `yaml:"rebirth_interval"`
}

// TLSConfig holds PEM file paths (relative ones are under the data dir).
type TLSConfig struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

func (t TLSConfig) set() bool {
	return t.CA != "" || t.Cert != "" || t.Key != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// Subscription is one topic filter and how its messages become points.
type Subscription struct {
	// Topic is an MQTT filter; a level written {name} is a named +.
	Topic string `yaml:"topic"`
	// QoS overrides Config.QoS when set.
	QoS *int `yaml:"qos"`
	// Stream is the stream name template (see sample.yaml).
	Stream string `yaml:"stream"`
	// Format is plain (default), json, influx or sparkplug.
	Format string `yaml:"format"`
	// Kind, Unit and Description describe the streams it creates.
	Kind        string `yaml:"kind"`
	Unit        string `yaml:"unit"`
	Description string `yaml:"description"`
	// Labels are added to the labels of the streams it creates (besides
	// its named topic levels, influx tags and Sparkplug ids). Values are
	// templates over the topic: {N}, {name}, {#}, {topic}.
	Labels map[string]string `yaml:"labels"`
	// JSON configures format json.
	JSON JSONConfig `yaml:"json"`
	// Influx configures format influx.
	Influx InfluxConfig `yaml:"influx"`
}

// JSONConfig locates points in JSON payloads. Paths are dot-separated
// keys; a numeric key indexes an array.
type JSONConfig struct {
	Points     string   `yaml:"points"`      // path to an array of points
	Value      string   `yaml:"value"`       // value within a point; empty: the point itself
	Fields     []string `yaml:"fields"`      // several values per point, one stream each; "*": all scalars
	Time       string   `yaml:"time"`        // timestamp; empty: time of receipt
	TimeFormat string   `yaml:"time_format"` // auto, rfc3339, s, ms, us, ns
	// TimeMissing says what a point without a timestamp at Time (or
	// with null there) gets: "receive" (the default) the time of
	// receipt, as Telegraf does, or "drop" drops it (counted as
	// missing_time). A timestamp that is there but does not parse is
	// always an error (bad_time).
	TimeMissing string `yaml:"time_missing"`
	Quality     string `yaml:"quality"` // status code, bool, or good/uncertain/bad
	ID          string `yaml:"id"`      // names the point, for {id}
}

// InfluxConfig configures format influx.
type InfluxConfig struct {
	Precision string `yaml:"precision"` // ns (default), us, ms, s
}

// DefaultConfig returns the values used for omitted keys.
func DefaultConfig() Config {
	return Config{
		KeepAlive:      30 * time.Second,
		ConnectTimeout: 10 * time.Second,
		QoS:            1,
		ReconnectMin:   time.Second,
		ReconnectMax:   time.Minute,
		QueueSize:      50000,
		BatchSize:      5000,
		BatchDelay:     50 * time.Millisecond,
		DrainTimeout:   5 * time.Second,
		Sparkplug:      SparkplugConfig{Rebirth: true, RebirthInterval: 10 * time.Second},
	}
}

// problems collects validation errors, each naming its key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// compile validates cfg and builds the subscriptions. Every problem is
// reported, each prefixed with its key relative to the section.
func compile(cfg *Config) ([]*subscription, error) {
	var p problems
	if len(cfg.Brokers) == 0 {
		p.add("brokers", "empty")
	}
	secure := false
	for i, b := range cfg.Brokers {
		u, err := url.Parse(b)
		key := fmt.Sprintf("brokers[%d]", i)
		switch {
		case err != nil:
			p.add(key, "%v", err)
		case u.Host == "":
			p.add(key, "%q has no host", b)
		default:
			switch u.Scheme {
			case "tcp", "ws":
			case "ssl", "tls", "mqtts", "wss":
				secure = true
			default:
				p.add(key, "unsupported scheme %q (want tcp, ssl, tls, mqtts, ws or wss)", u.Scheme)
			}
		}
	}
	if cfg.TLS.set() && !secure && len(cfg.Brokers) > 0 {
		p.add("tls", "set, but no broker uses ssl://, tls://, mqtts:// or wss://")
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		if cfg.TLS.Cert == "" {
			p.add("tls.cert", "empty while tls.key is set")
		} else {
			p.add("tls.key", "empty while tls.cert is set")
		}
	}
	if !cfg.CleanSession && cfg.ClientID == "" {
		p.add("client_id", "required when clean_session is false (the broker keeps the session under it)")
	}
	if len(cfg.ClientID) > 65535 {
		p.add("client_id", "longer than 65535 bytes")
	}
	if err := configs.CheckSecret(cfg.Password); err != nil {
		p.add("password", "%v", err)
	}
	if cfg.KeepAlive < time.Second {
		p.add("keepalive", "%v is less than 1s", cfg.KeepAlive)
	}
	if cfg.ConnectTimeout <= 0 {
		p.add("connect_timeout", "must be positive")
	}
	if cfg.QoS < 0 || cfg.QoS > 2 {
		p.add("qos", "%d is not 0, 1 or 2", cfg.QoS)
	}
	if cfg.ReconnectMin <= 0 {
		p.add("reconnect_min", "must be positive")
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		p.add("reconnect_max", "%v is less than reconnect_min %v", cfg.ReconnectMax, cfg.ReconnectMin)
	}
	if cfg.BatchSize < 1 {
		p.add("batch_size", "must be at least 1")
	}
	if cfg.QueueSize < cfg.BatchSize {
		p.add("queue_size", "%d is less than batch_size %d", cfg.QueueSize, cfg.BatchSize)
	}
	if cfg.BatchDelay < 0 {
		p.add("batch_delay", "negative")
	}
	if cfg.DrainTimeout < 0 {
		p.add("drain_timeout", "negative")
	}
	if len(cfg.Subscriptions) == 0 {
		p.add("subscriptions", "empty")
	}
	var subs []*subscription
	seen := map[string]int{}
	for i := range cfg.Subscriptions {
		key := fmt.Sprintf("subscriptions[%d]", i)
		s, err := compileSubscription(cfg, i, key, &p)
		if err {
			continue
		}
		if j, dup := seen[s.filter]; dup {
			p.add(key+".topic", "filter %q is already subscriptions[%d]", s.filter, j)
			continue
		}
		seen[s.filter] = i
		subs = append(subs, s)
	}
	checkSparkplug(cfg, subs, &p)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return subs, nil
}

// compileSubscription validates one subscription; bad reports whether it
// added problems.
func compileSubscription(cfg *Config, i int, key string, p *problems) (s *subscription, bad bool) {
	before := len(*p)
	sc := cfg.Subscriptions[i]
	s = &subscription{index: i, unit: sc.Unit, description: sc.Description, prefix: cfg.StreamPrefix}

	f, err := parseFilter(sc.Topic)
	if err != nil {
		p.add(key+".topic", "%v", err)
	} else {
		s.topic = f
		s.filter = f.filter
	}

	qos := cfg.QoS
	if sc.QoS != nil {
		qos = *sc.QoS
		if qos < 0 || qos > 2 {
			p.add(key+".qos", "%d is not 0, 1 or 2", qos)
		}
	}
	s.qos = byte(qos)

	kind, err := point.ParseKind(sc.Kind)
	if err != nil {
		p.add(key+".kind", "%v", err)
	}
	s.kind = kind

	// What the format offers to the stream template, and its default.
	vars := templateVars{}
	def := "{topic}"
	switch sc.Format {
	case "", "plain":
		s.dec = &plainDecoder{kind: kind}
		if !isZeroJSON(sc.JSON) {
			p.add(key+".json", "set, but format is not json")
		}
	case "json":
		jd, err := newJSONDecoder(sc.JSON, kind, key+".json", p)
		if err == nil {
			s.dec = jd
			if len(jd.fields) > 0 || jd.star {
				vars.field = true
				def = "{topic}/{field}"
			}
			if jd.id != nil {
				vars.id = true
				def = "{id}"
				if vars.field {
					def = "{id}/{field}"
				}
			}
		}
	case "influx":
		prec, ok := precisions[sc.Influx.Precision]
		if !ok {
			p.add(key+".influx.precision", "unknown %q (want ns, us, ms or s)", sc.Influx.Precision)
		}
		s.dec = &influxDecoder{kind: kind, precision: prec}
		vars.field, vars.influx = true, true
		def = "{measurement}/{tags}/{field}"
	case "sparkplug":
		compileSparkplug(s, sc, f, key, p)
		vars.sparkplug = true
		def = "{group}/{node}/{device}/{metric}"
	default:
		p.add(key+".format", "unknown %q (want plain, json, influx or sparkplug)", sc.Format)
	}
	if sc.Format != "influx" && sc.Influx != (InfluxConfig{}) {
		p.add(key+".influx", "set, but format is not influx")
	}

	if f != nil {
		src := sc.Stream
		if src == "" {
			src = def
		}
		t, err := parseTemplate(src, f, vars)
		if err != nil {
			p.add(key+".stream", "%v", err)
		} else {
			s.stream = t
		}
		compileLabels(s, sc, f, key, p)
	}
	return s, len(*p) > before
}

// compileLabels compiles the labels a subscription gives its streams:
// its named topic levels, then its labels (which win).
func compileLabels(s *subscription, sc Subscription, f *filter, key string, p *problems) {
	for name, i := range f.names {
		s.labels = append(s.labels, labelTemplate{key: name, value: &template{parts: []part{{kind: partLevel, n: i}}}})
	}
	for k, v := range sc.Labels {
		if err := point.ValidateLabelKey(k); err != nil {
			p.add(key+".labels."+k, "%v", err)
			continue
		}
		t, err := parseTemplate(v, f, templateVars{})
		if err != nil {
			p.add(key+".labels."+k, "%v", err)
			continue
		}
		s.labels = append(s.labels, labelTemplate{key: k, value: t})
	}
	if n := len(s.labels); n > point.MaxLabels {
		p.add(key+".labels", "%d labels with the named topic levels, over the limit of %d", n, point.MaxLabels)
	}
	// Named levels first, then labels, each in key order: the later of
	// one key wins, and the order does not depend on map iteration.
	slices.SortStableFunc(s.labels[:len(f.names)], func(a, b labelTemplate) int { return strings.Compare(a.key, b.key) })
	slices.SortStableFunc(s.labels[len(f.names):], func(a, b labelTemplate) int { return strings.Compare(a.key, b.key) })
}

func isZeroJSON(j JSONConfig) bool {
	return j.Points == "" && j.Value == "" && len(j.Fields) == 0 && j.Time == "" &&
		j.TimeFormat == "" && j.TimeMissing == "" && j.Quality == "" && j.ID == ""
}

// isSecure reports whether a broker URL uses TLS.
func isSecure(broker string) bool {
	s, _, _ := strings.Cut(broker, "://")
	switch s {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}
