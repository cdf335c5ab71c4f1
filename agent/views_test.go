package agent

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// TestViewExportWithQueryToken: a saved view exports as CSV from a URL
// alone (?token=, no header), as Excel or Power BI call it; a wrong token
// is 401; the token never reaches the audit log.
func TestViewExportWithQueryToken(t *testing.T) {
	a, c := startTestAgent(t, "views")
	ctx := context.Background()
	for _, name := range []string{"site/temp", "site/flow"} {
		if err := a.store.EnsureStream(ctx, point.StreamSpec{Name: name, Kind: point.KindFloat}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pts []point.Point
	for i := range 11 {
		ts := t0.Add(time.Duration(i) * time.Minute).UnixNano()
		pts = append(pts, point.Point{Stream: "site/temp", Time: ts, Value: point.Float(float64(i))},
			point.Point{Stream: "site/flow", Time: ts, Value: point.Float(float64(10 * i))})
	}
	if err := a.store.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	view := map[string]any{"name": "boiler", "streams": []map[string]string{{"stream": "site/temp"}, {"stream": "site/flow", "label": "flow"}},
		"interval": "5m", "mode": "interpolated", "window": "-24h"}
	if err := c.JSON(ctx, "POST", "/api/v1/views", nil, view, nil); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Views []struct{ Name string } `json:"views"`
	}
	if err := c.JSON(ctx, "GET", "/api/v1/views", nil, nil, &got); err != nil || len(got.Views) != 1 || got.Views[0].Name != "boiler" {
		t.Fatalf("list: %+v %v", got, err)
	}

	export := func(token string) *http.Response {
		q := url.Values{"format": {"csv"}, "start": {t0.Format(time.RFC3339)}, "end": {t0.Add(10 * time.Minute).Format(time.RFC3339)}, "token": {token}}
		resp, err := http.Get(c.Base + "/api/v1/views/boiler/export?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := export(c.Token)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"time", "site/temp", "flow"},
		{"2026-01-01T00:00:00Z", "0", "0"}, {"2026-01-01T00:05:00Z", "5", "50"}}
	if len(rows) < 3 || strings.Join(rows[0], ",") != strings.Join(want[0], ",") ||
		strings.Join(rows[1], ",") != strings.Join(want[1], ",") || strings.Join(rows[2], ",") != strings.Join(want[2], ",") {
		t.Fatalf("export rows:\n%s", body)
	}

	if resp := export("sk_wrong-token-0000"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	// Only the export route takes ?token=.
	r2, err := http.Get(c.Base + "/api/v1/views?token=" + url.QueryEscape(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized {
		t.Fatalf("?token= on another route: %d", r2.StatusCode)
	}

	// The export is audited, without the token.
	res, err := c.Do(ctx, "GET", "/api/v1/audit", url.Values{"kind": {"admin"}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(audit), "/api/v1/views/boiler/export?") {
		t.Fatalf("export not audited:\n%s", audit)
	}
	if strings.Contains(string(audit), c.Token) || strings.Contains(string(audit), "token=") {
		t.Fatalf("the token reached the audit log:\n%s", audit)
	}

	// Delete.
	if err := c.JSON(ctx, "DELETE", "/api/v1/views/boiler", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}
