package omf

// Malformed and refused OMF requests: each gets the right status and
// event, and nothing of it is applied (no point written, no definition
// changed). See omf_test.go for where the messages come from.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

const errTypes = `[
  {"id": "ES", "type": "integer", "enum": [{"name": "Off", "value": 0}, {"name": "On", "value": 1}]},
  {"id": "T", "type": "object", "classification": "dynamic", "properties": {
    "Time": {"type": "string", "format": "date-time", "isindex": true},
    "Value": {"type": "number"},
    "Count": {"type": "integer", "format": "int16"},
    "Flag": {"type": "boolean"},
    "Text": {"type": "string"},
    "State": {"reftypeid": "ES"},
    "Q": {"type": "string", "isquality": true}
  }},
  {"id": "N", "type": "object", "classification": "dynamic", "properties": {
    "Epoch": {"type": "integer", "format": "int64", "isindex": true},
    "Value": {"type": "number"}
  }},
  {"id": "S", "type": "object", "classification": "static", "properties": {
    "Id": {"type": "string", "isindex": true}, "Label": {"type": "string"}
  }}
]`

// errHarness has T, N and S defined and containers c1 (T) and n1 (N).
func errHarness(t *testing.T, section string) (*omfHarness, *connectortest.Sink) {
	t.Helper()
	sink := connectortest.NewSink(t, connectortest.Options{})
	h := startOMF(t, section, sink, t.TempDir())
	if st, b := h.post("type", "create", errTypes); st != http.StatusNoContent {
		t.Fatalf("types: %d %s", st, b)
	}
	if st, b := h.post("container", "create", `[{"id": "c1", "typeid": "T"}, {"id": "n1", "typeid": "N"}]`); st != http.StatusNoContent {
		t.Fatalf("containers: %d %s", st, b)
	}
	return h, sink
}

// snapshot captures what a request must not change.
type snapshot struct {
	writes, points int
	file           string
}

func snap(t *testing.T, h *omfHarness, sink *connectortest.Sink) snapshot {
	b, err := os.ReadFile(h.src.file)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{sink.Writes(), sink.Len(), string(b)}
}

