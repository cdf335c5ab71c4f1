package configs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and parses it as Parse does; the
// problems it reports name the file. An empty path means no file: the
// defaults with the environment overrides. A missing file is an error
// (errors.Is(err, fs.ErrNotExist)); the caller decides whether a missing
// DefaultPath means "run with the defaults".
func Load(path string) (Config, error) {
	if path == "" {
		return Parse(nil)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
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
	return parse(data, os.LookupEnv)
}

// parse is Parse with the environment given.
func parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	errs, err := decodeFile(data, &cfg)
	if err != nil {
		return Config{}, err
	}
	// Validate even after decode errors, to report every problem at once.
	// A key that failed to decode kept its default, which is valid.
	cfg.applyEnv(lookupEnv)
	errs = append(errs, fieldErrors(cfg.Validate())...)
	if len(errs) > 0 {
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
		return nil, joinFieldErrors(yamlErrors(err, nil, ""))
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
	cfg.lines = map[string]int{}
	for _, refs := range ix.refs {
		for _, r := range refs {
			if old, ok := cfg.lines[r.path]; r.isKey && (!ok || r.line < old) {
				cfg.lines[r.path] = r.line
			}
		}
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var errs []*FieldError
	if err := strict.Decode(cfg); err != nil {
		errs = yamlErrors(err, ix, "")
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
	for _, o := range []struct {
		name, path string
		field      *string
	}{
		{EnvDataDir, "data_dir", &c.DataDir},
		{EnvAPIListen, "api.listen", &c.API.Listen},
		{EnvLogLevel, "log.level", &c.Log.Level},
		{EnvFederationListen, "federation.listen", &c.Federation.Listen},
		{EnvGossipListen, "federation.gossip", &c.Federation.Gossip},
	} {
		if v, ok := lookupEnv(o.name); ok && v != "" {
			*o.field = v
			if c.env == nil {
				c.env = map[string]string{}
			}
			c.env[o.path] = o.name
		}
	}
}
