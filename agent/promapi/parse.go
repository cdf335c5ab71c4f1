package promapi

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The PromQL subset (docs/api.md, "Prometheus API"):
//
//	expr     = term { ("+" | "-") term }
//	term     = unary { ("*" | "/" | "%") unary }
//	unary    = ("-" | "+") unary | power
//	power    = primary [ "^" unary ]                 right-associative
//	primary  = number | "(" expr ")" | selector | func "(" selector "[" duration "]" ")"
//	selector = metric [ "{" [ matcher { "," matcher } [","] ] "}" ] | "{" ... "}"
//	matcher  = label ("=" | "!=" | "=~" | "!~") string | string   (a lone string names the metric)
//
// Arithmetic needs a number on at least one side. Everything else of
// PromQL (aggregations, other functions, offset, @, subqueries,
// comparisons, set operators) is refused with an error that says so.

// MaxQueryLen bounds a query's length in bytes.
const MaxQueryLen = 16 << 10

// maxDepth bounds the nesting of a query (parentheses, unary signs).
const maxDepth = 64

// Expr is a parsed query.
type Expr interface{ String() string }

// NumberLit is a number.
type NumberLit struct{ Val float64 }

// Selector selects series by their labels; the metric name is the
// __name__ matcher.
type Selector struct{ Matchers []*Matcher }

// Call is one of the *_over_time functions over a range of a selector.
type Call struct {
	Func  string
	Sel   *Selector
	Range time.Duration
}

// Unary is a sign applied to an expression.
type Unary struct {
	Op byte // '-' or '+'
	X  Expr
}

// Binary is arithmetic between two expressions, one of which evaluates
// to a number.
type Binary struct {
	Op       byte // + - * / % ^
	LHS, RHS Expr
}

// MatchType is how a Matcher compares.
type MatchType uint8

const (
	MatchEqual MatchType = iota
	MatchNotEqual
	MatchRegexp
	MatchNotRegexp
)

var matchOps = [...]string{"=", "!=", "=~", "!~"}

func (t MatchType) String() string { return matchOps[t] }

// Matcher is one label matcher. Regular expressions are RE2 and anchored
// at both ends, as in Prometheus.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Matches reports whether the label value v (empty when the label is
// absent) satisfies the matcher.
func (m *Matcher) Matches(v string) bool {
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

// NewMatcher builds a matcher, compiling its regular expression.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	m := &Matcher{Name: name, Type: t, Value: value}
	if t == MatchRegexp || t == MatchNotRegexp {
		re, err := regexp.Compile("^(?s:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v", value, err)
		}
		m.re = re
	}
	return m, nil
}

// overTime lists the supported functions.
var overTime = map[string]bool{
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "sum_over_time": true,
	"count_over_time": true, "last_over_time": true, "stddev_over_time": true, "stdvar_over_time": true,
}

const supported = "supported: selectors like name{label=\"v\"}, avg/min/max/sum/count/last/stddev/stdvar_over_time(selector[5m]), and arithmetic with a number"

func (n *NumberLit) String() string { return formatNumber(n.Val) }
func (s *Selector) String() string {
	var b strings.Builder
	name := ""
	for _, m := range s.Matchers {
		if m.Name == nameLabel && m.Type == MatchEqual && validMetricName(m.Value) {
			name = m.Value
		}
	}
	b.WriteString(name)
	var rest []string
	for _, m := range s.Matchers {
		if m.Name == nameLabel && m.Type == MatchEqual && m.Value == name {
			continue
		}
		rest = append(rest, quoteLabel(m.Name)+m.Type.String()+strconv.Quote(m.Value))
	}
	if len(rest) > 0 || name == "" {
		b.WriteString("{" + strings.Join(rest, ",") + "}")
	}
	return b.String()
}
func (c *Call) String() string {
	return c.Func + "(" + c.Sel.String() + "[" + formatDuration(c.Range) + "])"
}
func (u *Unary) String() string { return string(u.Op) + u.X.String() }
func (b *Binary) String() string {
	return "(" + b.LHS.String() + " " + string(b.Op) + " " + b.RHS.String() + ")"
}

func quoteLabel(n string) string {
	if validLabelName(n) {
		return n
	}
	return strconv.Quote(n)
}

// ParseError is a query the subset cannot parse, with the byte offset
// where it went wrong.
type ParseError struct {
	Pos int
	Msg string
}

