package pi

// Fuzz targets for every parser: the JSON parser, timestamps, each kind of
// OMF message through the handler, and PI Web API answers. Their seeds run
// in plain `go test`; `go test -fuzz FuzzX` explores.

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors"
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

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-23T10:00:00.1234567Z", "2017-01-11T22:23:23.430Z", "2017-01-11T23:23:23+01:00", "2017-01-11 23:23:23",
		"2017-01-11t23:23:23z", "2016-02-29T00:00:00Z", "2017-02-29T00:00:00Z", "2262-04-11T23:47:16.854775807Z",
		"1677-09-21T00:12:43.145224192Z", "2017-01-11T23:23:23.1234567891Z", "2017-01-11T23:23:23-0530", "2017-01-11",
		"2017-13-01T00:00:00Z", "9999-12-31T23:59:59Z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if ref, rerr := time.Parse(time.RFC3339Nano, s); rerr == nil && ref.Year() >= 1678 && ref.Year() <= 2261 {
			if err != nil || got != ref.UnixNano() {
				t.Fatalf("%q: got %d, %v; time.Parse says %d", s, got, err, ref.UnixNano())
			}
		}
		if fast, ok := fastTime(s); ok && fast != got {
			t.Fatalf("%q: fast path %d, parseTime %d", s, fast, got)
		}
	})
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
	files, _ := filepath.Glob("testdata/omf/*/*.txt")
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

// PI Web API answers.

var fuzzKinds = []connectors.Kind{connectors.KindFloat, connectors.KindInt, connectors.KindBool, connectors.KindString}

func checkDecoded(t *testing.T, pts []connectors.Point, k connectors.Kind) {
	for _, p := range pts {
		if p.Value.Kind != k {
			t.Fatalf("point of kind %v in a %v stream", p.Value.Kind, k)
		}
		if k == connectors.KindFloat && (math.IsNaN(p.Value.F) || math.IsInf(p.Value.F, 0)) {
			t.Fatalf("non-finite float %v", p.Value.F)
		}
	}
}

func FuzzWebAPIRecorded(f *testing.F) {
	f.Add([]byte(recordedSample))
	f.Add([]byte(`{"Items": [{"WebId": "W1", "Items": [{"Timestamp": "2026-11-23T10:00:00Z", "Value": {"Name": "I/O Timeout", "Value": 246, "IsSystem": true}, "Good": false}, {"Errors": ["Error occurred during writing of the output stream."]}]}]}`))
	f.Add([]byte(`{"WebException": {"Errors": ["boom"], "StatusCode": 500}}`))
	f.Add([]byte(`{"Items": [{"WebId": "W1", "Items": [{"Timestamp": "x", "Value": [1]}, {"Timestamp": "2026-11-23T10:00:00Z", "Value": "1e999"}, {"Timestamp": "2026-11-23T10:00:00Z", "Value": {"Errors": ["bad"]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp recordedItems
		if json.NewDecoder(bytes.NewReader(body)).Decode(&resp) != nil {
			return
		}
		failure(resp.Errors, resp.WebException, nil)
		s := &WebAPISource{logged: map[string]bool{}, env: connectors.Env{Logger: discardLogger()}, m: testWebMetrics()}
		for _, k := range fuzzKinds {
			for i := range resp.Items {
				it := &resp.Items[i]
				failure(it.Errors, it.WebException, it.Exception)
				st := &piStream{kind: k, webID: it.WebID}
				pts, _, _ := s.decode(it.Items, st, nil, true)
				checkDecoded(t, pts, k)
			}
		}
	})
}

func FuzzWebAPIUpdates(f *testing.F) {
	f.Add([]byte(updatesSample))
	f.Add([]byte(`{"Items": [{"Source": "W1", "Status": "Failed", "Exception": {"Errors": ["expired"]}}]}`))
	f.Add([]byte(`{"Items": [{"Source": "W1", "LatestMarker": "m", "Events": [{"Action": "Delete", "Timestamp": "2026-11-23T10:00:00Z", "Value": 1}, {"Action": "Add", "Timestamp": "2026-11-23T10:00:00.1234567Z", "Value": true, "Substituted": true}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp updateItems
		if json.NewDecoder(bytes.NewReader(body)).Decode(&resp) != nil {
			return
		}
		s := &WebAPISource{logged: map[string]bool{}, env: connectors.Env{Logger: discardLogger()}, m: testWebMetrics()}
		for _, k := range fuzzKinds {
			for i := range resp.Items {
				it := &resp.Items[i]
				failure(it.Errors, it.WebException, it.Exception)
				st := &piStream{kind: k, marker: it.RequestedMarker}
				findUpdate(resp.Items, i, st, false)
				pts, _, _ := s.decode(it.Events, st, nil, false)
				checkDecoded(t, pts, k)
			}
		}
	})
}

func FuzzWebAPIResolve(f *testing.F) {
	f.Add([]byte(pointSample))
	f.Add([]byte(attributeSample))
	f.Add([]byte(`{"Errors": ["PI Point not found '\\\\PISRV\\Nope'."]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p piPoint
		var a afAttribute
		if json.Unmarshal(body, &p) == nil {
			pointKind(p.PointType)
			failure(p.Errors, p.WebException, nil)
		}
		if json.Unmarshal(body, &a) == nil {
			attributeKind(a.Type)
			failure(a.Errors, a.WebException, nil)
		}
	})
}
