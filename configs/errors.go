package configs

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with one key of the config. Load, Parse,
// Validate and SourceConfig.Decode return their problems as *FieldError
// values joined with errors.Join; use errors.As for the first one or the
// Unwrap() []error of the joined error for all of them.
type FieldError struct {
	File string // the file, when loaded by Load; else empty
	Line int    // 1-based line in the file; 0 when unknown
	Path string // key path such as "sources[1].mqtt.qos"; empty for the whole file
	Msg  string // what is wrong, e.g. `unknown key`, `"x" is not host:port`
	Hint string // what to do about it, e.g. "did you mean listen?"; often empty
}

// Error formats the problem as "file: path: msg; hint (line N)", leaving
// out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// fieldErrors returns the *FieldError values in err (joined or single).
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// joinFieldErrors joins problems into one error, nil for none.
func joinFieldErrors(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// lineError returns a yaml TypeError for node n. UnmarshalYAML methods
// return it so that yaml keeps decoding and collects every problem; the
// "line N:" prefix is turned into a FieldError with a key path later.
func lineError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

// nodeRef is one node of a tree, as found on a line by a lineIndex.
type nodeRef struct {
	path  string // key path of the node (for a key: of its value)
	key   string // the key's text if the node is a mapping key
	isKey bool
	value string // a scalar's value
	kind  yaml.Kind
	line  int // line in the original file; 0 if unknown
}

// lineIndex finds the key paths of the nodes on a line of the YAML text
// that yaml decoded, to name the key of yaml's "line N: ..." errors.
type lineIndex struct {
	refs map[int][]nodeRef // by line, in document order, outermost first
	self bool              // the decoded text is the original file
}

// newLineIndex indexes tree n, whose key path is path. orig is the tree
// whose lines are to be reported: n itself for a file, or the source tree
// of a re-encoded section (of the same shape). Aliases are not followed.
func newLineIndex(n, orig *yaml.Node, path string) *lineIndex {
	ix := &lineIndex{refs: map[int][]nodeRef{}, self: n == orig}
	ix.add(n, orig, path)
	return ix
}

func (ix *lineIndex) add(n, orig *yaml.Node, path string) {
	if orig != nil && (orig.Kind != n.Kind || len(orig.Content) != len(n.Content)) {
		orig = nil // shapes differ: keep the paths, lose the lines
	}
	line := func(o *yaml.Node) int {
		if o == nil {
			return 0
		}
		return o.Line
	}
	child := func(i int) *yaml.Node {
		if orig == nil {
			return nil
		}
		return orig.Content[i]
	}
	ix.refs[n.Line] = append(ix.refs[n.Line], nodeRef{path: path, value: n.Value, kind: n.Kind, line: line(orig)})
	switch n.Kind {
	case yaml.DocumentNode:
		for i, c := range n.Content {
			ix.add(c, child(i), path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ix.add(c, child(i), path+"["+strconv.Itoa(i)+"]")
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := joinPath(path, k.Value)
			ix.refs[k.Line] = append(ix.refs[k.Line], nodeRef{path: p, key: k.Value, isKey: true, kind: k.Kind, line: line(child(i))})
			ix.add(n.Content[i+1], child(i+1), p)
		}
	}
}

// find returns the node on line that a message is about: the key named
// key if given, else a scalar whose value is value (yaml quotes at most
// 7 bytes of it, then "..."), else the outermost node of kind (if not 0),
// else the outermost node on the line.
func (ix *lineIndex) find(line int, key, value string, kind yaml.Kind) (nodeRef, bool) {
	if ix == nil || len(ix.refs[line]) == 0 {
		return nodeRef{}, false
	}
	refs := ix.refs[line]
	if key != "" {
		for _, r := range refs {
			if r.isKey && r.key == key {
				return r, true
			}
		}
	}
	if value != "" {
		prefix, truncated := strings.CutSuffix(value, "...")
		for _, r := range refs {
			if !r.isKey && (r.value == value || truncated && strings.HasPrefix(r.value, prefix)) {
				return r, true
			}
		}
	}
	if kind != 0 {
		for _, r := range refs {
			if !r.isKey && r.kind == kind {
				return r, true
			}
		}
	}
	return refs[0], true
}

var (
	// yaml's "line N: msg" inside a TypeError and "yaml: line N: msg"
	// for syntax errors.
	lineMsgRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// The messages whose subject can be found more precisely than "the
	// first node on the line".
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type `)
	dupFieldRE     = regexp.MustCompile(`^field (\S+) already set in type `)
	dupKeyRE       = regexp.MustCompile(`^mapping key "((?:[^"\\]|\\.)*)" already defined at line (\d+)$`)
	unmarshalRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	quotedValueRE  = regexp.MustCompile(`^[^"]*"((?:[^"\\]|\\.)*)"`)
)

