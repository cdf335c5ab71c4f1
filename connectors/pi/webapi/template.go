package webapi

import (
	"errors"
	"fmt"
	"strings"
)

// template is a parsed stream name template: literal text and variables.
// connectors/pi/omf has the same; the two sources never import each other.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit string
	v   string // variable name; lit unused when set
}

// parseTemplate parses "{var}" placeholders of the given names; "{{" and
// "}}" are literal braces.
func parseTemplate(src string, names []string) (*template, error) {
	t := &template{}
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
				t.parts = append(t.parts, tmplPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, tmplPart{v: name})
			i += end
		case c == '}':
			return nil, fmt.Errorf("%q: unmatched '}' (write }} for a literal one)", src)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tmplPart{lit: lit.String()})
	}
	return t, nil
}

// expand fills the template from vars.
func (t *template) expand(vars func(name string) string) string {
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