func TestOMFMalformed(t *testing.T) {
	h, sink := errHarness(t, "paths: [/omf]\n")
	val := func(v string) string { return `[{"containerid": "c1", "values": [` + v + `]}]` }
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.String()
	}
	for _, tc := range []struct {
		name    string
		headers [][2]string
		body    string
		status  int
		code    int
		index   int // message index of the first event; -1 for the request
		text    string
	}{
		// Headers.
		{"no messagetype", [][2]string{{"messageformat", "JSON"}, {"omfversion", "1.2"}}, "[]", 400, evMissingHeader, -1, "messagetype"},
		{"no messageformat", [][2]string{{"messagetype", "data"}, {"omfversion", "1.2"}}, "[]", 400, evMissingHeader, -1, "messageformat"},
		{"no omfversion", [][2]string{{"messagetype", "data"}, {"messageformat", "JSON"}}, "[]", 400, evMissingHeader, -1, "omfversion"},
		{"bad messagetype", omfHeaders("values", "", "1.2"), "[]", 400, evMessageType, -1, "values"},
		{"bad messageformat", [][2]string{{"messagetype", "data"}, {"messageformat", "xml"}, {"omfversion", "1.2"}}, "[]", 400, evMessageFormat, -1, "xml"},
		{"bad omfversion", omfHeaders("data", "", "2.0"), "[]", 400, evOMFVersion, -1, "2.0"},
		{"bad action", omfHeaders("data", "upsert", "1.2"), "[]", 400, evAction, -1, "upsert"},
		{"patch before 1.2", omfHeaders("container", "patch", "1.1"), "[]", 400, evAction, -1, "1.2"},
		{"bad compression", omfHeaders("data", "", "1.2", "compression", "deflate"), "[]", 400, evCompression, -1, "deflate"},
		{"duplicate header", append(omfHeaders("data", "", "1.2"), [2]string{"messagetype", "type"}), "[]", 400, evDuplicateHeader, -1, "messagetype"},
		// Body.
		{"not gzip", omfHeaders("data", "", "1.2", "compression", "gzip"), "[]", 400, evDecompression, -1, "decompressed"},
		{"truncated gzip", omfHeaders("data", "", "1.2", "compression", "gzip"), gz(val(`{"Time": "2026-01-01T00:00:00Z", "Value": 1}`))[:30], 400, evDecompression, -1, "decompressed"},
		{"invalid JSON", omfHeaders("data", "", "1.2"), `[{"containerid": "c1", "values": [}]`, 400, evParser, -1, "invalid JSON"},
		{"trailing data", omfHeaders("data", "", "1.2"), `[] []`, 400, evParser, -1, "after the top-level"},
		{"empty body", omfHeaders("data", "", "1.2"), ``, 400, evParser, -1, "end of input"},
		{"nested too deeply", omfHeaders("data", "", "1.2"), "[" + strings.Repeat("[", 64) + strings.Repeat("]", 65), 400, evParser, -1, "at byte 64: nested deeper than 64 levels"},
		{"object body", omfHeaders("data", "", "1.2"), `{"containerid": "c1"}`, 400, evParser, -1, "array"},
		{"element not object", omfHeaders("data", "", "1.2"), `[{"containerid": "c1", "values": []}, 5]`, 400, evParser, 1, "number"},
		// Types.
		{"type without id", omfHeaders("type", "create", "1.2"), `[{"type": "object", "classification": "static", "properties": {"a": {"type": "string", "isindex": true}}}]`, 400, evValue, 0, "id: missing"},
		{"type id with space", omfHeaders("type", "create", "1.2"), `[{"id": "X ", "type": "object", "classification": "static", "properties": {"a": {"type": "string", "isindex": true}}}]`, 400, evValue, 0, "white space"},
		{"bad classification", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamik", "properties": {"a": {"type": "string", "isindex": true}}}]`, 400, evValue, 0, "dynamik"},
		{"no properties", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamic"}]`, 400, evValue, 0, "properties"},
		{"dynamic without index", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamic", "properties": {"v": {"type": "number"}}}]`, 400, evValue, 0, "isindex"},
		{"compound time index", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamic", "properties": {"a": {"type": "string", "isindex": true}, "b": {"type": "string", "isindex": true}, "v": {"type": "number"}}}]`, 409, evCannotRepresent, 0, "compound"},
		{"boolean index", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamic", "properties": {"a": {"type": "boolean", "isindex": true}, "v": {"type": "number"}}}]`, 409, evCannotRepresent, 0, "index"},
		{"unknown property type", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "static", "properties": {"a": {"type": "string", "isindex": true}, "b": {"type": "float"}}}]`, 400, evValue, 0, "float"},
		{"bad integer format", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "static", "properties": {"a": {"type": "string", "isindex": true}, "b": {"type": "integer", "format": "int8"}}}]`, 400, evValue, 0, "int8"},
		{"index and quality", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "dynamic", "properties": {"a": {"type": "string", "isindex": true, "isquality": true}}}]`, 400, evValue, 0, "isquality"},
		{"unknown reftypeid", omfHeaders("type", "create", "1.2"), `[{"id": "X", "type": "object", "classification": "static", "properties": {"a": {"type": "string", "isindex": true}, "b": {"reftypeid": "Nope"}}}]`, 404, evValue, 0, "Nope"},
		{"type redefined", omfHeaders("type", "create", "1.2"), `[{"id": "S", "type": "object", "classification": "static", "properties": {"Id": {"type": "string", "isindex": true}}}]`, 409, evCannotRepresent, 0, "another definition"},
		{"update unknown type", omfHeaders("type", "update", "1.2"), `[{"id": "Nope", "type": "object", "classification": "static", "properties": {"Id": {"type": "string", "isindex": true}}}]`, 404, 0, 0, "not defined"},
		{"type kind change", omfHeaders("type", "update", "1.2"), `[{"id": "N", "type": "object", "classification": "dynamic", "properties": {"Epoch": {"type": "integer", "format": "int64", "isindex": true}, "Value": {"type": "string"}}}]`, 409, evCannotRepresent, 0, "would change from float to string"},
		{"valid then invalid type", omfHeaders("type", "create", "1.2"), `[{"id": "New", "type": "object", "classification": "static", "properties": {"Id": {"type": "string", "isindex": true}}}, {"id": ""}]`, 400, evValue, 1, "id: missing"},
		{"patch unknown type", omfHeaders("type", "patch", "1.2"), `[{"id": "Nope", "description": "x"}]`, 404, 0, 0, "patched"},
		{"patch changes classification", omfHeaders("type", "patch", "1.2"), `[{"id": "S", "classification": "dynamic"}]`, 400, evValue, 0, "cannot change"},
		{"patch changes a kind", omfHeaders("type", "patch", "1.2"), `[{"id": "T", "properties": {"Value": {"type": "string"}}}]`, 409, evCannotRepresent, 0, "would change from float to string"},
		{"delete unknown type", omfHeaders("type", "delete", "1.2"), `[{"id": "Nope"}]`, 404, 0, 0, "not defined"},
		{"delete type in use", omfHeaders("type", "delete", "1.2"), `[{"id": "ES"}]`, 409, evCannotRepresent, 0, "referenced"},
		// Containers.
		{"container of unknown type", omfHeaders("container", "create", "1.2"), `[{"id": "c9", "typeid": "Nope"}]`, 404, 0, 0, "Nope"},
		{"container of static type", omfHeaders("container", "create", "1.2"), `[{"id": "c9", "typeid": "S"}]`, 400, evValue, 0, "not dynamic"},
		{"container without typeid", omfHeaders("container", "create", "1.2"), `[{"id": "c9"}]`, 400, evValue, 0, "typeid"},
		{"bad override", omfHeaders("container", "create", "1.2"), `[{"id": "c9", "typeid": "T", "propertyoverrides": {"Nope": {"uom": "m"}}}]`, 400, evValue, 0, "Nope"},
		{"container type change", omfHeaders("container", "update", "1.2"), `[{"id": "c1", "typeid": "N"}]`, 409, evCannotRepresent, 0, "type"},
		{"patch unknown container", omfHeaders("container", "patch", "1.2"), `[{"id": "c9", "name": "x"}]`, 404, 0, 0, "not defined"},
		{"bad object action", omfHeaders("container", "create", "1.2"), `[{"id": "c9", "typeid": "T", "action": "upsert"}]`, 400, evAction, 0, "upsert"},
		{"good and bad containers", omfHeaders("container", "create", "1.2"), `[{"id": "c8", "typeid": "T"}, {"id": "c9", "typeid": "Nope"}]`, 404, 0, 1, "Nope"},
		// Data.
		{"unknown container", omfHeaders("data", "", "1.2"), `[{"containerid": "nope", "values": []}]`, 404, 0, 0, "nope"},
		{"values not an array", omfHeaders("data", "", "1.2"), `[{"containerid": "c1", "values": {}}]`, 400, evValue, 0, "values"},
		{"value not an object", omfHeaders("data", "", "1.2"), val(`1`), 400, evValue, 0, "values[0]"},
		{"missing index", omfHeaders("data", "", "1.2"), val(`{"Value": 1}`), 400, evValue, 0, "index"},
		{"bad timestamp", omfHeaders("data", "", "1.2"), val(`{"Time": "yesterday", "Value": 1}`), 400, evValue, 0, "ISO 8601"},
		{"number index for a date-time", omfHeaders("data", "", "1.2"), val(`{"Time": 1700000000, "Value": 1}`), 400, evValue, 0, "index"},
		{"unknown property", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Valeu": 1}`), 400, evValue, 0, "Valeu"},
		{"string for number", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Value": "12.5"}`), 400, evValue, 0, "string"},
		{"int16 out of range", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Count": 40000}`), 400, evRange, 0, "out of range"},
		{"fraction for integer", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Count": 1.5}`), 400, evValue, 0, "not an integer"},
		{"number for boolean", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Flag": 1}`), 400, evValue, 0, "boolean"},
		{"unknown enum member", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "State": "Half"}`), 400, evValue, 0, "Half"},
		{"bad quality", omfHeaders("data", "", "1.2"), val(`{"Time": "2026-01-01T00:00:00Z", "Value": 1, "Q": {"a": 1}}`), 400, evValue, 0, "quality"},
		{"good values then a bad one", omfHeaders("data", "", "1.2"), `[{"containerid": "n1", "values": [{"Epoch": 1700000000, "Value": 1}]}, {"containerid": "c1", "values": [{"Time": "2026-01-01T00:00:00Z", "Value": true}]}]`, 400, evValue, 1, "boolean"},
		{"typeid does not match", omfHeaders("data", "", "1.2"), `[{"containerid": "c1", "typeid": "N", "values": []}]`, 400, evValue, 0, "has type"},
		{"data of a dynamic type", omfHeaders("data", "", "1.2"), `[{"typeid": "T", "values": []}]`, 400, evValue, 0, "containerid"},
		{"neither containerid nor typeid", omfHeaders("data", "", "1.2"), `[{"values": []}]`, 400, evValue, 0, "containerid"},
		{"static data unknown property", omfHeaders("data", "", "1.2"), `[{"typeid": "S", "values": [{"Id": "a", "Nope": 1}]}]`, 400, evValue, 0, "Nope"},
		{"static data without index", omfHeaders("data", "", "1.2"), `[{"typeid": "S", "values": [{"Label": "a"}]}]`, 400, evValue, 0, "index"},
		{"link to unknown container", omfHeaders("data", "", "1.2"), `[{"typeid": "__Link", "values": [{"source": {"typeid": "S", "index": "_ROOT"}, "target": {"containerid": "nope"}}]}]`, 404, 0, 0, "nope"},
		{"link without target", omfHeaders("data", "", "1.2"), `[{"typeid": "__Link", "values": [{"source": {"typeid": "S", "index": "_ROOT"}}]}]`, 400, evValue, 0, "target"},
		{"update of missing instance", omfHeaders("data", "update", "1.2"), `[{"typeid": "S", "values": [{"Id": "zz"}]}]`, 404, 0, 0, "zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, h, sink)
			status, hdr, body := h.do(omfRequest{headers: tc.headers, body: tc.body, user: "fledge", pass: "s3cret", raw: true})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", hdr.Get("Content-Type"))
			}
			sh := decodeShell(t, body)
			if len(sh.Messages) == 0 || len(sh.Messages[0].Events) == 0 || sh.OperationID == "" {
				t.Fatalf("no events: %s", body)
			}
			m := sh.Messages[0]
			idx := -1
			if m.MessageIndex != nil {
				idx = *m.MessageIndex
			}
			ev := m.Events[0]
			if idx != tc.index || ev.EventInfo.EventCode != tc.code || ev.Severity != sevError || m.Status.Code != tc.status ||
				!strings.Contains(ev.EventInfo.Message, tc.text) {
				t.Fatalf("message %d, event %d %s %q, status %d; want message %d, event %d containing %q",
					idx, ev.EventInfo.EventCode, ev.Severity, ev.EventInfo.Message, m.Status.Code, tc.index, tc.code, tc.text)
			}
			if after := snap(t, h, sink); after != before {
				t.Fatalf("the request changed something: %d writes/%d points before, %d/%d after; definitions changed: %v",
					before.writes, before.points, after.writes, after.points, after.file != before.file)
			}
		})
	}
}

func TestOMFStreamNames(t *testing.T) {
	t.Run("refused name", func(t *testing.T) {
		h, sink := errHarness(t, "paths: [/omf]\n")
		sink.Refuse("bad.Value")
		before := snap(t, h, sink)
		st, body := h.post("container", "create", `[{"id": "bad", "typeid": "T"}]`)
		if st != 400 || !strings.Contains(body, "refuses stream") {
			t.Fatalf("%d %s", st, body)
		}
		if after := snap(t, h, sink); after.file != before.file {
			t.Fatal("the container was saved")
		}
	})
	t.Run("two containers, one name", func(t *testing.T) {
		sink := connectortest.NewSink(t, connectortest.Options{})
		h := startOMF(t, "stream: \"{typeid}/{property}\"\n", sink, t.TempDir())
		if st, b := h.post("type", "", `[{"id": "T", "type": "object", "classification": "dynamic", "properties": {"t": {"type": "string", "isindex": true}, "v": {"type": "number"}}}]`); st != 204 {
			t.Fatalf("%d %s", st, b)
		}
		if st, b := h.post("container", "", `[{"id": "a", "typeid": "T"}]`); st != 204 {
			t.Fatalf("%d %s", st, b)
		}
		if st, b := h.post("container", "", `[{"id": "b", "typeid": "T"}]`); st != 409 || !strings.Contains(b, `already container \"a\"`) {
			t.Fatalf("%d %s", st, b)
		}
	})
}

func TestOMFTemplateCollision(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	h := startOMF(t, "stream: \"plant/{containerid}\"\n", sink, t.TempDir())
	if st, b := h.post("type", "", `[{"id": "T", "type": "object", "classification": "dynamic", "properties": {"t": {"type": "string", "isindex": true}, "v": {"type": "number"}, "w": {"type": "number"}}}]`); st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	if st, b := h.post("container", "", `[{"id": "a", "typeid": "T"}]`); st != 400 || !strings.Contains(b, "would both be stream") {
		t.Fatalf("%d %s", st, b)
	}
}

func TestOMFAuth(t *testing.T) {
	h, sink := errHarness(t, "paths: [/omf, /piwebapi/omf]\n")
	data := `[{"containerid": "c1", "values": [{"Time": "2026-01-01T00:00:00Z", "Value": 1}]}]`
	send := func(path string, headers [][2]string, auth func(*http.Request)) (int, http.Header) {
		r, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(data))
		for _, hd := range headers {
			r.Header.Set(hd[0], hd[1])
		}
		if auth != nil {
			auth(r)
		}
		resp, err := h.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	dataH := omfHeaders("data", "create", "1.2")
	for _, tc := range []struct {
		name    string
		path    string
		headers [][2]string
		auth    func(*http.Request)
		want    int
	}{
		{"no credentials", "/omf", dataH, nil, 401},
		{"wrong password", "/omf", dataH, basic("fledge", "nope"), 401},
		{"unknown user", "/omf", dataH, basic("eve", "s3cret"), 401},
		{"wrong token", "/omf", dataH, bearer("nope"), 401},
		{"other scheme", "/omf", dataH, func(r *http.Request) { r.Header.Set("Authorization", "Negotiate abc") }, 401},
		{"basic", "/omf", dataH, basic("fledge", "s3cret"), 204},
		{"bearer", "/piwebapi/omf", dataH, bearer("t0ken"), 204},
		{"data-only login sends data", "/omf", dataH, basic("device", "d3vice"), 204},
		{"data-only login sends a type", "/omf", omfHeaders("type", "create", "1.2"), basic("device", "d3vice"), 403},
		{"data-only login deletes", "/omf", omfHeaders("data", "delete", "1.2"), basic("device", "d3vice"), 403},
	} {
		st, hdr := send(tc.path, tc.headers, tc.auth)
		if st != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, st, tc.want)
		}
		if st == 401 && !strings.Contains(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: challenge %q", tc.name, hdr.Get("WWW-Authenticate"))
		}
	}
	st, _, body := h.do(omfRequest{headers: dataH, user: "device", pass: "d3vice",
		body: `[{"typeid": "S", "values": [{"Id": "a"}]}]`})
	if st != 403 {
		t.Errorf("static data by a data-only login: %d %s", st, body)
	}
	// Per-object delete by a data-only login.
	st, _, body = h.do(omfRequest{headers: dataH, user: "device", pass: "d3vice",
		body: `[{"action": "delete", "typeid": "S", "values": [{"Id": "a"}]}]`})
	if st != 403 {
		t.Errorf("per-object delete by a data-only login: %d %s", st, body)
	}
	if sink.Len() != 1 {
		t.Errorf("%d points stored, want 1", sink.Len())
	}
	r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/omf", nil)
	resp, err := h.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestOMFAnonymous(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	h := startOMF(t, "auth: {anonymous: true}\n", sink, t.TempDir())
	st, _, body := h.do(omfRequest{headers: omfHeaders("type", "", "1.2"), body: `[]`})
	if st != 204 {
		t.Fatalf("%d %s", st, body)
	}
}

