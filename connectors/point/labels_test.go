package point

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		ls   map[string]string
		want string // "" for valid
	}{
		{"none", nil, ""},
		{"prometheus names", map[string]string{"site": "plant1", "_x": "y", "Line_2": "ä / b=c"}, ""},
		{"dash", map[string]string{"plant-site": "a"}, `key "plant-site"`},
		{"digit first", map[string]string{"2nd": "a"}, `key "2nd"`},
		{"reserved", map[string]string{"__name__": "a"}, "reserved"},
		{"empty key", map[string]string{"": "a"}, "empty key"},
		{"long key", map[string]string{strings.Repeat("k", MaxLabelKeyLen+1): "a"}, "over the limit of 64"},
		{"empty value", map[string]string{"k": ""}, "k: empty value"},
		{"bad utf-8", map[string]string{"k": "\xff"}, "not UTF-8"},
		{"control", map[string]string{"k": "a\tb"}, "control character"},
		{"long value", map[string]string{"k": strings.Repeat("é", MaxLabelValueLen/2+1)}, "over the limit of 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLabels(tc.ls)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadLabel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want ErrBadLabel saying %q", err, tc.want)
			}
		})
	}
}

func TestLabelKey(t *testing.T) {
	for in, want := range map[string]string{
		"site":                  "site",
		"plant-site":            "plant_site",
		"1st":                   "_1st",
		"__name__":              "_name__",
		"___":                   "",
		"":                      "",
		"ns=2;s=Temp":           "ns_2_s_Temp",
		"Größe":                 "Gr__e",
		strings.Repeat("a", 70): strings.Repeat("a", MaxLabelKeyLen),
	} {
		got := LabelKey(in)
		if got != want {
			t.Errorf("LabelKey(%q) = %q, want %q", in, got, want)
		}
		if got != "" && ValidateLabelKey(got) != nil {
			t.Errorf("LabelKey(%q) = %q is not valid: %v", in, got, ValidateLabelKey(got))
		}
	}
}

func TestLabelsBuilder(t *testing.T) {
	var b Labels
	b.Add("site", "plant1")
	b.Add("node-id", "ns=2;s=Boiler.Temp")
	b.Add("empty", "")
	b.Add("__", "x")
	b.Add("site", "plant2") // later wins
	b.Add("bad", "a\x00b")
	for i := range MaxLabels {
		b.Add("k"+strings.Repeat("x", i), "v")
	}
	m, dropped := b.Map()
	if len(m) != MaxLabels || m["site"] != "plant2" || m["node_id"] != "ns=2;s=Boiler.Temp" || m["bad"] != "a\uFFFDb" {
		t.Fatalf("labels %v", m)
	}
	if want := 2 + 3; dropped != want { // empty, "__", and 3 over the cap
		t.Fatalf("dropped %d, want %d", dropped, want)
	}
	if err := ValidateLabels(m); err != nil {
		t.Fatal(err)
	}
	var none Labels
	if m, _ := none.Map(); m != nil {
		t.Fatalf("no labels gave %v", m)
	}
}

func TestMergeLabels(t *testing.T) {
	full := map[string]string{}
	for i := range MaxLabels {
		full["k"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		name        string
		old, new    map[string]string
		want        map[string]string
		wantChanged bool
	}{
		{"nothing new", map[string]string{"a": "1"}, nil, map[string]string{"a": "1"}, false},
		{"subset", map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2"}, map[string]string{"a": "1", "b": "2"}, false},
		{"added", map[string]string{"a": "1"}, map[string]string{"b": "2"}, map[string]string{"a": "1", "b": "2"}, true},
		{"replaced", map[string]string{"a": "1"}, map[string]string{"a": "2"}, map[string]string{"a": "2"}, true},
		{"to none", nil, map[string]string{"a": "1"}, map[string]string{"a": "1"}, true},
		{"over the cap: new wins", full, map[string]string{"z": "1"}, map[string]string{"z": "1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldCopy := maps.Clone(tc.old)
			got, changed := MergeLabels(tc.old, tc.new)
			if changed != tc.wantChanged || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v %v, want %v %v", got, changed, tc.want, tc.wantChanged)
			}
			if !maps.Equal(tc.old, oldCopy) {
				t.Fatal("old was modified")
			}
		})
	}
}

func TestParseLabelSelector(t *testing.T) {
	sel, err := ParseLabelSelector([]string{"site=plant1", "line", "path=/a=b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ls   map[string]string
		want bool
	}{
		{map[string]string{"site": "plant1", "line": "x", "path": "/a=b"}, true},
		{map[string]string{"site": "plant1", "path": "/a=b"}, false},
		{map[string]string{"site": "plant2", "line": "x", "path": "/a=b"}, false},
		{nil, false},
	} {
		if got := sel.Match(tc.ls); got != tc.want {
			t.Errorf("Match(%v) = %v, want %v", tc.ls, got, tc.want)
		}
	}
	if !LabelSelector(nil).Match(nil) {
		t.Error("the empty selector must match everything")
	}
	for _, bad := range []string{"", "=x", "a-b=c", "__name__=x"} {
		if _, err := ParseLabelSelector([]string{bad}); !errors.Is(err, ErrBadLabel) {
			t.Errorf("ParseLabelSelector(%q): %v, want ErrBadLabel", bad, err)
		}
	}
}

// FuzzLabels: whatever a source finds, the builder makes a valid label set,
// and LabelValue keeps valid values as they are.
func FuzzLabels(f *testing.F) {
	f.Add("site", "plant1")
	f.Add("__name__", "x")
	f.Add("9-x", "a\x00\xffb")
	f.Add("", strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, k, v string) {
		var b Labels
		b.Add(k, v)
		b.Add(v, k)
		m, dropped := b.Map()
		if err := ValidateLabels(m); err != nil {
			t.Fatalf("builder made invalid labels %q: %v", m, err)
		}
		want := 2
		if LabelKey(k) == LabelKey(v) && LabelKey(k) != "" && LabelValue(k) != "" && LabelValue(v) != "" {
			want = 1 // the second pair replaced the first
		}
		if len(m)+dropped != want {
			t.Fatalf("%d labels and %d dropped of %d", len(m), dropped, want)
		}
		if ValidateLabelValue("k", v) == nil && LabelValue(v) != v {
			t.Fatalf("LabelValue changed the valid %q", v)
		}
		if lv := LabelValue(v); !utf8.ValidString(lv) || len(lv) > MaxLabelValueLen {
			t.Fatalf("LabelValue(%q) = %q", v, lv)
		}
		if err := ValidateLabelKey(k); err == nil && LabelKey(k) != k {
			t.Fatalf("LabelKey changed the valid %q to %q", k, LabelKey(k))
		}
		sel, err := ParseLabelSelector([]string{k + "=" + v})
		if err == nil && ValidateLabelKey(k) == nil && !sel.Match(map[string]string{k: v}) {
			t.Fatalf("selector %q=%q does not match its own pair", k, v)
		}
	})
}
