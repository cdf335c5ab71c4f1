package promapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/policy"
)

// BenchmarkQueryRange: Grafana panels over one local stream of a point a
// second for 7 days (604,800 points).
func BenchmarkQueryRange(b *testing.B) {
	st, err := store.Open(context.Background(), store.Options{Dir: b.TempDir(), CompactInterval: time.Hour, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	st.CreateStream(ctx, point.StreamSpec{Name: "site1/boiler/temp", Kind: point.KindFloat})
	end := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	var pts []point.Point
	for t := start; t.Before(end); t = t.Add(time.Second) {
		pts = append(pts, point.Point{Stream: "site1/boiler/temp", Time: t.UnixNano(), Value: point.Float(float64(t.Unix() % 1000))})
		if len(pts) == 50_000 {
			if err := st.Write(ctx, pts); err != nil {
				b.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	st.Write(ctx, pts)
	if err := st.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	h := New(Options{Store: st, Tenant: "acme", Caller: func(*http.Request) (Caller, bool) {
		return Caller{User: "u", Roles: func(policy.CommunityID) policy.RoleSet { return policy.NewRoleSet(policy.RoleTenantAdmin) }}, true
	}})
	mux := http.NewServeMux()
	h.Mount(mux.Handle)
	srv := Front(mux)
	for _, tc := range []struct {
		name, query string
		span        time.Duration
		step        string
	}{
		{"7d_avg_5m", "avg_over_time(site1_boiler_temp[5m])", 7 * 24 * time.Hour, "300"},
		{"7d_selector_5m", "site1_boiler_temp", 7 * 24 * time.Hour, "300"},
		{"24h_avg_1m", "avg_over_time(site1_boiler_temp[1m])", 24 * time.Hour, "60"},
		{"24h_selector_15s", "site1_boiler_temp", 24 * time.Hour, "15"},
		{"1h_max_rate_interval", "max_over_time(site1_boiler_temp[1m])", time.Hour, "15"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			form := url.Values{"query": {tc.query}, "start": {strconv.FormatInt(end.Add(-tc.span).Unix(), 10)},
				"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {tc.step}}.Encode()
			for b.Loop() {
				req := httptest.NewRequest("GET", Alias+"query_range?"+form, nil)
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				b.SetBytes(int64(w.Body.Len()))
			}
		})
	}
}
