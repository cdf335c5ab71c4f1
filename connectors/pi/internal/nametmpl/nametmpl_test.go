package nametmpl

import (
	"strings"
	"testing"
)

func TestParseAndExpand(t *testing.T) {
	vars := []string{"server", "name"}
	for _, tc := range []struct {
		src, want, err string
	}{
		{src: "{server}/{name}", want: "pi1/temp"},
		{src: "plant/{name}", want: "plant/temp"},
		{src: "{{literal}}/{name}", want: "{literal}/temp"},
		{src: "", err: "empty"},
		{src: "{server", err: "unclosed '{'"},
		{src: "server}", err: "unmatched '}'"},
		{src: "{path}", err: "unknown variable {path} (known: {server}, {name})"},
	} {
		tm, err := Parse(tc.src, vars)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q): %v, want an error with %q", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.src, err)
		}
		got := tm.Expand(func(v string) string { return map[string]string{"server": "pi1", "name": "temp"}[v] })
		if got != tc.want {
			t.Errorf("%q expands to %q, want %q", tc.src, got, tc.want)
		}
	}
}

// FuzzParse: any text parses or is refused, never panics, and a template
// without variables expands to its literal text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"{server}/{name}", "{{x}}", "{", "}", "{name}{name}", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, err := Parse(src, []string{"name"})
		if err != nil {
			return
		}
		out := tm.Expand(func(string) string { return "" })
		if !strings.Contains(src, "{name}") && len(out) > len(src) {
			t.Fatalf("%q expanded to the longer %q", src, out)
		}
	})
}
