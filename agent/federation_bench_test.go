package agent

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
)

// startTestAgent runs a whole agent in-process on loopback ports.
func startTestAgent(tb testing.TB, name string, extraYAML ...string) (*Agent, *api.Client) {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := configs.Parse(fmt.Appendf(nil, `tenant: {name: %s}
data_dir: %q
api: {listen: "127.0.0.1:0", max_body_bytes: 268435456}
federation: {listen: "127.0.0.1:0", gossip: "127.0.0.1:0", advertise: 127.0.0.1}
%s`, name, dir, strings.Join(extraYAML, "\n")))
	if err != nil {
		tb.Fatal(err)
	}
	a, addr := runAgent(tb, Options{Config: cfg})
	tok, err := AdminToken(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return a, &api.Client{Base: "http://" + addr, Token: tok}
}

// BenchmarkPartnerRead reads one 10M-point window twice in each round: from
// the owner's own API (local) and through the partner's agent, which asks
// the owner over mTLS and relays the answer (partner). Both answers are the
// same CSV bytes, so the ratio is the cost of the partner path.
func BenchmarkPartnerRead(b *testing.B) {
	const total = 10_000_000
	ctx := context.Background()
	owner, oc := startTestAgent(b, "owner")
	_, pc := startTestAgent(b, "partner")
	st := owner.store
	if err := st.EnsureStream(ctx, point.StreamSpec{Name: "big", Kind: point.KindFloat}); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second).UnixNano()
	pts := make([]point.Point, 0, 100_000)
	v := 50.0
	for n := 0; n < total; n += len(pts) {
		pts = pts[:0]
		for i := 0; i < 100_000; i++ {
			v = math.Round((v+math.Sin(float64(n+i)/1000)*0.05)*100) / 100
			pts = append(pts, point.Point{Stream: "big", Time: t0 + int64(n+i)*int64(100*time.Millisecond), Value: point.Float(v)})
		}
		if err := st.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	var tok struct{ Token string }
	must(oc.JSON(ctx, "POST", "/api/v1/communities", nil, map[string]string{"name": "bench"}, nil))
	must(oc.JSON(ctx, "POST", "/api/v1/communities/bench/invitations", nil, map[string]string{"email": "a@b.example"}, &tok))
	must(pc.JSON(ctx, "POST", "/api/v1/invitations/accept", nil, map[string]string{"token": tok.Token}, nil))
	must(oc.JSON(ctx, "POST", "/api/v1/communities/bench/members/partner/confirm", nil, nil, nil))
	must(oc.JSON(ctx, "POST", "/api/v1/communities/bench/shares", nil, map[string]string{"stream": "big"}, nil))

	q := url.Values{"start": {fmt.Sprint(t0)}, "end": {fmt.Sprint(t0 + total*int64(100*time.Millisecond))}, "format": {"csv"}, "time": {"ns"}}
	read := func(c *api.Client, path string) (int64, time.Duration) {
		start := time.Now()
		resp, err := c.Do(ctx, "GET", path, q, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		return n, time.Since(start)
	}
	var local, partner time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nl, dl := read(oc, api.StreamPath("big", "data"))
		np, dp := read(pc, "/api/v1/communities/bench/streams/owner/big/data")
		if nl != np || nl < total*20 {
			b.Fatalf("local read %d bytes, partner read %d bytes", nl, np)
		}
		local += dl
		partner += dp
	}
	b.ReportMetric(float64(b.N)*total/local.Seconds(), "local-points/s")
	b.ReportMetric(float64(b.N)*total/partner.Seconds(), "partner-points/s")
	b.ReportMetric(local.Seconds()/partner.Seconds()*100, "partner/local-%")
}
