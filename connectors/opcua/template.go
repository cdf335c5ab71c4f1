package opcua

import (
	"errors"
	"fmt"
	"strings"
)

// template is a compiled stream name template: literal text and
// placeholders naming what is known of a variable.
//
//	{name}     the browse name (without namespace index)
//	{display}  the display name
//	{path}     discovery: the browse path below the discovered folder;
//	           browse: the configured path without its leading Objects/;
//	           node_id: the browse name
//	{id}       the identifier of the node id (Boiler.Temp, 1001, a GUID, base64)
//	{node}     the whole node id (ns=2;s=Boiler.Temp)
//	{ns}       the namespace index
type template struct {
	prefix string
	parts  []tpart
}

type tpart struct {
	lit string
	ph  placeholder // 0: literal
}

type placeholder uint8

const (
	phName placeholder = iota + 1
	phDisplay
	phPath
	phID
	phNode
	phNS
)

var placeholders = map[string]placeholder{
	"name": phName, "display": phDisplay, "path": phPath, "id": phID, "node": phNode, "ns": phNS,
}

// templateVars is reserved for placeholders that depend on the entry; all
// are available everywhere today.
type templateVars struct{}

func parseTemplate(src string, _ templateVars) (*template, error) {
	if src == "" {
		return nil, errors.New("empty")
	}
	t := &template{}
	for rest := src; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, tpart{lit: rest})
			break
		}
		if rest[i] == '}' {
			return nil, fmt.Errorf("%q: unmatched }", src)
		}
		if i > 0 {
			t.parts = append(t.parts, tpart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unmatched {", src)
		}
		name := rest[i+1 : i+j]
		ph, ok := placeholders[name]
		if !ok {
			return nil, fmt.Errorf("%q: unknown placeholder {%s} (want {name}, {display}, {path}, {id}, {node} or {ns})", src, name)
		}
		t.parts = append(t.parts, tpart{ph: ph})
		rest = rest[i+j+1:]
	}
	return t, nil
}

// render names the stream of a variable.
func (t *template) render(v *variable) string {
	var b strings.Builder
	b.WriteString(t.prefix)
	for _, p := range t.parts {
		switch p.ph {
		case 0:
			b.WriteString(p.lit)
		case phName:
			b.WriteString(v.name)
		case phDisplay:
			b.WriteString(v.display)
		case phPath:
			b.WriteString(v.path)
		case phID:
			b.WriteString(identifier(v.idText))
		case phNode:
			b.WriteString(v.idText)
		case phNS:
			fmt.Fprint(&b, v.id.Namespace())
		}
	}
	return b.String()
}

// identifier is the part of a node id after its namespace and type
// prefixes: "ns=2;s=Boiler.Temp" -> "Boiler.Temp".
func identifier(nodeID string) string {
	s := nodeID
	if strings.HasPrefix(s, "ns=") || strings.HasPrefix(s, "nsu=") {
		if _, rest, ok := strings.Cut(s, ";"); ok {
			s = rest
		}
	}
	if len(s) > 2 && s[1] == '=' {
		return s[2:]
	}
	return s
}
