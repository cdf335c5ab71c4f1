package mqtt

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser for payloads. encoding/json into `any` costs about
// twenty allocations for a two-member object, which is most of the cost of
// ingesting a message; this one parses into an arena of nodes reused across
// messages and keeps strings as slices of the payload unless they have
// escapes. It accepts exactly what encoding/json accepts (RFC 8259), with
// the same treatment of bad UTF-8 in strings (replaced by U+FFFD); the
// differential fuzz test FuzzJSONParser holds it to that.

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNum
	jStr
	jObj
	jArr
)

func (k jkind) String() string {
	return [...]string{"null", "bool", "bool", "number", "string", "object", "array"}[k]
}

// jnode is a parsed value. Containers hold their members (objects) or
// elements (arrays) in parser.nodes[first : first+n].
type jnode struct {
	kind     jkind
	key      string // member name, inside an object
	text     string // number literal or decoded string
	first, n int32
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type jparser struct {
	src   string
	pos   int
	depth int
	nodes []jnode // finished children, contiguous per container
	stack []jnode // children of the containers being parsed
}

var parsers = sync.Pool{New: func() any { return new(jparser) }}

// parse parses src, which must be one JSON value and nothing else but
// white space. The nodes are valid until the parser is reused.
func (p *jparser) parse(src string) (jnode, error) {
	p.src, p.pos, p.depth = src, 0, 0
	p.nodes, p.stack = p.nodes[:0], p.stack[:0]
	v, err := p.value()
	if err != nil {
		return jnode{}, err
	}
	p.ws()
	if p.pos != len(p.src) {
		return jnode{}, p.errorf("data after the JSON value")
	}
	return v, nil
}

func (p *jparser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jparser) ws() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) value() (jnode, error) {
	p.ws()
	if p.pos >= len(p.src) {
		return jnode{}, p.errorf("unexpected end")
	}
	switch c := p.src[p.pos]; {
	case c == '{' || c == '[':
		return p.container(c)
	case c == '"':
		s, err := p.str()
		return jnode{kind: jStr, text: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case strings.HasPrefix(p.src[p.pos:], "true"):
		p.pos += 4
		return jnode{kind: jTrue}, nil
	case strings.HasPrefix(p.src[p.pos:], "false"):
		p.pos += 5
		return jnode{kind: jFalse}, nil
	case strings.HasPrefix(p.src[p.pos:], "null"):
		p.pos += 4
		return jnode{kind: jNull}, nil
	}
	return jnode{}, p.errorf("unexpected character %q", p.src[p.pos])
}

func (p *jparser) container(open byte) (jnode, error) {
	p.depth++
	if p.depth > maxDepth {
		return jnode{}, p.errorf("nested too deeply")
	}
	p.pos++ // the bracket
	closeCh, kind := byte(']'), jArr
	if open == '{' {
		closeCh, kind = '}', jObj
	}
	mark := len(p.stack)
	p.ws()
	if p.pos < len(p.src) && p.src[p.pos] == closeCh {
		p.pos++
	} else {
		for {
			var key string
			if kind == jObj {
				p.ws()
				if p.pos >= len(p.src) || p.src[p.pos] != '"' {
					return jnode{}, p.errorf("want a member name")
				}
				var err error
				if key, err = p.str(); err != nil {
					return jnode{}, err
				}
				p.ws()
				if p.pos >= len(p.src) || p.src[p.pos] != ':' {
					return jnode{}, p.errorf("want ':'")
				}
				p.pos++
			}
			v, err := p.value()
			if err != nil {
				return jnode{}, err
			}
			v.key = key
			p.stack = append(p.stack, v)
			p.ws()
			if p.pos >= len(p.src) {
				return jnode{}, p.errorf("unexpected end")
			}
			if c := p.src[p.pos]; c == ',' {
				p.pos++
				continue
			} else if c == closeCh {
				p.pos++
				break
			}
			return jnode{}, p.errorf("want ',' or %q", closeCh)
		}
	}
	p.depth--
	first := len(p.nodes)
	p.nodes = append(p.nodes, p.stack[mark:]...)
	p.stack = p.stack[:mark]
	return jnode{kind: kind, first: int32(first), n: int32(len(p.nodes) - first)}, nil
}

// number checks the JSON number grammar and returns its literal.
func (p *jparser) number() (jnode, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.src[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.src) && p.src[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return jnode{}, p.errorf("bad number")
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return jnode{}, p.errorf("bad number")
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return jnode{}, p.errorf("bad number")
		}
	}
	return jnode{kind: jNum, text: p.src[start:p.pos]}, nil
}

// str parses a string at p.pos (the opening quote).
func (p *jparser) str() (string, error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			s := p.src[start:p.pos]
			p.pos++
			if !utf8.ValidString(s) {
				s = fixUTF8(s)
			}
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", p.errorf("control character in string")
		}
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// escaped finishes a string that has escapes, from start.
func (p *jparser) escaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.src[start:p.pos])
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			s := b.String()
			if !utf8.ValidString(s) {
				s = fixUTF8(s)
			}
			return s, nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.src) {
			break
		}
		e := p.src[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A valid pair makes one rune; anything else is U+FFFD,
				// and a following escape is read on its own.
				save := p.pos
				if strings.HasPrefix(p.src[p.pos:], `\u`) {
					p.pos += 2
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b.WriteRune(dec)
							continue
						}
					}
				}
				p.pos = save
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			return "", p.errorf("bad escape \\%c", e)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *jparser) hex4() (rune, bool) {
	if p.pos+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.src[p.pos : p.pos+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// fixUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func fixUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// children returns a container's members or elements.
func (p *jparser) children(n jnode) []jnode {
	if n.kind != jObj && n.kind != jArr {
		return nil
	}
	return p.nodes[n.first : n.first+n.n]
}

// member returns an object's member; with duplicate names the last wins,
// as in encoding/json.
func (p *jparser) member(n jnode, key string) (jnode, bool) {
	kids := p.children(n)
	for i := len(kids) - 1; i >= 0; i-- {
		if kids[i].key == key {
			return kids[i], true
		}
	}
	return jnode{}, false
}

// get walks a path from n: keys select object members, numbers array
// elements.
func (p *jparser) get(n jnode, path jsonPath) (jnode, bool) {
	for _, k := range path {
		switch n.kind {
		case jObj:
			var ok bool
			if n, ok = p.member(n, k); !ok {
				return jnode{}, false
			}
		case jArr:
			i, ok := index(k)
			if !ok || i >= int(n.n) {
				return jnode{}, false
			}
			n = p.nodes[int(n.first)+i]
		default:
			return jnode{}, false
		}
	}
	return n, true
}

// index parses a non-negative array index.
func index(k string) (int, bool) {
	if k == "" || len(k) > 9 {
		return 0, false
	}
	i := 0
	for _, c := range []byte(k) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}
