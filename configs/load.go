package configs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and parses it as Parse does; the
// problems it reports name the file. An empty path means no file: the
// defaults with the environment overrides. A missing file is an error
// (errors.Is(err, fs.ErrNotExist)); the caller decides whether a missing
// DefaultPath means "run with the defaults".
func Load(path string) (Config, error) {
	return LoadWith(path, Options{})
}

// LoadWith is Load with the checks and overrides of opts, in the same
// single pass: the error joins every problem of the file, the connectors'
// included.
func LoadWith(path string, opts Options) (Config, error) {
	if path == "" {
		return ParseWith(nil, opts)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseWith(data, opts)
	if err != nil {
		for _, fe := range fieldErrors(err) {
			fe.File = path
		}
		return Config{}, err
	}
	return cfg, nil
}

// Parse reads a config from YAML text: Default(), then the text (unknown
// or duplicate keys anywhere, type mismatches and more than one document
// are errors), then the environment overrides, then Validate. Empty text
// (or only comments) gives the defaults. The error joins every problem
// found, as *FieldError values.
func Parse(data []byte) (Config, error) {
	return ParseWith(data, Options{})
}

// ParseWith is Parse with the checks and overrides of opts.
func ParseWith(data []byte, opts Options) (Config, error) {
	return parseWith(data, os.LookupEnv, opts)
}

// Options are what Load and Parse cannot know by themselves: the flags of
// `sluice agent` and the connectors' checks of their own sections. The
// zero Options checks what configs knows and nothing more.
type Options struct {
	// Overrides set keys after the file and the environment, in order
	// (the flags of `sluice agent`). A bad value is reported like a bad
	// key, naming Override.From.
	Overrides []Override
	// Connectors maps each source type that may appear in `type:` to the
	// key of its section (connectors.Registration's Type to its Section).
	// When set, an unknown type and a section under another key are
	// errors, with the line and the nearest known name as a hint.
	Connectors map[string]string
	// CheckSource checks the connector section of a source entry whose
	// type is in Connectors and whose section is under that type's key,
	// as the agent does when it builds the source; nil checks nothing.
	// Its error may join several problems, each a *FieldError or an
	// error whose text starts with a key path relative to the section
	// ("subscriptions[0].topic: empty", as connectors.Registration.New
	// documents) or with Path(). Each is reported at the line of that key,
	// or of the nearest enclosing key the file has. The SourceConfig's
	// Decode returns nil here even when the section has problems: configs
	// keeps them, and the connector goes on to check what did decode
	// (keys that failed keep their defaults, and what the connector says
	// about them is left out), so that one pass finds both. It must do no
	// I/O.
	CheckSource func(SourceConfig) error
}

// Override sets one key from outside the file.
type Override struct {
	// Path is the key: data_dir, api.listen, federation.listen,
	// federation.gossip, log.level or log.format.
	Path string
	// Value is the key's new value; empty overrides nothing, as for the
	// environment variables.
	Value string
	// From names where the value came from in messages, e.g.
	// "--api-listen".
	From string
}

// parse is Parse with the environment given.
func parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	return parseWith(data, lookupEnv, Options{})
}

func parseWith(data []byte, lookupEnv func(string) (string, bool), opts Options) (Config, error) {
	cfg := Default()
	errs, err := decodeFile(data, &cfg)
	if err != nil {
		return Config{}, err
	}
	// Validate even after decode errors, to report every problem at once.
	// A key that failed to decode kept its default, which is valid.
	cfg.applyEnv(lookupEnv)
	errs = append(errs, cfg.applyOverrides(opts.Overrides)...)
	errs = append(errs, fieldErrors(cfg.validate(opts))...)
	if len(errs) > 0 {
		for _, fe := range errs {
			hintFromWant(fe)
		}
		// In the order of the file; problems without a line last.
		slices.SortStableFunc(errs, func(a, b *FieldError) int {
			return cmp.Compare(sortLine(a.Line), sortLine(b.Line))
		})
		return Config{}, joinFieldErrors(errs)
	}
	return cfg, nil
}