// yamlErrors turns an error of a yaml decode into FieldErrors with key
// paths found through ix (which may be nil) under prefix. Other errors
// (from a connector's own UnmarshalYAML, say) become one FieldError on
// prefix.
func yamlErrors(err error, ix *lineIndex, prefix string) []*FieldError {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]*FieldError, 0, len(te.Errors))
		for _, msg := range te.Errors {
			out = append(out, yamlMessage(msg, ix, prefix))
		}
		return out
	}
	if fe := fieldErrors(err); len(fe) > 0 {
		return fe
	}
	return []*FieldError{yamlMessage(err.Error(), ix, prefix)}
}

// yamlMessage turns one of yaml's messages into a FieldError.
func yamlMessage(msg string, ix *lineIndex, prefix string) *FieldError {
	fe := &FieldError{Path: prefix, Msg: strings.TrimPrefix(msg, "yaml: ")}
	m := lineMsgRE.FindStringSubmatch(msg)
	if m == nil {
		return fe
	}
	line, _ := strconv.Atoi(m[1])
	fe.Msg = m[2]
	key, value, kind := "", "", yaml.Kind(0)
	var unmarshal []string // tag, value (cut short by yaml), Go type
	if sm := unknownFieldRE.FindStringSubmatch(fe.Msg); sm != nil {
		key, fe.Msg = sm[1], "unknown key"
	} else if sm := dupFieldRE.FindStringSubmatch(fe.Msg); sm != nil {
		key, fe.Msg = sm[1], "duplicate key"
	} else if sm := dupKeyRE.FindStringSubmatch(fe.Msg); sm != nil {
		key, fe.Msg = sm[1], "duplicate key"
	} else if sm := unmarshalRE.FindStringSubmatch(fe.Msg); sm != nil {
		unmarshal = sm[1:]
		value = sm[2]
		switch sm[1] {
		case "seq":
			kind = yaml.SequenceNode
		case "map":
			kind = yaml.MappingNode
		}
	} else if sm := quotedValueRE.FindStringSubmatch(fe.Msg); sm != nil {
		value, _ = strconv.Unquote(`"` + sm[1] + `"`)
	}
	ref, found := ix.find(line, key, value, kind)
	if unmarshal != nil {
		// yaml quotes 7 bytes of a longer value, then "...": quote it whole.
		if found && !ref.isKey && ref.kind == yaml.ScalarNode && value != "" {
			if p, cut := strings.CutSuffix(value, "..."); ref.value == value || cut && strings.HasPrefix(ref.value, p) {
				value = ref.value
			}
		}
		fe.Msg = describeUnmarshal(unmarshal[0], value, unmarshal[2])
	}
	if found {
		if ref.path != "" {
			fe.Path = ref.path
		}
		fe.Line = ref.line
	} else if ix == nil || ix.self {
		fe.Line = line
	}
	return fe
}

