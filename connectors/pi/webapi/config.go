package webapi

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/connectors/pi/internal/nametmpl"

	"github.com/sluice-edge/sluice/configs"
)

// Sample is the documented `pi_webapi:` section, as registered with
// the connector registry. It decodes into a valid Config.
//
//go:embed sample.yaml
var Sample string

// Config is the `pi_webapi:` section of a source with type
// pi-webapi. DefaultConfig gives the values of omitted keys;
// sample.yaml documents every key.
type Config struct {
	// URL is PI Web API's base URL, e.g. https://pi.example/piwebapi.
	URL string `yaml:"url"`
	// Username and Password log in with basic authentication; Token with
	// a bearer token. Password and Token are secret references.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
	// TLS configures https:// URLs.
	TLS TLS `yaml:"tls"`
	// Points and Attributes are the paths to read.
	Points     []string `yaml:"points"`
	Attributes []string `yaml:"attributes"`
	// PointStream and AttributeStream name the streams.
	PointStream     string `yaml:"point_stream"`
	AttributeStream string `yaml:"attribute_stream"`
	StreamPrefix    string `yaml:"stream_prefix"`
	// BackfillStart is where history starts on the first start: a
	// duration back, an RFC 3339 time, or "none".
	BackfillStart string `yaml:"backfill_start"`
	// BackfillWindow and MaxCount bound one recorded-values call.
	BackfillWindow configs.Duration `yaml:"backfill_window"`
	MaxCount       int              `yaml:"max_count"`
	// StreamsPerRequest is the number of WebIDs per streamsets call.
	StreamsPerRequest int `yaml:"streams_per_request"`
	// PollInterval is the interval of stream update polls.
	PollInterval configs.Duration `yaml:"poll_interval"`
	// RequestTimeout bounds one HTTP call.
	RequestTimeout configs.Duration `yaml:"request_timeout"`
	// ReconnectMin and ReconnectMax bound the backoff after failures.
	ReconnectMin configs.Duration `yaml:"reconnect_min"`
	ReconnectMax configs.Duration `yaml:"reconnect_max"`
	// BatchSize is the number of points per Sink.Write.
	BatchSize int `yaml:"batch_size"`
}

