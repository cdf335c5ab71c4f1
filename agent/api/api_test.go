package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/agent/users"
	"github.com/sluice-edge/sluice/connectors/point"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	st  *store.Store
	srv *Server
	ts  *httptest.Server
	c   *Client
	reg *prometheus.Registry
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), CompactInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	opts := Options{Store: st, AdminToken: "secret", Registerer: reg, Gatherer: reg, Now: func() time.Time { return testNow }}
	if mod != nil {
		mod(&opts)
	}
	srv := New(opts)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &fixture{st: st, srv: srv, ts: ts, c: &Client{Base: ts.URL, Token: "secret"}, reg: reg}
}

// do sends a raw request and returns status and body.
func (f *fixture) do(t *testing.T, method, path, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"", 401}, {"Bearer wrong", 401}, {"Basic secret", 401}, {"Bearer ", 401}, {"Bearer secret", 200},
	} {
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/streams", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.header, resp.StatusCode, tc.want)
		}
	}
	// Health, readiness and metrics need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(f.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if got := testutil.ToFloat64(f.srv.rejected.WithLabelValues("streams_list", "unauthorized")); got != 4 {
		t.Errorf("unauthorized counter = %v, want 4", got)
	}
}

func TestReadyz(t *testing.T) {
	ready := errors.New("store closed")
	f := newFixture(t, func(o *Options) { o.Ready = func() error { return ready } })
	resp, _ := http.Get(f.ts.URL + "/readyz")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "store closed") {
		t.Fatalf("readyz = %d %q", resp.StatusCode, b)
	}
}

func TestStreamsLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var s StreamJSON
	if err := f.c.JSON(ctx, "POST", "/api/v1/streams", nil, map[string]string{"name": "site1/boiler/temp", "unit": "degC", "kind": "float"}, &s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "site1/boiler/temp" || s.Kind != point.KindFloat || s.Unit != "degC" {
		t.Fatalf("created %+v", s)
	}
	var e *Error
	err := f.c.JSON(ctx, "POST", "/api/v1/streams", nil, map[string]string{"name": "site1/boiler/temp"}, nil)
	if !errors.As(err, &e) || e.Status != 409 {
		t.Fatalf("duplicate: %v", err)
	}
	for _, tc := range []struct {
		body, want string
	}{
		{`{"name": "a//b"}`, "empty segment"},
		{`{"name": "ok", "kind": "complex"}`, "unknown value kind"},
		{`{"name": "ok", "colour": "red"}`, `unknown field`},
		{`not json`, "body"},
	} {
		code, body := f.do(t, "POST", "/api/v1/streams", "application/json", tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("create %s: %d %s, want 400 containing %q", tc.body, code, body, tc.want)
		}
	}
	if err := f.c.JSON(ctx, "GET", StreamPath("site1/boiler/temp", ""), nil, nil, &s); err != nil || s.Unit != "degC" {
		t.Fatalf("get: %v %+v", err, s)
	}
	for i := 0; i < 5; i++ {
		if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: fmt.Sprintf("site2/t%d", i), Kind: point.KindInt}); err != nil {
			t.Fatal(err)
		}
	}
	var page StreamList
	if err := f.c.JSON(ctx, "GET", "/api/v1/streams", url.Values{"prefix": {"site2/"}, "limit": {"3"}}, nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Streams) != 3 || page.Next != "site2/t2" {
		t.Fatalf("page 1: %+v", page)
	}
	after := page.Next
	page = StreamList{}
	if err := f.c.JSON(ctx, "GET", "/api/v1/streams", url.Values{"prefix": {"site2/"}, "after": {after}}, nil, &page); err != nil || len(page.Streams) != 2 || page.Next != "" {
		t.Fatalf("page 2: %v %+v", err, page)
	}
	if err := f.c.JSON(ctx, "DELETE", StreamPath("site2/t0", ""), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.c.JSON(ctx, "GET", StreamPath("site2/t0", ""), nil, nil, nil); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("get deleted: %v", err)
	}
	// An unescaped name with slashes is a clear 404, not a wrong stream.
	code, body := f.do(t, "GET", "/api/v1/streams/site1/boiler/temp", "", "")
	if code != 404 || !strings.Contains(body, "URL-escaped") {
		t.Fatalf("unescaped path: %d %s", code, body)
	}
}

