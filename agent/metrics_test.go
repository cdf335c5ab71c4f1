package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// metricNames lists the sluice_ metrics registered with the agent,
// whether or not they have a series yet.
func (a *Agent) metricNames() []string {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	var out []string
	for _, d := range a.reg.descs {
		if m := re.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "sluice_") && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// documentedMetrics lists the metric names of docs/api.md's metrics
// table: the part of "## Metrics" before its first subsection.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		t.Fatal("docs/api.md has no ## Metrics section")
	}
	sec, _, _ = strings.Cut(sec, "\n#")
	var out []string
	for _, m := range regexp.MustCompile("`(sluice_[A-Za-z0-9_*]*)").FindAllStringSubmatch(sec, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// scrape returns the agent's /metrics and the value of each series.
func scrape(t *testing.T, addr string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	vals := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			vals[line[:i]] = v
		}
	}
	return string(b), vals
}

// TestMetrics runs a real agent with a source, feeds it, and checks its
// /metrics: promtool's lint passes; per-source series exist from the
// start (counters at 0) and the last-point time moves with a write; the
// uptime gauge that duplicated process_start_time_seconds is gone; and
// docs/api.md lists exactly the metrics the agent registers.
func TestMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run `make deps` (Debian package prometheus)")
	}
	dir := t.TempDir()
	started := time.Now()
	a, addr := runAgent(t, Options{Config: omfAgentConfig(t, dir, agentSources)})
	send := func(msgType, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/omf", strings.NewReader(body))
		req.Header.Set("messagetype", msgType)
		req.Header.Set("messageformat", "JSON")
		req.Header.Set("omfversion", "1.2")
		req.SetBasicAuth("fledge", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Before the source delivers: its series exist, at 0, and its last
	// point is its start.
	_, vals := scrape(t, addr)
	src := `{source="plant-omf"}`
	for _, s := range []string{"sluice_connector_points_written_total" + src, "sluice_connector_points_received_total" + src,
		"sluice_connector_messages_total" + src, `sluice_connector_errors_total{reason="run",source="plant-omf"}`,
		`sluice_api_auth_rejections_total{reason="forbidden"}`, `sluice_password_checks_total{result="failed"}`,
		`sluice_federation_records_total{outcome="rejected_signature"}`} {
		if v, ok := vals[s]; !ok || v != 0 {
			t.Errorf("%s: %v (present %v), want 0 from the start", s, v, ok)
		}
	}
	last0, ok := vals["sluice_source_last_point_timestamp_seconds"+src]
	if !ok || last0 < float64(started.Unix()) || last0 > float64(time.Now().Unix()+1) {
		t.Fatalf("last point before any: %v (present %v), want the source's start", last0, ok)
	}
	if _, ok := vals["sluice_up_seconds"]; ok {
		t.Error("sluice_up_seconds is still there")
	}
	if _, ok := vals["process_start_time_seconds"]; !ok {
		t.Error("process_start_time_seconds is missing")
	}

	// A write moves the last point and counts the points.
	connectortest.Eventually(t, 10*time.Second, "the OMF source to run", func() bool { return send("type", "[]") != 503 })
	if st := send("type", `[{"id": "T", "type": "object", "classification": "dynamic", "properties": {
		"Timestamp": {"type": "string", "format": "date-time", "isindex": true}, "V": {"type": "number"}}}]`); st >= 300 {
		t.Fatalf("type: %d", st)
	}
	if st := send("container", `[{"id": "C", "typeid": "T"}]`); st >= 300 {
		t.Fatalf("container: %d", st)
	}
	before := time.Now()
	if st := send("data", `[{"containerid": "C", "values": [{"Timestamp": "2020-01-01T00:00:00Z", "V": 1}, {"Timestamp": "2020-01-01T00:00:01Z", "V": 2}]}]`); st >= 300 {
		t.Fatalf("data: %d", st)
	}
	// Traffic for the API's series: a refused and a bad request.
	if resp, err := http.Get("http://" + addr + "/api/v1/streams"); err == nil {
		resp.Body.Close()
	}
	body, vals := scrape(t, addr)
	// The points are from 2020, the write from now: the agent's clock.
	if v := vals["sluice_source_last_point_timestamp_seconds"+src]; v < float64(before.Unix()) {
		t.Errorf("last point after a write: %v, want at least %d", v, before.Unix())
	}
	if v := vals["sluice_connector_points_written_total"+src]; v != 2 {
		t.Errorf("points written: %v, want 2", v)
	}

	// promtool's lint of the real output.
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}

	// docs/api.md and the registry agree, both ways.
	registered, documented := a.metricNames(), documentedMetrics(t)
	if len(registered) < 30 {
		t.Fatalf("only %d metrics registered: %v", len(registered), registered)
	}
	for _, n := range registered {
		if !slices.Contains(documented, n) {
			t.Errorf("%s is registered but not in docs/api.md's metrics table", n)
		}
	}
	for _, n := range documented {
		if !slices.Contains(registered, n) {
			t.Errorf("docs/api.md lists %s, which the agent does not register", n)
		}
	}

	// The sample dashboard charts metrics that exist.
	dash, err := os.ReadFile("../docs/grafana/sluice-agent.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("docs/grafana/sluice-agent.json: %v", err)
	}
	charted := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`sluice_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				charted++
				if n := strings.TrimSuffix(m, "_bucket"); !slices.Contains(registered, n) {
					t.Errorf("dashboard panel %q charts %s, which the agent does not register", p.Title, m)
				}
			}
		}
	}
	if charted < 10 {
		t.Errorf("the dashboard charts only %d sluice metrics", charted)
	}
}