func (e *ParseError) Error() string { return fmt.Sprintf("parse error at char %d: %s", e.Pos+1, e.Msg) }

// ParseQuery parses a query of the subset.
func ParseQuery(q string) (Expr, error) {
	if len(q) > MaxQueryLen {
		return nil, &ParseError{0, fmt.Sprintf("query is %d bytes, over the limit of %d", len(q), MaxQueryLen)}
	}
	if !utf8.ValidString(q) {
		return nil, &ParseError{0, "query is not valid UTF-8"}
	}
	p := &parser{lx: lexer{src: q}}
	p.next()
	if p.tok.kind == tEOF {
		return nil, &ParseError{0, "empty query"}
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected("end of query")
	}
	return e, nil
}

type parser struct {
	lx    lexer
	tok   token
	depth int
}

func (p *parser) next() { p.tok = p.lx.next() }

func (p *parser) fail(pos int, format string, a ...any) error {
	return &ParseError{pos, fmt.Sprintf(format, a...)}
}

func (p *parser) unexpected(want string) error {
	t := p.tok
	switch t.kind {
	case tError:
		return p.fail(t.pos, "%s", t.text)
	case tEOF:
		return p.fail(t.pos, "unexpected end of query, want %s", want)
	case tIdent:
		switch {
		case t.text == "offset":
			return p.fail(t.pos, "the offset modifier is not supported (%s)", supported)
		case keywords[t.text]:
			return p.fail(t.pos, "%q is not supported (%s)", t.text, supported)
		}
	case tOp:
		switch t.text {
		case "@":
			return p.fail(t.pos, "the @ modifier is not supported (%s)", supported)
		case "==", "!=", ">", "<", ">=", "<=":
			return p.fail(t.pos, "comparison operators are not supported (%s)", supported)
		}
	}
	return p.fail(t.pos, "unexpected %s, want %s", t.describe(), want)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail(p.tok.pos, "query nests deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) expr() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	lhs, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOp && (p.tok.text == "+" || p.tok.text == "-") {
		op := p.tok.text[0]
		p.next()
		rhs, err := p.term()
		if err != nil {
			return nil, err
		}
		lhs = &Binary{Op: op, LHS: lhs, RHS: rhs}
	}
	return lhs, nil
}

func (p *parser) term() (Expr, error) {
	lhs, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOp && (p.tok.text == "*" || p.tok.text == "/" || p.tok.text == "%") {
		op := p.tok.text[0]
		p.next()
		rhs, err := p.unary()
		if err != nil {
			return nil, err
		}
		lhs = &Binary{Op: op, LHS: lhs, RHS: rhs}
	}
	return lhs, nil
}

func (p *parser) unary() (Expr, error) {
	if p.tok.kind == tOp && (p.tok.text == "-" || p.tok.text == "+") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		op := p.tok.text[0]
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if n, ok := x.(*NumberLit); ok && op == '-' {
			return &NumberLit{Val: -n.Val}, nil
		}
		if op == '+' {
			return x, nil
		}
		return &Unary{Op: op, X: x}, nil
	}
	return p.power()
}

func (p *parser) power() (Expr, error) {
	lhs, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tOp && p.tok.text == "^" {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		rhs, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Binary{Op: '^', LHS: lhs, RHS: rhs}, nil
	}
	return lhs, nil
}

func (p *parser) primary() (Expr, error) {
	t := p.tok
	switch t.kind {
	case tNumber:
		p.next()
		return &NumberLit{Val: t.num}, nil
	case tLParen:
		p.next()
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected(`")"`)
		}
		p.next()
		return e, p.noRange()
	case tLBrace:
		sel, err := p.selector("")
		if err != nil {
			return nil, err
		}
		return sel, p.afterSelector()
	case tIdent:
		p.next()
		if p.tok.kind == tLParen {
			return p.call(t)
		}
		if aggregations[t.text] && p.tok.kind == tIdent && (p.tok.text == "by" || p.tok.text == "without") {
			return nil, p.fail(t.pos, "aggregation %s() is not supported (%s)", t.text, supported)
		}
		if keywords[t.text] {
			return nil, p.fail(t.pos, "%q is not supported (%s)", t.text, supported)
		}
		sel, err := p.selector(t.text)
		if err != nil {
			return nil, err
		}
		return sel, p.afterSelector()
	case tString:
		return nil, p.fail(t.pos, "a string is not a query; to select a series by its name, write {%s}", strconv.Quote(t.text))
	}
	return nil, p.unexpected("a number, a selector or a function")
}