func TestWriteAndRead(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	// CSV with a header, RFC 3339 and epoch times, a quality column.
	csv := "timestamp,value,quality\n2026-11-23T10:00:00Z,12.5,0\n1795428001,12.75,0\n1795428002000,13,1073741824\n"
	code, body := f.do(t, "POST", StreamPath("site1/boiler/temp", "data")+"?create=1&unit=degC", "text/csv", csv)
	if code != 200 || !strings.Contains(body, `"written": 3`) || !strings.Contains(body, "site1/boiler/temp") {
		t.Fatalf("csv write: %d %s", code, body)
	}
	st, _ := f.st.GetStream(ctx, "site1/boiler/temp")
	if st.Kind != point.KindFloat || st.Unit != "degC" {
		t.Fatalf("created stream %+v", st)
	}
	// JSON for the same stream, overwriting the second point.
	js := `[{"time": "2026-11-23T10:00:01Z", "value": 99}, {"time": 1795428003.5, "value": 14.25, "quality": 0}]`
	if code, body := f.do(t, "POST", StreamPath("site1/boiler/temp", "data"), "application/json", js); code != 200 {
		t.Fatalf("json write: %d %s", code, body)
	}
	code, body = f.do(t, "GET", StreamPath("site1/boiler/temp", "data")+"?start=2026-11-23T09:00:00Z&end=now&format=csv", "", "")
	want := "timestamp,value,quality\n" +
		"2026-11-23T10:00:00Z,12.5,0\n" +
		"2026-11-23T10:00:01Z,99,0\n" +
		"2026-11-23T10:00:02Z,13,1073741824\n" +
		"2026-11-23T10:00:03.5Z,14.25,0\n"
	if code != 200 || body != want {
		t.Fatalf("csv read: %d\n%s\nwant\n%s", code, body, want)
	}
	// JSON window with paging.
	var got struct {
		Points []struct {
			Time  string  `json:"time"`
			Value float64 `json:"value"`
		} `json:"points"`
		Next string `json:"next_page_token"`
	}
	q := url.Values{"start": {"2026-11-23T09:00:00Z"}, "limit": {"3"}}
	if err := f.c.JSON(ctx, "GET", StreamPath("site1/boiler/temp", "data"), q, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 3 || got.Next == "" || got.Points[2].Value != 13 {
		t.Fatalf("page 1: %+v", got)
	}
	q.Set("page_token", got.Next)
	got.Next = ""
	if err := f.c.JSON(ctx, "GET", StreamPath("site1/boiler/temp", "data"), q, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 1 || got.Points[0].Time != "2026-11-23T10:00:03.5Z" || got.Next != "" {
		t.Fatalf("page 2: %+v", got)
	}
	// Latest, interpolated, summaries.
	code, body = f.do(t, "GET", StreamPath("site1/boiler/temp", "latest")+"?format=csv&time=ns", "", "")
	if code != 200 || body != "timestamp,value,quality\n1795428003500000000,14.25,0\n" {
		t.Fatalf("latest: %d %q", code, body)
	}
	code, body = f.do(t, "GET", StreamPath("site1/boiler/temp", "interpolated")+"?start=2026-11-23T10:00:00Z&end=2026-11-23T10:00:01Z&count=3&format=csv", "", "")
	if code != 200 || !strings.Contains(body, "2026-11-23T10:00:00.5Z,55.75,0") {
		t.Fatalf("interpolated: %d %s", code, body)
	}
	var sums struct {
		Summaries []SummaryJSON `json:"summaries"`
	}
	q = url.Values{"start": {"2026-11-23T10:00:00Z"}, "end": {"2026-11-23T10:00:04Z"}, "interval": {"2s"}}
	if err := f.c.JSON(ctx, "GET", StreamPath("site1/boiler/temp", "summaries"), q, nil, &sums); err != nil {
		t.Fatal(err)
	}
	if len(sums.Summaries) != 2 || sums.Summaries[0].Count != 2 || *sums.Summaries[0].Max != 99 || *sums.Summaries[1].Min != 13 {
		t.Fatalf("summaries: %+v", sums)
	}
	// Bulk CSV and JSON across streams.
	bulk := "stream,timestamp,value\na/x,2026-11-23T10:00:00Z,1\na/y,2026-11-23T10:00:00Z,true\na/x,2026-11-23T10:00:01Z,2\n"
	if code, body := f.do(t, "POST", "/api/v1/data?create=1", "text/csv", bulk); code != 200 || !strings.Contains(body, `"written": 3`) {
		t.Fatalf("bulk csv: %d %s", code, body)
	}
	if st, _ := f.st.GetStream(ctx, "a/y"); st.Kind != point.KindBool {
		t.Fatalf("a/y inferred kind %v, want bool", st.Kind)
	}
	bj := `[{"stream": "a/x", "time": "now", "value": 3}, {"stream": "a/y", "time": "now-1m", "value": false}]`
	if code, body := f.do(t, "POST", "/api/v1/data", "application/json", bj); code != 200 {
		t.Fatalf("bulk json: %d %s", code, body)
	}
	if p, ok, _ := f.st.Latest(ctx, "a/x"); !ok || p.Time != testNow.UnixNano() || p.Value.F != 3 {
		t.Fatalf("a/x latest %+v", p)
	}
}

// TestBadWritesChangeNothing: every malformed body is a 400 naming what
// was wrong, counted, and leaves the stored data as it was.
func TestBadWritesChangeNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.st.CreateStream(ctx, point.StreamSpec{Name: "s", Kind: point.KindInt})
	if code, body := f.do(t, "POST", StreamPath("s", "data"), "text/csv", "1763892000,1\n"); code != 200 {
		t.Fatalf("good write: %d %s", code, body)
	}
	for _, tc := range []struct {
		ctype, body, want string
		code              int
	}{
		{"text/csv", "1763892001,2\nyesterday,3\n", "line 2", 400},
		{"text/csv", "1763892001,2\n1763892002\n", "line 2: want timestamp,value", 400},
		{"text/csv", "1763892001,2.5\n", "not an integer", 400},
		{"text/csv", "1763892001,2,good\n", "quality", 400},
		{"text/csv", "1763892001,2,0,9,9\n", "got 5 columns", 400},
		{"text/csv", "1763892001,\"unterminated\n", "line 1", 400},
		{"application/json", `[{"time": 1763892001, "value": 2}, {"time": "soon", "value": 3}]`, "points[1].time", 400},
		{"application/json", `[{"time": 1763892001}]`, "points[0].value: missing", 400},
		{"application/json", `[{"time": 1763892001, "value": [1]}]`, "points[0].value", 400},
		{"application/json", `[{"time": 1763892001, "value": 1, "extra": 1}]`, "unknown field", 400},
		{"application/json", `[{"stream": "other", "time": 1763892001, "value": 1}]`, "does not match", 400},
		{"application/json", `{"time": 1}`, "JSON array", 400},
	} {
		code, body := f.do(t, "POST", StreamPath("s", "data"), tc.ctype, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %q: %d %s, want %d containing %q", tc.ctype, tc.body, code, body, tc.code, tc.want)
		}
	}
	if code, body := f.do(t, "POST", "/api/v1/data", "text/csv", "nope,1763892001,1\n"); code != 404 || !strings.Contains(body, "create=1") {
		t.Errorf("unknown stream in bulk: %d %s", code, body)
	}
	it, _ := f.st.Window(ctx, "s", store.WindowQuery{Start: 0, End: 1 << 62})
	n := 0
	for it.Next() {
		n++
	}
	it.Close()
	if n != 1 {
		t.Fatalf("bad writes changed the data: %d points", n)
	}
	if got := testutil.ToFloat64(f.srv.rejected.WithLabelValues("write", "bad_time")); got != 2 {
		t.Errorf("bad_time counter = %v", got)
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 100; o.MaxInFlight = 1 })
	f.st.CreateStream(context.Background(), point.StreamSpec{Name: "s"})
	big := strings.Repeat("1763892001,1\n", 20)
	if code, body := f.do(t, "POST", StreamPath("s", "data"), "text/csv", big); code != 413 || !strings.Contains(body, "over the limit of 100 bytes") {
		t.Fatalf("big body: %d %s", code, body)
	}
	// Hold the only write slot with a body that does not end, then a
	// second write must be told to come back.
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("POST", f.ts.URL+StreamPath("s", "data"), pr)
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("1763892001,1\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(f.srv.inflight) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first write never started")
		}
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequest("POST", f.ts.URL+StreamPath("s", "data"), strings.NewReader("1763892002,1\n"))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second write: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	pw.Close()
	if code := <-done; code != 200 {
		t.Fatalf("first write: %d", code)
	}
}

