package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGrafanaPrometheusAPI: Grafana's built-in Prometheus data source,
// pointed at http://<agent>/prometheus, charts the tenant's own streams
// and a partner's shared stream, through two real agents.
//
// No Grafana runs here (Debian has no grafana package and the npm
// "grafana" package is a placeholder), so the requests are the ones
// Grafana's Prometheus client sends, as its source and the Prometheus
// HTTP API documentation show them: queries POSTed form-encoded with
// start/end as Unix seconds and step as seconds, the health check "1+1"
// as an instant query at time 4, GETs for labels, label values and
// metadata, series with match[].
func TestGrafanaPrometheusAPI(t *testing.T) {
	quickExit(t)
	acme, north, base := twoTenantsSharing(t)

	admin := promAdminToken(t, north)
	north.ok("correct horse battery\n", "user", "add", "olivia", "--role", "community-member", "--password-stdin")
	north.ok("correct horse battery\n", "user", "add", "bob", "--password-stdin")
	north.ok("", "user", "grant", "bob", "community-member", "--community", testCommunity)
	north.ok("correct horse battery\n", "user", "add", "carl", "--password-stdin")
	olivia, bob, carl := promLogin(t, north, "olivia"), promLogin(t, north, "bob"), promLogin(t, north, "carl")

	// Save & test.
	if code, r := promDo(t, north, admin, "POST", "query", url.Values{"query": {"1+1"}, "time": {"4"}}); code != 200 || string(r.Data) != `{"resultType":"scalar","result":[4,"2"]}` {
		t.Fatalf("health check: %d %+v", code, r)
	}
	// The metric browser.
	if code, r := promDo(t, north, admin, "GET", "labels", url.Values{"start": {promUnix(base)}, "end": {promUnix(time.Now())}}); code != 200 ||
		string(r.Data) != `["__name__","community","stream","tenant"]` {
		t.Fatalf("labels: %d %+v", code, r)
	}
	if code, r := promDo(t, north, admin, "GET", "label/__name__/values", nil); code != 200 || string(r.Data) != `["line2_feed_flow","site1_boiler_temp"]` {
		t.Fatalf("__name__ values: %d %+v", code, r)
	}
	wantShared := `[{"__name__":"site1_boiler_temp","community":"supply-chain","stream":"site1/boiler/temp","tenant":"acme-refinery"}]`
	if code, r := promDo(t, north, admin, "GET", "series", url.Values{"match[]": {`{community="supply-chain"}`}}); code != 200 || string(r.Data) != wantShared {
		t.Fatalf("series: %d %+v", code, r)
	}

	// A panel: avg_over_time over [$__interval] = 1m, step 60 s. The
	// window (t-1m, t] at t = base+k min holds the points 6k-5 .. 6k.
	start, end := base.Add(5*time.Minute), base.Add(15*time.Minute)
	form := func(q string) url.Values {
		return url.Values{"query": {q}, "start": {promUnix(start)}, "end": {promUnix(end)}, "step": {"60"}}
	}
	want := func(offset int, f func(k int) float64) string {
		var vs []string
		for k := 5; k <= 15; k++ {
			vs = append(vs, fmt.Sprintf(`[%d,"%s"]`, base.Unix()+int64(60*k), strconv.FormatFloat(float64(offset)+f(k), 'f', -1, 64)))
		}
		return "[" + strings.Join(vs, ",") + "]"
	}
	avg := func(k int) float64 { return float64(6*k) - 2.5 }
	for _, tok := range []string{admin, olivia} {
		began := time.Now()
		got := promMatrix(t, north, tok, form(`avg_over_time({__name__=~"site1_boiler_temp|line2_feed_flow"}[1m])`))
		t.Logf("a panel of a local and a shared stream: %s", time.Since(began))
		if len(got) != 2 || got["site1/boiler/temp"] != want(0, avg) || got["line2/feed/flow"] != want(1000, avg) {
			t.Fatalf("avg_over_time: %v\nwant %s and %s", got, want(0, avg), want(1000, avg))
		}
	}
	// Plain selectors: the newest point at or before each step.
	if got := promMatrix(t, north, admin, form(`site1_boiler_temp{tenant="acme-refinery"}`)); got["site1/boiler/temp"] != want(0, func(k int) float64 { return float64(6 * k) }) {
		t.Fatalf("selector: %v", got)
	}
	if got := promMatrix(t, north, admin, form(`max_over_time(line2_feed_flow[2m]) - 1000`)); got["line2/feed/flow"] != want(0, func(k int) float64 { return float64(6 * k) }) {
		t.Fatalf("max_over_time - 1000: %v", got)
	}
	// An instant query (a stat panel).
	code, r := promDo(t, north, admin, "POST", "query", url.Values{"query": {`{stream="site1/boiler/temp"}`}, "time": {promUnix(base.Add(5*time.Minute + 5*time.Second))}})
	if code != 200 || !strings.Contains(string(r.Data), `"value":[`+strconv.FormatInt(base.Unix()+305, 10)+`,"30"]`) {
		t.Fatalf("instant: %d %s", code, r.Data)
	}

	// Roles: a member of the community alone sees the shared stream, not
	// the local ones; a user with no role gets nothing; no token, 401.
	if got := promMatrix(t, north, bob, form(`{stream=~".+"}`)); len(got) != 1 || got["site1/boiler/temp"] != want(0, func(k int) float64 { return float64(6 * k) }) {
		t.Fatalf("bob: %v", got)
	}
	if code, _ := promRaw(t, north, carl, "POST", "query_range", form(`{stream=~".+"}`)); code != 403 {
		t.Fatalf("carl: %d, want 403", code)
	}
	if code, _ := promRaw(t, north, "", "POST", "query_range", form(`{stream=~".+"}`)); code != 401 {
		t.Fatalf("no token: %d, want 401", code)
	}
	// Unsupported PromQL: Prometheus' own error.
	if code, r := promDo(t, north, admin, "POST", "query_range", form(`sum(rate(site1_boiler_temp[5m]))`)); code != 400 || r.ErrorType != "bad_data" ||
		!strings.Contains(r.Error, "aggregation sum() is not supported") {
		t.Fatalf("unsupported: %d %+v", code, r)
	}

	// Pausing the share takes the partner's series away at once; resuming
	// brings them back.
	acme.ok("", "community", "pause", testCommunity)
	if got := promMatrix(t, north, admin, form(`{stream=~".+"}`)); len(got) != 1 || got["line2/feed/flow"] == "" {
		t.Fatalf("paused: %v", got)
	}
	if code, r := promDo(t, north, admin, "GET", "series", url.Values{"match[]": {`{community="supply-chain"}`}}); code != 200 || string(r.Data) != `[]` {
		t.Fatalf("series when paused: %d %+v", code, r)
	}
	acme.ok("", "community", "resume", testCommunity)
	if got := promMatrix(t, north, admin, form(`site1_boiler_temp`)); got["site1/boiler/temp"] != want(0, func(k int) float64 { return float64(6 * k) }) {
		t.Fatalf("resumed: %v", got)
	}
}

func promUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func promAdminToken(t *testing.T, a *agentProc) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func promLogin(t *testing.T, a *agentProc, user string) string {
	t.Helper()
	resp, err := http.Post(a.addr+"/api/v1/login", "application/json", strings.NewReader(`{"user":"`+user+`","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return out.Token
}

type promAnswer struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// promRaw sends a request to the data source URL as Grafana does: GET
// with the query string, or POST with a form body.
func promRaw(t *testing.T, a *agentProc, token, method, endpoint string, q url.Values) (int, []byte) {
	t.Helper()
	u := a.addr + "/prometheus/api/v1/" + endpoint
	var req *http.Request
	if method == "GET" {
		req, _ = http.NewRequest("GET", u+"?"+q.Encode(), nil)
	} else {
		req, _ = http.NewRequest("POST", u, strings.NewReader(q.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func promDo(t *testing.T, a *agentProc, token, method, endpoint string, q url.Values) (int, promAnswer) {
	t.Helper()
	code, b := promRaw(t, a, token, method, endpoint, q)
	var r promAnswer
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, endpoint, b)
	}
	return code, r
}

// matrix runs a range query and returns each series' values (as JSON) by
// its stream label.
func promMatrix(t *testing.T, a *agentProc, token string, form url.Values) map[string]string {
	t.Helper()
	code, r := promDo(t, a, token, "POST", "query_range", form)
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values json.RawMessage   `json:"values"`
		} `json:"result"`
	}
	if code != 200 || r.Status != "success" || json.Unmarshal(r.Data, &data) != nil || data.ResultType != "matrix" {
		t.Fatalf("query_range %s: %d %+v", form.Get("query"), code, r)
	}
	out := map[string]string{}
	for _, s := range data.Result {
		out[s.Metric["stream"]] = string(s.Values)
	}
	return out
}

// twoTenantsSharing starts two real agents: acme-refinery shares
// site1/boiler/temp into the test community, and northwind-chemicals,
// a confirmed member, has its own line2/feed/flow. Each stream has 120
// points 10 s apart from base, a whole minute: value i at base+10s*i on
// acme's, 1000+i on northwind's, so every window's answer is known.
func twoTenantsSharing(t *testing.T) (acme, north *agentProc, base time.Time) {
	t.Helper()
	acme = startFedAgent(t, "acme-refinery")
	north = startFedAgent(t, "northwind-chemicals")
	base = time.Now().Add(-25 * time.Minute).Truncate(time.Minute)
	feed := func(a *agentProc, stream string, offset int) {
		var csv strings.Builder
		for i := 0; i < 120; i++ {
			fmt.Fprintf(&csv, "%s,%d\n", base.Add(time.Duration(i)*10*time.Second).Format(time.RFC3339), offset+i)
		}
		a.ok(csv.String(), "stream", "write", stream, "--create")
	}
	feed(acme, "site1/boiler/temp", 0)
	feed(north, "line2/feed/flow", 1000)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	fedJoin(acme, north, "ops@northwind.example", "acme-refinery/site1/boiler/temp")
	return acme, north, base
}
