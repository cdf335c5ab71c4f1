package jsonscan

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzScan holds Parse to encoding/json: it accepts the same texts and
// reads the same values from them. Its seeds run in plain `go test`;
// `go test -fuzz FuzzScan` explores.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		``, ` `, `[]`, `{}`, `null`, `true`, ` 0 `, `-0.0E+1`, `-0.5e+10`, `1e400`, `01`, `1.`, `-`, `tru`, `nul`,
		`  [ 1 , 2 ] `, `[1,[2,[3]],{"a":{"b":null}}]`, `{"a":1,"a":2}`,
		`{"a":[1,-2.5e3,"x\u00e9\ud83d\ude00\n",true,false,null,{}],"a":{"b":[]}}`,
		`"a\u00e9\ud83d\ude00\n"`, `"\ud800"`, `"\ud800x"`, `"\ud800\u0041"`, `"\udc00\ud800\udc00"`, "\"\xff\"", "\"a\xffb\\n\"", "\"\xed\xa0\x80\"",
		`[1,]`, `{"a"}`, `{"a" 1}`, `{"a":1,}`, `"\x"`, `"\x01"`, `"\u12"`, "\"\x01\"", `"abc`, `"a\`,
		`[` + strings.Repeat("[", 70) + strings.Repeat("]", 71), `[` + strings.Repeat("[", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Doc
		err := d.Parse(s)
		if valid := json.Valid([]byte(s)); (err == nil) != valid {
			t.Fatalf("%q: Parse error %v, json.Valid %v", s, err, valid)
		}
		// A lower depth limit refuses what nests deeper, and nothing else.
		shallow := Doc{MaxDepth: 8}
		if serr := shallow.Parse(s); (serr == nil) != (err == nil) && !(err == nil && errors.Is(serr, ErrTooDeep)) {
			t.Fatalf("%q: Parse error %v, with MaxDepth 8 %v", s, err, serr)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(s) || e.Msg == "" {
				t.Fatalf("%q: error %#v", s, err)
			}
			return
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if got := toAny(&d, Root); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parsed %#v\nencoding/json %#v", s, got, want)
		}
		if raw := d.Raw(Root); raw != strings.Trim(s, " \t\r\n") {
			t.Fatalf("raw %q of %q", raw, s)
		}
	})
}
