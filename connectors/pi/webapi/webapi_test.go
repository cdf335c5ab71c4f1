// Tests of the PI Web API reader.
//
// No PI server can run here. fakePI, an httptest server, answers the calls
// the reader makes (points?path=, attributes?path=, streamsets/recorded,
// POST and GET streamsets/updates) with bodies in exactly the shapes PI
// Web API's public reference documents for them: the same fields, PI's
// timestamps with 7 fractional digits, digital states as
// {"Name","Value","IsSystem"}, and errors as {"Errors": [...]} bodies,
// "Errors" or "Exception" inside items of a 200 answer, "WebException",
// and a time series value carrying "Errors" when PI fails while it writes
// an answer. It enforces a per-call cap like MaxReturnedItemsPerCall and
// rejects POSTs without X-Requested-With, as PI Web API does.
package webapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/pi/internal/nametmpl"
	"github.com/sluice-edge/sluice/connectors/point"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/pi/internal/pitime"
)

// Documented shapes, used as fuzz seeds and by the fake.
const (
	pointSample = `{
  "WebId": "I1DPa70Wf0zBA06CLkV9ovNQjwAQAAAAUElTUlZcQk9JTEVSLlRFTVA",
  "Id": 1,
  "Name": "Boiler.Temp",
  "Path": "\\\\PISRV\\Boiler.Temp",
  "Descriptor": "Boiler temperature",
  "PointClass": "classic",
  "PointType": "Float32",
  "DigitalSetName": "",
  "EngineeringUnits": "degC",
  "Span": 200.0,
  "Zero": 0.0,
  "Step": false,
  "Future": false,
  "DisplayDigits": -5,
  "Links": {"Self": "https://pi.acme.example/piwebapi/points/I1DPa70Wf0zBA06CLkV9ovNQjwAQAAAAUElTUlZcQk9JTEVSLlRFTVA"}
}`
	attributeSample = `{
  "WebId": "F1AbEDqD5loBNH0erqeqJodtALAYIKyyz2F5BGAxQAVXYRDBAGyPedZG1sUmxOOclp3Flwg",
  "Id": "2aeb4f1f-56b9-4d18-ab8b-6b8e4f9d6a21",
  "Name": "Speed",
  "Description": "Pump speed",
  "Path": "\\\\AFSRV\\Plant\\Boiler\\Pump1|Speed",
  "Type": "Double",
  "TypeQualifier": "",
  "DefaultUnitsName": "revolutions per minute",
  "DefaultUnitsNameAbbreviation": "rpm",
  "DisplayDigits": -5,
  "DataReferencePlugIn": "PI Point",
  "ConfigString": "\\\\PISRV\\Pump1.Speed",
  "IsConfigurationItem": false,
  "IsExcluded": false,
  "IsHidden": false,
  "IsManualDataEntry": false,
  "HasChildren": false,
  "CategoryNames": [],
  "Step": false,
  "TraitName": "",
  "Links": {}
}`
	recordedSample = `{
  "Links": {},
  "Items": [
    {
      "WebId": "I1DPa70Wf0zBA06CLkV9ovNQjwAQAAAAUElTUlZcQk9JTEVSLlRFTVA",
      "Name": "Boiler.Temp",
      "Path": "\\\\PISRV\\Boiler.Temp",
      "Links": {},
      "Items": [
        {"Timestamp": "2014-07-22T14:00:00Z", "Value": 12.3, "UnitsAbbreviation": "m", "Good": true, "Questionable": false, "Substituted": false, "Annotated": false},
        {"Timestamp": "2014-07-22T14:00:01.1234567Z", "Value": {"Name": "Shutdown", "Value": 254, "IsSystem": true}, "UnitsAbbreviation": "", "Good": false, "Questionable": false, "Substituted": false, "Annotated": false}
      ],
      "UnitsAbbreviation": "m"
    }
  ]
}`
	updatesSample = `{
  "Items": [
    {
      "Source": "I1AbEDqD5loBNH0erqeqJodtALAYIKyyz2F5BGAxQAVXYRDBAGyPedZG1sUmxOOclp3Flwg",
      "SourceName": "Water",
      "SourcePath": "\\\\MyAssetServer\\MyDatabase\\MyElement|Water",
      "RequestedMarker": "0cbbec466f3a42288c8c47112f54b852_0",
      "LatestMarker": "0cbbec466f3a42288c8c47112f54b852_12",
      "Status": "Updated",
      "Events": [
        {"Action": "Add", "PreviousEventAction": "PreviousEventArchived", "Timestamp": "2014-07-22T14:00:00Z", "UnitsAbbreviation": "m", "Good": true, "Questionable": false, "Substituted": false, "Annotated": false, "Value": 12.3}
      ],
      "Links": {}
    }
  ]
}`
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testWebMetrics() webMetrics {
	m := connectors.NewMetrics(nil)
	return webMetrics{
		messages: m.Messages.WithLabelValues("t"), points: m.Points.WithLabelValues("t"), written: m.Written.WithLabelValues("t"),
		reconnects: m.Reconnects.WithLabelValues("t"), errors: m.Errors.MustCurryWith(prometheus.Labels{"source": "t"}),
		dropped: m.Dropped.MustCurryWith(prometheus.Labels{"source": "t"}), batch: m.BatchSeconds.WithLabelValues("t"),
		connected: m.Connected.WithLabelValues("t"),
	}
}

// piTime formats as PI Web API does: UTC, 7 fractional digits when there
// is a fraction.
func piTime(t int64) string {
	tm := time.Unix(0, t).UTC()
	if tm.Nanosecond() == 0 {
		return tm.Format("2006-01-02T15:04:05Z")
	}
	return tm.Format("2006-01-02T15:04:05.0000000Z")
}

// fakeValue is one archived value.
type fakeValue struct {
	t            int64
	v            any // float64, int64, bool, string, or state
	good         bool
	questionable bool
	substituted  bool
}

type state struct {
	Name     string
	Value    int
	IsSystem bool
}

type fakeStream struct {
	webID, path, name, typ, unit, desc string
	attr                               bool
	values                             []fakeValue // sorted by time
}

type fakeEvent struct {
	seq    int
	webID  string
	action string
	v      fakeValue
}

// fakePI is a PI Web API with a few streams.
type fakePI struct {
	t   testing.TB
	srv *httptest.Server
	cap int // MaxReturnedItemsPerCall

	mu       sync.Mutex
	streams  map[string]*fakeStream // by web id
	byPath   map[string]*fakeStream // by lower-cased path
	events   []fakeEvent
	seq      int
	requests []string // "METHOD path?query"
	// Faults, each used once: per-item exceptions in recorded answers, a
	// value with Errors after n values, a failed update retrieval, a
	// WebException, expired markers.
	itemException map[string]bool
	valueErrorAt  map[string]int
	updateFailure map[string]bool
	webException  bool
	expireMarkers bool
	noXRW         int // POSTs refused for want of X-Requested-With
}

func newFakePI(t testing.TB) *fakePI {
	f := &fakePI{t: t, cap: 150000, streams: map[string]*fakeStream{}, byPath: map[string]*fakeStream{},
		itemException: map[string]bool{}, valueErrorAt: map[string]int{}, updateFailure: map[string]bool{}}
	f.srv = httptest.NewServer(http.StripPrefix("/piwebapi", http.HandlerFunc(f.serve)))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePI) url() string { return f.srv.URL + "/piwebapi" }

func (f *fakePI) addStream(path, typ, unit string) *fakeStream {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeStream{webID: fmt.Sprintf("I1DPW%03dX", len(f.streams)+1), path: path, typ: typ, unit: unit, attr: strings.Contains(path, "|")}
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '\\' || r == '|' })
	s.name = parts[len(parts)-1]
	s.desc = "fake " + s.name
	f.streams[s.webID] = s
	f.byPath[strings.ToLower(path)] = s
	return s
}

