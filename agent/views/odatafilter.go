package views

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Window is the part of the time axis a $filter keeps: Lo <= Time < Hi,
// in Unix nanoseconds. HasLo and HasHi say whether the filter bounded
// that side at all (else the view's defaults apply).
type Window struct {
	Lo, Hi       int64
	HasLo, HasHi bool
}

// Empty reports whether no time can satisfy the window.
func (w Window) Empty() bool { return w.HasLo && w.HasHi && w.Lo >= w.Hi }

// FilterError is a $filter the feed cannot serve; the message says what
// it does take, for the OData error body.
type FilterError struct{ Msg string }

func (e *FilterError) Error() string { return "$filter: " + e.Msg }

func filterErr(format string, a ...any) error { return &FilterError{fmt.Sprintf(format, a...)} }

// maxFilterLen and maxFilterDepth bound the parser's work on hostile
// input; Power BI's folded filters are a few hundred bytes at most.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 32
)

// ParseFilter reads the $filter of a view's feed. It takes what Power BI
// and Excel fold a date filter of the Time column into: comparisons of
// Time with a DateTimeOffset literal (eq, gt, ge, lt, le, either side),
// joined with and, in any parentheses. Everything else (other columns,
// or, not, ne, functions) is a *FilterError: the value columns are
// filtered by the client after loading, and a window that the store can
// scan is all the agent narrows by. col is the name of the time property.
func ParseFilter(s, col string) (Window, error) {
	if len(s) > maxFilterLen {
		return Window{}, filterErr("longer than %d bytes", maxFilterLen)
	}
	toks, err := lexFilter(s)
	if err != nil {
		return Window{}, err
	}
	p := &filterParser{toks: toks, col: col, w: Window{Lo: math.MinInt64, Hi: math.MaxInt64}}
	if len(toks) == 0 {
		return Window{}, filterErr("empty")
	}
	if err := p.and(0); err != nil {
		return Window{}, err
	}
	if p.i < len(p.toks) {
		return Window{}, p.unexpected()
	}
	return p.w, nil
}

type tokKind uint8

const (
	tokWord  tokKind = iota + 1 // identifier or keyword
	tokTime                     // a date or DateTimeOffset literal
	tokOther                    // another literal (number, string, ...)
	tokOpen
	tokClose
	tokComma
)

type token struct {
	kind tokKind
	text string
	t    int64 // tokTime
}