func TestOMFTooLarge(t *testing.T) {
	h, sink := errHarness(t, "max_body_bytes: 4096\n")
	var b strings.Builder
	b.WriteString(`[{"containerid": "n1", "values": [`)
	for i := 0; b.Len() < 8000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Epoch": %d, "Value": %d}`, 1700000000+i, i)
	}
	b.WriteString("]}]")
	big := b.String()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(big))
	zw.Close()
	if z.Len() > 4096 {
		t.Fatalf("the compressed body (%d) should fit", z.Len())
	}
	for _, tc := range []struct {
		name    string
		body    string
		headers [][2]string
		chunked bool
	}{
		{"content length", big, omfHeaders("data", "", "1.2"), false},
		{"chunked", big, omfHeaders("data", "", "1.2"), true},
		{"gzip", z.String(), omfHeaders("data", "", "1.2", "compression", "gzip"), false},
	} {
		var body = strings.NewReader(tc.body)
		r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/omf", body)
		if tc.chunked {
			r, _ = http.NewRequest(http.MethodPost, h.srv.URL+"/omf", struct{ *strings.Reader }{body})
			r.ContentLength = -1
		}
		for _, hd := range tc.headers {
			r.Header.Set(hd[0], hd[1])
		}
		r.SetBasicAuth("fledge", "s3cret")
		resp, err := h.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d, want 413", tc.name, resp.StatusCode)
		}
	}
	if sink.Len() != 0 {
		t.Fatal("points of a refused body were stored")
	}
}