// afterSelector refuses what may follow a selector in PromQL but not here.
func (p *parser) afterSelector() error {
	if p.tok.kind == tLBracket {
		return p.fail(p.tok.pos, "a range selector needs a function around it, e.g. avg_over_time(x[5m]) (%s)", supported)
	}
	return nil
}

func (p *parser) noRange() error {
	if p.tok.kind == tLBracket {
		return p.fail(p.tok.pos, "subqueries are not supported (%s)", supported)
	}
	return nil
}

func (p *parser) call(name token) (Expr, error) {
	if !overTime[name.text] {
		if aggregations[name.text] {
			return nil, p.fail(name.pos, "aggregation %s() is not supported (%s)", name.text, supported)
		}
		return nil, p.fail(name.pos, "function %s() is not supported (%s)", name.text, supported)
	}
	p.next() // (
	var sel *Selector
	var err error
	switch p.tok.kind {
	case tIdent:
		metric := p.tok.text
		p.next()
		sel, err = p.selector(metric)
	case tLBrace:
		sel, err = p.selector("")
	default:
		return nil, p.unexpected(name.text + "'s argument, a range of a selector like x[5m]")
	}
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tLBracket {
		return nil, p.fail(p.tok.pos, "%s() takes a range of a selector, like %s(%s[5m])", name.text, name.text, sel)
	}
	p.lx.duration = true
	p.next()
	p.lx.duration = false
	if p.tok.kind != tDuration {
		return nil, p.unexpected("a duration like 5m")
	}
	d := p.tok.dur
	p.next()
	if p.tok.kind == tColon {
		return nil, p.fail(p.tok.pos, "subqueries are not supported (%s)", supported)
	}
	if p.tok.kind != tRBracket {
		return nil, p.unexpected(`"]"`)
	}
	p.next()
	if p.tok.kind == tIdent && p.tok.text == "offset" || p.tok.kind == tOp && p.tok.text == "@" {
		return nil, p.unexpected(`")"`)
	}
	if p.tok.kind != tRParen {
		return nil, p.unexpected(`")"`)
	}
	p.next()
	return &Call{Func: name.text, Sel: sel, Range: d}, p.noRange()
}

// selector parses the braces after an optional metric name (the lexer is
// at "{" or past the name).
func (p *parser) selector(metric string) (*Selector, error) {
	sel := &Selector{}
	start := p.tok.pos
	if metric != "" {
		m, _ := NewMatcher(MatchEqual, nameLabel, metric)
		sel.Matchers = append(sel.Matchers, m)
	}
	if p.tok.kind == tLBrace {
		p.next()
		for p.tok.kind != tRBrace {
			m, err := p.matcher()
			if err != nil {
				return nil, err
			}
			if m.Name == nameLabel && metric != "" {
				return nil, p.fail(start, "metric name given twice, as %s and in the braces", metric)
			}
			sel.Matchers = append(sel.Matchers, m)
			if p.tok.kind == tComma {
				p.next()
				continue
			}
			if p.tok.kind != tRBrace {
				return nil, p.unexpected(`"," or "}"`)
			}
		}
		p.next()
	}
	empty := true
	for _, m := range sel.Matchers {
		if !m.Matches("") {
			empty = false
		}
	}
	if empty {
		return nil, p.fail(start, "vector selector must contain at least one matcher that does not match the empty string, e.g. {stream=\"site1/boiler/temp\"}")
	}
	return sel, nil
}

func (p *parser) matcher() (*Matcher, error) {
	t := p.tok
	switch t.kind {
	case tIdent:
		p.next()
	case tString:
		p.next()
		if p.tok.kind == tComma || p.tok.kind == tRBrace { // {"metric name"}
			return NewMatcher(MatchEqual, nameLabel, t.text)
		}
	default:
		return nil, p.unexpected("a label name")
	}
	name := t.text
	if p.tok.kind != tOp {
		return nil, p.unexpected(`a label matcher ("=", "!=", "=~" or "!~")`)
	}
	var mt MatchType
	switch p.tok.text {
	case "=":
		mt = MatchEqual
	case "!=":
		mt = MatchNotEqual
	case "=~":
		mt = MatchRegexp
	case "!~":
		mt = MatchNotRegexp
	default:
		return nil, p.unexpected(`a label matcher ("=", "!=", "=~" or "!~")`)
	}
	p.next()
	if p.tok.kind != tString {
		return nil, p.unexpected("a quoted label value")
	}
	v := p.tok
	p.next()
	m, err := NewMatcher(mt, name, v.text)
	if err != nil {
		return nil, p.fail(v.pos, "%v", err)
	}
	return m, nil
}

