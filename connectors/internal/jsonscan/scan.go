package jsonscan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Parse parses src, which must be one JSON value with nothing but white
// space around it; the value is Root. After an error the Doc holds no
// value.
func (d *Doc) Parse(src string) error {
	d.src = src
	d.nodes, d.kids, d.stack, d.strs = d.nodes[:0], d.kids[:0], d.stack[:0], d.strs[:0]
	d.depth, d.max = 0, d.MaxDepth
	if d.max <= 0 {
		d.max = DefaultMaxDepth
	}
	err := d.parse()
	if err != nil {
		d.nodes = d.nodes[:0]
	}
	return err
}

func (d *Doc) parse() error {
	if len(d.src) > math.MaxInt32 { // offsets are int32
		return errorAt(0, "input longer than 2 GiB")
	}
	i, err := d.value(skipWS(d.src, 0))
	if err != nil {
		return err
	}
	if i = skipWS(d.src, i); i < len(d.src) {
		return errorAt(i, "data after the top-level value")
	}
	return nil
}

func errorAt(i int, msg string) error { return &Error{Offset: i, Msg: msg} }

// want is the error for a missing token: what was wanted, and what came
// instead.
func (d *Doc) want(i int, what string) error {
	if i >= len(d.src) {
		return errorAt(i, "unexpected end of input, want "+what)
	}
	return errorAt(i, "want "+what+", found "+quoteByte(d.src[i]))
}

// quoteByte names a byte of the input: ASCII as a Go character literal,
// other bytes (maybe part of a UTF-8 sequence) in hex.
func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
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

// value parses the value at i (not white space) and returns the offset
// after it.
func (d *Doc) value(i int) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, errorAt(i, "unexpected end of input")
	}
	// Take an index, not a pointer: containers append nodes.
	v := len(d.nodes)
	d.nodes = append(d.nodes, node{start: int32(i)})
	var err error
	switch c := s[i]; c {
	case '{':
		i, err = d.object(v, i)
	case '[':
		i, err = d.array(v, i)
	case '"':
		var text string
		var verbatim bool
		text, verbatim, i, err = d.str(i)
		d.nodes[v].kind, d.nodes[v].first = String, -1
		if !verbatim {
			d.nodes[v].first = int32(len(d.strs))
			d.strs = append(d.strs, text)
		}
	case 't', 'f', 'n':
		lit, kind := "null", Null
		if c != 'n' {
			lit, kind = "true", Bool
			if c == 'f' {
				lit = "false"
			}
		}
		if !strings.HasPrefix(s[i:], lit) {
			return i, errorAt(i, "invalid literal (want true, false or null)")
		}
		d.nodes[v].kind = kind
		i += len(lit)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		d.nodes[v].kind = Number
		i, err = number(s, i)
	default:
		return i, errorAt(i, "want a value, found "+quoteByte(c))
	}
	if err != nil {
		return i, err
	}
	d.nodes[v].end = int32(i)
	return i, nil
}

func (d *Doc) enter(i int) error {
	if d.depth++; d.depth > d.max {
		return &Error{Offset: i, Msg: fmt.Sprintf("nested deeper than %d levels", d.max), err: ErrTooDeep}
	}
	return nil
}

// object parses the object at i, value v.
func (d *Doc) object(v, i int) (int, error) {
	if err := d.enter(i); err != nil {
		return i, err
	}
	s := d.src
	base := len(d.stack)
	if i = skipWS(s, i+1); i < len(s) && s[i] == '}' {
		d.close(v, Object, base)
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return i, d.want(i, "a member name in quotes")
		}
		key, _, j, err := d.str(i)
		if err != nil {
			return j, err
		}
		if j = skipWS(s, j); j >= len(s) || s[j] != ':' {
			return j, d.want(j, "':' after a member name")
		}
		m := Member{Key: key, Value: Value(len(d.nodes))}
		if j, err = d.value(skipWS(s, j+1)); err != nil {
			return j, err
		}
		d.stack = append(d.stack, m)
		if i = skipWS(s, j); i < len(s) && s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if i < len(s) && s[i] == '}' {
			d.close(v, Object, base)
			return i + 1, nil
		}
		return i, d.want(i, "',' or '}' in an object")
	}
}

