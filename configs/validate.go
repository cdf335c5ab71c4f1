package configs

import (
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Validate checks the whole config and returns every problem found, as
// *FieldError values joined with errors.Join, each naming the key path
// (and the line, for a config read from a file); nil if there are none.
// It does no I/O: it does not look at data_dir, resolve names or bind
// ports. It checks the shape of the source entries, not their types or
// connector sections: connectors do that when the agent builds them, and
// LoadWith with the agent's Options in the same pass as the rest.
func (c Config) Validate() error {
	return c.validate(Options{})
}

// validate is Validate, checking the sources' types and sections against
// opts.Connectors and opts.CheckSource when set.
func (c Config) validate(opts Options) error {
	v := validator{c: &c}

	if msg := checkDisplayName(c.Tenant.Name); msg != "" {
		v.add("tenant.name", "%s", msg)
	}
	switch {
	case c.DataDir == "":
		v.add("data_dir", "empty (want a directory for the agent's state, e.g. /var/lib/sluice)")
	case strings.ContainsRune(c.DataDir, 0):
		v.add("data_dir", "contains a NUL byte")
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not a level (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "%q is not a format (want text or json)", c.Log.Format)
	}

	listeners := []struct{ path, addr string }{
		{"api.listen", c.API.Listen},
		{"federation.listen", c.Federation.Listen},
		{"federation.gossip", c.Federation.Gossip},
	}
	valid := listeners[:0:0]
	for _, l := range listeners {
		if msg := checkListen(l.addr); msg != "" {
			v.add(l.path, "%s", msg)
		} else {
			valid = append(valid, l)
		}
	}
	for i, a := range valid {
		for _, b := range valid[:i] {
			if sameListener(a.addr, b.addr) {
				v.add(a.path, "%q uses the port of %s (%q)", a.addr, b.path, b.addr)
			}
		}
	}
	if c.API.MaxBodyBytes <= 0 {
		v.add("api.max_body_bytes", "%d is not positive", c.API.MaxBodyBytes)
	}
	if c.API.MaxInflight <= 0 {
		v.add("api.max_inflight", "%d is not positive", c.API.MaxInflight)
	}
	switch c.Metrics.Auth {
	case MetricsAuthNone, MetricsAuthToken:
	case "true", "yes", "on":
		v.add("metrics.auth", "%q is not a mode (want token, which requires the bearer token in <data_dir>/metrics.token, or none)", c.Metrics.Auth)
	default:
		v.add("metrics.auth", "%q is not a mode (want none or token)", c.Metrics.Auth)
	}
	if a := c.Federation.Advertise; a != "" {
		if _, _, err := net.SplitHostPort(a); err == nil {
			v.add("federation.advertise", "%q has a port; want a host name or IP only (partners dial the ports of federation.listen and federation.gossip)", a)
		} else if !hostOK(a) {
			v.add("federation.advertise", "%q is not a host name or IP", a)
		}
	}
	if c.Federation.PartnerReads < 1 {
		v.add("federation.partner_reads", "%d: want at least 1", c.Federation.PartnerReads)
	}
	if p := c.Federation.PartnerPointsPerSecond; p < 0 || math.IsNaN(p) || math.IsInf(p, 0) {
		v.add("federation.partner_points_per_second", "%v: want 0 (no bound) or a positive rate", p)
	}

	if c.Audit.Retention <= 0 {
		v.add("audit.retention", "%s: want a positive duration, e.g. 365d", c.Audit.Retention)
	}
	if c.SMTP.Server != "" {
		if msg := checkListen(c.SMTP.Server); msg != "" {
			v.add("smtp.server", "%s", msg)
		}
		if !strings.Contains(c.SMTP.From, "@") {
			v.add("smtp.from", "%q is not an e-mail address", c.SMTP.From)
		}
		if c.SMTP.Password != "" {
			if err := CheckSecret(c.SMTP.Password); err != nil {
				v.add("smtp.password", "%v", err)
			}
		}
	}
	if c.Store.Retention < 0 {
		v.add("store.retention", "negative (%s); 0 keeps points forever", c.Store.Retention)
	}
	v.retentionRules(c.Store)
	for _, d := range []struct {
		path string
		d    Duration
	}{
		{"store.compact_interval", c.Store.CompactInterval},
		{"store.gc_interval", c.Store.GCInterval},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.d <= 0 {
			v.add(d.path, "%s is not positive", d.d)
		}
	}

	names := map[string]int{}
	for i, s := range c.Sources {
		if s.path == "" {
			s.path = "sources[" + strconv.Itoa(i) + "]"
		}
		if s.badShape {
			continue // reported while decoding
		}
		p := s.path
		switch {
		case s.badName:
		case s.Name == "":
			v.addLine(p+".name", s.line, "empty (want a unique name such as plant-mqtt)")
		case !sourceNameOK(s.Name) || len(s.Name) > 64:
			v.add(p+".name", "%q is not a name (want at most 64 of a-z, 0-9, '-' and '_', starting with a letter or digit)", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				v.add(p+".name", "duplicate %q (also sources[%d])", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		v.source(s, opts)
	}
	return joinFieldErrors(v.errs)
}

// source checks the type and the section of source entry s, and with
// opts.CheckSource the section's contents.
func (v *validator) source(s SourceConfig, opts Options) {
	p := s.path
	want, known := opts.Connectors[s.Type]
	switch {
	case s.badType:
	case s.Type == "":
		v.addLine(p+".type", s.line, "missing (want the connector, such as mqtt, opcua or pi-webapi)")
		if t := typeOfSection(opts.Connectors, s.Section); t != "" {
			v.hint("the " + s.Section + ": section is for type: " + t)
		}
	case !sourceNameOK(s.Type):
		v.add(p+".type", "%q is not a connector type", s.Type)
		v.hint(typeHint(s, opts.Connectors))
	case opts.Connectors != nil && !known:
		types := make([]string, 0, len(opts.Connectors))
		for t := range opts.Connectors {
			types = append(types, t)
		}
		slices.Sort(types)
		v.add(p+".type", "unknown source type %q (known: %s)", s.Type, strings.Join(types, ", "))
		v.hint(typeHint(s, opts.Connectors))
	}

	keys := s.extra
	nodes := s.extraNodes
	if s.Section != "" {
		keys = append([]string{s.Section}, s.extra...)
		nodes = append([]yaml.Node{s.Node}, s.extraNodes...)
	}
	if len(keys) == 0 {
		section := sectionHint(s.Type)
		if known {
			section = strconv.Quote(want + ":")
		}
		if s.Type != "" {
			v.addLine(p, s.line, "no connector section (want one key with the %s settings, e.g. %s)", s.Type, section)
		} else {
			v.addLine(p, s.line, "no connector section (want one key with the connector's settings, e.g. mqtt:)")
		}
		return
	}
	if !known {
		// Which key is the section is not known: report the shape of the
		// first, and that there should be one.
		if msg := sectionShape(keys[0], &nodes[0]); msg != "" {
			v.add(p+"."+keys[0], "%s", msg)
		}
		if len(keys) > 1 {
			v.addLine(p, s.line, "%d connector sections (%s); a source has name, type and exactly one connector section", len(keys), strings.Join(keys, ", "))
		}
		return
	}
	// The type says which key the section is: the key itself, else a key
	// spelt nearly so (pi-webapi: for pi_webapi:).
	at := slices.Index(keys, want)
	if at < 0 {
		for i, k := range keys {
			if suggest(k, []string{want}) == want {
				at = i
				v.add(p+"."+k, "type %s takes its settings under %q, not %q", s.Type, want+":", k+":")
				break
			}
		}
	}
	if at < 0 && len(keys) == 1 {
		v.add(p+"."+keys[0], "type %s takes its settings under %q, not %q", s.Type, want+":", keys[0]+":")
		return
	}
	if at < 0 {
		v.addLine(p, s.line, "%d connector sections (%s); a source has name, type and exactly one connector section", len(keys), strings.Join(keys, ", "))
		v.hint("type " + s.Type + " takes " + want + ":")
		return
	}
	for i, k := range keys {
		if i != at {
			v.add(p+"."+k, "unknown key")
			v.hint(didYouMean(k, []string{"name", "type", want}))
		}
	}
	if msg := sectionShape(keys[at], &nodes[at]); msg != "" {
		v.add(p+"."+keys[at], "%s", msg)
		return
	}
	if opts.CheckSource != nil {
		// Under a misspelt key too: its problems are worth knowing now.
		sec := s
		sec.Section, sec.Node, sec.extra, sec.extraNodes = keys[at], nodes[at], nil, nil
		v.checkSource(sec, opts.CheckSource)
	}
}

// checkSource reports the problems check finds in the section of s, each
// at the line of its key. Decode's problems come first; the connector's
// own about a key that failed to decode (and so kept its default) are
// left out.
func (v *validator) checkSource(s SourceConfig, check func(SourceConfig) error) {
	var decoded []*FieldError
	s.collect = &decoded
	err := check(s)
	for _, fe := range decoded {
		c := *fe
		v.errs = append(v.errs, &c)
	}
	under := func(path string) bool {
		for _, fe := range decoded {
			if path == fe.Path || strings.HasPrefix(path, fe.Path+".") || strings.HasPrefix(path, fe.Path+"[") {
				return true
			}
		}
		return false
	}
	for _, e := range leafErrors(err) {
		var fe *FieldError
		if f, ok := e.(*FieldError); ok {
			c := *f
			fe = &c
			if fe.Path == "" {
				fe.Path = s.Path()
			}
		} else {
			fe = &FieldError{Path: s.Path(), Msg: e.Error()}
			if rest, ok := strings.CutPrefix(fe.Msg, s.Path()); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, ": ")) {
				fe.Msg = strings.TrimPrefix(rest, ".")
			}
			if m, ok := strings.CutPrefix(fe.Msg, ": "); ok {
				fe.Msg = m
			} else if m := relKeyRE.FindStringSubmatch(fe.Msg); m != nil {
				fe.Path, fe.Msg = s.Path()+"."+m[1], m[2]
			}
			fe.Line = v.c.lineOf(fe.Path)
		}
		if !under(fe.Path) {
			v.errs = append(v.errs, fe)
		}
	}
}

// relKeyRE matches a connector's "key.path[0].sub: message".
var relKeyRE = regexp.MustCompile(`^([A-Za-z0-9_-]+(?:\[\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[\d+\])*)*): (?s:(.+))$`)

// leafErrors returns the errors joined in err (recursively), or err.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// typeOfSection returns the type whose section key is section, or "".
func typeOfSection(connectors map[string]string, section string) string {
	for t, sec := range connectors {
		if sec == section && section != "" {
			return t
		}
	}
	return ""
}

// typeHint suggests the type an entry meant: the one whose section it
// has, else the nearest known name.
func typeHint(s SourceConfig, connectors map[string]string) string {
	if t := typeOfSection(connectors, s.Section); t != "" && t != s.Type {
		return "did you mean " + t + "?"
	}
	types := make([]string, 0, len(connectors))
	for t := range connectors {
		types = append(types, t)
	}
	slices.Sort(types)
	return didYouMean(s.Type, types)
}

// wantRE finds a value and its choices in a message such as
// `"jsn" is not a format (want plain, json or influx)`.
var (
	wantRE = regexp.MustCompile(`^(?:[^"]*\s)?"((?:[^"\\]|\\.)*)"[^"]*\(want ([^)]*)\)`)
	wordRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// hintFromWant gives a problem that quotes a value and lists the values
// wanted a "did you mean" hint, when one of them is close.
func hintFromWant(fe *FieldError) {
	if fe.Hint != "" {
		return
	}
	m := wantRE.FindStringSubmatch(fe.Msg)
	if m == nil {
		return
	}
	value, err := strconv.Unquote(`"` + m[1] + `"`)
	if err != nil {
		return
	}
	var choices []string
	for _, part := range strings.Split(strings.ReplaceAll(m[2], " or ", ", "), ", ") {
		if part = strings.TrimSpace(part); wordRE.MatchString(part) {
			choices = append(choices, part)
		}
	}
	fe.Hint = didYouMean(value, choices)
}

// validator collects problems, with the line and environment variable of
// each key where known.
type validator struct {
	c    *Config
	errs []*FieldError
}

func (v *validator) add(path, format string, args ...any) {
	v.addLine(path, 0, format, args...)
}

// hint sets the hint of the problem added last, if h is not empty.
func (v *validator) hint(h string) {
	if h != "" && len(v.errs) > 0 {
		v.errs[len(v.errs)-1].Hint = h
	}
}

func (v *validator) addLine(path string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if name, ok := v.c.env[path]; ok {
		msg += " (from " + name + ")"
	} else if l, ok := v.c.lines[path]; ok {
		line = l
	}
	v.errs = append(v.errs, &FieldError{Path: path, Line: line, Msg: msg})
}

// checkDisplayName returns what is wrong with a tenant display name.
func checkDisplayName(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "empty (want a display name such as acme-refinery)"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case utf8.RuneCountInString(s) > 128:
		return "longer than 128 characters"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Sprintf("%q contains control characters", s)
	}
	return ""
}

// checkListen returns what is wrong with a listen address: host:port with
// a numeric port (0 picks a free one) and an IP or host name, or no host
// for every interface.
func checkListen(addr string) string {
	if addr == "" {
		return "empty (want host:port, e.g. 127.0.0.1:7080)"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Sprintf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && !hostOK(host) {
		return fmt.Sprintf("%q: %q is not an IP or host name", addr, host)
	}
	return ""
}

// hostOK reports whether s is an IP address or a syntactically valid DNS
// host name.
func hostOK(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	if len(s) > 253 || s == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// sameListener reports whether two valid listen addresses would compete
// for one port: same non-zero port and the same host, or a wildcard host.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	return ha == hb || wildcard(ha) || wildcard(hb)
}

func wildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// retentionRules checks store.max_size, store.min_free and
// store.retention_rules.
func (v *validator) retentionRules(sc StoreConfig) {
	if sc.MaxSize < 0 {
		v.add("store.max_size", "negative (%s); 0 means no bound", sc.MaxSize)
	} else if sc.MaxSize > 0 && sc.MaxSize < 16<<20 {
		v.add("store.max_size", "%s is too small for the store to run in (want at least 16MiB, or 0 for no bound)", sc.MaxSize)
	}
	if sc.MinFree < 0 {
		v.add("store.min_free", "negative (%s)", sc.MinFree)
	}
	seen := map[string]int{}
	for i, r := range sc.RetentionRules {
		p := "store.retention_rules[" + strconv.Itoa(i) + "]"
		if r.Prefix == "" && r.Source == "" {
			v.addLine(p, v.c.lineOf(p), "selects every stream: give a prefix (e.g. site1/) or a source (a source's name); store.retention and store.max_size cover every stream")
		}
		if r.MaxAge < 0 {
			v.add(p+".max_age", "negative (%s); 0 keeps store.retention", r.MaxAge)
		}
		if r.MaxSize < 0 {
			v.add(p+".max_size", "negative (%s); 0 means no bound of its own", r.MaxSize)
		}
		v.downsample(p, r, sc.Retention)
		if r.MaxAge == 0 && r.MaxSize == 0 && len(r.Downsample) == 0 {
			v.addLine(p, v.c.lineOf(p), "sets neither max_age nor max_size, so it changes nothing")
		}
		key := r.Source + "\x00" + r.Prefix
		if j, dup := seen[key]; dup {
			v.addLine(p, v.c.lineOf(p), "selects the same streams as store.retention_rules[%d], which comes first and wins", j)
		} else {
			seen[key] = i
		}
	}
}

// downsample checks the downsampling levels of the retention rule at p.
func (v *validator) downsample(p string, r RetentionRule, retention Duration) {
	if len(r.Downsample) == 0 {
		return
	}
	raw := r.MaxAge
	if raw == 0 {
		raw = retention
	}
	if raw <= 0 {
		v.addLine(p+".downsample", v.c.lineOf(p+".downsample"), "needs max_age (or store.retention): the age at which raw points give way to the summaries; without one they are kept forever and nothing is downsampled")
	}
	var prev Duration
	for j, l := range r.Downsample {
		lp := p + ".downsample[" + strconv.Itoa(j) + "]"
		switch {
		case l.Interval <= 0:
			v.addLine(lp+".interval", v.c.lineOf(lp), "want a positive duration, e.g. 1m or 1h")
		case l.Interval.Std()%time.Second != 0:
			v.add(lp+".interval", "%s is not a whole number of seconds", l.Interval)
		case prev > 0 && (l.Interval <= prev || l.Interval%prev != 0):
			v.add(lp+".interval", "%s is not a multiple of the level before it (%s): list the levels finest first, e.g. 1m then 1h", l.Interval, prev)
		}
		if l.Interval > 0 {
			prev = l.Interval
		}
		if l.MaxAge < 0 {
			v.add(lp+".max_age", "negative (%s); 0 keeps the summaries forever", l.MaxAge)
		} else if l.MaxAge > 0 && raw > 0 && l.MaxAge <= raw {
			v.add(lp+".max_age", "%s is not longer than the raw points' %s, so the summaries would go with them", l.MaxAge, raw)
		}
	}
}