// dateTimeRE is an OData date or DateTimeOffset literal. A space in place
// of the offset's "+" is a "+" that a client did not percent-encode (the
// query string turned it into a space), as the OData URL conventions warn.
var dateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?(Z|z|[+-]\d{2}:\d{2}| \d{2}:\d{2}))?`)

func lexFilter(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{kind: tokOpen, text: "("})
			i++
		case c == ')':
			out = append(out, token{kind: tokClose, text: ")"})
			i++
		case c == ',':
			out = append(out, token{kind: tokComma, text: ","})
			i++
		case c == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' { // '' is a quote inside
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(s) {
				return nil, filterErr("unterminated string at offset %d", i)
			}
			out = append(out, token{kind: tokOther, text: s[i : j+1]})
			i = j + 1
		case c >= '0' && c <= '9':
			if m := dateTimeRE.FindString(s[i:]); m != "" {
				t, err := parseODataTime(m)
				if err != nil {
					return nil, filterErr("%q: %v", m, err)
				}
				out = append(out, token{kind: tokTime, text: m, t: t})
				i += len(m)
				continue
			}
			j := i
			for j < len(s) && strings.IndexByte("0123456789.eE+-:TZ", s[j]) >= 0 {
				j++
			}
			out = append(out, token{kind: tokOther, text: s[i:j]})
			i = j
		case c == '-' || c == '+':
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789.eE", s[j]) >= 0 {
				j++
			}
			out = append(out, token{kind: tokOther, text: s[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && (isIdentStart(s[j]) || (s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == '/') {
				j++
			}
			out = append(out, token{kind: tokWord, text: s[i:j]})
			i = j
		default:
			return nil, filterErr("unexpected character %q at offset %d", c, i)
		}
	}
	return out, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c == '@' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

// parseODataTime reads a literal matched by dateTimeRE. A date alone is
// midnight UTC; a time without seconds has :00.
func parseODataTime(s string) (int64, error) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return 0, err
		}
		return t.UnixNano(), nil
	}
	if k := len(s) - len("00:00"); s[k-1] == ' ' {
		s = s[:k-1] + "+" + s[k:]
	}
	s = strings.Replace(s, "z", "Z", 1)
	date, clock, _ := strings.Cut(s, "T")
	if n := strings.IndexAny(clock, "Z+-"); n == len("15:04") {
		clock = clock[:n] + ":00" + clock[n:]
	}
	t, err := time.Parse(time.RFC3339Nano, date+"T"+clock)
	if err != nil {
		return 0, err
	}
	if y := t.UTC().Year(); y < 1678 || y > 2261 { // what int64 nanoseconds hold
		return 0, fmt.Errorf("year %d is out of range (1678-2261)", y)
	}
	return t.UnixNano(), nil
}

type filterParser struct {
	toks []token
	i    int
	col  string
	w    Window
}

func (p *filterParser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *filterParser) unexpected() error {
	t, ok := p.peek()
	if !ok {
		return filterErr("ends too early")
	}
	switch t.text {
	case "or":
		return filterErr("or is not supported: combine comparisons of %s with and", p.col)
	case "not":
		return filterErr("not is not supported: compare %s with ge, gt, le, lt or eq", p.col)
	}
	return filterErr("unexpected %q", t.text)
}

// and := primary ("and" primary)*
func (p *filterParser) and(depth int) error {
	if depth > maxFilterDepth {
		return filterErr("nested deeper than %d", maxFilterDepth)
	}
	for {
		if err := p.primary(depth); err != nil {
			return err
		}
		t, ok := p.peek()
		if !ok || t.kind != tokWord || t.text != "and" {
			return nil
		}
		p.i++
	}
}

// primary := "(" and ")" | operand op operand
func (p *filterParser) primary(depth int) error {
	t, ok := p.peek()
	if !ok {
		return filterErr("ends too early")
	}
	if t.kind == tokOpen {
		p.i++
		if err := p.and(depth + 1); err != nil {
			return err
		}
		if t, ok := p.peek(); !ok || t.kind != tokClose {
			if !ok {
				return filterErr("missing )")
			}
			return p.unexpected()
		}
		p.i++
		return nil
	}
	left, err := p.operand()
	if err != nil {
		return err
	}
	opTok, ok := p.peek()
	if !ok || opTok.kind != tokWord {
		return p.unexpected()
	}
	op := opTok.text
	switch op {
	case "eq", "gt", "ge", "lt", "le":
	case "ne":
		return filterErr("ne is not supported: it does not narrow %s to one window", p.col)
	case "has", "in", "add", "sub", "mul", "div", "divby", "mod":
		return filterErr("operator %s is not supported: compare %s with ge, gt, le, lt or eq", op, p.col)
	default:
		return p.unexpected()
	}
	p.i++
	right, err := p.operand()
	if err != nil {
		return err
	}
	var lit token
	switch {
	case left.kind == tokWord && right.kind == tokTime:
		lit = right
	case left.kind == tokTime && right.kind == tokWord:
		lit = left
		op = map[string]string{"eq": "eq", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[op]
	case left.kind == tokWord || right.kind == tokWord:
		return filterErr("compare %s with a DateTimeOffset literal such as 2026-01-01T00:00:00Z", p.col)
	default:
		return filterErr("a comparison needs the %s property on one side", p.col)
	}
	p.narrow(op, lit.t)
	return nil
}

// operand is the time property or a literal; other names and functions
// are refused here with what the feed does take.
func (p *filterParser) operand() (token, error) {
	t, ok := p.peek()
	if !ok {
		return t, filterErr("ends too early")
	}
	switch t.kind {
	case tokTime:
		p.i++
		return t, nil
	case tokOther:
		return t, filterErr("%s: only DateTimeOffset literals (2026-01-01T00:00:00Z) are compared with %s", t.text, p.col)
	case tokWord:
		switch t.text {
		case "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le":
			return t, p.unexpected()
		}
		if p.i+1 < len(p.toks) {
			switch next := p.toks[p.i+1]; {
			case next.kind == tokOpen:
				return t, filterErr("function %s() is not supported: compare %s itself", t.text, p.col)
			case next.kind == tokOther && strings.HasPrefix(next.text, "'"):
				return t, filterErr("%s%s is OData 3 syntax: write the literal alone, as in Time ge 2026-01-01T00:00:00Z", t.text, next.text)
			}
		}
		switch t.text {
		case p.col:
			p.i++
			return t, nil
		case "null", "true", "false", "INF", "NaN":
			return t, filterErr("%s: only DateTimeOffset literals (2026-01-01T00:00:00Z) are compared with %s", t.text, p.col)
		}
		return t, filterErr("only %s can be filtered here; %s is a value column (filter it in Power BI or Excel after loading)", p.col, t.text)
	}
	return t, p.unexpected()
}

// narrow intersects the window with "Time op t".
func (p *filterParser) narrow(op string, t int64) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch op {
	case "eq":
		lo, hi = t, t+1
	case "ge":
		lo = t
	case "gt":
		lo = t + 1
	case "lt":
		hi = t
	case "le":
		hi = t + 1
	}
	if lo != math.MinInt64 {
		p.w.HasLo = true
		p.w.Lo = max(p.w.Lo, lo)
	}
	if hi != math.MaxInt64 {
		p.w.HasHi = true
		p.w.Hi = min(p.w.Hi, hi)
	}
}