func TestParseTime(t *testing.T) {
	now := testNow
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"now", now, false},
		{"-1h", now.Add(-time.Hour), false},
		{"+15m", now.Add(15 * time.Minute), false},
		{"now-15m", now.Add(-15 * time.Minute), false},
		{"now+2d", now.Add(48 * time.Hour), false},
		{"-1w", now.Add(-7 * 24 * time.Hour), false},
		{"2026-11-23T10:00:00Z", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-23T10:00:00.123+01:00", time.Date(2026, 11, 23, 9, 0, 0, 123e6, time.UTC), false},
		{"1763892000", time.Unix(1763892000, 0), false},
		{"1763892000123", time.UnixMilli(1763892000123), false},
		{"1763892000123456", time.UnixMicro(1763892000123456), false},
		{"1763892000123456789", time.Unix(0, 1763892000123456789), false},
		{"1763892000.25", time.Unix(1763892000, 250e6), false},
		{"0", time.Unix(0, 0), false},
		{"", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"now-", time.Time{}, true},
		{"-1x", time.Time{}, true},
		{"1e9", time.Time{}, true},
		{"2026-13-01T00:00:00Z", time.Time{}, true},
	} {
		got, err := ParseTime(tc.in, now)
		if (err != nil) != tc.err || (!tc.err && got != tc.want.UnixNano()) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (err %v)", tc.in, time.Unix(0, got).UTC(), err, tc.want.UTC(), tc.err)
		}
	}
}

