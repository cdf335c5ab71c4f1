// Package nametmpl parses and fills the stream name templates of the PI
// sources ("{server}:{database}/{element}/{name}"), which the OMF and the
// PI Web API sources share.
package nametmpl

import (
	"errors"
	"fmt"
	"strings"
)

// Template is a parsed stream name template: literal text and variables.
type Template struct {
	parts []part
}

type part struct {
	lit string
	v   string // variable name; lit unused when set
}

// Parse parses "{var}" placeholders of the given names; "{{" and "}}" are
// literal braces. An unknown variable is an error naming the known ones.
func Parse(src string, names []string) (*Template, error) {
	t := &Template{}
	if src == "" {
		return nil, errors.New("empty")
	}
	var lit strings.Builder
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' && i+1 < len(src) && src[i+1] == '{', c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed '{'", src)
			}
			name := src[i+1 : i+end]
			known := false
			for _, n := range names {
				known = known || n == name
			}
			if !known {
				return nil, fmt.Errorf("%q: unknown variable {%s} (known: {%s})", src, name, strings.Join(names, "}, {"))
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, part{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, part{v: name})
			i += end
		case c == '}':
			return nil, fmt.Errorf("%q: unmatched '}' (write }} for a literal one)", src)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, nil
}

// Expand fills the template from vars.
func (t *Template) Expand(vars func(name string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.v != "" {
			b.WriteString(vars(p.v))
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}
