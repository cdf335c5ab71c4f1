// Tests of the OMF endpoint.
//
// No PI System can run here. The requests are OMF messages as the public
// OMF specification (1.1 and 1.2) and AVEVA's "OMF with PI Web API"
// documentation write them, and the expected responses follow PI Web
// API's documented OMF response shape (response shell, messages, events,
// status). testdata/spec11/ and testdata/spec12/ hold golden
// request/response pairs; run `go test -run TestOMFGolden -update` to
// rewrite the responses after a deliberate change, and review the diff.
package omf

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

var update = flag.Bool("update", false, "rewrite the golden responses")

const testAuthYAML = `
auth:
  basic:
    - {username: fledge, password: s3cret}
    - {username: device, password: d3vice, allow: data}
  bearer:
    - {token: t0ken}
`

type omfHarness struct {
	t      testing.TB
	src    *Source
	sink   connectors.Sink
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	dir    string
}

// startOMF builds an OMF source from a YAML section (plus the test
// credentials unless it has auth), runs it on sink, and serves it.
func startOMF(t testing.TB, section string, sink connectors.Sink, dir string) *omfHarness {
	t.Helper()
	if !strings.Contains(section, "auth:") {
		section += testAuthYAML
	}
	reg, _ := connectors.Lookup("omf")
	src, err := reg.New(connectors.Env{Name: "omf", DataDir: dir}, connectortest.DecodeYAML(section))
	if err != nil {
		t.Fatal(err)
	}
	h := &omfHarness{t: t, src: src.(*Source), sink: sink, done: make(chan error, 1), dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- src.Run(ctx, sink) }()
	connectortest.Eventually(t, 5*time.Second, "the OMF source to run", func() bool {
		h.src.runMu.RLock()
		defer h.src.runMu.RUnlock()
		return h.src.run != nil
	})
	mux := http.NewServeMux()
	for p, hd := range h.src.Routes() {
		mux.Handle(p, hd)
	}
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.stop)
	return h
}