func TestOMFBackPressure(t *testing.T) {
	h, sink := errHarness(t, "max_inflight: 1\nbusy_wait: 50ms\nwrite_timeout: 10s\nretry_after: 7s\n")
	release := sink.Block()
	var wg sync.WaitGroup
	wg.Add(1)
	var first int
	go func() {
		defer wg.Done()
		first, _ = h.post("data", "", `[{"containerid": "n1", "values": [{"Epoch": 1, "Value": 1}]}]`)
	}()
	sink.WaitFor(t, 5*time.Second, "the first write to block", func() bool { return sink.Waiting() == 1 })
	st, hdr, body := h.do(omfRequest{headers: omfHeaders("data", "", "1.2"), user: "fledge", pass: "s3cret",
		body: `[{"containerid": "n1", "values": [{"Epoch": 2, "Value": 2}]}]`})
	if st != 503 || hdr.Get("Retry-After") != "7" {
		t.Fatalf("while busy: %d, Retry-After %q: %s", st, hdr.Get("Retry-After"), body)
	}
	release()
	wg.Wait()
	if first != 204 || sink.Len() != 1 {
		t.Fatalf("the blocked request: %d, %d points", first, sink.Len())
	}
}

func TestOMFWriteTimeoutAndFailure(t *testing.T) {
	h, sink := errHarness(t, "write_timeout: 100ms\n")
	release := sink.Block()
	st, hdr, body := h.do(omfRequest{headers: omfHeaders("data", "", "1.2"), user: "fledge", pass: "s3cret",
		body: `[{"containerid": "n1", "values": [{"Epoch": 1, "Value": 1}]}]`})
	release()
	if st != 503 || hdr.Get("Retry-After") != "5" || !strings.Contains(body, "Retry later") {
		t.Fatalf("slow store: %d %q %s", st, hdr.Get("Retry-After"), body)
	}
	sink.Fail(errors.New("disk on fire"))
	st, _, body = h.do(omfRequest{headers: omfHeaders("data", "", "1.2"), user: "fledge", pass: "s3cret",
		body: `[{"containerid": "n1", "values": [{"Epoch": 1, "Value": 1}]}]`})
	if st != 503 || !strings.Contains(body, "disk on fire") {
		t.Fatalf("failing store: %d %s", st, body)
	}
	sink.Fail(nil)
	if sink.Len() != 0 {
		t.Fatal("unacknowledged points stored")
	}
	// Definitions are refused too when they cannot be saved.
	os.Chmod(h.dir, 0o500)
	defer os.Chmod(h.dir, 0o700)
	if os.Geteuid() != 0 {
		st, body = h.post("type", "", `[{"id": "Z", "type": "object", "classification": "static", "properties": {"Id": {"type": "string", "isindex": true}}}]`)
		if st != 503 {
			t.Fatalf("unsavable definitions: %d %s", st, body)
		}
		if h.src.reg.Load().types["z"] != nil {
			t.Fatal("an unsaved type was published")
		}
	}
}

