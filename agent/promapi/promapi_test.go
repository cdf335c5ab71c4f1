package promapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// base is the fixture's first point; points follow every 10 s for 2 h.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	selfID  policy.TenantID    = "self-tenant"
	northID policy.TenantID    = "north-tenant"
	commID  policy.CommunityID = "community-1"
)

type fixture struct {
	local, owner *store.Store
	partners     *fakePartners
	ts           *httptest.Server
	roles        atomic.Value // func(policy.CommunityID) policy.RoleSet
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), CompactInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// feed writes 720 points to name: value i%37 + 0.25 at base+10s*i, every
// 50th of bad quality, every 7th uncertain.
func feed(t *testing.T, st *store.Store, name, unit string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateStream(ctx, point.StreamSpec{Name: name, Unit: unit, Kind: point.KindFloat, Description: "test " + name}); err != nil {
		t.Fatal(err)
	}
	var pts []point.Point
	for i := 0; i < 720; i++ {
		q := point.Quality(0)
		switch {
		case i%50 == 49:
			q = point.QualityBad
		case i%7 == 3:
			q = 0x40000000 // uncertain
		}
		pts = append(pts, point.Point{Stream: name, Time: base.Add(time.Duration(i) * 10 * time.Second).UnixNano(),
			Value: point.Float(float64(i%37) + 0.25), Quality: q})
	}
	if err := st.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{local: openStore(t), owner: openStore(t)}
	feed(t, f.local, "site1/boiler/temp", "degC")
	feed(t, f.local, "site1/boiler/pressure", "bar")
	if _, err := f.local.CreateStream(context.Background(), point.StreamSpec{Name: "site1/boiler/state", Kind: point.KindString}); err != nil {
		t.Fatal(err)
	}
	feed(t, f.owner, "line2/feed/flow", "m3/h")
	f.partners = &fakePartners{owner: f.owner}
	f.roles.Store(func(policy.CommunityID) policy.RoleSet { return policy.NewRoleSet(policy.RoleTenantAdmin) })
	h := New(Options{Store: f.local, Partners: f.partners, Tenant: "acme-refinery",
		Now: func() time.Time { return base.Add(2 * time.Hour) },
		Caller: func(r *http.Request) (Caller, bool) {
			return Caller{User: "olivia", Roles: f.roles.Load().(func(policy.CommunityID) policy.RoleSet)}, true
		}})
	mux := http.NewServeMux()
	h.Mount(mux.Handle)
	f.ts = httptest.NewServer(Front(mux))
	t.Cleanup(f.ts.Close)
	return f
}

// fakePartners is one partner, northwind, sharing line2/feed/flow into
// one community; its "agent" answers from its own store the way the
// read API does (summaries on the epoch grid, shifted by offset).
type fakePartners struct {
	owner  *store.Store
	paused atomic.Bool // the share is paused: gone from the catalog, reads refused
	// denyReads refuses reads while the catalog still lists the stream
	// (paused between the two).
	denyReads atomic.Bool
	// throttle answers that many reads with 429, Retry-After 0.
	throttle    atomic.Int32
	minInterval atomic.Int64      // ns
	labels      map[string]string // of the shared stream; set before the first request
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
	// overlap, when set, holds each read until four (the default
	// PartnerParallel) are in flight or overlapOf reads have started: the
	// reads fill every slot however slow the machine, so a limit that
	// lets more through shows.
	overlap            atomic.Bool
	overlapOf, started atomic.Int32
	mu                 sync.Mutex
	reads              []federation.PartnerRead
}