func sortLine(l int) int {
	if l <= 0 {
		return math.MaxInt
	}
	return l
}

// decodeFile decodes the one YAML document of data into cfg strictly and
// records the lines of its keys. It returns the problems of the values
// found, or an error if the text cannot be read at all (bad syntax, more
// than one document).
func decodeFile(data []byte, cfg *Config) ([]*FieldError, error) {
	// Parse the text into a tree first: it finds syntax errors and extra
	// documents, and its lines name the keys of yaml's decode errors.
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		return nil, nil // empty, or only comments
	case err != nil:
		return nil, syntaxError(err, data)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = 0
		}
		return nil, &FieldError{Line: line, Msg: "more than one YAML document (---); want one"}
	}
	ix := newLineIndex(&root, &root, "")
	// The line of every key path: the key's own line, or for list entries
	// (which have no key) the first line of the entry.
	cfg.lines = map[string]int{}
	for _, keys := range []bool{true, false} {
		for _, refs := range ix.refs {
			for _, r := range refs {
				if r.isKey != keys || r.path == "" {
					continue
				}
				if old, ok := cfg.lines[r.path]; !ok || r.line < old && keys {
					cfg.lines[r.path] = r.line
				}
			}
		}
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var errs []*FieldError
	if err := strict.Decode(cfg); err != nil {
		errs = yamlErrors(err, ix, "")
		hintUnknownKeys(errs, reflect.TypeOf(Config{}), "")
	}
	// The source entries' own problems: only here is their index known.
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		s.path = "sources[" + strconv.Itoa(i) + "]"
		for _, fe := range s.issues {
			if fe.Path == "" {
				fe.Path = s.path
			} else {
				fe.Path = s.path + "." + fe.Path
			}
			errs = append(errs, fe)
		}
		s.issues = nil
	}
	return errs, nil
}

// applyEnv applies the environment overrides.
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) {
	for _, o := range []struct{ name, path string }{
		{EnvDataDir, "data_dir"},
		{EnvAPIListen, "api.listen"},
		{EnvLogLevel, "log.level"},
		{EnvFederationListen, "federation.listen"},
		{EnvGossipListen, "federation.gossip"},
	} {
		if v, ok := lookupEnv(o.name); ok && v != "" {
			*c.overridable(o.path) = v
			c.setBy(o.path, o.name)
		}
	}
}

// applyOverrides applies overrides; a key that cannot be overridden is a
// problem (of the caller's).
func (c *Config) applyOverrides(overrides []Override) []*FieldError {
	var errs []*FieldError
	for _, o := range overrides {
		field := c.overridable(o.Path)
		switch {
		case field == nil:
			errs = append(errs, &FieldError{Path: o.Path, Msg: "cannot be overridden (from " + o.From + ")"})
		case o.Value != "":
			*field = o.Value
			c.setBy(o.Path, o.From)
		}
	}
	return errs
}

// overridable returns the field of a key that the environment or a flag
// may set, or nil.
func (c *Config) overridable(path string) *string {
	switch path {
	case "data_dir":
		return &c.DataDir
	case "api.listen":
		return &c.API.Listen
	case "log.level":
		return &c.Log.Level
	case "log.format":
		return &c.Log.Format
	case "federation.listen":
		return &c.Federation.Listen
	case "federation.gossip":
		return &c.Federation.Gossip
	}
	return nil
}

func (c *Config) setBy(path, from string) {
	if c.env == nil {
		c.env = map[string]string{}
	}
	c.env[path] = from
}

// SetBy returns the environment variable or flag (Override.From) that set
// the key at path, or "" when the file or the defaults did.
func (c Config) SetBy(path string) string {
	return c.env[path]
}

// lineOf returns the line of the key at path, or of the nearest enclosing
// key that the file has; 0 for none.
func (c *Config) lineOf(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		// Drop the last key or index: a.b[0] -> a.b -> a -> "".
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			i = 0
		}
		path = path[:i]
	}
	return 0
}