func TestOMFNotRunning(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	reg, _ := connectors.Lookup("omf")
	src, err := reg.New(connectors.Env{Name: "omf"}, connectortest.DecodeYAML(testAuthYAML))
	if err != nil {
		t.Fatal(err)
	}
	_ = sink
	rec := newRecorder()
	r, _ := http.NewRequest(http.MethodPost, "/omf", strings.NewReader("[]"))
	src.(*Source).ServeHTTP(rec, r)
	if rec.code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %v", rec.code, rec.Header())
	}
}

type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func TestOMFNonFiniteAndKinds(t *testing.T) {
	h, sink := errHarness(t, "paths: [/omf]\n")
	// A stream that exists with another kind: values are converted, and
	// those that do not convert are dropped.
	sink.Create(point.StreamSpec{Name: "c9.Value", Kind: point.KindString})
	if st, b := h.post("container", "", `[{"id": "c9", "typeid": "T"}]`); st != 200 || !strings.Contains(b, "exists with kind string") {
		t.Fatalf("%d %s", st, b)
	}
	st, b := h.post("data", "", `[{"containerid": "c9", "values": [{"Time": "2026-01-01T00:00:00Z", "Value": 1.5}, {"Time": "2026-01-01T00:00:01Z", "Value": "NaN"}]}]`)
	if st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	checkPoints(t, sink, "c9.Value", "2026-01-01T00:00:00Z=1.5")
	if p := sink.Points("c9.Value"); p[0].Value.Kind != point.KindString {
		t.Fatalf("not converted: %+v", p)
	}
	// Numeric index in seconds; quality text.
	st, b = h.post("data", "", `[{"containerid": "n1", "values": [{"Epoch": 1700000000, "Value": 2}]}, {"containerid": "c1", "values": [{"Time": "2026-01-01T00:00:00Z", "Value": 3, "Q": "questionable", "Text": "x", "Flag": true, "State": 1, "Count": -5}]}]`)
	if st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	checkPoints(t, sink, "n1.Value", "2023-11-14T22:13:20Z=2")
	checkPoints(t, sink, "c1.State", "2026-01-01T00:00:00Z=On")
	checkPoints(t, sink, "c1.Count", "2026-01-01T00:00:00Z=-5")
	if p := sink.Points("c1.Flag"); len(p) != 1 || p[0].Quality != point.QualityUncertain || p[0].Value.I != 1 {
		t.Fatalf("flag: %+v", p)
	}
}

