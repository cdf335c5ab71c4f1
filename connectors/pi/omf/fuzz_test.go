package omf

// Fuzz targets of the OMF endpoint: the JSON parser and each kind of OMF
// message through the handler (the timestamp parser's is in
// connectors/pi/internal/pitime). Their seeds run in plain `go test`;
// `go test -fuzz FuzzX` explores.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// toAny converts a parsed value to what encoding/json (with UseNumber)
// decodes: later duplicate keys win.
func toAny(d *jdoc, v int32) any {
	x := &d.vals[v]
	switch x.kind {
	case jBool:
		return x.b
	case jNumber:
		return json.Number(x.s)
	case jString:
		return x.s
	case jArray:
		out := []any{}
		for _, m := range d.members(v) {
			out = append(out, toAny(d, m.v))
		}
		return out
	case jObject:
		out := map[string]any{}
		for _, m := range d.members(v) {
			out[m.key] = toAny(d, m.v)
		}
		return out
	}
	return nil
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `null`, `true`, `-0.5e+10`, `"a\u00e9\ud83d\ude00\n"`, `[1,[2,[3]],{"a":{"b":null}}]`,
		`{"a":1,"a":2}`, `"\ud800"`, `"\ud800\u0041"`, "\"\xff\"", `01`, `1.`, `-`, `[1,]`, `{"a"}`, `"\x"`,
		`  [ 1 , 2 ] `, `1e400`, `"abc`, `[` + strings.Repeat("[", 70) + strings.Repeat("]", 71),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d jdoc
		err := d.parse(s)
		valid := json.Valid([]byte(s))
		if err != nil {
			var je *jsonError
			if valid && !(errorsAs(err, &je) && strings.Contains(je.msg, "nested deeper")) {
				t.Fatalf("valid JSON %q rejected: %v", s, err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON %q accepted", s)
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if got := toAny(&d, 0); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", s, got, want)
		}
		if d.raw(0) != strings.TrimSpace(s) {
			t.Fatalf("raw %q of %q", d.raw(0), s)
		}
	})
}

func errorsAs(err error, target **jsonError) bool {
	je, ok := err.(*jsonError)
	if ok {
		*target = je
	}
	return ok
}

// fuzzHarness is an OMF source with the error tests' definitions, served
// through its handler directly.
func fuzzHarness(f *testing.F) (*omfHarness, *connectortest.Sink) {
	sink := connectortest.NewSink(f, connectortest.Options{})
	h := startOMF(f, "paths: [/omf]\n", sink, "") // no data dir: no fsync per definition
	if st, b := h.post("type", "create", errTypes); st != http.StatusNoContent {
		f.Fatalf("types: %d %s", st, b)
	}
	if st, b := h.post("container", "create", `[{"id": "c1", "typeid": "T"}, {"id": "n1", "typeid": "N"}]`); st != http.StatusNoContent {
		f.Fatalf("containers: %d %s", st, b)
	}
	return h, sink
}

// goldenBodies returns the bodies of the golden requests of a message type.
func goldenBodies(f *testing.F, msgType string) []string {
	var out []string
	files, _ := filepath.Glob("testdata/spec*/*.txt")
	for _, file := range files {
		g := readGolden(f, file)
		for _, hd := range g.req.headers {
			if hd[0] == "messagetype" && hd[1] == msgType {
				out = append(out, g.req.body)
			}
		}
	}
	return out
}

// fuzzMessage sends body as a message of msgType and checks the
// invariants: no panic, a status from the OMF list, a JSON body for
// errors, and nothing applied unless the answer is a success.
func fuzzMessage(f *testing.F, msgType string, seeds ...string) {
	h, sink := fuzzHarness(f)
	for _, s := range append(goldenBodies(f, msgType), seeds...) {
		f.Add(s, "create")
	}
	f.Add(`[{"action": "patch", "id": "c1", "name": "x"}]`, "update")
	f.Fuzz(func(t *testing.T, body, action string) {
		writes := sink.Writes()
		reg := h.src.reg.Load()
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/omf", strings.NewReader(body))
		for _, hd := range omfHeaders(msgType, action, "1.2") {
			r.Header.Set(hd[0], hd[1])
		}
		r.SetBasicAuth("fledge", "s3cret")
		h.src.ServeHTTP(rec, r)
		switch rec.Code {
		case 200, 204:
			return
		case 400, 404, 409, 501, 503:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var sh respShell
		if err := json.Unmarshal(rec.Body.Bytes(), &sh); err != nil || len(sh.Messages) == 0 {
			t.Fatalf("error response %q: %v", rec.Body.String(), err)
		}
		if sink.Writes() != writes || h.src.reg.Load() != reg {
			t.Fatalf("a %d request changed something: %q", rec.Code, body)
		}
	})
}

func FuzzOMFType(f *testing.F) {
	fuzzMessage(f, "type", `[{"id": "X", "type": "object", "classification": "dynamic", "properties": {"t": {"type": ["string", "null"], "isindex": true}}}]`,
		`[{"id": "E", "type": "string", "enum": [{"name": "a"}]}]`, `[{"id": "N"}]`)
}

func FuzzOMFContainer(f *testing.F) {
	fuzzMessage(f, "container", `[{"id": "c2", "typeid": "T", "propertyoverrides": {"Value": {"uom": "m"}}}]`, `[{"id": "c1"}]`)
}

func FuzzOMFData(f *testing.F) {
	fuzzMessage(f, "data",
		`[{"containerid": "c1", "values": [{"Time": "2026-01-01T00:00:00Z", "Value": 1, "Count": 3, "Flag": true, "Text": "x", "State": "On", "Q": "good"}]}]`,
		`[{"containerid": "n1", "values": [{"Epoch": 1.5e9, "Value": -0}]}]`,
		`[{"typeid": "S", "values": [{"Id": "a", "Label": "b"}]}, {"typeid": "__Link", "values": [{"source": {"typeid": "S", "index": "a"}, "target": {"containerid": "c1"}}]}]`)
}
