package omf

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser for OMF bodies. encoding/json into maps costs more
// than the store's write of the same points; this one builds a flat tree
// in reusable slices, keeps strings without escapes as substrings of the
// body, and leaves numbers as text until they are needed. It accepts
// exactly RFC 8259 JSON (one value, optional surrounding whitespace).

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// jval is one value. For arrays and objects, first and n locate the
// members in jdoc.kids; start and end are the value's bytes in the body.
type jval struct {
	kind       jkind
	b          bool
	s          string // decoded string, or the number's text
	first, n   int32
	start, end int32
}

// jmember is an object member (key set) or an array element (key empty).
type jmember struct {
	key string
	v   int32
}

// jdoc is a parsed body. Its slices are reused by reset.
type jdoc struct {
	src   string
	vals  []jval
	kids  []jmember
	stack []jmember
	depth int
}

const maxJSONDepth = 64

// jsonError is a syntax error at a byte offset.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg) }

// parse parses src; the root is value 0.
func (d *jdoc) parse(src string) error {
	d.src = src
	d.vals = d.vals[:0]
	d.kids = d.kids[:0]
	d.stack = d.stack[:0]
	d.depth = 0
	if len(src) > 1<<30 {
		return &jsonError{0, "body too large"}
	}
	i, err := d.value(skipWS(src, 0))
	if err != nil {
		return err
	}
	if i = skipWS(src, i); i != len(src) {
		return &jsonError{i, "data after the top-level value"}
	}
	return nil
}

func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value parses the value at i and returns the offset after it.
func (d *jdoc) value(i int) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, &jsonError{i, "unexpected end of input"}
	}
	idx := len(d.vals)
	d.vals = append(d.vals, jval{start: int32(i)})
	var err error
	switch c := s[i]; {
	case c == '{':
		i, err = d.object(idx, i)
	case c == '[':
		i, err = d.array(idx, i)
	case c == '"':
		var str string
		str, i, err = d.str(i)
		d.vals[idx].kind, d.vals[idx].s = jString, str
	case c == 't' && strings.HasPrefix(s[i:], "true"):
		d.vals[idx].kind, d.vals[idx].b = jBool, true
		i += 4
	case c == 'f' && strings.HasPrefix(s[i:], "false"):
		d.vals[idx].kind = jBool
		i += 5
	case c == 'n' && strings.HasPrefix(s[i:], "null"):
		i += 4
	case c == '-' || c >= '0' && c <= '9':
		start := i
		i, err = number(s, i)
		d.vals[idx].kind, d.vals[idx].s = jNumber, s[start:i]
	default:
		return i, &jsonError{i, fmt.Sprintf("unexpected character %q", c)}
	}
	if err != nil {
		return i, err
	}
	d.vals[idx].end = int32(i)
	return i, nil
}

func (d *jdoc) enter(i int) error {
	if d.depth++; d.depth > maxJSONDepth {
		return &jsonError{i, fmt.Sprintf("nested deeper than %d levels", maxJSONDepth)}
	}
	return nil
}

func (d *jdoc) object(idx, i int) (int, error) {
	if err := d.enter(i); err != nil {
		return i, err
	}
	s := d.src
	base := len(d.stack)
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		i++
	} else {
		for {
			if i >= len(s) || s[i] != '"' {
				return i, &jsonError{i, "want a member name in quotes"}
			}
			key, j, err := d.str(i)
			if err != nil {
				return j, err
			}
			j = skipWS(s, j)
			if j >= len(s) || s[j] != ':' {
				return j, &jsonError{j, "want ':' after a member name"}
			}
			v := int32(len(d.vals))
			j, err = d.value(skipWS(s, j+1))
			if err != nil {
				return j, err
			}
			d.stack = append(d.stack, jmember{key, v})
			i = skipWS(s, j)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == '}' {
				i++
				break
			}
			return i, &jsonError{i, "want ',' or '}' in an object"}
		}
	}
	d.close(idx, jObject, base)
	return i, nil
}