func (p *fakePartners) ID() policy.TenantID { return selfID }
func (p *fakePartners) Communities() []federation.Community {
	return []federation.Community{{ID: commID, Name: "supply-chain", Owner: selfID}}
}
func (p *fakePartners) Catalog(ctx context.Context, c policy.CommunityID) (federation.Catalog, error) {
	out := federation.Catalog{Entries: []federation.CatalogEntry{
		{Tenant: selfID, TenantName: "acme-refinery", Stream: "site1/boiler/temp", StreamInfo: federation.StreamInfo{Kind: "float"}},
	}}
	if !p.paused.Load() {
		out.Entries = append(out.Entries, federation.CatalogEntry{Tenant: northID, TenantName: "northwind-chemicals", Stream: "line2/feed/flow",
			StreamInfo: federation.StreamInfo{Kind: "float", Unit: "m3/h", Description: "feed flow", Labels: p.labels}, MinInterval: time.Duration(p.minInterval.Load())})
	}
	return out, nil
}
func (p *fakePartners) Summaries(ctx context.Context, rq federation.PartnerRead) ([]store.Summary, error) {
	p.mu.Lock()
	p.reads = append(p.reads, rq)
	p.mu.Unlock()
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for m := p.maxInFlight.Load(); n > m && !p.maxInFlight.CompareAndSwap(m, n); m = p.maxInFlight.Load() {
	}
	if p.started.Add(1); p.overlap.Load() {
		deadline := time.Now().Add(10 * time.Second)
		for p.inFlight.Load() < 4 && p.started.Load() < p.overlapOf.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling, bounded by the deadline
		}
	}
	if p.throttle.Add(-1) >= 0 {
		return nil, &federation.PeerError{Status: 429, Reason: "throttled", Message: "throttled", Retry: "0"}
	}
	if p.paused.Load() || p.denyReads.Load() {
		return nil, &federation.PeerError{Status: 403, Reason: "paused", Message: "denied: paused"}
	}
	if rq.Owner != northID || rq.Community != commID || rq.Kind != policy.ReadSummaries || rq.Align != "epoch" || rq.TimeFormat != "ns" {
		return nil, fmt.Errorf("unexpected read %+v", rq)
	}
	start := store.GridFloor(rq.Start, int64(rq.Interval), int64(rq.Offset))
	return p.owner.Summaries(ctx, rq.Stream, start, rq.End, int64(rq.Interval), store.Unbounded)
}

// promResponse is the Prometheus API's envelope.
type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
	Value  [2]any            `json:"value"`
}