// keywords are PromQL words that start what the subset does not have.
var keywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
}

var aggregations = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "group": true, "limitk": true, "limit_ratio": true,
}

// --- lexer ---

type tokKind uint8

const (
	tEOF tokKind = iota
	tError
	tIdent
	tNumber
	tString
	tDuration
	tOp
	tLParen
	tRParen
	tLBrace
	tRBrace
	tLBracket
	tRBracket
	tComma
	tColon
)

type token struct {
	kind tokKind
	pos  int
	text string // identifier, operator, unquoted string, or error message
	num  float64
	dur  time.Duration
}

func (t token) describe() string {
	switch t.kind {
	case tIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tNumber:
		return "number " + formatNumber(t.num)
	case tString:
		return "string " + strconv.Quote(t.text)
	case tDuration:
		return "duration " + formatDuration(t.dur)
	case tOp:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", map[tokKind]string{tLParen: "(", tRParen: ")", tLBrace: "{", tRBrace: "}",
		tLBracket: "[", tRBracket: "]", tComma: ",", tColon: ":"}[t.kind])
}

type lexer struct {
	src      string
	pos      int
	duration bool // inside [ ]: lex a duration
}

func (l *lexer) next() token {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			l.pos++
			continue
		}
		if c == '#' { // a comment, to the end of the line
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}
	}
	c := l.src[l.pos]
	if l.duration {
		end := l.pos
		for end < len(l.src) && (isAlnum(l.src[end]) || l.src[end] == '.') {
			end++
		}
		text := l.src[l.pos:end]
		if text == "" && c == '$' {
			return token{kind: tError, pos: start, text: "unexpected character '$' in range: a Grafana variable that Grafana did not replace?"}
		}
		d, err := parseDuration(text)
		if err != nil {
			return token{kind: tError, pos: start, text: fmt.Sprintf("bad duration %q in range: %v", text, err)}
		}
		if d <= 0 {
			return token{kind: tError, pos: start, text: fmt.Sprintf("range %q must be positive", text)}
		}
		l.pos = end
		return token{kind: tDuration, pos: start, dur: d}
	}
	single := map[byte]tokKind{'(': tLParen, ')': tRParen, '{': tLBrace, '}': tRBrace, '[': tLBracket, ']': tRBracket, ',': tComma, ':': tColon}
	if k, ok := single[c]; ok {
		l.pos++
		return token{kind: k, pos: start}
	}
	switch {
	case c == '"' || c == '\'' || c == '`':
		s, err := l.quoted()
		if err != nil {
			return token{kind: tError, pos: start, text: err.Error()}
		}
		return token{kind: tString, pos: start, text: s}
	case isDigit(c) || c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]):
		return l.number()
	case isAlpha(c):
		end := l.pos
		for end < len(l.src) && (isAlnum(l.src[end]) || l.src[end] == ':') {
			end++
		}
		word := l.src[l.pos:end]
		l.pos = end
		switch strings.ToLower(word) {
		case "inf":
			return token{kind: tNumber, pos: start, num: math.Inf(1)}
		case "nan":
			return token{kind: tNumber, pos: start, num: math.NaN()}
		}
		return token{kind: tIdent, pos: start, text: word}
	}
	for _, op := range []string{"=~", "!~", "!=", "==", ">=", "<=", "=", ">", "<", "+", "-", "*", "/", "%", "^", "@"} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tOp, pos: start, text: op}
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	if r == '$' {
		return token{kind: tError, pos: start, text: "unexpected character '$': a Grafana variable that Grafana did not replace?"}
	}
	return token{kind: tError, pos: start, text: fmt.Sprintf("unexpected character %q", r)}
}