// TestOMFLabels: a container's streams are labelled with its type,
// container and property ids, its datasource and its metadata; a
// redefinition with other metadata updates them.
func TestOMFLabels(t *testing.T) {
	h, sink := errHarness(t, "paths: [/omf]\n")
	if st, b := h.post("container", "create", `[{"id": "m1", "typeid": "N", "datasource": "DS1",
		"metadata": {"site": "plant1", "floor": 2, "heated": true, "__x": "reserved", "nested": {"a": 1}, "plant-area": "east"}}]`); st != http.StatusNoContent {
		t.Fatalf("container: %d %s", st, b)
	}
	want := map[string]string{"typeid": "N", "containerid": "m1", "property": "Value", "datasource": "DS1",
		"site": "plant1", "floor": "2", "heated": "true", "_x": "reserved", "plant_area": "east"}
	sink.WaitFor(t, 5*time.Second, "the stream of m1", func() bool { _, ok := sink.Stream("m1.Value"); return ok })
	if spec, _ := sink.Stream("m1.Value"); !maps.Equal(spec.Labels, want) {
		t.Fatalf("labels %v\nwant   %v", spec.Labels, want)
	}
	if spec, _ := sink.Stream("c1.Value"); spec.Labels["typeid"] != "T" || spec.Labels["containerid"] != "c1" || len(spec.Labels) != 3 {
		t.Fatalf("labels of c1.Value: %v", spec.Labels)
	}
	if st, b := h.post("container", "update", `[{"id": "m1", "typeid": "N", "datasource": "DS1", "metadata": {"site": "plant2"}}]`); st != http.StatusNoContent {
		t.Fatalf("update: %d %s", st, b)
	}
	want["site"] = "plant2" // merged: labels the sender no longer sends stay
	sink.WaitFor(t, 5*time.Second, "the new labels", func() bool {
		spec, _ := sink.Stream("m1.Value")
		return maps.Equal(spec.Labels, want)
	})
}
