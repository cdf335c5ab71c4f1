package configs

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Warnings returns what is valid but most likely a mistake, as
// *FieldError values naming the key and, for a config read from a file,
// the line:
//
//   - a made-up host of the example configs left in (gw1.acme.example,
//     any *.example or example.com name, the OPC UA server plc1, the PI
//     server PISRV), anywhere in the file, the sources' sections included;
//   - federation listening on every interface (0.0.0.0, ::) with no
//     federation.advertise: partners are then told this machine's host
//     name, which they may not be able to resolve.
//
// It does no I/O. `sluice agent --check-config` prints the warnings and
// the agent logs them at start; neither fails because of them.
func (c Config) Warnings() []*FieldError {
	var out []*FieldError
	warn := func(path, hint, format string, args ...any) {
		fe := &FieldError{Path: path, Line: c.lineOf(path), Msg: fmt.Sprintf(format, args...), Hint: hint}
		if from := c.SetBy(path); from != "" {
			fe.Msg += " (from " + from + ")"
			fe.Line = 0
		}
		out = append(out, fe)
	}

	var root yaml.Node
	if err := root.Encode(c); err == nil {
		walkScalars(&root, "", func(path, value string) {
			h := exampleHost(value)
			hint := "replace it with the address of your own server"
			switch {
			case h == "":
				return
			case path == "federation.advertise":
				hint = "set the host name or IP that partners dial"
			case h == "PISRV":
				hint = "name the points of your own PI Data Archive"
			case strings.Contains(value, "@") && !strings.Contains(value, "://"):
				hint = "use an address of your own domain"
			}
			warn(path, hint, "%s names %s, a made-up host of the example config", quoteValue(value), h)
		})
	}

	if c.Federation.Advertise == "" {
		var open []string
		for _, l := range []struct{ path, addr string }{
			{"federation.listen", c.Federation.Listen},
			{"federation.gossip", c.Federation.Gossip},
		} {
			if host, _, err := net.SplitHostPort(l.addr); err == nil && wildcard(host) {
				if from := c.SetBy(l.path); from != "" {
					open = append(open, l.path+" ("+l.addr+" from "+from+")")
				} else {
					open = append(open, l.path+" ("+l.addr+")")
				}
			}
		}
		if len(open) > 0 {
			verb := "listens"
			if len(open) > 1 {
				verb = "listen"
			}
			warn("federation.advertise", "set it to the host name or IP that partners dial",
				"not set while %s %s on every interface, so partners are told this machine's host name, which they may not resolve",
				strings.Join(open, " and "), verb)
		}
	}
	return out
}

// walkScalars calls f with the key path and value of every scalar of a
// tree (mapping keys excluded).
func walkScalars(n *yaml.Node, path string, f func(path, value string)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkScalars(c, path, f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkScalars(c, path+"["+strconv.Itoa(i)+"]", f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkScalars(n.Content[i+1], joinPath(path, n.Content[i].Value), f)
		}
	case yaml.ScalarNode:
		f(path, n.Value)
	}
}

// exampleHosts are the made-up host names the example configs use that
// are not under a reserved domain.
var exampleHosts = map[string]bool{"plc1": true}

// exampleHost returns the made-up host a value names, or "": the host of
// a URL, of host:port or of an e-mail address, or a bare DNS name, under
// the documentation domains of RFC 2606 (.example, example.com, .net,
// .org) or one of exampleHosts; or the example's PI server in a PI point
// path (\\PISRV\tag).
func exampleHost(v string) string {
	if strings.HasPrefix(strings.ToUpper(v), `\\PISRV\`) {
		return "PISRV"
	}
	host, named := "", false // named: the value says it is a host
	switch {
	case strings.Contains(v, "://"):
		if u, err := url.Parse(v); err == nil {
			host, named = u.Hostname(), true
		}
	case strings.Contains(v, "@") && !strings.ContainsAny(v, " /:"):
		host = v[strings.LastIndexByte(v, '@')+1:]
	default:
		if h, _, err := net.SplitHostPort(v); err == nil {
			host, named = h, true
		} else if strings.Contains(v, ".") && hostOK(v) && net.ParseIP(v) == nil {
			host = v
		}
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case h == "":
		return ""
	case h == "example" || strings.HasSuffix(h, ".example"):
	case h == "example.com" || h == "example.net" || h == "example.org":
	case strings.HasSuffix(h, ".example.com") || strings.HasSuffix(h, ".example.net") || strings.HasSuffix(h, ".example.org"):
	case named && exampleHosts[h]:
	default:
		return ""
	}
	return host
}

// quoteValue quotes a value for a message: as YAML's single quotes do
// when it has backslashes (a PI point path reads better so), else as Go
// does.
func quoteValue(v string) string {
	if strings.Contains(v, `\`) && !strings.Contains(v, "'") && strconv.CanBackquote(v) {
		return "'" + v + "'"
	}
	return strconv.Quote(v)
}