func (d *jdoc) array(idx, i int) (int, error) {
	if err := d.enter(i); err != nil {
		return i, err
	}
	s := d.src
	base := len(d.stack)
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		i++
	} else {
		for {
			v := int32(len(d.vals))
			j, err := d.value(i)
			if err != nil {
				return j, err
			}
			d.stack = append(d.stack, jmember{v: v})
			i = skipWS(s, j)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == ']' {
				i++
				break
			}
			return i, &jsonError{i, "want ',' or ']' in an array"}
		}
	}
	d.close(idx, jArray, base)
	return i, nil
}

// close moves the members gathered on the stack since base to kids.
func (d *jdoc) close(idx int, k jkind, base int) {
	d.depth--
	v := &d.vals[idx]
	v.kind = k
	v.first = int32(len(d.kids))
	v.n = int32(len(d.stack) - base)
	d.kids = append(d.kids, d.stack[base:]...)
	d.stack = d.stack[:base]
}

// number scans a JSON number at i.
func number(s string, i int) (int, error) {
	start := i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return i, &jsonError{start, "invalid number"}
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return i, &jsonError{start, "invalid number: no digits after '.'"}
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return i, &jsonError{start, "invalid number: no digits in the exponent"}
		}
	}
	return i, nil
}

// str decodes the string starting at the quote at i.
func (d *jdoc) str(i int) (string, int, error) {
	s := d.src
	start := i + 1
	j := start
	ascii := true
	for j < len(s) {
		c := s[j]
		if c == '"' {
			out := s[start:j]
			if !ascii && !utf8.ValidString(out) {
				out = fixUTF8(out)
			}
			return out, j + 1, nil
		}
		if c == '\\' {
			return d.unescape(start, j)
		}
		if c < 0x20 {
			return "", j, &jsonError{j, "control character in a string"}
		}
		if c >= 0x80 {
			ascii = false
		}
		j++
	}
	return "", j, &jsonError{i, "unterminated string"}
}

// unescape decodes a string with escapes; j is the first backslash.
func (d *jdoc) unescape(start, j int) (string, int, error) {
	s := d.src
	var b strings.Builder
	b.WriteString(s[start:j])
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			out := b.String()
			if !utf8.ValidString(out) {
				out = fixUTF8(out)
			}
			return out, j + 1, nil
		case c < 0x20:
			return "", j, &jsonError{j, "control character in a string"}
		case c != '\\':
			b.WriteByte(c)
			j++
			continue
		}
		if j+1 >= len(s) {
			break
		}
		j++
		switch s[j] {
		case '"', '\\', '/':
			b.WriteByte(s[j])
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
			r, ok := hex4(s, j+1)
			if !ok {
				return "", j, &jsonError{j, "invalid \\u escape"}
			}
			j += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, j+3); ok && j+2 < len(s) && s[j+1] == '\\' && s[j+2] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						j += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			return "", j, &jsonError{j, fmt.Sprintf("invalid escape \\%c", s[j])}
		}
		j++
	}
	return "", j, &jsonError{start - 1, "unterminated string"}
}

// fixUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func fixUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 16)
	return rune(v), err == nil
}

// members returns the members of an object or the elements of an array.
func (d *jdoc) members(v int32) []jmember {
	x := &d.vals[v]
	if x.kind != jArray && x.kind != jObject {
		return nil
	}
	return d.kids[x.first : x.first+x.n]
}

// get looks a member up by name: exactly, else ignoring case (OMF keywords
// and ids are case-insensitive in PI Web API). It returns -1 when absent.
func (d *jdoc) get(obj int32, key string) int32 {
	ms := d.members(obj)
	for _, m := range ms {
		if m.key == key {
			return m.v
		}
	}
	for _, m := range ms {
		if strings.EqualFold(m.key, key) {
			return m.v
		}
	}
	return -1
}

// raw is the value's JSON text as sent.
func (d *jdoc) raw(v int32) string {
	x := &d.vals[v]
	return d.src[x.start:x.end]
}