func (l *lexer) number() token {
	start := l.pos
	end := l.pos
	if strings.HasPrefix(l.src[end:], "0x") || strings.HasPrefix(l.src[end:], "0X") {
		end += 2
		for end < len(l.src) && isHex(l.src[end]) {
			end++
		}
	} else {
		for end < len(l.src) && (isDigit(l.src[end]) || l.src[end] == '.') {
			end++
		}
		if end < len(l.src) && (l.src[end] == 'e' || l.src[end] == 'E') {
			e := end + 1
			if e < len(l.src) && (l.src[e] == '+' || l.src[e] == '-') {
				e++
			}
			if e < len(l.src) && isDigit(l.src[e]) {
				for end = e; end < len(l.src) && isDigit(l.src[end]); end++ {
				}
			}
		}
	}
	text := l.src[start:end]
	if end < len(l.src) && isAlpha(l.src[end]) {
		for end < len(l.src) && isAlnum(l.src[end]) {
			end++
		}
		l.pos = end
		return token{kind: tError, pos: start, text: fmt.Sprintf("bad number %q (durations go only in ranges, like x[5m])", l.src[start:end])}
	}
	l.pos = end
	var v float64
	var err error
	if strings.HasPrefix(text, "0x") || strings.HasPrefix(text, "0X") {
		var u uint64
		u, err = strconv.ParseUint(text[2:], 16, 64)
		v = float64(u)
	} else {
		v, err = strconv.ParseFloat(text, 64)
	}
	if err != nil && !strings.Contains(err.Error(), "out of range") {
		return token{kind: tError, pos: start, text: fmt.Sprintf("bad number %q", text)}
	}
	return token{kind: tNumber, pos: start, num: v}
}

// quoted reads a string in double, single or back quotes; the first two
// take Go's escapes.
func (l *lexer) quoted() (string, error) {
	q := l.src[l.pos]
	i := l.pos + 1
	if q == '`' {
		end := strings.IndexByte(l.src[i:], '`')
		if end < 0 {
			return "", fmt.Errorf("unterminated raw string")
		}
		l.pos = i + end + 1
		return l.src[i : i+end], nil
	}
	var b strings.Builder
	s := l.src[i:]
	for {
		if len(s) == 0 || s[0] == '\n' {
			return "", fmt.Errorf("unterminated quoted string")
		}
		if s[0] == q {
			l.pos = len(l.src) - len(s) + 1
			return b.String(), nil
		}
		r, multibyte, tail, err := strconv.UnquoteChar(s, q)
		if err != nil {
			return "", fmt.Errorf("bad escape in quoted string near %q", s[:min(len(s), 4)])
		}
		if multibyte || r >= utf8.RuneSelf {
			b.WriteRune(r)
		} else {
			b.WriteByte(byte(r))
		}
		s = tail
	}
}

// parseDuration reads a Prometheus duration: one or more of a number and
// a unit, y w d h m s ms, largest first ("1h30m"). A plain number is
// seconds.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f*1e9 > math.MaxInt64 || math.IsNaN(f) {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(f * 1e9), nil
	}
	units := []struct {
		name string
		d    time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}}
	var total time.Duration
	last := -1
	for s != "" {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == 0 || i > 12 {
			return 0, fmt.Errorf("want a whole number and a unit (ms, s, m, h, d, w, y)")
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		u := -1
		for j, un := range units {
			if strings.HasPrefix(s, un.name) && !(un.name == "m" && strings.HasPrefix(s, "ms")) {
				u = j
				break
			}
		}
		if u < 0 {
			return 0, fmt.Errorf("unknown or missing unit (ms, s, m, h, d, w, y)")
		}
		order := map[string]int{"y": 0, "w": 1, "d": 2, "h": 3, "m": 4, "s": 5, "ms": 6}[units[u].name]
		if order <= last {
			return 0, fmt.Errorf("units must go from the largest to the smallest, each once")
		}
		last = order
		s = s[len(units[u].name):]
		if n > int64(math.MaxInt64/units[u].d) || total > math.MaxInt64-time.Duration(n)*units[u].d {
			return 0, fmt.Errorf("out of range")
		}
		total += time.Duration(n) * units[u].d
	}
	return total, nil
}

// formatDuration writes d as Prometheus does (1h30m, 500ms).
func formatDuration(d time.Duration) string {
	if d <= 0 || d%time.Millisecond != 0 {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) // finer than Prometheus' units: seconds
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
