package configs

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SourceConfig is one entry of `sources:`, for example
//
//	sources:
//	  - name: plant-mqtt        # unique, [a-z0-9][a-z0-9_-]*, used as a label
//	    type: mqtt              # the connector (connectors.Registration.Type)
//	    mqtt:                   # the connector's section, one and only one
//	      brokers: [tcp://127.0.0.1:1883]
//
// configs does not know the connectors' schemas: the section is kept raw,
// and the connector decodes it with Decode. That Section is the section of
// the registered type (Registration.Section, e.g. "pi_webapi" for type
// "pi-webapi") is checked with Options.Connectors, and by the agent when
// it builds the source; configs alone checks only the shape.
type SourceConfig struct {
	// Name is the source's unique name.
	Name string
	// Type selects the connector.
	Type string
	// Section is the key of the connector-specific section.
	Section string
	// Node is the section's value as read (a mapping, or null when the
	// section is empty). Use Decode rather than reading it directly.
	Node yaml.Node

	path  string   // "sources[2]", set by Parse; for messages
	line  int      // line of the entry
	extra []string // section keys beyond the first, reported by Validate
	// extraNodes are the values of extra, for a type whose section is
	// not the first key.
	extraNodes []yaml.Node
	issues     []*FieldError
	// collect, when set, takes Decode's problems, and Decode returns nil
	// (see Options.CheckSource).
	collect *[]*FieldError
	// badName and badType: the key was there but not a string (an issue),
	// so Validate does not also call it empty. badShape: the entry is not
	// a plain mapping (an issue), so Validate does not check it further.
	badName, badType, badShape bool
}

// Path is the key path of the source's section, such as "sources[2].mqtt"
// (or "sources[2]" without a section; just the section key for a
// SourceConfig built in code). The agent prefixes a connector's own errors,
// which name keys relative to the section, with it.
func (s SourceConfig) Path() string {
	if s.Section == "" {
		return s.path
	}
	return joinPath(s.path, s.Section)
}

// sourceKeys are the keys of a source entry besides its section.
var sourceKeys = map[string]bool{"name": true, "type": true}

// UnmarshalYAML reads an entry: name and type, and takes the one remaining
// key as the connector section. Problems of shape are kept and reported by
// Validate with the entry's index, which yaml does not tell this method.
func (s *SourceConfig) UnmarshalYAML(n *yaml.Node) error {
	*s = SourceConfig{line: n.Line}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	problem := func(at *yaml.Node, path, format string, args ...any) {
		s.issues = append(s.issues, &FieldError{Line: at.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		problem(n, "", "want a mapping with name, type and one connector section, got a %s", kindName(n))
		s.badShape = true
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			problem(k, "", "unsupported key %q (merge keys and complex keys are not allowed here; use them inside the connector section)", k.Value)
			s.badShape = true
			continue
		}
		key := k.Value
		if seen[key] {
			problem(k, key, "duplicate key")
			continue
		}
		seen[key] = true
		if sourceKeys[key] {
			val := v
			if val.Kind == yaml.AliasNode && val.Alias != nil {
				val = val.Alias
			}
			if val.Kind != yaml.ScalarNode {
				problem(v, key, "want a string, got a %s", kindName(val))
				s.badName = s.badName || key == "name"
				s.badType = s.badType || key == "type"
				continue
			}
			if val.ShortTag() == "!!null" {
				continue // reported as empty by Validate
			}
			if key == "name" {
				s.Name = val.Value
			} else {
				s.Type = val.Value
			}
			continue
		}
		if s.Section != "" {
			s.extra = append(s.extra, key)
			s.extraNodes = append(s.extraNodes, *v)
			continue
		}
		s.Section, s.Node = key, *v
	}
	return nil
}

// sectionShape returns what is wrong with the shape of a connector
// section n under key, or "": it must be a mapping, or empty.
func sectionShape(key string, n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == 0 || n.Kind == yaml.MappingNode || n.ShortTag() == "!!null" {
		return ""
	}
	return fmt.Sprintf("want a mapping of %s settings, got a %s", key, kindName(n))
}

// MarshalYAML writes the entry back as it is read.
func (s SourceConfig) MarshalYAML() (any, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, str("name"), str(s.Name), str("type"), str(s.Type))
	if s.Section != "" {
		v := s.Node
		if v.Kind == 0 {
			v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		} else if v.Kind == yaml.AliasNode || hasAlias(&v) {
			exp, err := expandAliases(&v)
			if err != nil {
				return nil, err
			}
			v = *exp
		}
		m.Content = append(m.Content, str(s.Section), &v)
	}
	return m, nil
}

