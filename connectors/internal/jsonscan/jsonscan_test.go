package jsonscan

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// toAny converts a parsed value to what encoding/json decodes with
// UseNumber (later duplicate names win).
func toAny(d *Doc, v Value) any {
	switch d.Kind(v) {
	case Bool:
		return d.Bool(v)
	case Number:
		return json.Number(d.Text(v))
	case String:
		return d.Text(v)
	case Array:
		out := []any{}
		for _, m := range d.Members(v) {
			out = append(out, toAny(d, m.Value))
		}
		return out
	case Object:
		out := map[string]any{}
		for _, m := range d.Members(v) {
			out[m.Key] = toAny(d, m.Value)
		}
		return out
	}
	return nil
}

type obj = map[string]any
type arr = []any

func TestParse(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, src string
		want      any
	}{
		{"null", "null", nil},
		{"true", "true", true},
		{"false", " false\n", false},
		{"integer", "-0", json.Number("-0")},
		{"float", "-12.5e+3", json.Number("-12.5e+3")},
		{"exponent", "1E-7", json.Number("1E-7")},
		{"beyond float64", "1e400", json.Number("1e400")},
		{"beyond int64", "-9223372036854775809", json.Number("-9223372036854775809")},
		{"empty string", `""`, ""},
		{"empty containers", `[{},[],""]`, arr{obj{}, arr{}, ""}},
		{"white space", " \t\r\n[ 1 ,\n2 ] \n", arr{json.Number("1"), json.Number("2")}},
		{"nested", `{"a":[1,{"b":null}],"c":{}}`, obj{"a": arr{json.Number("1"), obj{"b": nil}}, "c": obj{}}},
		{"duplicate name", `{"a":1,"a":2}`, obj{"a": json.Number("2")}},
		{"escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{"escaped name", `{"a\u0062":1}`, obj{"ab": json.Number("1")}},
		{"unicode escapes", `"x\u00e9\u20AC\ud83d\ude00\u0000"`, "xé€😀\x00"},
		{"utf-8", `"é€😀"`, "é€😀"},
		{"lone high surrogate", `"\ud800"`, "\uFFFD"},
		{"lone low surrogate", `"\udc00x"`, "\uFFFDx"},
		{"high surrogate then letter", `"\ud800\u0041"`, "\uFFFDA"},
		{"two high surrogates", `"\ud800\ud83d\ude00"`, "\uFFFD😀"},
		{"low before high", `"\udc00\ud800\udc00"`, "\uFFFD𐀀"},
		{"invalid byte", "\"a\xffb\"", "a\uFFFDb"},
		{"truncated sequence", "\"\xe2\x82\"", "\uFFFD\uFFFD"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"},
		{"invalid byte and escape", "\"\xff\\n\xc3\xa9\"", "\uFFFD\né"},
		{"replacement character kept", "\"\uFFFD\"", "\uFFFD"},
		{"default depth", deep(DefaultMaxDepth), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Doc
			if err := d.Parse(tc.src); err != nil {
				t.Fatal(err)
			}
			if tc.name == "default depth" {
				return // not worth building the expected value
			}
			if got := toAny(&d, Root); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if raw := d.Raw(Root); raw != strings.Trim(tc.src, " \t\r\n") {
				t.Errorf("raw %q", raw)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, src string
		maxDepth  int
		off       int
		msg       string
	}{
		{"empty", "", 0, 0, "unexpected end of input"},
		{"only white space", " \n", 0, 2, "unexpected end of input"},
		{"trailing value", `{"a":1} {"a":2}`, 0, 8, "data after the top-level value"},
		{"trailing garbage", "[1]x", 0, 3, "data after the top-level value"},
		{"trailing NUL", "1\x00", 0, 1, "data after the top-level value"},
		{"leading zero", "01", 0, 1, "data after the top-level value"},
		{"literal prefix", "tru", 0, 0, "invalid literal (want true, false or null)"},
		{"literal case", "Null", 0, 0, `want a value, found 'N'`},
		{"literal suffix", "nullx", 0, 4, "data after the top-level value"},
		{"bare word", "[x]", 0, 1, `want a value, found 'x'`},
		{"non-ASCII byte", "\xff", 0, 0, "want a value, found byte 0xff"},
		{"minus alone", "-", 0, 0, "invalid number: no digits after '-'"},
		{"minus letter", "[-a]", 0, 1, "invalid number: no digits after '-'"},
		{"plus", "+1", 0, 0, "want a value, found '+'"},
		{"dot first", ".5", 0, 0, "want a value, found '.'"},
		{"dot last", "1.", 0, 0, "invalid number: no digits after '.'"},
		{"dot exponent", "[1.e5]", 0, 1, "invalid number: no digits after '.'"},
		{"empty exponent", "1e", 0, 0, "invalid number: no digits in the exponent"},
		{"signed empty exponent", "2E+", 0, 0, "invalid number: no digits in the exponent"},
		{"hex", "0x10", 0, 1, "data after the top-level value"},
		{"unterminated string", `["abc`, 0, 1, "unterminated string"},
		{"unterminated after escape", `"a\n`, 0, 0, "unterminated string"},
		{"backslash at end", `"a\`, 0, 0, "unterminated string"},
		{"control character", "\"a\x01\"", 0, 2, `control character '\x01' in a string`},
		{"raw newline after escape", "\"\\t\n\"", 0, 3, `control character '\n' in a string`},
		{"unknown escape", `"\x"`, 0, 1, `invalid escape \x`},
		{"escaped control character", "\"\\\x01\"", 0, 1, `invalid escape: a backslash before '\x01'`},
		{"short \\u", `"\u12"`, 0, 1, `invalid \u escape (want four hex digits)`},
		{"bad hex", `"\u12g4"`, 0, 1, `invalid \u escape (want four hex digits)`},
		{"bad second half", `"\ud800\u12g4"`, 0, 7, `invalid \u escape (want four hex digits)`},
		{"trailing comma in array", "[1,]", 0, 3, `want a value, found ']'`},
		{"missing comma", "[1 2]", 0, 3, `want ',' or ']' in an array, found '2'`},
		{"unclosed array", "[1", 0, 2, `unexpected end of input, want ',' or ']' in an array`},
		{"trailing comma in object", `{"a":1,}`, 0, 7, `want a member name in quotes, found '}'`},
		{"unquoted name", `{a:1}`, 0, 1, `want a member name in quotes, found 'a'`},
		{"no colon", `{"a" 1}`, 0, 5, `want ':' after a member name, found '1'`},
		{"no value", `{"a":}`, 0, 5, `want a value, found '}'`},
		{"unclosed object", `{"a":1`, 0, 6, `unexpected end of input, want ',' or '}' in an object`},
		{"open object", `{`, 0, 1, `unexpected end of input, want a member name in quotes`},
		{"bad name", "{\"\x02\":1}", 0, 2, `control character '\x02' in a string`},
		{"too deep", deep(DefaultMaxDepth + 1), 0, DefaultMaxDepth, "nested deeper than 10000 levels"},
		{"too deep for the limit", `{"a":[[1]]}`, 2, 6, "nested deeper than 2 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Doc{MaxDepth: tc.maxDepth}
			err := d.Parse(tc.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want an *Error", err, err)
			}
			if e.Offset != tc.off || e.Msg != tc.msg {
				t.Errorf("error at %d %q, want at %d %q", e.Offset, e.Msg, tc.off, tc.msg)
			}
			if tooDeep := strings.HasPrefix(tc.msg, "nested"); errors.Is(err, ErrTooDeep) != tooDeep {
				t.Errorf("errors.Is(%v, ErrTooDeep) is %v", err, !tooDeep)
			}
			if len(d.nodes) != 0 {
				t.Errorf("%d values left after the error", len(d.nodes))
			}
		})
	}
	var d Doc
	if err := d.Parse("[1,"); err == nil || err.Error() != "invalid JSON at byte 3: unexpected end of input" {
		t.Errorf("Error() = %q", err)
	}
}

func TestAccessors(t *testing.T) {
	var d Doc
	src := ` {"n": 1.5, "s": "a\tb", "t": true, "f": false, "z": null, "a": [10, "x", {}], "o": {"k": "v"}, "n": 2} `
	if err := d.Parse(src); err != nil {
		t.Fatal(err)
	}
	get := func(key string) Value {
		t.Helper()
		v := d.Get(Root, key)
		if v == Missing {
			t.Fatalf("no %q", key)
		}
		return v
	}
	for _, tc := range []struct {
		key        string
		kind       Kind
		text, raw  string
		bool       bool
		nMembers   int
		kindString string
	}{
		{"n", Number, "2", "2", false, 0, "number"}, // the last of the two
		{"s", String, "a\tb", `"a\tb"`, false, 0, "string"},
		{"t", Bool, "", "true", true, 0, "boolean"},
		{"f", Bool, "", "false", false, 0, "boolean"},
		{"z", Null, "", "null", false, 0, "null"},
		{"a", Array, "", `[10, "x", {}]`, false, 3, "array"},
		{"o", Object, "", `{"k": "v"}`, false, 1, "object"},
	} {
		v := get(tc.key)
		if d.Kind(v) != tc.kind || d.Text(v) != tc.text || d.Raw(v) != tc.raw || d.Bool(v) != tc.bool ||
			len(d.Members(v)) != tc.nMembers || d.Kind(v).String() != tc.kindString {
			t.Errorf("%s: kind %v text %q raw %q bool %v members %d", tc.key, d.Kind(v), d.Text(v), d.Raw(v), d.Bool(v), len(d.Members(v)))
		}
	}
	if ms := d.Members(Root); len(ms) != 8 || ms[0].Key != "n" || d.Text(ms[0].Value) != "1.5" || ms[7].Key != "n" {
		t.Errorf("members %+v", ms)
	}
	a := get("a")
	if d.Text(d.Index(a, 0)) != "10" || d.Text(d.Index(a, 1)) != "x" || d.Kind(d.Index(a, 2)) != Object {
		t.Error("Index")
	}
	if d.Index(a, 3) != Missing || d.Index(a, -1) != Missing || d.Index(Root, 0) != Missing {
		t.Error("Index out of range or of an object")
	}
	if d.Get(Root, "missing") != Missing || d.Get(a, "0") != Missing || d.Get(get("s"), "") != Missing {
		t.Error("Get of a missing name or of a non-object")
	}
	if d.Text(d.Get(get("o"), "k")) != "v" {
		t.Error("nested Get")
	}
	if Kind(99).String() != "Kind(99)" {
		t.Error(Kind(99).String())
	}

	// Reuse: a smaller document leaves nothing of the bigger one.
	if err := d.Parse(`["\u0041"]`); err != nil {
		t.Fatal(err)
	}
	if ms := d.Members(Root); len(ms) != 1 || d.Text(ms[0].Value) != "A" || len(d.nodes) != 2 || len(d.strs) != 1 {
		t.Errorf("after reuse: %+v, %d nodes, %d strings", ms, len(d.nodes), len(d.strs))
	}
	d.Reset()
	if d.src != "" || len(d.nodes) != 0 || d.kids[:cap(d.kids)][0].Key != "" || d.strs[:cap(d.strs)][0] != "" {
		t.Error("Reset kept the input")
	}
}

// TestAllocs holds the point of the package: no allocation per value once
// the Doc's slices have grown, one per string that has to be decoded.
func TestAllocs(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want float64
	}{
		{`{"v":123.5,"t":1700000000000000001,"q":"good","tags":[true,false,null]}`, 0},
		{omfBody(20), 0},
		{"{\"a\\n\":\"é\\u00e9\",\"b\":\"\xff\"}", 3},
	} {
		var d Doc
		if got := testing.AllocsPerRun(100, func() {
			if err := d.Parse(tc.src); err != nil {
				t.Fatal(err)
			}
		}); got != tc.want {
			t.Errorf("%.40q: %v allocations per parse, want %v", tc.src, got, tc.want)
		}
	}
}
