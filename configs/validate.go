package configs

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate checks the whole config and returns every problem found, as
// *FieldError values joined with errors.Join, each naming the key path
// (and the line, for a config read from a file); nil if there are none.
// It does no I/O: it does not look at data_dir, resolve names or bind
// ports. It checks the shape of the source entries, not their connector
// sections: connectors do that when the agent builds them.
func (c Config) Validate() error {
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
		p := s.path
		if p == "" {
			p = "sources[" + strconv.Itoa(i) + "]"
		}
		if s.badShape {
			continue // reported while decoding
		}
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
		switch {
		case s.badType:
		case s.Type == "":
			v.addLine(p+".type", s.line, "missing (want the connector, such as mqtt, opcua or pi-webapi)")
		case !sourceNameOK(s.Type):
			v.add(p+".type", "%q is not a connector type", s.Type)
		}
		switch {
		case s.Section == "" && s.Type != "":
			v.addLine(p, s.line, "no connector section (want one key with the %s settings, e.g. %s)", s.Type, sectionHint(s.Type))
		case s.Section == "":
			v.addLine(p, s.line, "no connector section (want one key with the connector's settings, e.g. mqtt:)")
		case len(s.extra) > 0:
			keys := append([]string{s.Section}, s.extra...)
			v.addLine(p, s.line, "%d connector sections (%s); a source has name, type and exactly one connector section", len(keys), strings.Join(keys, ", "))
		}
	}
	return joinFieldErrors(v.errs)
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