// TLS holds the TLS settings (a relative CA path is under the data
// dir).
type TLS struct {
	CA                 string `yaml:"ca"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns the values used for omitted keys.
func DefaultConfig() Config {
	return Config{
		PointStream:       "{server}/{name}",
		AttributeStream:   "{database}/{element}/{name}",
		BackfillStart:     "1d",
		BackfillWindow:    configs.Duration(24 * time.Hour),
		MaxCount:          150000,
		StreamsPerRequest: 50,
		PollInterval:      configs.Duration(5 * time.Second),
		RequestTimeout:    configs.Duration(time.Minute),
		ReconnectMin:      configs.Duration(time.Second),
		ReconnectMax:      configs.Duration(time.Minute),
		BatchSize:         10000,
	}
}

var (
	pointVars     = []string{"server", "name"}
	attributeVars = []string{"server", "database", "element", "name"}
)

// piPath is a parsed PI point or AF attribute path.
type piPath struct {
	raw      string   // as PI Web API takes it: \\SERVER\TAG or \\AF\DB\E1\E2|A|B
	server   string   // PI Data Archive or AF server
	database string   // attributes only
	elements []string // attributes only
	name     string   // the tag, or the attribute path joined with '/'
	attr     bool
}

// parsePointPath parses \\SERVER\TAG. Runs of backslashes count as one
// separator (tag names cannot contain one), so '\\SRV\\TAG' as written in
// YAML double quotes works too.
func parsePointPath(p string) (piPath, error) {
	parts, err := splitPath(p)
	if err != nil {
		return piPath{}, err
	}
	if len(parts) != 2 || strings.Contains(parts[1], "|") {
		return piPath{}, fmt.Errorf("%q: want \\\\SERVER\\TAG", p)
	}
	return piPath{raw: `\\` + parts[0] + `\` + parts[1], server: parts[0], name: parts[1]}, nil
}

// parseAttributePath parses \\AFSERVER\Database\Element[\Child...]|Attribute[|Child...].
func parseAttributePath(p string) (piPath, error) {
	elemPart, attrPart, ok := strings.Cut(p, "|")
	if !ok || attrPart == "" {
		return piPath{}, fmt.Errorf("%q: want \\\\AFSERVER\\Database\\Element|Attribute", p)
	}
	parts, err := splitPath(elemPart)
	if err != nil {
		return piPath{}, err
	}
	if len(parts) < 3 {
		return piPath{}, fmt.Errorf("%q: want \\\\AFSERVER\\Database\\Element|Attribute", p)
	}
	attrs := strings.Split(attrPart, "|")
	for _, a := range attrs {
		if strings.TrimSpace(a) == "" {
			return piPath{}, fmt.Errorf("%q: empty attribute name", p)
		}
	}
	return piPath{
		raw:      `\\` + strings.Join(parts, `\`) + "|" + attrPart,
		server:   parts[0],
		database: parts[1],
		elements: parts[2:],
		name:     strings.Join(attrs, "/"),
		attr:     true,
	}, nil
}

func splitPath(p string) ([]string, error) {
	if !strings.HasPrefix(p, `\\`) {
		return nil, fmt.Errorf("%q: a PI path starts with \\\\ (\\\\SERVER\\...)", p)
	}
	var parts []string
	for _, s := range strings.Split(strings.TrimLeft(p, `\`), `\`) {
		if s == "" {
			continue
		}
		if strings.TrimSpace(s) != s {
			return nil, fmt.Errorf("%q: %q has leading or trailing white space", p, s)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%q: no server", p)
	}
	return parts, nil
}

// streamName expands the path's template.
func (p piPath) streamName(t *nametmpl.Template, prefix string) string {
	return prefix + t.Expand(func(v string) string {
		switch v {
		case "server":
			return p.server
		case "database":
			return p.database
		case "element":
			return strings.Join(p.elements, "/")
		case "name":
			return p.name
		}
		return ""
	})
}

// backfillFrom parses backfill_start relative to now; ok is false for none.
func backfillFrom(s string, now time.Time) (t int64, ok bool, err error) {
	switch strings.TrimSpace(s) {
	case "none", "":
		return 0, false, nil
	}
	if d, err := configs.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		if d < 0 {
			return 0, false, fmt.Errorf("%q: negative", s)
		}
		return now.Add(-d).UnixNano(), true, nil
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false, fmt.Errorf("%q: want a duration back (7d), an RFC 3339 time, or none", s)
	}
	return tm.UnixNano(), true, nil
}

// compiled is a validated Config.
type compiled struct {
	base     *url.URL
	paths    []piPath
	pointT   *nametmpl.Template
	attrT    *nametmpl.Template
	backfill string
}

func (cfg *Config) compile() (*compiled, error) {
	var p problems
	c := &compiled{}
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		p.add("url", "empty")
	case err != nil:
		p.add("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.add("url", "%q: want an http:// or https:// URL", cfg.URL)
	case u.Host == "":
		p.add("url", "%q has no host", cfg.URL)
	case u.RawQuery != "" || u.Fragment != "":
		p.add("url", "%q: want the base URL, without a query", cfg.URL)
	default:
		u.Path = strings.TrimRight(u.Path, "/")
		c.base = u
	}
	if cfg.Username != "" && cfg.Token != "" {
		p.add("token", "set together with username; use one way to log in")
	}
	if cfg.Username == "" && cfg.Password != "" {
		p.add("username", "empty while password is set")
	}
	if cfg.Username != "" && cfg.Password == "" {
		p.add("password", "empty while username is set")
	}
	if err := configs.CheckSecret(cfg.Password); err != nil && cfg.Password != "" {
		p.add("password", "%v", err)
	}
	if err := configs.CheckSecret(cfg.Token); err != nil && cfg.Token != "" {
		p.add("token", "%v", err)
	}
	if (cfg.TLS != TLS{}) && c.base != nil && c.base.Scheme != "https" {
		p.add("tls", "set, but url is not https://")
	}
	if len(cfg.Points)+len(cfg.Attributes) == 0 {
		p.add("points", "empty, and so is attributes: nothing to read")
	}
	if c.pointT, err = nametmpl.Parse(cfg.PointStream, pointVars); err != nil {
		p.add("point_stream", "%v", err)
	}
	if c.attrT, err = nametmpl.Parse(cfg.AttributeStream, attributeVars); err != nil {
		p.add("attribute_stream", "%v", err)
	}
	seen := map[string]string{}
	for i, s := range cfg.Points {
		key := fmt.Sprintf("points[%d]", i)
		pp, err := parsePointPath(s)
		if err != nil {
			p.add(key, "%v", err)
			continue
		}
		if k, dup := seen[strings.ToLower(pp.raw)]; dup {
			p.add(key, "%q is also %s", s, k)
			continue
		}
		seen[strings.ToLower(pp.raw)] = key
		c.paths = append(c.paths, pp)
	}
	for i, s := range cfg.Attributes {
		key := fmt.Sprintf("attributes[%d]", i)
		pp, err := parseAttributePath(s)
		if err != nil {
			p.add(key, "%v", err)
			continue
		}
		if k, dup := seen[strings.ToLower(pp.raw)]; dup {
			p.add(key, "%q is also %s", s, k)
			continue
		}
		seen[strings.ToLower(pp.raw)] = key
		c.paths = append(c.paths, pp)
	}
	if c.pointT != nil && c.attrT != nil {
		names := map[string]string{}
		for _, pp := range c.paths {
			t := c.pointT
			if pp.attr {
				t = c.attrT
			}
			n := pp.streamName(t, cfg.StreamPrefix)
			if other, dup := names[n]; dup {
				p.add("point_stream", "%s and %s would both be stream %q", other, pp.raw, n)
			}
			names[n] = pp.raw
		}
	}
	if _, _, err := backfillFrom(cfg.BackfillStart, time.Now()); err != nil {
		p.add("backfill_start", "%v", err)
	}
	if cfg.BackfillWindow < configs.Duration(time.Second) {
		p.add("backfill_window", "%v is less than 1s", cfg.BackfillWindow)
	}
	if cfg.MaxCount < 1 {
		p.add("max_count", "must be at least 1")
	}
	if cfg.StreamsPerRequest < 1 {
		p.add("streams_per_request", "must be at least 1")
	} else if cfg.MaxCount < cfg.StreamsPerRequest {
		p.add("max_count", "%d is less than streams_per_request %d", cfg.MaxCount, cfg.StreamsPerRequest)
	}
	if cfg.PollInterval < configs.Duration(10*time.Millisecond) {
		p.add("poll_interval", "%v is less than 10ms", cfg.PollInterval)
	}
	if cfg.RequestTimeout <= 0 {
		p.add("request_timeout", "must be positive")
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
	c.backfill = cfg.BackfillStart
	return c, p.err()
}

// problems collects validation errors, each naming its key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}
