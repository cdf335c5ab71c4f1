package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Memory under large writes. A write body is parsed and stored in bounded
// batches, so what a request costs in heap must not grow with its body.
// The heap is watched with runtime/metrics: the bytes of heap objects
// (live, or dead and not yet swept) plus the unused part of in-use spans,
// which together are MemStats.HeapInuse, what the process holds for the
// heap. A sampler reads it every 100 µs while the request runs; the peak
// is taken against the level right after a full GC before the request.

// heapWatch samples the heap in use until stop.
type heapWatch struct {
	base uint64
	stop chan struct{}
	peak chan uint64
}

func heapInUse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func heapSamples() []metrics.Sample {
	return []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
}

// watchHeap runs a full GC, notes the heap in use, and samples it from
// then on.
func watchHeap() *heapWatch {
	runtime.GC()
	s := heapSamples()
	h := &heapWatch{base: heapInUse(s), stop: make(chan struct{}), peak: make(chan uint64, 1)}
	started := make(chan struct{})
	go func() {
		s := heapSamples()
		peak := heapInUse(s)
		close(started)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				h.peak <- max(peak, heapInUse(s))
				return
			case <-tick.C:
				peak = max(peak, heapInUse(s))
			}
		}
	}()
	<-started
	return h
}

// Stop ends the sampling and returns the peak growth over the base, in bytes.
func (h *heapWatch) Stop() uint64 {
	close(h.stop)
	peak := <-h.peak
	if peak < h.base {
		return 0
	}
	return peak - h.base
}

// bigBody is a deterministic write body for one stream of about size
// bytes, produced as it is read, so the test itself holds none of it: a
// point a second from 2026-01-01, values a random-ish walk with two
// decimals, in CSV (timestamp,value) or as a JSON array.
type bigBody struct {
	json    bool
	size    int64 // stop after the line that reaches it
	n       int64 // bytes produced
	points  int
	t       int64
	v       float64
	buf     []byte
	pending []byte
	closed  bool
}

func newBigBody(size int64, json bool) *bigBody {
	return &bigBody{json: json, size: size, t: 1_767_225_600 * 1e9, v: 50}
}

func (g *bigBody) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.closed {
			return 0, io.EOF
		}
		g.buf = g.buf[:0]
		for len(g.buf) < 32<<10 && !g.closed {
			g.next()
		}
		g.pending = g.buf
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// step moves to the next point.
func (g *bigBody) step() {
	g.points++
	g.t += int64(time.Second)
	g.v = math.Round((g.v+float64(g.points*7919%200-100)/1000)*100) / 100
}

func (g *bigBody) next() {
	start := len(g.buf)
	if g.json {
		if g.points == 0 {
			g.buf = append(g.buf, '[')
		} else {
			g.buf = append(g.buf, ',')
		}
		g.buf = append(g.buf, `{"time":`...)
		g.buf = strconv.AppendInt(g.buf, g.t, 10)
		g.buf = append(g.buf, `,"value":`...)
		g.buf = strconv.AppendFloat(g.buf, g.v, 'f', -1, 64)
		g.buf = append(g.buf, '}')
	} else {
		g.buf = strconv.AppendInt(g.buf, g.t, 10)
		g.buf = append(g.buf, ',')
		g.buf = strconv.AppendFloat(g.buf, g.v, 'f', -1, 64)
		g.buf = append(g.buf, '\n')
	}
	g.step()
	g.n += int64(len(g.buf) - start)
	if g.n >= g.size {
		if g.json {
			g.buf = append(g.buf, ']')
		}
		g.closed = true
	}
}

// postBody sends one write and returns the status and the answer.
func postBody(tb testing.TB, url, ctype string, body io.Reader) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// BenchmarkWriteMemory writes 30 MiB bodies (CSV, JSON, and four CSV
// bodies at once to four streams) per iteration and reports the peak heap
// growth during the requests per MiB of body, beside the ingest rate. The
// GC runs with its defaults: the number is the worst iteration's growth
// of the heap in use, garbage not yet collected included, so it also
// depends on the heap the process holds already (the store's memtable,
// the benchmark's bodies), as it would in the agent.
func BenchmarkWriteMemory(b *testing.B) {
	const size = 30 << 20
	for _, tc := range []struct {
		format string
		n      int
	}{{"csv", 1}, {"json", 1}, {"csv", 4}} {
		name := tc.format + "-30MiB"
		if tc.n > 1 {
			name += fmt.Sprintf("-x%d", tc.n)
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(context.Background(), store.Options{Dir: b.TempDir(), CompactInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for i := 0; i < tc.n; i++ {
				st.EnsureStream(context.Background(), point.StreamSpec{Name: fmt.Sprint("big", i), Kind: point.KindFloat})
			}
			srv := New(Options{Store: st, AdminToken: "secret", MaxBodyBytes: 1 << 30})
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			gen := newBigBody(size, tc.format == "json")
			body, _ := io.ReadAll(gen)
			ctype := map[string]string{"csv": "text/csv", "json": "application/json"}[tc.format]
			want := fmt.Sprintf(`"written": %d`, gen.points)
			b.SetBytes(int64(tc.n * len(body)))
			var worst uint64
			errs := make(chan error, tc.n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h := watchHeap()
				b.StartTimer()
				for j := 0; j < tc.n; j++ {
					go func() {
						req, _ := http.NewRequest("POST", hs.URL+StreamPath(fmt.Sprint("big", j), "data"), bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer secret")
						req.Header.Set("Content-Type", ctype)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							errs <- err
							return
						}
						ans, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 || !strings.Contains(string(ans), want) {
							err = fmt.Errorf("write: %d %s", resp.StatusCode, ans)
						}
						errs <- err
					}()
				}
				for j := 0; j < tc.n; j++ {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				worst = max(worst, h.Stop())
				b.StartTimer()
			}
			b.StopTimer()
			mib := float64(tc.n*len(body)) / (1 << 20)
			b.ReportMetric(float64(worst)/(1<<20)/mib, "peak-heap-MiB/body-MiB")
			b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(b.N*tc.n*gen.points)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
