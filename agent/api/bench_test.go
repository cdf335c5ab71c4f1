package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// BenchmarkIngest writes the same batches (1,000 streams x 100 points,
// the store benchmark's data) straight into a store and through the HTTP
// bulk API (CSV and JSON) in one run, so the ratio shows what the API
// costs. Bodies are built before the clock starts.
func BenchmarkIngest(b *testing.B) {
	const streams, per = 1000, 100
	names := make([]string, streams)
	for i := range names {
		names[i] = fmt.Sprintf("site%d/unit%03d/tag%04d", i%7, i%100, i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ts := int64(1_767_225_600) * 1e9
	vals := make([]float64, streams)
	batch := func() ([]point.Point, []byte, []byte) {
		pts := make([]point.Point, 0, streams*per)
		var csv, js bytes.Buffer
		js.WriteByte('[')
		for j := 0; j < per; j++ {
			t := ts + int64(j)*int64(100*time.Millisecond)
			for i, n := range names {
				vals[i] = math.Round((vals[i]+rng.NormFloat64()*0.05)*100) / 100
				pts = append(pts, point.Point{Stream: n, Time: t, Value: point.Float(vals[i])})
				v := strconv.FormatFloat(vals[i], 'f', -1, 64)
				fmt.Fprintf(&csv, "%s,%d,%s\n", n, t, v)
				if js.Len() > 1 {
					js.WriteByte(',')
				}
				fmt.Fprintf(&js, `{"stream":%q,"time":%d,"value":%s}`, n, t, v)
			}
		}
		js.WriteByte(']')
		ts += int64(per) * int64(100*time.Millisecond)
		return pts, csv.Bytes(), js.Bytes()
	}
	open := func(b *testing.B) *store.Store {
		st, err := store.Open(context.Background(), store.Options{Dir: b.TempDir(), CompactInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		for _, n := range names {
			st.EnsureStream(context.Background(), point.StreamSpec{Name: n, Kind: point.KindFloat})
		}
		return st
	}
	b.Run("direct", func(b *testing.B) {
		st := open(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pts, _, _ := batch()
			b.StartTimer()
			if err := st.Write(context.Background(), pts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*streams*per)/b.Elapsed().Seconds(), "points/s")
	})
	for _, format := range []string{"csv", "json"} {
		b.Run(format, func(b *testing.B) {
			st := open(b)
			srv := New(Options{Store: st, AdminToken: "t", MaxBodyBytes: 1 << 30})
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			ctype := map[string]string{"csv": "text/csv", "json": "application/json"}[format]
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, csv, js := batch()
				body := map[string][]byte{"csv": csv, "json": js}[format]
				req, _ := http.NewRequest("POST", hs.URL+"/api/v1/data", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer t")
				req.Header.Set("Content-Type", ctype)
				b.StartTimer()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(b.N*streams*per)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