// describeUnmarshal words yaml's "cannot unmarshal !!tag `value` into
// type" for people.
func describeUnmarshal(tag, value, goType string) string {
	if goType == "time.Duration" && value != "" && tag != "seq" && tag != "map" {
		return goDurationProblem(value)
	}
	msg := "want " + describeType(goType) + ", got " + describeTag(tag)
	if value != "" {
		msg += " " + strconv.Quote(value)
	}
	return msg
}

// parserProblems are the messages of yaml's parser (as opposed to its
// scanner). yaml.v3 reports their line 0-based, and none at all for the
// first line.
var parserProblems = map[string]string{
	"did not find expected <stream-start>":   "",
	"did not find expected <document start>": "",
	"found undefined tag handle":             "",
	"did not find expected node content":     "",
	"did not find expected '-' indicator":    "check the indentation of the list's entries",
	"did not find expected key":              "check the indentation and brackets of this line and the one before",
	"did not find expected ',' or ']'":       "a [ list is not closed with ], or lacks a comma",
	"did not find expected ',' or '}'":       "a { mapping is not closed with }, or lacks a comma",
	"found duplicate %YAML directive":        "",
	"found incompatible YAML document":       "",
	"found duplicate %TAG directive":         "",
}

var (
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	readerProblems  = map[string]bool{
		"control characters are not allowed": true,
		"invalid leading UTF-8 octet":        true,
		"invalid trailing UTF-8 octet":       true,
		"incomplete UTF-8 octet sequence":    true,
	}
)

// syntaxError turns an error of parsing data as YAML into a FieldError on
// the line of the problem (1-based, as editors count).
func syntaxError(err error, data []byte) *FieldError {
	fe := &FieldError{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := lineMsgRE.FindStringSubmatch(err.Error()); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = m[2]
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	lineText := func(n int) string {
		if n < 1 || n > len(lines) {
			return ""
		}
		return lines[n-1]
	}
	if hint, ok := parserProblems[fe.Msg]; ok {
		// The line of the construct the parser was in, or where it
		// noticed the problem, which may be the end of the file.
		fe.Line = min(fe.Line+1, len(lines))
		fe.Hint = hint
		return fe
	}
	switch {
	case unknownAnchorRE.MatchString(fe.Msg):
		name := unknownAnchorRE.FindStringSubmatch(fe.Msg)[1]
		alias := regexp.MustCompile(`\*` + regexp.QuoteMeta(name) + `(?:$|[\s,\]}])`)
		for i := range lines {
			if alias.MatchString(lines[i]) {
				fe.Line = i + 1
				break
			}
		}
		fe.Hint = "define it with &" + name + " before it is used"
		return fe
	case readerProblems[fe.Msg]:
		fe.Line = badTextLine(data)
		return fe
	}
	// A scanner error: its line is right, except that none means line 1.
	if fe.Line == 0 {
		fe.Line = 1
	}
	text := lineText(fe.Line)
	switch {
	case strings.HasPrefix(strings.TrimLeft(text, " "), "\t") || strings.Contains(fe.Msg, "tab character"):
		fe.Hint = "indent with spaces; YAML does not allow tabs there"
	case fe.Msg == "mapping values are not allowed in this context":
		fe.Hint = `quote a value that contains ": ", or check the indentation`
	case fe.Msg == "found unexpected end of stream":
		fe.Hint = "a quoted string that starts on this line is not closed"
	}
	return fe
}

// badTextLine returns the line of the first byte that YAML does not
// accept as text (a control character or invalid UTF-8), or 0.
func badTextLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return line
		}
		i += size
	}
	return 0
}

// describeType names the Go type of yaml's "cannot unmarshal" for people.
func describeType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "struct {"):
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "time.Duration":
		return "a duration"
	case strings.Contains(t, "."):
		return "a mapping" // a named struct, as a rule
	}
	return "a " + t
}

// describeTag names a YAML tag of yaml's "cannot unmarshal" for people.
func describeTag(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "int":
		return "an integer"
	case "float":
		return "a number"
	case "bool":
		return "a boolean"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "null":
		return "null"
	}
	return "a !!" + tag
}

// joinPath appends a key to a key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
