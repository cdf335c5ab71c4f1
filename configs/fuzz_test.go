package configs

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: a config is a parser, so arbitrary bytes must never panic;
// an accepted config's sections must decode without panicking, and its
// marshalled form must be accepted again. The seeds (every testdata file
// and the examples) run in plain `go test`.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(Example))
	f.Add([]byte(Minimal))
	f.Add([]byte("sources:\n  - name: a\n    type: t\n    t: &x {a: *x}\n"))
	f.Add([]byte("sources: [{name: a, type: t, t: {k: [1, {v: 2}]}}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, noEnv)
		if err != nil {
			if len(fieldErrors(err)) == 0 {
				t.Fatalf("error without a FieldError: %v", err)
			}
			return
		}
		for _, s := range c.Sources {
			var m any
			_ = s.Decode(&m)
			var st struct {
				A string `yaml:"a"`
			}
			_ = s.Decode(&st)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			return // an alias bomb in a section
		}
		if _, err := parse(out, noEnv); err != nil {
			t.Fatalf("marshalled config rejected: %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
	})
}
