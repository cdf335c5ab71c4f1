package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// BenchmarkViewExport exports a view of three local streams, a week of
// one point a minute each, as CSV on a one-minute grid (10,080 rows), and
// as hourly means: the cost of a view's reads and its table, whole, over
// the agent's socket.
func BenchmarkViewExport(b *testing.B) {
	const minutes = 7 * 24 * 60
	ctx := context.Background()
	a, c := startTestAgent(b, "viewbench")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var streams []map[string]string
	for s := range 3 {
		name := fmt.Sprintf("site/s%d", s)
		if err := a.store.EnsureStream(ctx, point.StreamSpec{Name: name, Kind: point.KindFloat}); err != nil {
			b.Fatal(err)
		}
		pts := make([]point.Point, minutes)
		for i := range pts {
			pts[i] = point.Point{Stream: name, Time: t0.Add(time.Duration(i) * time.Minute).UnixNano(), Value: point.Float(float64(i%500) / 7)}
		}
		if err := a.store.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
		streams = append(streams, map[string]string{"stream": name})
	}
	for _, v := range []struct {
		name, mode, interval string
		rows                 int
	}{{"grid", "interpolated", "1m", minutes}, {"means", "mean", "1h", minutes / 60}} {
		view := map[string]any{"name": v.name, "streams": streams, "interval": v.interval, "mode": v.mode, "window": "-24h"}
		if err := c.JSON(ctx, "POST", "/api/v1/views", nil, view, nil); err != nil {
			b.Fatal(err)
		}
		q := url.Values{"format": {"csv"}, "start": {t0.Format(time.RFC3339)}, "end": {t0.Add(minutes * time.Minute).Format(time.RFC3339)}}
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequestWithContext(ctx, "GET", c.Base+"/api/v1/views/"+v.name+"/export?"+q.Encode(), nil)
				req.Header.Set("Authorization", "Bearer "+c.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n < int64(v.rows)*10 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
			b.ReportMetric(float64(v.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