func TestJSONString(t *testing.T) {
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "ctl\x01\n", "Störung", "bad\xffutf8", ""} {
		var back string
		enc := AppendJSONString(nil, s)
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Errorf("%q encoded as invalid JSON %s: %v", s, enc, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("%q round-trips as %q", s, back)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"timestamp,value\n2026-11-23T10:00:00Z,1\n",
		"a,1763892000,1.5,0\nb,now,true\n",
		"\"q,uoted\",1,x\n", ",,\n", "1,2,3,4,5,6\n",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, bulk bool) {
		stream := "s"
		if bulk {
			stream = ""
		}
		pts, err := parseCSV([]byte(body), stream, testNow)
		if err == nil {
			for _, p := range pts {
				if p.Stream == "" || !p.Value.Kind.Valid() {
					t.Fatalf("accepted a point without stream or kind: %+v", p)
				}
			}
		}
	})
}

func FuzzParseJSONPoints(f *testing.F) {
	for _, s := range []string{
		`[{"time": "2026-11-23T10:00:00Z", "value": 1}]`,
		`[{"stream": "a", "time": 1763892000, "value": "x", "quality": 5}]`,
		`[{"time": null, "value": true}]`, `[]`, `{}`, `[{"time": 1e400, "value": 1}]`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, bulk bool) {
		stream := "s"
		if bulk {
			stream = ""
		}
		pts, err := parseJSONPoints([]byte(body), stream, testNow)
		if err == nil {
			for _, p := range pts {
				if p.Stream == "" || !p.Value.Kind.Valid() {
					t.Fatalf("accepted a point without stream or kind: %+v", p)
				}
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "-1h", "now-15m", "2026-11-23T10:00:00Z", "1763892000.5", "-", "+", "now+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseTime(s, testNow) // must not panic
	})
}

// TestRegistryMount: a handler can be mounted only at a row of the route
// registry, and Unmounted names the rows still without one, which the
// agent refuses to serve with.
func TestRegistryMount(t *testing.T) {
	s := New(Options{})
	missing := s.Unmounted()
	if !slices.Contains(missing, "GET /api/v1/views") || slices.Contains(missing, "GET /api/v1/streams") {
		t.Fatalf("unmounted rows of a bare server: %v", missing)
	}
	s.Mount("GET /api/v1/views", http.NotFoundHandler())
	if slices.Contains(s.Unmounted(), "GET /api/v1/views") {
		t.Fatal("GET /api/v1/views still unmounted after Mount")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "GET /api/v1/nowhere") {
			t.Fatalf("Mount of a pattern without a row: recovered %v, want a panic naming it", r)
		}
	}()
	s.Mount("GET /api/v1/nowhere", http.NotFoundHandler())
}

// TestHandleKeepsAPIPathsGuarded: a handler mounted outside the registry
// (the console at /) never answers a path under /api/ that the mux routed
// to it because of how its prefix was spelled; the registry's catch-all
// does. The gate here records what reached it.
func TestHandleKeepsAPIPathsGuarded(t *testing.T) {
	g := &recordingGate{}
	s := New(Options{Gate: g})
	s.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("console")) }))
	for _, tc := range []struct {
		path, want string
		noRoute    bool
	}{
		{"/index.html", "console", false},
		{"/api%2Fv1%2Fstreams", "no route", true},
		{"/x/..%2Fapi/v1/streams", "no route", true},
		{"/api/v1/nowhere", "no route", true},
		{"/api/v1/streams", "row streams_list", false},
	} {
		g.noRoutes = 0
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if got := w.Body.String(); got != tc.want || (g.noRoutes == 1) != tc.noRoute {
			t.Errorf("GET %s: %q (catch-all %d), want %q", tc.path, got, g.noRoutes, tc.want)
		}
	}
}

// recordingGate refuses everything, saying which check it was asked.
type recordingGate struct{ noRoutes int }

func (g *recordingGate) Route(rt users.Route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("row " + rt.Name)) })
}

func (g *recordingGate) NoRoute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.noRoutes++
		w.Write([]byte("no route"))
	})
}

func (g *recordingGate) Allow(ctx context.Context, pattern string, value func(string) string) (context.Context, error) {
	return ctx, errors.New("refused")
}