// post sends a form as Grafana does (POST, form-encoded) to the alias.
func (f *fixture) post(t *testing.T, endpoint string, form url.Values) (int, promResponse) {
	t.Helper()
	resp, err := http.Post(f.ts.URL+"/prometheus/api/v1/"+endpoint, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func (f *fixture) get(t *testing.T, pathAndQuery string) (int, promResponse) {
	t.Helper()
	resp, err := http.Get(f.ts.URL + pathAndQuery)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, promResponse) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out promResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", resp.Request.URL, err, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	return resp.StatusCode, out
}

func secs(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// matrix runs a range query and returns its series by stream.
func (f *fixture) matrix(t *testing.T, query string, start, end time.Time, step string) (map[string]promSeries, promResponse) {
	t.Helper()
	code, r := f.post(t, "query_range", url.Values{"query": {query}, "start": {secs(start)}, "end": {secs(end)}, "step": {step}})
	if code != 200 || r.Status != "success" {
		t.Fatalf("%s: %d %+v", query, code, r)
	}
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSeries `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil || data.ResultType != "matrix" {
		t.Fatalf("%s: data %s: %v", query, r.Data, err)
	}
	out := map[string]promSeries{}
	for _, s := range data.Result {
		out[s.Metric["stream"]] = s
	}
	return out, r
}

// reference evaluates a query the slow way, from every raw point.
func reference(t *testing.T, st *store.Store, name, fn string, rng, lookback time.Duration, at int64) (float64, bool) {
	t.Helper()
	lo := at - int64(rng)
	if fn == "" {
		lo = at - int64(lookback)
	}
	it, err := st.Window(context.Background(), name, store.WindowQuery{Start: lo + 1, End: at + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var good []float64
	var last *store.Sample
	for it.Next() {
		p := it.At()
		last = &p
		if !point.IsBad(p.Quality) {
			good = append(good, p.Value.F)
		}
	}
	switch fn {
	case "", "last_over_time":
		if last == nil {
			return 0, false
		}
		return value(*last), true
	}
	if len(good) == 0 {
		return 0, false
	}
	var sum float64
	lo2, hi := math.Inf(1), math.Inf(-1)
	for _, v := range good {
		sum += v
		lo2, hi = math.Min(lo2, v), math.Max(hi, v)
	}
	mean := sum / float64(len(good))
	var m2 float64
	for _, v := range good {
		m2 += (v - mean) * (v - mean)
	}
	return map[string]float64{"avg_over_time": mean, "min_over_time": lo2, "max_over_time": hi, "sum_over_time": sum,
		"count_over_time": float64(len(good)), "stddev_over_time": math.Sqrt(m2 / float64(len(good))),
		"stdvar_over_time": m2 / float64(len(good))}[fn], true
}

func same(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// TestRangeAgainstReference: every function, over ranges that are and
// are not multiples of the step, local and shared, equals the value
// computed from the raw points.
func TestRangeAgainstReference(t *testing.T) {
	f := newFixture(t)
	start, end := base.Add(-10*time.Minute), base.Add(2*time.Hour+10*time.Minute)
	for _, tc := range []struct {
		fn   string
		rng  string
		step string
	}{
		{"", "", "60"}, {"", "", "15"}, {"", "", "7"}, {"", "", "600"}, {"", "", "17m"},
		{"avg_over_time", "1m", "60"}, {"min_over_time", "5m", "60"}, {"max_over_time", "90s", "60"},
		{"sum_over_time", "1m", "15"}, {"count_over_time", "10m", "600"}, {"last_over_time", "1m", "45"},
		{"stddev_over_time", "20m", "300"}, {"stdvar_over_time", "7m", "2m"}, {"avg_over_time", "25s", "1m"},
	} {
		for _, src := range []struct {
			query  string
			stream string
			st     *store.Store
		}{
			{"site1_boiler_temp", "site1/boiler/temp", f.local},
			{`{stream="line2/feed/flow", community="supply-chain"}`, "line2/feed/flow", f.owner},
		} {
			q := src.query
			var rng time.Duration
			if tc.fn != "" {
				rng, _ = parseDuration(tc.rng)
				q = tc.fn + "(" + q + "[" + tc.rng + "])"
			}
			got, _ := f.matrix(t, q, start, end, tc.step)
			step, _ := parseStep(tc.step)
			s := got[src.stream]
			vals := map[int64]float64{}
			for _, v := range s.Values {
				ts := int64(math.Round(v[0].(float64) * 1e3))
				fv, err := strconv.ParseFloat(v[1].(string), 64)
				if err != nil {
					t.Fatalf("%s: value %v", q, v[1])
				}
				vals[ts] = fv
			}
			n, present, nan := 0, 0, 0
			for at := start.UnixNano(); at <= end.UnixNano(); at += int64(step) {
				want, ok := reference(t, src.st, src.stream, tc.fn, rng, 5*time.Minute, at)
				g, has := vals[at/1e6]
				if has {
					present++
					if math.IsNaN(g) {
						nan++
					}
				}
				if ok != has || ok && !same(g, want) {
					t.Errorf("%s step %s at %s: got %v (%v), want %v (%v)", q, tc.step, time.Unix(0, at).UTC().Format(time.TimeOnly), g, has, want, ok)
					if n++; n > 3 {
						break
					}
				}
			}
			if present < 5 || len(vals) != present {
				t.Errorf("%s step %s: only %d points", q, tc.step, present)
			}
			t.Logf("%s step %s: %d points, %d NaN", q, tc.step, present, nan)
		}
	}
}

// TestInstantAgainstReference: instant queries, local (LatestIn) and
// shared (one summary).
func TestInstantAgainstReference(t *testing.T) {
	f := newFixture(t)
	for _, at := range []time.Time{base.Add(time.Hour + 3*time.Second), base.Add(2*time.Hour + 4*time.Minute), base.Add(3 * time.Hour)} {
		for _, q := range []struct{ fn, rng string }{{"", ""}, {"avg_over_time", "10m"}, {"last_over_time", "1h"}, {"count_over_time", "3m"}} {
			expr := "{stream=~\"site1/boiler/temp|line2/feed/flow\"}"
			var rng time.Duration
			if q.fn != "" {
				rng, _ = parseDuration(q.rng)
				expr = q.fn + "(" + expr + "[" + q.rng + "])"
			}
			code, r := f.post(t, "query", url.Values{"query": {expr}, "time": {secs(at)}})
			if code != 200 {
				t.Fatalf("%s: %d %+v", expr, code, r)
			}
			var data struct {
				ResultType string       `json:"resultType"`
				Result     []promSeries `json:"result"`
			}
			json.Unmarshal(r.Data, &data)
			if data.ResultType != "vector" {
				t.Fatalf("%s: %s", expr, r.Data)
			}
			got := map[string]promSeries{}
			for _, s := range data.Result {
				got[s.Metric["stream"]] = s
			}
			for name, st := range map[string]*store.Store{"site1/boiler/temp": f.local, "line2/feed/flow": f.owner} {
				want, ok := reference(t, st, name, q.fn, rng, 5*time.Minute, at.UnixNano())
				s, has := got[name]
				if ok != has {
					t.Errorf("%s at %s, %s: present %v, want %v", expr, at, name, has, ok)
					continue
				}
				if !ok {
					continue
				}
				g, _ := strconv.ParseFloat(s.Value[1].(string), 64)
				if s.Value[0].(float64) != float64(at.Unix()) || !same(g, want) {
					t.Errorf("%s at %s, %s: %v, want %v", expr, at, name, s.Value, want)
				}
			}
		}
	}
}

func TestShapes(t *testing.T) {
	f := newFixture(t)
	// Grafana's health check: 1+1 at time 4.
	code, r := f.post(t, "query", url.Values{"query": {"1+1"}, "time": {"4"}})
	if code != 200 || string(r.Data) != `{"resultType":"scalar","result":[4,"2"]}` {
		t.Fatalf("1+1: %d %s", code, r.Data)
	}
	// GET works as POST does, at both paths.
	for _, p := range []string{"/prometheus/api/v1/query?query=1%2B1&time=4", "/api/v1/prometheus/query?query=1%2B1&time=4"} {
		if code, r := f.get(t, p); code != 200 || string(r.Data) != `{"resultType":"scalar","result":[4,"2"]}` {
			t.Fatalf("%s: %d %s", p, code, r.Data)
		}
	}
	// A range query's exact bytes, with a unit conversion.
	resp, err := http.Post(f.ts.URL+"/prometheus/api/v1/query_range", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"query": {"last_over_time(site1_boiler_temp[10s]) * 2"}, "start": {secs(base.Add(10 * time.Second))},
			"end": {secs(base.Add(30 * time.Second))}, "step": {"10"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"stream":"site1/boiler/temp","tenant":"acme-refinery","unit":"degC"},"values":[[%d,"2.5"],[%d,"4.5"],[%d,"6.5"]]}]}}`+"\n",
		base.Unix()+10, base.Unix()+20, base.Unix()+30)
	if string(b) != want {
		t.Fatalf("query_range:\n got %s\nwant %s", b, want)
	}
	// Labels, as Grafana's metric browser asks for them.
	code, r = f.get(t, "/prometheus/api/v1/labels?start=1&end=2")
	if code != 200 || string(r.Data) != `["__name__","community","stream","tenant","unit"]` {
		t.Fatalf("labels: %d %s", code, r.Data)
	}
	code, r = f.get(t, "/prometheus/api/v1/label/__name__/values")
	if code != 200 || string(r.Data) != `["line2_feed_flow","site1_boiler_pressure","site1_boiler_temp"]` {
		t.Fatalf("__name__ values: %d %s", code, r.Data)
	}
	code, r = f.get(t, "/prometheus/api/v1/label/tenant/values?match[]="+url.QueryEscape(`{community="supply-chain"}`))
	if code != 200 || string(r.Data) != `["northwind-chemicals"]` {
		t.Fatalf("tenant values: %d %s", code, r.Data)
	}
	code, r = f.post(t, "series", url.Values{"match[]": {`{__name__=~"site1_.*"}`, `line2_feed_flow`}, "start": {"1"}, "end": {"2"}})
	if code != 200 || string(r.Data) != `[{"__name__":"line2_feed_flow","community":"supply-chain","stream":"line2/feed/flow","tenant":"northwind-chemicals","unit":"m3/h"},`+
		`{"__name__":"site1_boiler_pressure","stream":"site1/boiler/pressure","tenant":"acme-refinery","unit":"bar"},`+
		`{"__name__":"site1_boiler_temp","stream":"site1/boiler/temp","tenant":"acme-refinery","unit":"degC"}]` {
		t.Fatalf("series: %d %s", code, r.Data)
	}
	code, r = f.get(t, "/prometheus/api/v1/metadata?metric=line2_feed_flow")
	if code != 200 || string(r.Data) != `{"line2_feed_flow":[{"type":"gauge","help":"feed flow","unit":"m3/h"}]}` {
		t.Fatalf("metadata: %d %s", code, r.Data)
	}
	// Errors are Prometheus' own.
	for _, tc := range []struct {
		endpoint string
		form     url.Values
		code     int
		typ, msg string
	}{
		{"query", url.Values{"query": {"sum(x)"}}, 400, "bad_data", "aggregation sum() is not supported"},
		{"query", url.Values{"query": {"x * y"}}, 400, "bad_data", "one side must be a number"},
		{"query", url.Values{"query": {"x"}, "time": {"yesterday"}}, 400, "bad_data", `invalid parameter "time"`},
		{"query_range", url.Values{"query": {"x"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, 400, "bad_data", "end timestamp must not be before start time"},
		{"query_range", url.Values{"query": {"x"}, "start": {"10"}, "end": {"20"}, "step": {"0"}}, 400, "bad_data", "zero or negative query resolution"},
		{"query_range", url.Values{"query": {"x"}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}, 400, "bad_data", "exceeded maximum resolution of 11,000 points"},
		{"query_range", url.Values{"query": {"avg_over_time(x[1d])"}, "start": {"0"}, "end": {"10000"}, "step": {"1"}}, 422, "execution", "use a range that is a multiple"},
		{"series", url.Values{}, 400, "bad_data", "no match[] parameter provided"},
		{"series", url.Values{"match[]": {"1+1"}}, 400, "bad_data", "is not a series selector"},
	} {
		code, r := f.post(t, tc.endpoint, tc.form)
		if code != tc.code || r.Status != "error" || r.ErrorType != tc.typ || !strings.Contains(r.Error, tc.msg) {
			t.Errorf("%s %v: %d %+v, want %d %s %q", tc.endpoint, tc.form, code, r, tc.code, tc.typ, tc.msg)
		}
	}
}

// TestPolicy: what a caller sees follows its roles, and a paused share
// is gone from the lists and refused in queries, with a warning.
func TestPolicy(t *testing.T) {
	f := newFixture(t)
	start, end := base.Add(time.Hour), base.Add(time.Hour+10*time.Minute)
	all := `{stream=~".+"}`
	got, r := f.matrix(t, all, start, end, "60")
	if len(got) != 3 || len(r.Warnings) != 0 {
		t.Fatalf("admin: %d series %v", len(got), r.Warnings)
	}
	// A member of the community only: the shared stream, no local ones.
	f.roles.Store(func(c policy.CommunityID) policy.RoleSet {
		if c == commID {
			return policy.NewRoleSet(policy.RoleCommunityMember)
		}
		return 0
	})
	got, _ = f.matrix(t, all, start, end, "60")
	if len(got) != 1 || got["line2/feed/flow"].Metric["tenant"] != "northwind-chemicals" {
		t.Fatalf("member of the community: %v", got)
	}
	f.partners.mu.Lock()
	last := f.partners.reads[len(f.partners.reads)-1]
	f.partners.mu.Unlock()
	if last.User != "olivia" || !last.Roles.Can(policy.ActionRead) {
		t.Fatalf("the read vouches for %q %v", last.User, last.Roles)
	}
	// No role: nothing at all.
	f.roles.Store(func(policy.CommunityID) policy.RoleSet { return 0 })
	if got, _ = f.matrix(t, all, start, end, "60"); len(got) != 0 {
		t.Fatalf("no role: %v", got)
	}
	f.roles.Store(func(policy.CommunityID) policy.RoleSet { return policy.NewRoleSet(policy.RoleTenantAdmin) })

	// Paused: gone from the catalog, so from series and queries.
	f.partners.paused.Store(true)
	if code, r := f.get(t, "/prometheus/api/v1/series?match[]="+url.QueryEscape(`{community="supply-chain"}`)); code != 200 || string(r.Data) != `[]` {
		t.Fatalf("series when paused: %d %s", code, r.Data)
	}
	if got, _ = f.matrix(t, all, start, end, "60"); len(got) != 2 || got["line2/feed/flow"].Metric != nil {
		t.Fatalf("paused: %v", got)
	}
	// Paused between the catalog and the read: left out, with the reason.
	f.partners.paused.Store(false)
	f.partners.denyReads.Store(true)
	got, r = f.matrix(t, all, start, end, "60")
	if len(got) != 2 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "line2/feed/flow of northwind-chemicals in supply-chain left out: denied: paused") {
		t.Fatalf("paused at read: %v %v", got, r.Warnings)
	}
}

// TestPartnerLimits: reads to one owner stay within PartnerParallel
// however many series a query has; a throttled read is tried again; a
// share's min_interval leaves out what it cannot answer, with a warning.
func TestPartnerLimits(t *testing.T) {
	f := newFixture(t)
	start, end := base.Add(time.Hour), base.Add(time.Hour+10*time.Minute)
	// Eight panels refreshing at once, each with the shared stream.
	f.partners.overlapOf.Store(f.partners.started.Load() + 8)
	f.partners.overlap.Store(true)
	q := `{stream="line2/feed/flow"} * 2`
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(f.ts.URL + "/prometheus/api/v1/query_range?" + url.Values{"query": {q}, "start": {secs(start)}, "end": {secs(end)}, "step": {"60"}}.Encode())
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	f.partners.overlap.Store(false)
	if m := f.partners.maxInFlight.Load(); m > 4 || m < 2 {
		t.Fatalf("%d reads in flight to one owner, want 2 to 4", m)
	}
	f.partners.throttle.Store(1)
	if got, r := f.matrix(t, `line2_feed_flow`, start, end, "60"); len(got) != 1 || len(r.Warnings) != 0 {
		t.Fatalf("after one 429: %v %v", got, r.Warnings)
	}
	f.partners.throttle.Store(2)
	if got, r := f.matrix(t, `line2_feed_flow`, start, end, "60"); len(got) != 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "throttled") {
		t.Fatalf("after two 429s: %v %v", got, r.Warnings)
	}
	f.partners.throttle.Store(0)
	f.partners.minInterval.Store(int64(5 * time.Minute))
	got, r := f.matrix(t, `avg_over_time(line2_feed_flow[1m])`, start, end, "60")
	if len(got) != 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "shared only as summaries of 5m or coarser") {
		t.Fatalf("min_interval, 1m: %v %v", got, r.Warnings)
	}
	if got, r = f.matrix(t, `avg_over_time(line2_feed_flow[5m])`, start, end, "300"); len(got) != 1 || len(r.Warnings) != 0 {
		t.Fatalf("min_interval, 5m: %v %v", got, r.Warnings)
	}
}