// array parses the array at i, value v.
func (d *Doc) array(v, i int) (int, error) {
	if err := d.enter(i); err != nil {
		return i, err
	}
	s := d.src
	base := len(d.stack)
	if i = skipWS(s, i+1); i < len(s) && s[i] == ']' {
		d.close(v, Array, base)
		return i + 1, nil
	}
	for {
		m := Member{Value: Value(len(d.nodes))}
		j, err := d.value(i)
		if err != nil {
			return j, err
		}
		d.stack = append(d.stack, m)
		if i = skipWS(s, j); i < len(s) && s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if i < len(s) && s[i] == ']' {
			d.close(v, Array, base)
			return i + 1, nil
		}
		return i, d.want(i, "',' or ']' in an array")
	}
}

// close moves the members gathered on the stack since base to kids, where
// they are contiguous: a container's members are only known once its
// nested containers are done.
func (d *Doc) close(v int, k Kind, base int) {
	d.depth--
	n := &d.nodes[v]
	n.kind, n.first, n.n = k, int32(len(d.kids)), int32(len(d.stack)-base)
	d.kids = append(d.kids, d.stack[base:]...)
	d.stack = d.stack[:base]
}

// number checks the number at i against the grammar and returns the
// offset after it. Errors point at the number's start.
func number(s string, i int) (int, error) {
	start := i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++ // no leading zeros: "01" is 0 then 1
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return i, errorAt(start, "invalid number: no digits after '-'")
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return j, errorAt(start, "invalid number: no digits after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if j := digits(s, i); j > i {
			i = j
		} else {
			return j, errorAt(start, "invalid number: no digits in the exponent")
		}
	}
	return i, nil
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// plain marks the bytes a string can hold as they are: not the quote, the
// backslash, control characters, nor (to be checked as UTF-8) non-ASCII.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str decodes the string whose opening quote is at i. verbatim is whether
// the text is the input between the quotes, as it is; end is the offset
// after the closing quote.
func (d *Doc) str(i int) (text string, verbatim bool, end int, err error) {
	s := d.src
	ascii := true
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if plain[c] {
			continue
		}
		switch {
		case c == '"':
			if text = s[i+1 : j]; ascii || utf8.ValidString(text) {
				return text, true, j + 1, nil
			}
			return d.decode(i)
		case c == '\\':
			return d.decode(i)
		case c < 0x20:
			return "", false, j, errorAt(j, "control character "+quoteByte(c)+" in a string")
		}
		ascii = false
	}
	return "", false, len(s), errorAt(i, "unterminated string")
}

// decode decodes the string at i that has escapes or invalid UTF-8, as
// encoding/json does: each byte that is not part of valid UTF-8 becomes
// U+FFFD, and so does a \u escape of half a surrogate pair.
func (d *Doc) decode(i int) (text string, verbatim bool, end int, err error) {
	s := d.src
	b := d.buf[:0]
	defer func() { d.buf = b }() // keep the grown buffer for the next string
	j := i + 1
	for j < len(s) {
		switch c := s[j]; {
		case plain[c]:
			b = append(b, c)
			j++
		case c == '"':
			return string(b), false, j + 1, nil
		case c < 0x20:
			return "", false, j, errorAt(j, "control character "+quoteByte(c)+" in a string")
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && n == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[j:j+n]...)
			}
			j += n
		default: // a backslash
			if j+1 >= len(s) {
				return "", false, len(s), errorAt(i, "unterminated string")
			}
			e := s[j+1]
			if r := simpleEscape[e]; r != 0 {
				b = append(b, r)
				j += 2
				continue
			}
			if e != 'u' {
				if e < 0x20 || e >= utf8.RuneSelf {
					return "", false, j, errorAt(j, "invalid escape: a backslash before "+quoteByte(e))
				}
				return "", false, j, errorAt(j, `invalid escape \`+string(e))
			}
			r, ok := hex4(s, j+2)
			if !ok {
				return "", false, j, errorAt(j, `invalid \u escape (want four hex digits)`)
			}
			j += 6
			if utf16.IsSurrogate(r) {
				// A pair is one rune. Half a pair is U+FFFD, and an escape
				// after it that does not complete it is read on its own.
				r2, ok := rune(0), false
				if j+1 < len(s) && s[j] == '\\' && s[j+1] == 'u' {
					r2, ok = hex4(s, j+2)
				}
				if r = utf16.DecodeRune(r, r2); ok && r != utf8.RuneError {
					j += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		}
	}
	return "", false, len(s), errorAt(i, "unterminated string")
}

// simpleEscape maps the byte after a backslash to what it stands for, but
// for \u; 0 is not an escape.
var simpleEscape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads the four hex digits at i.
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