// Decode fills into, a pointer to a connector's config struct, from the
// connector section, as strictly as the rest of the file: a key that into
// does not have is an error, and so is a duplicate key or a value of the
// wrong type. Keys into does not mention keep the values into already has,
// so a connector sets its defaults first. Errors are *FieldError values
// (joined), each starting with its key path under the section's, e.g.
// "sources[2].mqtt.subscriptions[0].qos: unknown key (line 14)", with the
// line in the file (but not the file's name, so that the text starts with
// Path() and callers can add the name in front). An
// empty section leaves into as it is. Decode may be called any number of
// times; it does no I/O.
//
// A connector type with its own UnmarshalYAML gets a node of a re-encoded
// copy of the section and must reject unknown keys itself, since yaml's
// Node.Decode does not. It should return *yaml.TypeError values
// ("line N: msg" with the node's Line): yaml then collects every problem,
// and Decode maps the line back to the file's and names the key. Other
// errors are reported on the section as a whole. Use Duration for
// durations that may be given in days ("90d"); time.Duration fields take
// Go durations only.
func (s SourceConfig) Decode(into any) error {
	if s.Section == "" {
		return &FieldError{Line: s.line, Path: s.path, Msg: "no connector section"}
	}
	err := decodeNode(&s.Node, s.Path(), into)
	if s.collect != nil && err != nil {
		// For Options.CheckSource: keep the problems, let the connector
		// check what did decode.
		for _, fe := range fieldErrors(err) {
			if !slices.ContainsFunc(*s.collect, func(o *FieldError) bool { return *o == *fe }) {
				*s.collect = append(*s.collect, fe)
			}
		}
		return nil
	}
	return err
}

// decodeNode decodes n into out strictly (unknown and duplicate keys are
// errors), naming keys in errors under path, with n's lines.
func decodeNode(n *yaml.Node, path string, into any) error {
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	exp, err := expandAliases(n)
	if err != nil {
		line := n.Line
		var ae *aliasError
		if errors.As(err, &ae) {
			line = ae.line
		}
		return &FieldError{Line: line, Path: path, Msg: err.Error()}
	}
	stripComments(exp)
	// yaml.v3 rejects unknown keys only in Decoder, which reads text: write
	// the section as text, read it back to map its lines to the file's, and
	// decode that text.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(exp); err != nil {
		return &FieldError{Line: n.Line, Path: path, Msg: err.Error()}
	}
	if err := enc.Close(); err != nil {
		return &FieldError{Line: n.Line, Path: path, Msg: err.Error()}
	}
	var back yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil {
		return &FieldError{Line: n.Line, Path: path, Msg: err.Error()}
	}
	var ix *lineIndex
	if back.Kind == yaml.DocumentNode && len(back.Content) == 1 {
		ix = newLineIndex(back.Content[0], exp, path)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		errs := yamlErrors(err, ix, path)
		hintUnknownKeys(errs, reflect.TypeOf(into), path)
		return joinFieldErrors(errs)
	}
	return nil
}

// maxExpandedNodes bounds what alias expansion may build (a "billion
// laughs" section), besides a ratio to the nodes written.
const maxExpandedNodes = 1 << 20

// expandAliases returns a deep copy of n with every alias replaced by a
// copy of what it points to and no anchors, so that the copy can be written
// out on its own. It fails on an alias that contains itself and on a copy
// more than 100 times the size of what was written.
func expandAliases(n *yaml.Node) (*yaml.Node, error) {
	written := countNodes(n)
	budget := min(maxExpandedNodes, 100*written+10000)
	active := map[*yaml.Node]bool{}
	var copyNode func(*yaml.Node) (*yaml.Node, error)
	copyNode = func(n *yaml.Node) (*yaml.Node, error) {
		if budget--; budget < 0 {
			return nil, errors.New("excessive aliasing")
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return nil, &aliasError{n.Line, fmt.Sprintf("unknown anchor %q", n.Value)}
			}
			if active[n.Alias] {
				return nil, &aliasError{n.Line, fmt.Sprintf("anchor %q contains itself", n.Value)}
			}
			active[n.Alias] = true
			c, err := copyNode(n.Alias)
			delete(active, n.Alias)
			if err != nil {
				return nil, err
			}
			c.Line, c.Column = n.Line, n.Column // report the alias' line
			return c, nil
		}
		c := *n
		c.Anchor, c.Alias = "", nil
		if len(n.Content) > 0 {
			active[n] = true
			c.Content = make([]*yaml.Node, len(n.Content))
			for i, ch := range n.Content {
				cc, err := copyNode(ch)
				if err != nil {
					return nil, err
				}
				c.Content[i] = cc
			}
			delete(active, n)
		}
		return &c, nil
	}
	return copyNode(n)
}

// aliasError is a problem with an alias, at its line.
type aliasError struct {
	line int
	msg  string
}

func (e *aliasError) Error() string { return e.msg }

// countNodes counts the nodes of a tree without following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch)
	}
	return c
}

// hasAlias reports whether the tree n contains an alias.
func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// stripComments removes the comments of a tree (a fresh copy), so that the
// re-encoded text holds only data.
func stripComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripComments(c)
	}
}

// sourceNameOK reports whether a source name or type is of the form
// [a-z0-9][a-z0-9_-]*.
func sourceNameOK(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// sectionHint is the section key a type most likely wants.
func sectionHint(typ string) string {
	if typ == "" {
		return ""
	}
	return strconv.Quote(strings.ReplaceAll(typ, "-", "_") + ":")
}
