package omf

// Fuzz targets of the OMF endpoint: each kind of OMF message through the
// handler (the JSON parser's is in connectors/internal/jsonscan, the
// timestamp parser's in connectors/pi/internal/pitime). Their seeds run in
// plain `go test`; `go test -fuzz FuzzX` explores.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

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
