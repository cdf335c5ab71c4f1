package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

func runBench(ctx context.Context, args []string) error {
	return subcommand(ctx, "bench", args, map[string]command{
		"ingest": {"points/s through the HTTP bulk API beside the store's direct rate", benchIngest},
	})
}

// benchIngest writes the same points twice, in one process and one run:
// straight into a store, and through the HTTP bulk-write API (CSV over
// loopback) into a second store, so the ratio shows what the API costs.
// Request bodies are built before the clock starts.
func benchIngest(ctx context.Context, args []string) error {
	fs := newFlags("bench ingest", "[--streams 1000] [--points 1000000] [--batch 100] [--writers 1]")
	streams := fs.Int("streams", 1000, "number of streams")
	points := fs.Int("points", 1_000_000, "total points")
	per := fs.Int("batch", 100, "points per stream per request")
	writers := fs.Int("writers", 1, "concurrent writers (requests in flight); 1 matches the store's own write benchmark")
	dir := fs.String("dir", "", "where to put the two stores (default a temp dir, removed after)")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *streams < 1 || *points < *streams || *per < 1 || *writers < 1 {
		return usageErr("need streams >= 1, points >= streams, batch >= 1, writers >= 1")
	}
	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		base = d
	}
	names := make([]string, *streams)
	for i := range names {
		names[i] = fmt.Sprintf("bench/unit%03d/tag%05d", i%100, i)
	}
	batches, bodies := benchData(names, *points / *streams, *per)
	total := 0
	for _, b := range batches {
		total += len(b)
	}
	fmt.Printf("data: %d streams, %d points in %d requests, %d writer(s)\n", *streams, total, len(batches), *writers)

	direct, err := benchDirect(ctx, base+"/direct", names, batches, total, *writers)
	if err != nil {
		return err
	}
	fmt.Printf("store direct:  %12.0f points/s\n", direct)
	viaHTTP, err := benchHTTP(ctx, base+"/http", names, bodies, total, *writers)
	if err != nil {
		return err
	}
	fmt.Printf("HTTP bulk API: %12.0f points/s\n", viaHTTP)
	fmt.Printf("ratio:         %12.1f%%\n", 100*viaHTTP/direct)
	return nil
}

// benchData makes the benchmark set: a point every 100 ms with 10% of
// timestamps jittered by 0-4 ms, values a random walk rounded to 2 decimals.
func benchData(names []string, perStream, per int) ([][]point.Point, [][]byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := make([]int64, len(names))
	vs := make([]float64, len(names))
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Second).UnixNano()
	for i := range names {
		ts[i] = start
		vs[i] = 50 + float64(rng.IntN(5000))/100
	}
	var batches [][]point.Point
	var bodies [][]byte
	for done := 0; done < perStream; done += per {
		n := min(per, perStream-done)
		b := make([]point.Point, 0, n*len(names))
		var body bytes.Buffer
		for i, name := range names {
			for j := 0; j < n; j++ {
				t := ts[i]
				if rng.IntN(10) == 0 {
					t += int64(rng.IntN(5)) * int64(time.Millisecond)
				}
				ts[i] += int64(100 * time.Millisecond)
				vs[i] = math.Round((vs[i]+rng.NormFloat64()*0.05)*100) / 100
				b = append(b, point.Point{Stream: name, Time: t, Value: point.Float(vs[i])})
				body.WriteString(name)
				body.WriteByte(',')
				body.WriteString(strconv.FormatInt(t, 10))
				body.WriteByte(',')
				body.WriteString(strconv.FormatFloat(vs[i], 'f', -1, 64))
				body.WriteByte('\n')
			}
		}
		batches = append(batches, b)
		bodies = append(bodies, body.Bytes())
	}
	return batches, bodies
}

func openBenchStore(ctx context.Context, dir string, names []string) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{Dir: dir, CompactInterval: time.Hour})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := st.EnsureStream(ctx, point.StreamSpec{Name: n, Kind: point.KindFloat}); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// parallel runs fn for every item index on n workers and returns the
// wall time.
func parallel(n, items int, fn func(i int) error) (time.Duration, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	start := time.Now()
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < items; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return time.Since(start), firstErr
}

func benchDirect(ctx context.Context, dir string, names []string, batches [][]point.Point, total, writers int) (float64, error) {
	st, err := openBenchStore(ctx, dir, names)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	elapsed, err := parallel(writers, len(batches), func(i int) error { return st.Write(ctx, batches[i]) })
	if err != nil {
		return 0, err
	}
	return float64(total) / elapsed.Seconds(), nil
}

func benchHTTP(ctx context.Context, dir string, names []string, bodies [][]byte, total, writers int) (float64, error) {
	st, err := openBenchStore(ctx, dir, names)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	srv := api.New(api.Options{Store: st, AdminToken: "bench", MaxBodyBytes: 256 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	c := &api.Client{Base: "http://" + ln.Addr().String(), Token: "bench",
		HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}}}
	elapsed, err := parallel(writers, len(bodies), func(i int) error {
		resp, err := c.Do(ctx, "POST", "/api/v1/data", nil, "text/csv", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	if err != nil {
		return 0, err
	}
	return float64(total) / elapsed.Seconds(), nil
}
