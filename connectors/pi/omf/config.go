package omf

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/connectors/pi/internal/nametmpl"

	"github.com/sluice-edge/sluice/configs"
)

// Sample is the documented `omf:` section, as registered with the
// connector registry. It decodes into a valid Config.
//
//go:embed sample.yaml
var Sample string

// Config is the `omf:` section of a source with type omf.
// DefaultConfig gives the values of omitted keys; sample.yaml documents
// every key.
type Config struct {
	// Paths are the URL paths served on the agent's API listener.
	Paths []string `yaml:"paths"`
	// Auth lists who may send.
	Auth Auth `yaml:"auth"`
	// Stream is the stream name template of a container's property.
	Stream string `yaml:"stream"`
	// StreamPrefix is prepended to every stream name.
	StreamPrefix string `yaml:"stream_prefix"`
	// MaxBodyBytes bounds a request body after decompression (413 above).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxInflight bounds the requests processed at once; a request waits
	// up to BusyWait for a slot, then gets 503 with Retry-After.
	MaxInflight int              `yaml:"max_inflight"`
	BusyWait    configs.Duration `yaml:"busy_wait"`
	// WriteTimeout bounds the durable write of a request's points (503
	// after it).
	WriteTimeout configs.Duration `yaml:"write_timeout"`
	// RetryAfter is sent with every 503.
	RetryAfter configs.Duration `yaml:"retry_after"`
	// NumericIndex is the unit of numeric index values: s, ms, us, ns.
	NumericIndex string `yaml:"numeric_index"`
}

// Auth holds the endpoint's credentials.
type Auth struct {
	Basic  []BasicCredential  `yaml:"basic"`
	Bearer []BearerCredential `yaml:"bearer"`
	// Users accepts the API tokens of the agent's own users who may write
	// data, as Bearer tokens, beside the credentials above: tenant admins,
	// and ingest users for the streams within their prefixes only (they
	// create types and containers and send values; they delete nothing).
	Users     bool `yaml:"users"`
	Anonymous bool `yaml:"anonymous"`
}

// BasicCredential is a user name and a password (a secret reference).
type BasicCredential struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Allow    string `yaml:"allow"` // all (default) or data
}

// BearerCredential is a bearer token (a secret reference).
type BearerCredential struct {
	Token string `yaml:"token"`
	Allow string `yaml:"allow"` // all (default) or data
}

// DefaultConfig returns the values used for omitted keys.
func DefaultConfig() Config {
	return Config{
		Paths:        []string{"/omf"},
		Stream:       "{containerid}.{property}",
		MaxBodyBytes: 192 << 10,
		MaxInflight:  4,
		BusyWait:     configs.Duration(time.Second),
		WriteTimeout: configs.Duration(10 * time.Second),
		RetryAfter:   configs.Duration(5 * time.Second),
		NumericIndex: "s",
	}
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

// reservedPaths are the agent's own routes, which an OMF path may not
// shadow.
var reservedPaths = []string{"/api", "/metrics", "/healthz", "/readyz"}

var numericUnits = map[string]int64{"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}

// omfTemplateVars are the variables of Config.Stream.
var omfTemplateVars = []string{"containerid", "property", "propertyname", "typeid", "name", "datasource"}

// validate checks cfg; every problem names its key.
func (cfg *Config) validate() error {
	var p problems
	if len(cfg.Paths) == 0 {
		p.add("paths", "empty")
	}
	seen := map[string]bool{}
	for i, path := range cfg.Paths {
		key := fmt.Sprintf("paths[%d]", i)
		switch {
		case !strings.HasPrefix(path, "/") || len(path) < 2:
			p.add(key, "%q is not a path such as /omf", path)
		case strings.ContainsAny(path, " {}\t?#%") || strings.Contains(path, "//") || strings.HasSuffix(path, "/"):
			p.add(key, "%q: want a plain path such as /omf or /piwebapi/omf (no spaces, braces, '?', '#', '%%', '//' or trailing '/')", path)
		case seen[path]:
			p.add(key, "%q is listed twice", path)
		default:
			for _, r := range reservedPaths {
				if path == r || strings.HasPrefix(path, r+"/") {
					p.add(key, "%q is under the agent's own %s", path, r)
				}
			}
		}
		seen[path] = true
	}
	if !cfg.Auth.Anonymous && !cfg.Auth.Users && len(cfg.Auth.Basic) == 0 && len(cfg.Auth.Bearer) == 0 {
		p.add("auth", "no credentials: add auth.basic or auth.bearer entries, set auth.users: true, or set auth.anonymous: true")
	}
	users := map[string]bool{}
	for i, c := range cfg.Auth.Basic {
		key := fmt.Sprintf("auth.basic[%d]", i)
		switch {
		case c.Username == "":
			p.add(key+".username", "empty")
		case strings.Contains(c.Username, ":"):
			p.add(key+".username", "contains ':', which basic authentication cannot carry")
		case users[c.Username]:
			p.add(key+".username", "%q is listed twice", c.Username)
		}
		users[c.Username] = true
		if c.Password == "" {
			p.add(key+".password", "empty")
		} else if err := configs.CheckSecret(c.Password); err != nil {
			p.add(key+".password", "%v", err)
		}
		checkAllow(&p, key+".allow", c.Allow)
	}
	for i, c := range cfg.Auth.Bearer {
		key := fmt.Sprintf("auth.bearer[%d]", i)
		if c.Token == "" {
			p.add(key+".token", "empty")
		} else if err := configs.CheckSecret(c.Token); err != nil {
			p.add(key+".token", "%v", err)
		}
		checkAllow(&p, key+".allow", c.Allow)
	}
	if _, err := parseOMFTemplate(cfg.Stream); err != nil {
		p.add("stream", "%v", err)
	}
	if cfg.MaxBodyBytes < 1024 {
		p.add("max_body_bytes", "%d is less than 1024", cfg.MaxBodyBytes)
	}
	if cfg.MaxInflight < 1 {
		p.add("max_inflight", "must be at least 1")
	}
	if cfg.BusyWait < 0 {
		p.add("busy_wait", "negative")
	}
	if cfg.WriteTimeout <= 0 {
		p.add("write_timeout", "must be positive")
	}
	if cfg.RetryAfter < configs.Duration(time.Second) {
		p.add("retry_after", "%v is less than 1s (Retry-After counts whole seconds)", cfg.RetryAfter)
	}
	if _, ok := numericUnits[cfg.NumericIndex]; !ok {
		p.add("numeric_index", "unknown unit %q (want s, ms, us or ns)", cfg.NumericIndex)
	}
	return p.err()
}

func checkAllow(p *problems, key, v string) {
	if v != "" && v != "all" && v != "data" {
		p.add(key, "unknown %q (want all or data)", v)
	}
}

func parseOMFTemplate(src string) (*nametmpl.Template, error) {
	return nametmpl.Parse(src, omfTemplateVars)
}