// add archives values and, as PI does, posts them as update events.
func (f *fakePI) add(s *fakeStream, vals ...fakeValue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range vals {
		v.t -= v.t % 100 // PI Web API writes 7 fractional digits
		i := sort.Search(len(s.values), func(i int) bool { return s.values[i].t >= v.t })
		s.values = slices.Insert(s.values, i, v)
		f.seq++
		f.events = append(f.events, fakeEvent{seq: f.seq, webID: s.webID, action: "Add", v: v})
	}
}

func (f *fakePI) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"Errors": []string{msg}})
}

func (f *fakePI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "pw" {
		w.Header().Set("WWW-Authenticate", `Basic realm="PI Web API"`)
		f.fail(w, http.StatusUnauthorized, "Authorization has been denied for this request.")
		return
	}
	if r.Method != http.MethodGet && r.Header.Get("X-Requested-With") == "" {
		f.noXRW++
		f.fail(w, http.StatusBadRequest, "The request requires the 'X-Requested-With' header.")
		return
	}
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/points" || r.URL.Path == "/attributes"):
		s := f.byPath[strings.ToLower(q.Get("path"))]
		if s == nil || s.attr != (r.URL.Path == "/attributes") {
			if r.URL.Path == "/points" {
				f.fail(w, http.StatusNotFound, fmt.Sprintf("PI Point not found '%s'.", q.Get("path")))
			} else {
				f.fail(w, http.StatusNotFound, fmt.Sprintf("Attribute not found: '%s'.", q.Get("path")))
			}
			return
		}
		if s.attr {
			json.NewEncoder(w).Encode(map[string]any{
				"WebId": s.webID, "Id": "2aeb4f1f-56b9-4d18-ab8b-6b8e4f9d6a21", "Name": s.name, "Description": s.desc, "Path": s.path,
				"Type": s.typ, "TypeQualifier": "", "DefaultUnitsName": s.unit + " (long)", "DefaultUnitsNameAbbreviation": s.unit,
				"DisplayDigits": -5, "DataReferencePlugIn": "PI Point", "ConfigString": `\\PISRV\` + s.name, "IsConfigurationItem": false,
				"IsExcluded": false, "IsHidden": false, "IsManualDataEntry": false, "HasChildren": false, "CategoryNames": []string{},
				"Step": false, "TraitName": "", "Links": map[string]string{},
			})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"WebId": s.webID, "Id": 1, "Name": s.name, "Path": s.path, "Descriptor": s.desc, "PointClass": "classic",
			"PointType": s.typ, "DigitalSetName": "", "EngineeringUnits": s.unit, "Span": 100.0, "Zero": 0.0, "Step": false,
			"Future": false, "DisplayDigits": -5, "Links": map[string]string{"Self": f.url() + "/points/" + s.webID},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/streamsets/recorded":
		f.recorded(w, q)
	case r.Method == http.MethodPost && r.URL.Path == "/streamsets/updates":
		var items []map[string]any
		for _, id := range q["webId"] {
			s := f.streams[id]
			if s == nil {
				f.fail(w, http.StatusBadRequest, "Unknown or invalid WebID format: '"+id+"'.")
				return
			}
			items = append(items, map[string]any{"Source": id, "SourceName": s.name, "SourcePath": s.path, "Status": "Succeeded",
				"LatestMarker": fmt.Sprintf("%s_%d", id, f.seq), "Links": map[string]string{}})
		}
		w.Header().Set("Location", f.url()+"/streamsets/updates")
		json.NewEncoder(w).Encode(map[string]any{"Items": items, "Links": map[string]string{}})
	case r.Method == http.MethodGet && r.URL.Path == "/streamsets/updates":
		if f.expireMarkers {
			f.expireMarkers = false
			f.fail(w, http.StatusConflict, "Invalid marker supplied.")
			return
		}
		var items []map[string]any
		for _, m := range q["marker"] {
			id, n, _ := strings.Cut(m, "_")
			from, err := strconv.Atoi(n)
			s := f.streams[id]
			if s == nil || err != nil {
				f.fail(w, http.StatusConflict, "Invalid marker supplied.")
				return
			}
			if f.updateFailure[id] {
				delete(f.updateFailure, id)
				items = append(items, map[string]any{"Source": id, "SourceName": s.name, "SourcePath": s.path, "RequestedMarker": m,
					"Status": "Failed", "Exception": map[string]any{"Errors": []string{"The stream is no longer registered for updates."}}})
				continue
			}
			var evs []map[string]any
			for _, e := range f.events {
				if e.webID == id && e.seq > from {
					ev := f.valueJSON(e.v)
					ev["Action"], ev["PreviousEventAction"] = e.action, "PreviousEventArchived"
					evs = append(evs, ev)
				}
			}
			items = append(items, map[string]any{"Source": id, "SourceName": s.name, "SourcePath": s.path, "RequestedMarker": m,
				"LatestMarker": fmt.Sprintf("%s_%d", id, f.seq), "Status": "Updated", "Events": evs, "Links": map[string]string{}})
		}
		json.NewEncoder(w).Encode(map[string]any{"Items": items, "Links": map[string]string{}})
	default:
		f.fail(w, http.StatusNotFound, "The requested resource was not found.")
	}
}

func (f *fakePI) valueJSON(v fakeValue) map[string]any {
	return map[string]any{"Timestamp": piTime(v.t), "Value": v.v, "UnitsAbbreviation": "", "Good": v.good,
		"Questionable": v.questionable, "Substituted": v.substituted, "Annotated": false}
}

func (f *fakePI) recorded(w http.ResponseWriter, q url.Values) {
	ids := q["webId"]
	maxCount, err := strconv.Atoi(q.Get("maxCount"))
	if err != nil || maxCount < 1 {
		maxCount = 1000
	}
	if maxCount*len(ids) > f.cap {
		f.fail(w, http.StatusBadRequest, fmt.Sprintf("The maximum number of items (%d) allowed per call was exceeded (MaxReturnedItemsPerCall).", f.cap))
		return
	}
	if q.Get("boundaryType") != "Inside" {
		f.fail(w, http.StatusBadRequest, "the fake only knows boundaryType=Inside")
		return
	}
	start, err := pitime.Parse(q.Get("startTime"))
	if err != nil {
		f.fail(w, http.StatusBadRequest, "Cannot parse startTime")
		return
	}
	end := time.Now().UnixNano()
	if e := q.Get("endTime"); e != "*" {
		if end, err = pitime.Parse(e); err != nil {
			f.fail(w, http.StatusBadRequest, "Cannot parse endTime")
			return
		}
	}
	if f.webException {
		f.webException = false
		json.NewEncoder(w).Encode(map[string]any{"WebException": map[string]any{"Errors": []string{"Error occurred during writing of the output stream."}, "StatusCode": 500}})
		return
	}
	var items []map[string]any
	for _, id := range ids {
		s := f.streams[id]
		if s == nil {
			f.fail(w, http.StatusBadRequest, "Unknown or invalid WebID format: '"+id+"'.")
			return
		}
		item := map[string]any{"WebId": id, "Name": s.name, "Path": s.path, "Links": map[string]string{}, "UnitsAbbreviation": s.unit}
		if f.itemException[id] {
			delete(f.itemException, id)
			item["Items"] = nil
			item["Exception"] = map[string]any{"Errors": []string{"The PI Data Archive is not responding."}}
			items = append(items, item)
			continue
		}
		vals := []map[string]any{}
		for _, v := range s.values {
			if v.t < start || v.t > end || len(vals) == maxCount {
				continue
			}
			if n, ok := f.valueErrorAt[id]; ok && len(vals) == n {
				delete(f.valueErrorAt, id)
				vals = append(vals, map[string]any{"Errors": []string{"Error occurred during writing of the output stream."}})
				break
			}
			vals = append(vals, f.valueJSON(v))
		}
		item["Items"] = vals
		items = append(items, item)
	}
	json.NewEncoder(w).Encode(map[string]any{"Links": map[string]string{}, "Items": items})
}

func (f *fakePI) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// history makes n values spaced step apart, ending an hour ago.
func history(n int, step time.Duration, gen func(i int) fakeValue) []fakeValue {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).Add(-time.Duration(n) * step).UnixNano()
	out := make([]fakeValue, n)
	for i := range out {
		out[i] = gen(i)
		out[i].t = t0 + int64(i)*int64(step) + int64(i%7)*123_456_700 // PI's 100 ns resolution
	}
	return out
}

type webFixture struct {
	pi                 *fakePI
	temp, valve, count *fakeStream
	speed              *fakeStream
	dataDir            string
	start              int64
	section            string
	cancel             context.CancelFunc
	done               chan error
	src                *Source
	metrics            *connectors.Metrics
}

func newWebFixture(t *testing.T) *webFixture {
	pi := newFakePI(t)
	fx := &webFixture{pi: pi, dataDir: t.TempDir()}
	fx.temp = pi.addStream(`\\PISRV\Boiler.Temp`, "Float32", "degC")
	fx.valve = pi.addStream(`\\PISRV\Valve.State`, "Digital", "")
	fx.count = pi.addStream(`\\PISRV\Batch.Count`, "Int32", "")
	fx.speed = pi.addStream(`\\AFSRV\Plant\Boiler\Pump1|Speed`, "Double", "rpm")
	temps := history(700, 5*time.Minute, func(i int) fakeValue {
		v := fakeValue{v: 20 + float64(i%50)/4, good: true}
		switch i % 97 {
		case 13:
			v.v, v.good = state{"I/O Timeout", 246, true}, false
		case 14:
			v.questionable = true
		case 15:
			v.substituted = true
		}
		return v
	})
	pi.add(fx.temp, temps...)
	pi.add(fx.valve, history(300, 11*time.Minute, func(i int) fakeValue {
		return fakeValue{v: state{[]string{"Closed", "Open"}[i%2], i % 2, false}, good: true}
	})...)
	pi.add(fx.count, history(250, 13*time.Minute, func(i int) fakeValue { return fakeValue{v: int64(i * 1000), good: true} })...)
	pi.add(fx.speed, history(400, 7*time.Minute, func(i int) fakeValue { return fakeValue{v: 1450 + float64(i), good: true} })...)
	fx.start = time.Now().Add(-30 * 24 * time.Hour).UnixNano()
	fx.section = fmt.Sprintf(`
url: %s
username: reader
password: pw
points: ['\\PISRV\Boiler.Temp', '\\PISRV\\Valve.State', '\\PISRV\Batch.Count', '\\PISRV\Missing']
attributes: ['\\AFSRV\Plant\Boiler\Pump1|Speed']
backfill_start: %s
backfill_window: 1d
max_count: 100
streams_per_request: 2
poll_interval: 20ms
reconnect_min: 10ms
reconnect_max: 50ms
batch_size: 64
`, pi.url(), time.Unix(0, fx.start).UTC().Format(time.RFC3339))
	return fx
}

func (fx *webFixture) run(t *testing.T, sink connectors.Sink) {
	t.Helper()
	reg, ok := connectors.Lookup("pi-webapi")
	if !ok {
		t.Fatal("pi-webapi is not registered")
	}
	fx.metrics = connectors.NewMetrics(nil)
	log := discardLogger()
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	src, err := reg.New(connectors.Env{Name: "pi", DataDir: fx.dataDir, Logger: log, Metrics: fx.metrics}, connectortest.DecodeYAML(fx.section))
	if err != nil {
		t.Fatal(err)
	}
	fx.src = src.(*Source)
	ctx, cancel := context.WithCancel(context.Background())
	fx.cancel, fx.done = cancel, make(chan error, 1)
	go func() { fx.done <- src.Run(ctx, sink) }()
}

func (fx *webFixture) stop(t *testing.T) {
	t.Helper()
	fx.cancel()
	if err := <-fx.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// want is what the store should hold for a fake stream, as the reader
// maps it.
func want(s *fakeStream) []string {
	var out []string
	for _, v := range s.values {
		out = append(out, fmt.Sprint(v.t, "=", wantText(v)))
	}
	return out
}

func wantText(v fakeValue) string {
	switch x := v.v.(type) {
	case state:
		if x.IsSystem {
			return "0"
		}
		return x.Name
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v.v)
}

func got(sink *connectortest.Sink, stream string) []string {
	var out []string
	for _, p := range sink.Points(stream) {
		out = append(out, fmt.Sprint(p.Time, "=", p.Value.Text()))
	}
	return out
}

var webStreams = []struct {
	name string
	pick func(*webFixture) *fakeStream
}{
	{"PISRV/Boiler.Temp", func(fx *webFixture) *fakeStream { return fx.temp }},
	{"PISRV/Valve.State", func(fx *webFixture) *fakeStream { return fx.valve }},
	{"PISRV/Batch.Count", func(fx *webFixture) *fakeStream { return fx.count }},
	{"Plant/Boiler/Pump1/Speed", func(fx *webFixture) *fakeStream { return fx.speed }},
}

// waitAll waits until the sink holds exactly the fake's values.
func (fx *webFixture) waitAll(t *testing.T, sink *connectortest.Sink) {
	t.Helper()
	fx.pi.mu.Lock()
	total := 0
	for _, ws := range webStreams {
		total += len(ws.pick(fx).values)
	}
	fx.pi.mu.Unlock()
	sink.WaitFor(t, 20*time.Second, fmt.Sprintf("%d points", total), func() bool { return sink.Len() >= total })
	fx.pi.mu.Lock()
	defer fx.pi.mu.Unlock()
	for _, ws := range webStreams {
		if g, w := got(sink, ws.name), want(ws.pick(fx)); !slices.Equal(g, w) {
			t.Fatalf("%s: %d points, want %d; first difference at %d", ws.name, len(g), len(w), firstDiff(g, w))
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestWebAPIBackfillAndFollow(t *testing.T) {
	fx := newWebFixture(t)
	sink := connectortest.NewSink(t, connectortest.Options{})
	fx.run(t, sink)
	fx.waitAll(t, sink)

	// Kinds, units, quality and digital states as mapped.
	for name, kind := range map[string]point.Kind{"PISRV/Boiler.Temp": point.KindFloat, "PISRV/Valve.State": point.KindString,
		"PISRV/Batch.Count": point.KindInt, "Plant/Boiler/Pump1/Speed": point.KindFloat} {
		if spec, ok := sink.Stream(name); !ok || spec.Kind != kind {
			t.Errorf("%s: %+v", name, spec)
		}
	}
	if spec, _ := sink.Stream("Plant/Boiler/Pump1/Speed"); spec.Unit != "rpm" || spec.Description != "fake Speed" || spec.Source != `pi:\\AFSRV\Plant\Boiler\Pump1|Speed` {
		t.Errorf("attribute stream: %+v", spec)
	}
	temps := sink.Points("PISRV/Boiler.Temp")
	for i, p := range temps {
		want := point.QualityGood
		switch i % 97 {
		case 13:
			want = point.QualityBad
		case 14:
			want = point.QualityUncertain
		case 15:
			want = qualitySubstituted
		}
		if p.Quality != want {
			t.Fatalf("temperature %d: quality %#x, want %#x", i, p.Quality, want)
		}
	}

	// The history came in windows and pages within the server's cap.
	for _, r := range fx.pi.requestLog() {
		if !strings.Contains(r, "/streamsets/recorded") {
			continue
		}
		q, _ := url.ParseQuery(strings.SplitN(r, "?", 2)[1])
		n, _ := strconv.Atoi(q.Get("maxCount"))
		if n*len(q["webId"]) > 100 {
			t.Fatalf("a call asks for %d x %d values, over max_count: %s", n, len(q["webId"]), r)
		}
		if e := q.Get("endTime"); e != "*" {
			s, _ := pitime.Parse(q.Get("startTime"))
			en, _ := pitime.Parse(e)
			if en-s > int64(24*time.Hour) {
				t.Fatalf("a window longer than backfill_window: %s", r)
			}
		}
	}
	if fx.pi.noXRW != 0 {
		t.Fatalf("%d POSTs without X-Requested-With", fx.pi.noXRW)
	}

	// New values arrive through stream updates.
	now := time.Now().UnixNano()
	fx.pi.add(fx.temp, fakeValue{t: now, v: 99.5, good: true}, fakeValue{t: now + 1e9, v: state{"Shutdown", 254, true}, good: false})
	fx.pi.add(fx.valve, fakeValue{t: now, v: state{"Open", 1, false}, good: true})
	fx.pi.add(fx.speed, fakeValue{t: now, v: 1500.25, good: true})
	fx.waitAll(t, sink)
	if sink.Received() != sink.Len() {
		t.Fatalf("%d points written for %d distinct: duplicates", sink.Received(), sink.Len())
	}
	var updates int
	for _, r := range fx.pi.requestLog() {
		if strings.HasPrefix(r, "GET /streamsets/updates") {
			updates++
		}
	}
	if updates == 0 {
		t.Fatal("new values did not come through stream updates")
	}
	// The missing point is counted and retried later, not fatal.
	if n := testutil.ToFloat64(fx.metrics.Errors.WithLabelValues("pi", "resolve")); n != 1 {
		t.Fatalf("resolve errors: %v", n)
	}
	fx.stop(t)
}

func TestWebAPIRestartResumes(t *testing.T) {
	fx := newWebFixture(t)
	sink := connectortest.NewSink(t, connectortest.Options{})
	fx.run(t, sink)
	fx.waitAll(t, sink)
	fx.stop(t)

	// While the agent is down, PI keeps collecting.
	last := map[string]int64{}
	for _, ws := range webStreams {
		pts := sink.Points(ws.name)
		last[ws.pick(fx).webID] = pts[len(pts)-1].Time
	}
	now := time.Now().Add(-time.Minute).UnixNano()
	for i := range 30 {
		fx.pi.add(fx.temp, fakeValue{t: now + int64(i)*1e9, v: float64(i), good: true})
		fx.pi.add(fx.count, fakeValue{t: now + int64(i)*1e9, v: int64(i), good: true})
	}
	fx.pi.mu.Lock()
	fx.pi.requests = nil
	fx.pi.mu.Unlock()

	fx.run(t, sink)
	fx.waitAll(t, sink)
	if sink.Received() != sink.Len() {
		t.Fatalf("%d points written for %d distinct: the restart re-read values", sink.Received(), sink.Len())
	}
	firstStart := map[string]string{}
	for _, r := range fx.pi.requestLog() {
		if !strings.HasPrefix(r, "GET /streamsets/recorded") {
			continue
		}
		q, _ := url.ParseQuery(strings.SplitN(r, "?", 2)[1])
		for _, id := range q["webId"] {
			if _, ok := firstStart[id]; !ok {
				firstStart[id] = q.Get("startTime")
			}
		}
	}
	// Each stream's history read starts at its last stored value: a
	// streamsets call asks from the earliest of its streams (the others'
	// older values are skipped, not written again).
	for _, r := range fx.pi.requestLog() {
		if !strings.HasPrefix(r, "GET /streamsets/recorded") {
			continue
		}
		q, _ := url.ParseQuery(strings.SplitN(r, "?", 2)[1])
		earliest := int64(math.MaxInt64)
		for _, id := range q["webId"] {
			earliest = min(earliest, last[id])
		}
		if s, _ := pitime.Parse(q.Get("startTime")); s != earliest {
			t.Errorf("the first history read after the restart starts at %s, want the earliest last stored value %s", q.Get("startTime"), pitime.Format(earliest))
		}
		break
	}
	for id := range last {
		if _, ok := firstStart[id]; !ok {
			t.Errorf("%s: no history read after the restart", id)
		}
	}
	b, err := os.ReadFile(filepath.Join(fx.dataDir, "pi-webapi", "pi.json"))
	if err != nil || !strings.Contains(string(b), `"PISRV/Boiler.Temp"`) {
		t.Fatalf("state file: %v %s", err, b)
	}
	fx.stop(t)
}

func TestWebAPIErrorsInside200(t *testing.T) {
	fx := newWebFixture(t)
	fx.pi.itemException[fx.valve.webID] = true // a per-item Exception
	fx.pi.valueErrorAt[fx.temp.webID] = 17     // a value with Errors after 17 values
	fx.pi.webException = true                  // a WebException in a 200
	sink := connectortest.NewSink(t, connectortest.Options{})
	fx.run(t, sink)
	fx.waitAll(t, sink)

	// A failed update retrieval of one stream, then expired markers: both
	// re-register and read the gap, so nothing is missed.
	fx.pi.mu.Lock()
	fx.pi.updateFailure[fx.count.webID] = true
	fx.pi.mu.Unlock()
	now := time.Now().Add(-time.Minute).UnixNano()
	for i := range 5 {
		fx.pi.add(fx.count, fakeValue{t: now + int64(i)*1e9, v: int64(i), good: true})
	}
	fx.waitAll(t, sink)
	fx.pi.mu.Lock()
	fx.pi.expireMarkers = true
	fx.pi.mu.Unlock()
	for i := range 5 {
		fx.pi.add(fx.speed, fakeValue{t: now + int64(i)*1e9, v: float64(i), good: true})
	}
	fx.waitAll(t, sink)
	errs := func(reason string) float64 {
		return testutil.ToFloat64(fx.metrics.Errors.WithLabelValues("pi", reason))
	}
	if errs("stream") < 2 || errs("value") != 1 || testutil.ToFloat64(fx.metrics.Reconnects.WithLabelValues("pi")) < 1 {
		t.Fatalf("errors: stream %v, value %v, reconnects %v", errs("stream"), errs("value"),
			testutil.ToFloat64(fx.metrics.Reconnects.WithLabelValues("pi")))
	}
	fx.stop(t)
}

func TestWebAPIStoreFailure(t *testing.T) {
	fx := newWebFixture(t)
	sink := connectortest.NewSink(t, connectortest.Options{})
	sink.Fail(fmt.Errorf("disk full"))
	fx.run(t, sink)
	connectortest.Eventually(t, 10*time.Second, "a reconnect after store failures", func() bool {
		return testutil.ToFloat64(fx.metrics.Reconnects.WithLabelValues("pi")) >= 2
	})
	sink.Fail(nil)
	fx.waitAll(t, sink)
	fx.stop(t)
}

func TestWebAPIAuthFailureKeepsRunning(t *testing.T) {
	fx := newWebFixture(t)
	fx.section = strings.Replace(fx.section, "password: pw", "password: wrong", 1)
	sink := connectortest.NewSink(t, connectortest.Options{})
	fx.run(t, sink)
	connectortest.Eventually(t, 10*time.Second, "retries after 401", func() bool {
		return testutil.ToFloat64(fx.metrics.Reconnects.WithLabelValues("pi")) >= 2
	})
	if sink.Len() != 0 {
		t.Fatal("points without authentication")
	}
	fx.stop(t)
}

func TestWebAPIBackfillNone(t *testing.T) {
	fx := newWebFixture(t)
	fx.section = strings.Replace(fx.section, "backfill_start: ", "backfill_start: none\n#", 1)
	sink := connectortest.NewSink(t, connectortest.Options{})
	fx.run(t, sink)
	connectortest.Eventually(t, 10*time.Second, "registration", func() bool {
		for _, r := range fx.pi.requestLog() {
			if strings.HasPrefix(r, "GET /streamsets/updates") {
				return true
			}
		}
		return false
	})
	now := time.Now().Add(time.Second).Truncate(time.Microsecond).UnixNano()
	fx.pi.add(fx.temp, fakeValue{t: now, v: 1.0, good: true})
	sink.WaitFor(t, 10*time.Second, "the new value", func() bool { return sink.Len() == 1 })
	checkPointsNS(t, sink, "PISRV/Boiler.Temp", fmt.Sprint(now, "=1"))
	fx.stop(t)
}

func checkPointsNS(t *testing.T, sink *connectortest.Sink, stream string, want ...string) {
	t.Helper()
	if g := got(sink, stream); !slices.Equal(g, want) {
		t.Fatalf("%s: %q, want %q", stream, g, want)
	}
}

func TestDecodeValue(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		tv   timedValue
		kind point.Kind
		want string
		q    point.Quality
		ok   bool
	}{
		{timedValue{Value: json.RawMessage(`12.5`), Good: &yes}, point.KindFloat, "12.5", 0, true},
		{timedValue{Value: json.RawMessage(`12`), Good: &yes}, point.KindInt, "12", 0, true},
		{timedValue{Value: json.RawMessage(`12.5`), Good: &yes}, point.KindInt, "", 0, false},
		{timedValue{Value: json.RawMessage(`{"Name": "Open", "Value": 1, "IsSystem": false}`), Good: &yes}, point.KindString, "Open", 0, true},
		{timedValue{Value: json.RawMessage(`{"Name": "Pt Created", "Value": 253, "IsSystem": true}`), Good: &no}, point.KindFloat, "0", point.QualityBad, true},
		{timedValue{Value: json.RawMessage(`{"Name": "Shutdown", "Value": 254, "IsSystem": true}`), Good: &no}, point.KindString, "Shutdown", point.QualityBad, true},
		{timedValue{Value: json.RawMessage(`{"Errors": ["Unit of measure conversion failed."]}`), Good: &no}, point.KindFloat, "0", point.QualityBad, true},
		{timedValue{Value: json.RawMessage(`{"Name": "Running", "Value": 3, "IsSystem": false}`), Good: &yes}, point.KindInt, "3", 0, true},
		{timedValue{Value: json.RawMessage(`"abc"`), Good: &yes}, point.KindFloat, "", 0, false},
		{timedValue{Value: json.RawMessage(`"2026-11-23T10:00:00Z"`), Good: &yes}, point.KindString, "2026-11-23T10:00:00Z", 0, true},
		{timedValue{Value: json.RawMessage(`true`), Good: &yes}, point.KindBool, "true", 0, true},
		{timedValue{Value: json.RawMessage(`null`), Good: &yes}, point.KindFloat, "", 0, false},
		{timedValue{Value: json.RawMessage(`[1, 2]`), Good: &yes}, point.KindFloat, "", 0, false},
		{timedValue{Value: json.RawMessage(`1e400`), Good: &yes}, point.KindFloat, "", 0, false},
		{timedValue{Value: json.RawMessage(`5`), Questionable: true}, point.KindFloat, "5", point.QualityUncertain, true},
		{timedValue{Value: json.RawMessage(`5`), Good: &yes, Substituted: true}, point.KindFloat, "5", qualitySubstituted, true},
	} {
		v, q, ok := decodeValue(&tc.tv, tc.kind)
		if ok != tc.ok || ok && (v.Text() != tc.want || q != tc.q || v.Kind != tc.kind) {
			t.Errorf("%s as %v: %v %q %#x, want %v %q %#x", tc.tv.Value, tc.kind, ok, v.Text(), q, tc.ok, tc.want, tc.q)
		}
	}
	if math.IsNaN(0) {
		t.Fatal()
	}
}

func TestWebAPIConfig(t *testing.T) {
	reg, _ := connectors.Lookup("pi-webapi")
	if reg.Section != "pi_webapi" || reg.Sample == "" {
		t.Fatalf("registration %+v", reg)
	}
	if _, err := reg.New(connectors.Env{Name: "s"}, connectortest.DecodeYAML(reg.Sample)); err != nil {
		t.Fatalf("the sample does not validate: %v", err)
	}
	// DESIGN.md's and configs/agent.example.yaml's shapes.
	for _, y := range []string{
		"url: https://pi.acme.example/piwebapi\npoints: ['\\\\PISRV\\\\Boiler.Temp']\n",
		"url: https://pi.acme.example/piwebapi\npoints: ['\\\\PISRV\\Boiler.Temp']\n",
	} {
		src, err := reg.New(connectors.Env{Name: "s"}, connectortest.DecodeYAML(y))
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		if p := src.(*Source).c.paths[0]; p.raw != `\\PISRV\Boiler.Temp` || p.server != "PISRV" || p.name != "Boiler.Temp" {
			t.Fatalf("%q: %+v", y, p)
		}
	}
	base := "url: https://pi/piwebapi\n"
	for _, tc := range []struct{ yaml, want string }{
		{"points: ['\\\\S\\T']\nurl: ftp://x\n", "url: \"ftp://x\": want an http"},
		{"points: ['\\\\S\\T']\n", "url: empty"},
		{base, "points: empty"},
		{base + "points: ['S\\T']\n", `points[0]: "S\\T": a PI path starts with`},
		{base + "points: ['\\\\S\\T|x']\n", "points[0]"},
		{base + "attributes: ['\\\\AF\\DB\\E']\n", "attributes[0]"},
		{base + "attributes: ['\\\\AF\\DB|A']\n", "attributes[0]"},
		{base + "points: ['\\\\S\\T', '\\\\s\\t']\n", "points[1]"},
		{base + "points: ['\\\\S\\T']\npoint_stream: '{tag}'\n", "point_stream: \"{tag}\": unknown variable {tag}"},
		{base + "points: ['\\\\S\\T']\nusername: u\n", "password: empty while username"},
		{base + "points: ['\\\\S\\T']\nusername: u\npassword: p\ntoken: t\n", "token: set together"},
		{base + "points: ['\\\\S\\T']\ntoken: ${TOK}\n", "token: malformed secret"},
		{base + "points: ['\\\\S\\T']\nbackfill_start: yesterday\n", "backfill_start"},
		{base + "points: ['\\\\S\\T']\nmax_count: 10\nstreams_per_request: 20\n", "max_count: 10 is less"},
		{base + "points: ['\\\\S\\T']\npoll_interval: 1ms\n", "poll_interval"},
		{base + "points: ['\\\\S\\T']\nreconnect_max: 1ms\n", "reconnect_max"},
		{"url: http://pi\npoints: ['\\\\S\\T']\ntls: {ca: x.pem}\n", "tls: set, but url is not https"},
		{base + "points: ['\\\\S\\A', '\\\\S2\\A']\npoint_stream: '{name}'\n", "would both be stream"},
		{base + "points: ['\\\\S\\T']\npoints_typo: 1\n", "field points_typo not found"},
	} {
		_, err := reg.New(connectors.Env{Name: "s"}, connectortest.DecodeYAML(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestAttributePath(t *testing.T) {
	p, err := parseAttributePath(`\\AFSRV\Plant\Area 1\Boiler|Temperature|PV`)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := nametmpl.Parse("{server}:{database}/{element}/{name}", attributeVars)
	if n := p.streamName(tm, "x/"); n != "x/AFSRV:Plant/Area 1/Boiler/Temperature/PV" {
		t.Fatal(n)
	}
	if p.raw != `\\AFSRV\Plant\Area 1\Boiler|Temperature|PV` {
		t.Fatal(p.raw)
	}
}

func TestWebAPIBadCA(t *testing.T) {
	reg, _ := connectors.Lookup("pi-webapi")
	src, err := reg.New(connectors.Env{Name: "s", DataDir: t.TempDir()}, connectortest.DecodeYAML("url: https://pi/piwebapi\npoints: ['\\\\S\\T']\ntls: {ca: missing.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background(), connectortest.NewSink(t, connectortest.Options{})); err == nil || !strings.Contains(err.Error(), "tls.ca") {
		t.Fatalf("Run: %v", err)
	}
}

var _ io.Reader = (*strings.Reader)(nil)