func (h *omfHarness) stop() {
	if h.cancel == nil {
		return
	}
	h.srv.Close()
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

// omfRequest is a request as the golden files write it.
type omfRequest struct {
	headers [][2]string
	body    string
	user    string // basic login; "" for none
	pass    string
	raw     bool // send the body as is, even with compression: gzip
}

func (h *omfHarness) do(req omfRequest) (int, http.Header, string) {
	h.t.Helper()
	body := []byte(req.body)
	gz := false
	for _, hd := range req.headers {
		if req.raw {
			break
		}
		if strings.EqualFold(hd[0], "compression") && strings.EqualFold(hd[1], "gzip") {
			gz = true
		}
	}
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	r, err := http.NewRequest(http.MethodPost, h.srv.URL+"/omf", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, hd := range req.headers {
		r.Header.Add(hd[0], hd[1])
	}
	if req.user != "" {
		r.SetBasicAuth(req.user, req.pass)
	}
	resp, err := h.srv.Client().Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// omfHeaders builds the usual headers.
func omfHeaders(msgType, action, version string, extra ...string) [][2]string {
	h := [][2]string{{"messagetype", msgType}, {"messageformat", "JSON"}, {"omfversion", version}}
	if action != "" {
		h = append(h, [2]string{"action", action})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h = append(h, [2]string{extra[i], extra[i+1]})
	}
	return h
}

// post sends a message as the full-rights test user.
func (h *omfHarness) post(msgType, action, body string, extra ...string) (int, string) {
	h.t.Helper()
	st, _, b := h.do(omfRequest{headers: omfHeaders(msgType, action, "1.2", extra...), body: body, user: "fledge", pass: "s3cret"})
	return st, b
}

// golden is one step of a golden scenario.
type golden struct {
	file     string
	comment  string
	req      omfRequest
	reqText  string // everything before the response marker
	status   int
	response string
}

func readGolden(t testing.TB, file string) golden {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	reqText, respText, ok := strings.Cut(text, "=== response\n")
	if !ok {
		t.Fatalf("%s: no '=== response' line", file)
	}
	g := golden{file: file, reqText: reqText, req: omfRequest{user: "fledge", pass: "s3cret"}}
	lines := strings.Split(reqText, "\n")
	i := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "#") {
			g.comment += l + "\n"
			continue
		}
		if strings.TrimSpace(l) == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("%s: bad header line %q", file, l)
		}
		g.req.headers = append(g.req.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	g.req.body = strings.Join(lines[i+1:], "\n")
	statusLine, rest, _ := strings.Cut(respText, "\n")
	g.status, err = strconv.Atoi(strings.TrimSpace(statusLine))
	if err != nil {
		t.Fatalf("%s: bad status line %q", file, statusLine)
	}
	g.response = rest
	return g
}

var opIDRE = regexp.MustCompile(`"OperationId": "[0-9a-f-]{36}"`)

func normalize(body string) string {
	return strings.TrimSpace(opIDRE.ReplaceAllString(body, `"OperationId": "<operation-id>"`))
}

// runGolden sends each step of a scenario directory in order and
// compares the answers.
func runGolden(t *testing.T, h *omfHarness, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	slices.Sort(files)
	for _, f := range files {
		g := readGolden(t, f)
		status, hdr, body := h.do(g.req)
		got := normalize(body)
		if *update {
			out := g.reqText + "=== response\n" + strconv.Itoa(status) + "\n"
			if got != "" {
				out += got + "\n"
			}
			if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if status != g.status || got != strings.TrimSpace(g.response) {
			t.Errorf("%s:\ngot  %d\n%s\nwant %d\n%s", filepath.Base(f), status, got, g.status, strings.TrimSpace(g.response))
		}
		if status >= 200 && status < 300 && status != http.StatusNoContent && !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s: content type %q", filepath.Base(f), hdr.Get("Content-Type"))
		}
	}
}

func TestOMFGoldenSpec12(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	dir := t.TempDir()
	h := startOMF(t, "paths: [/omf]\n", sink, dir)
	runGolden(t, h, "testdata/spec12")
	if *update {
		return
	}
	// What the scenario stored.
	checkPoints(t, sink, "Tank1_PressureMeasurements.Pressure", "2017-01-11T22:23:23.43Z=12", "2017-01-11T22:24:23.43Z=12.75")
	checkPoints(t, sink, "Tank2_PressureMeasurements.Pressure", "2017-01-11T22:23:23.43Z=5")
	checkPoints(t, sink, "Tank1Measurements.Temperature", "2017-01-11T22:23:23.43Z=283.15", "2017-01-11T22:23:23.4301234Z=283.25")
	checkPoints(t, sink, "Tank1Measurements.Level", "2017-01-11T22:25:23.43Z=3.25")
	checkPoints(t, sink, "Valve1.State", "2026-11-23T10:00:00Z=Open", "2026-11-23T10:00:01Z=Moving")
	checkPoints(t, sink, "Valve1.Count", "2026-11-23T10:00:00Z=9007199254740993", "2026-11-23T10:00:01Z=4")
	checkPoints(t, sink, "Valve1.Note", "2026-11-23T10:00:01Z=stuck?")
	if got := sink.Points("Valve1.Position"); len(got) != 2 || got[0].Quality != point.QualityGood || got[1].Quality != point.QualityUncertain {
		t.Errorf("Valve1.Position qualities: %+v", got)
	}
	if _, ok := sink.Stream("Valve1.Samples"); ok {
		t.Error("an array property became a stream")
	}
	if _, ok := sink.Stream("Valve1.Quality"); ok {
		t.Error("a quality property became a stream")
	}
	spec, _ := sink.Stream("Tank1Measurements.Temperature")
	if spec.Unit != "degC" || spec.Description != "Tank 1 temperature" || spec.Kind != point.KindFloat || spec.Source != "omf:Tank1Measurements.Temperature" {
		t.Errorf("override not applied: %+v", spec)
	}
	if spec, _ := sink.Stream("Tank1_PressureMeasurements.Pressure"); spec.Unit != "pascal" || spec.Description != "Tank Pressure in Pa" {
		t.Errorf("type's uom and description not applied: %+v", spec)
	}
	// The definitions survive a restart: data for a container defined
	// before it is accepted after it.
	h.stop()
	h2 := startOMF(t, "paths: [/omf]\n", sink, dir)
	st, body := h2.post("data", "", `[{"containerid": "tank1measurements", "values": [{"timestamp": "2017-01-12T00:00:00Z", "pressure": 13}]}]`)
	if st != http.StatusNoContent {
		t.Fatalf("after a restart: %d %s", st, body)
	}
	checkPoints(t, sink, "Tank1Measurements.Pressure", "2017-01-11T22:23:23.43Z=12", "2017-01-11T22:23:23.4301234Z=12.1", "2017-01-12T00:00:00Z=13")
	reg := h2.src.reg.Load()
	if len(reg.assets["tank"]) != 1 || len(reg.assets["plant"]) != 1 || len(reg.links) != 3 || reg.types["tankpressure"] != nil {
		t.Errorf("saved definitions: %d tanks, %d plants, %d links, TankPressure %v", len(reg.assets["tank"]), len(reg.assets["plant"]), len(reg.links), reg.types["tankpressure"])
	}
	if c := reg.containers["tank1measurements"]; c == nil || c.Name != "Tank 1" || c.PropertyOverrides["Temperature"].UOM != "degC" {
		t.Errorf("patched container: %+v", c)
	}
}

func TestOMFGoldenSpec11(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	dir := t.TempDir()
	h := startOMF(t, "paths: [/omf]\n", sink, dir)
	runGolden(t, h, "testdata/spec11")
	if *update {
		return
	}
	// An adapter that restarts sends its types and containers again: after
	// the agent restarted too, they are the same definitions.
	h.stop()
	h = startOMF(t, "paths: [/omf]\n", sink, dir)
	for _, f := range []string{"06-type-update.txt", "02-containers.txt", "03-static-and-links.txt"} {
		g := readGolden(t, filepath.Join("testdata/spec11", f))
		for i, hd := range g.req.headers {
			if hd[0] == "action" {
				g.req.headers[i][1] = "create" // the type as it is now, created again
			}
		}
		if st, _, body := h.do(g.req); st != http.StatusNoContent {
			t.Fatalf("%s again after a restart: %d %s", f, st, body)
		}
	}
	checkPoints(t, sink, "Container1.IntegerProperty", "2017-01-01T00:00:00Z=101")
	checkPoints(t, sink, "Container2.IntegerProperty", "2017-01-01T00:00:00Z=200", "2017-01-01T00:00:01Z=201")
	checkPoints(t, sink, "Container3.NumberProperty1", "2017-01-01T00:00:00Z=1.5")
	checkPoints(t, sink, "Container3.StringEnum", "2017-01-01T00:00:00Z=True")
	checkPoints(t, sink, "Container4.IntegerEnum", "2017-01-01T00:00:00Z=1")
	if spec, _ := sink.Stream("Container4.IntegerEnum"); spec.Kind != point.KindInt {
		t.Errorf("int16 property: %+v", spec)
	}
}

// checkPoints compares a stream's points with "RFC3339=value" strings.
func checkPoints(t *testing.T, sink *connectortest.Sink, stream string, want ...string) {
	t.Helper()
	var got []string
	for _, p := range sink.Points(stream) {
		got = append(got, time.Unix(0, p.Time).UTC().Format(time.RFC3339Nano)+"="+p.Value.Text())
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", stream, got, want)
	}
}

// decodeShell parses a response body.
func decodeShell(t *testing.T, body string) respShell {
	t.Helper()
	var sh respShell
	if err := json.Unmarshal([]byte(body), &sh); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	return sh
}
