package configs

import (
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// suggest returns the candidate that word was most likely meant to be,
// or "" when none is close: the same word in other case or with '-' for
// '_', a candidate that word starts with (or that starts with word), or
// the nearest by edit distance (at most 1 for words of up to 4 letters,
// 2 up to 8, 3 beyond). Ties go to the first candidate.
func suggest(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	w := norm(word)
	for _, c := range candidates {
		if c != word && norm(c) == w {
			return c
		}
	}
	if len(w) >= 3 {
		for _, c := range candidates {
			if nc := norm(c); len(nc) >= 3 && nc != w && (strings.HasPrefix(w, nc) || strings.HasPrefix(nc, w)) {
				return c
			}
		}
	}
	limit := 1
	switch {
	case len(w) > 8:
		limit = 3
	case len(w) > 4:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		nc := norm(c)
		if nc == w {
			continue
		}
		// A distance as long as either word means nothing in common.
		if d := editDistance(w, nc); d < bestD && d < len(w) && d < len(nc) {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean is suggest as a hint, "did you mean X?", or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return "did you mean " + s + "?"
	}
	return ""
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes cost 1 each.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

var nodeType = reflect.TypeOf(yaml.Node{})

// yamlKeys returns the keys a value of type t takes in YAML (its fields'
// yaml names, inline structs included), or nil when t is not a struct.
func yamlKeys(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || t == nodeType {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml's default
		}
		keys = append(keys, name)
	}
	return keys
}

// typeAt returns the type of the value at key path rel (such as
// "subscriptions[0].json", relative to a value of type t), following
// struct fields by their yaml names, list elements and pointers; nil when
// the path leaves what t describes (a map, a type of its own unmarshalling).
func typeAt(t reflect.Type, rel string) reflect.Type {
	for rel != "" && t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if rel[0] == '[' {
			end := strings.IndexByte(rel, ']')
			if end < 0 || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array) {
				return nil
			}
			t, rel = t.Elem(), strings.TrimPrefix(rel[end+1:], ".")
			continue
		}
		key := rel
		if i := strings.IndexAny(rel, ".["); i >= 0 {
			key, rel = rel[:i], strings.TrimPrefix(rel[i:], ".")
		} else {
			rel = ""
		}
		t = fieldType(t, key)
	}
	return t
}

// fieldType returns the type of the field of struct t whose yaml key is
// key, looking into inline structs; nil if there is none.
func fieldType(t reflect.Type, key string) reflect.Type {
	t = derefType(t)
	if t == nil || t.Kind() != reflect.Struct || t == nodeType {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if ft := fieldType(f.Type, key); ft != nil {
				return ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type
		}
	}
	return nil
}

// hintUnknownKeys adds "did you mean" to the "unknown key" problems of a
// value of type root decoded at key path prefix: the keys its parent
// takes, and else the keys one level further down that are spelt exactly
// so ("did you mean api.listen?" for a top-level listen:).
func hintUnknownKeys(errs []*FieldError, root reflect.Type, prefix string) {
	for _, fe := range errs {
		if fe.Msg != "unknown key" || fe.Hint != "" {
			continue
		}
		rel := fe.Path
		if prefix != "" {
			var ok bool
			if rel, ok = strings.CutPrefix(fe.Path, prefix+"."); !ok {
				continue
			}
		}
		parent, key := "", rel
		if i := strings.LastIndexByte(rel, '.'); i >= 0 {
			parent, key = rel[:i], rel[i+1:]
		}
		pt := typeAt(root, parent)
		if h := didYouMean(key, yamlKeys(pt)); h != "" {
			fe.Hint = h
			continue
		}
		var deeper []string
		for _, k := range yamlKeys(pt) {
			if slices.Contains(yamlKeys(fieldType(pt, k)), key) {
				deeper = append(deeper, joinPath(joinPath(prefix, parent), k)+"."+key)
			}
		}
		if len(deeper) > 0 {
			fe.Hint = "did you mean " + strings.Join(deeper, " or ") + "?"
		}
	}
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
