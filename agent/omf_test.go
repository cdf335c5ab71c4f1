package agent

// The OMF endpoint inside a whole agent: an adapter pointed at the agent's
// URL sends types, containers and data, and the data can be read through
// the agent's API. Also checks the mounting across a reload.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/connectortest"

	_ "github.com/sluice-edge/sluice/connectors/pi/omf" // type: omf
)

func omfAgentConfig(t *testing.T, dir, sources string) configs.Config {
	t.Helper()
	cfg, err := configs.Parse(fmt.Appendf(nil, `tenant: {name: omf-test}
data_dir: %q
api: {listen: "127.0.0.1:0"}
federation: {listen: "127.0.0.1:0", gossip: "127.0.0.1:0", advertise: 127.0.0.1}
%s`, dir, sources))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const agentSources = `sources:
  - name: plant-omf
    type: omf
    omf:
      paths: [/omf, /piwebapi/omf]
      auth:
        basic: [{username: fledge, password: s3cret}]
        users: true
`

func TestOMFThroughTheAgent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, addr := runAgent(t, Options{Config: omfAgentConfig(t, dir, agentSources)})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	send := func(path, msgType, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("messagetype", msgType)
		req.Header.Set("messageformat", "JSON")
		req.Header.Set("omfversion", "1.2")
		req.SetBasicAuth("fledge", "s3cret")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode != 503 {
			t.Logf("%s %s: %d %s", path, msgType, resp.StatusCode, b)
		}
		return resp.StatusCode
	}
	// The source starts right after the agent is ready; until it runs,
	// the endpoint answers 503 and senders retry.
	connectortest.Eventually(t, 10*time.Second, "the OMF source to run", func() bool { return send("/omf", "type", "[]") != 503 })
	if st := send("/omf", "type", `[{"id": "TankPressure", "type": "object", "classification": "dynamic", "properties": {
		"Timestamp": {"type": "string", "format": "date-time", "isindex": true}, "Pressure": {"type": "number", "uom": "pascal"}}}]`); st != 204 {
		t.Fatalf("type: %d", st)
	}
	if st := send("/piwebapi/omf", "container", `[{"id": "Tank1", "typeid": "TankPressure"}]`); st != 204 {
		t.Fatalf("container: %d", st)
	}
	if st := send("/omf", "data", `[{"containerid": "Tank1", "values": [{"Timestamp": "2026-11-23T10:00:00Z", "Pressure": 12.5}]}]`); st != 204 {
		t.Fatalf("data: %d", st)
	}
	tok, err := AdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	ac := &api.Client{Base: "http://" + addr, Token: tok}
	var out struct {
		Points []struct {
			Value any `json:"value"`
		} `json:"points"`
	}
	q := url.Values{"start": {"2026-11-23T00:00:00Z"}, "end": {"2026-11-24T00:00:00Z"}}
	if err := ac.JSON(ctx, http.MethodGet, "/api/v1/streams/Tank1.Pressure/data", q, nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Points) != 1 || fmt.Sprint(out.Points[0].Value) != "12.5" {
		t.Fatalf("read back %+v", out)
	}

	// With auth.users, an API token of the agent's users works too; a
	// wrong one does not.
	bearer := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/omf", strings.NewReader(`[{"containerid": "Tank1", "values": [{"Timestamp": "2026-11-23T10:00:02Z", "Pressure": 14}]}]`))
		req.Header.Set("messagetype", "data")
		req.Header.Set("messageformat", "JSON")
		req.Header.Set("omfversion", "1.2")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := bearer(tok); st != 204 {
		t.Fatalf("OMF with the admin's user token: %d", st)
	}
	if st := bearer("slu_000000000000_nope"); st != 401 {
		t.Fatalf("OMF with a wrong token: %d, want 401", st)
	}

	// Reload: the source changes (new path), then goes away; the mux keeps
	// serving and the paths follow.
	changed := strings.Replace(agentSources, "[/omf, /piwebapi/omf]", "[/omf, /ingest/omf]", 1)
	if err := a.Reload(omfAgentConfig(t, dir, changed)); err != nil {
		t.Fatal(err)
	}
	connectorsReady := func(path string, want int) {
		t.Helper()
		connectortest.Eventually(t, 10*time.Second, path+" to answer "+fmt.Sprint(want), func() bool {
			return send(path, "data", `[{"containerid": "Tank1", "values": [{"Timestamp": "2026-11-23T10:00:01Z", "Pressure": 13}]}]`) == want
		})
	}
	connectorsReady("/ingest/omf", 204)
	connectorsReady("/piwebapi/omf", 404)
	if err := a.Reload(omfAgentConfig(t, dir, "")); err != nil {
		t.Fatal(err)
	}
	connectorsReady("/omf", 404)
}

func TestOMFPathConflict(t *testing.T) {
	two := agentSources + `  - name: other-omf
    type: omf
    omf:
      paths: [/omf]
      auth: {anonymous: true}
`
	_, err := New(Options{Config: omfAgentConfig(t, t.TempDir(), two)})
	if err == nil || !strings.Contains(err.Error(), "already served by source") {
		t.Fatalf("two sources on /omf: %v", err)
	}
}
