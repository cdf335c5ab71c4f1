package store

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// The benchmark data set: a point every 100 ms, about 10% of timestamps
// jittered by 0-4 whole ms (sources stamp in ms), values a random walk with
// normal steps of sigma 0.05 rounded to 2 decimals, like a process value.
type walk struct {
	rng *rand.Rand
	t   int64
	v   float64
}

const benchEpoch = int64(1_767_225_600) * 1e9 // 2026-01-01T00:00:00Z

func newWalk(seed uint64) *walk {
	rng := rand.New(rand.NewPCG(seed, 42))
	return &walk{rng: rng, t: benchEpoch, v: 50 + float64(rng.IntN(5000))/100}
}

func (w *walk) next() (int64, float64) {
	t := w.t
	if w.rng.IntN(10) == 0 {
		t += int64(w.rng.IntN(5)) * int64(time.Millisecond)
	}
	w.t += int64(100 * time.Millisecond)
	w.v = math.Round((w.v+w.rng.NormFloat64()*0.05)*100) / 100
	return t, w.v
}

func benchStreams(b *testing.B, s *Store, n int) ([]string, []*walk) {
	names := make([]string, n)
	walks := make([]*walk, n)
	for i := range names {
		names[i] = fmt.Sprintf("site%d/unit%03d/tag%04d", i%7, i%100, i)
		walks[i] = newWalk(uint64(i))
		if err := s.EnsureStream(context.Background(), point.StreamSpec{Name: names[i], Kind: point.KindFloat}); err != nil {
			b.Fatal(err)
		}
	}
	return names, walks
}

func fillBatch(dst []point.Point, names []string, walks []*walk, per int) []point.Point {
	dst = dst[:0]
	for i, name := range names {
		for j := 0; j < per; j++ {
			t, v := walks[i].next()
			dst = append(dst, point.Point{Stream: name, Time: t, Value: point.Float(v)})
		}
	}
	return dst
}

// BenchmarkWrite: batches of 1,000 streams x 100 points, fsync per commit.
func BenchmarkWrite(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b, Options{CompactInterval: time.Hour})
			names, walks := benchStreams(b, s, 1000)
			per := len(names) / writers
			batches := make([][]point.Point, writers)
			b.ResetTimer()
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for w := range batches {
					batches[w] = fillBatch(batches[w], names[w*per:(w+1)*per], walks[w*per:(w+1)*per], 100)
				}
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := range batches {
					wg.Add(1)
					go func(pts []point.Point) {
						defer wg.Done()
						if err := s.Write(context.Background(), pts); err != nil {
							b.Error(err)
						}
					}(batches[w])
				}
				wg.Wait()
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(b.N)*100*float64(len(names))/elapsed.Seconds(), "points/s")
		})
	}
}

// BenchmarkBytesPerPoint writes 1,000 streams x 10,000 points, compacts,
// closes (which compacts Badger's level 0, dropping the replaced small
// chunks), and divides the database folder's size by the points.
func BenchmarkBytesPerPoint(b *testing.B) {
	const streams, points = 1000, 10_000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		fillCompacted(b, dir, streams, points)
		size := dirSize(b, dir)
		b.ReportMetric(float64(size)/float64(streams*points), "bytes/point")
	}
}

// fillCompacted writes streams x points (random walks, 100 points per
// stream a batch) into a new store in dir, compacts it, collects the
// value log and closes it (which compacts Badger's level 0, dropping the
// replaced small chunks).
func fillCompacted(b *testing.B, dir string, streams, points int) {
	const per = 100
	s, err := Open(context.Background(), Options{Dir: dir, CompactInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	names, walks := benchStreams(b, s, streams)
	var batch []point.Point
	for n := 0; n < points/per; n++ {
		batch = fillBatch(batch, names, walks, per)
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	s.RunGC()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		// Size on disk, not the apparent size: Badger preallocates
		// sparse files.
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(interface{ Blocks() int64 }); ok {
			total += st.Blocks() * 512
		} else {
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkWindowDecode reads a 10M-point window of one stream.
func BenchmarkWindowDecode(b *testing.B) {
	const total = 10_000_000
	s := openTest(b, Options{CompactInterval: time.Hour})
	names, walks := benchStreams(b, s, 1)
	var batch []point.Point
	for n := 0; n < total/100_000; n++ {
		batch = fillBatch(batch, names, walks, 100_000)
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it, err := s.Window(context.Background(), names[0], WindowQuery{Start: math.MinInt64, End: math.MaxInt64})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var sum float64
		for it.Next() {
			sum += it.At().Value.F
			n++
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
		it.Close()
		if n != total {
			b.Fatalf("read %d points, want %d", n, total)
		}
	}
	b.ReportMetric(float64(b.N)*total/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkSummaries computes 1-minute summaries over one day of data per
// stream. The figure is for 1,000 streams (864M points, minutes to
// write); SLUICE_BENCH_STREAMS sets the number, default 20; the rate per
// point does not depend on it.
func BenchmarkSummaries(b *testing.B) {
	streams := 20
	if v, err := strconv.Atoi(os.Getenv("SLUICE_BENCH_STREAMS")); err == nil && v > 0 {
		streams = v
	}
	const day = 864_000 // points per stream
	s := openTest(b, Options{CompactInterval: time.Hour, NoSync: true})
	names, walks := benchStreams(b, s, streams)
	var batch []point.Point
	for n := 0; n < day/4320; n++ {
		batch = fillBatch(batch, names, walks, 4320)
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, name := range names {
			sums, err := s.Summaries(context.Background(), name, benchEpoch, benchEpoch+int64(24*time.Hour), int64(time.Minute), Unbounded)
			if err != nil {
				b.Fatal(err)
			}
			if len(sums) != 1440 || sums[0].Count != 600 {
				b.Fatalf("%d summaries, first has %d points", len(sums), sums[0].Count)
			}
		}
	}
	b.ReportMetric(float64(b.N)*float64(streams)*day/b.Elapsed().Seconds(), "points/s")
}
