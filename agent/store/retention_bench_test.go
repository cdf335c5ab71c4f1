package store

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// countPoints counts every point of the streams.
func countPoints(b *testing.B, s *Store, names []string) int {
	n := 0
	for _, name := range names {
		it, err := s.Window(context.Background(), name, WindowQuery{Start: math.MinInt64, End: math.MaxInt64})
		if err != nil {
			b.Fatal(err)
		}
		for it.Next() {
			n++
		}
		it.Close()
	}
	return n
}

// loadOld writes streams x points of history under "old/", compacted.
func loadOld(b *testing.B, s *Store, streams, points int) []string {
	names := make([]string, streams)
	walks := make([]*walk, streams)
	for i := range names {
		names[i] = fmt.Sprintf("old/tag%04d", i)
		walks[i] = newWalk(uint64(i))
		if err := s.EnsureStream(context.Background(), point.StreamSpec{Name: names[i], Kind: point.KindFloat}); err != nil {
			b.Fatal(err)
		}
	}
	var batch []point.Point
	for n := 0; n < points/1000; n++ {
		batch = fillBatch(batch, names, walks, 1000)
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	return names
}

// BenchmarkSizeSweep: 100 streams x 100,000 points; a rule's max_size of
// a tenth of what they hold makes one size sweep drop most of them.
// Reports the sweep's cost per million points dropped.
func BenchmarkSizeSweep(b *testing.B) {
	var perMillion []float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rule := []RetentionRule{{Prefix: "old/", MaxSize: 1}} // set below, once the size is known
		s := openTest(b, Options{Rules: rule, SizeInterval: time.Hour})
		names := loadOld(b, s, 100, 100_000)
		sc, err := s.scanSizes(context.Background(), &pacer{duty: 1}, true, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.rules[0].MaxSize = sc.total / 10
		before := countPoints(b, s, names)
		b.StartTimer()
		start := time.Now()
		if err := s.EnforceSize(context.Background()); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		dropped := before - countPoints(b, s, names)
		if dropped < before/2 {
			b.Fatalf("the sweep dropped %d of %d points", dropped, before)
		}
		perMillion = append(perMillion, took.Seconds()/(float64(dropped)/1e6))
		s.Close()
		b.StartTimer()
	}
	var sum float64
	for _, v := range perMillion {
		sum += v
	}
	b.ReportMetric(sum/float64(len(perMillion))*1000, "ms/Mpoints_dropped")
}

// BenchmarkIngestDuringSweep measures, in one run, the ingest rate of
// 1,000 streams x 100-point batches (fsync per commit) alone and while
// size sweeps drop the history of 100 other streams, and reports the
// ratio (target >= 0.8). Rounds alternate, so that the store growing over
// the run (more levels to compact) and a noisy machine weigh on both
// sides alike.
//
//   - sweeps=periodic: one sweep per round, dropping a tenth of the
//     history. In production a sweep runs once a minute; one per round
//     of about a second is already the heavier case.
//   - sweeps=back-to-back: sweeps one after another for the whole round,
//     each lowering the bound by 2.5% of the history, so that every one
//     has chunks to drop.
func BenchmarkIngestDuringSweep(b *testing.B) {
	for _, mode := range []string{"periodic", "back-to-back"} {
		b.Run("sweeps="+mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ingestDuringSweep(b, mode == "back-to-back")
			}
		})
	}
}

func ingestDuringSweep(b *testing.B, backToBack bool) {
	s := openTest(b, Options{Rules: []RetentionRule{{Prefix: "old/", MaxSize: 1}}, SizeInterval: time.Hour})
	defer s.Close()
	old := loadOld(b, s, 100, 100_000)
	names, walks := benchStreams(b, s, 1000)
	const batches = 10
	var batch []point.Point
	ingest := func() time.Duration {
		var elapsed time.Duration
		for n := 0; n < batches; n++ {
			batch = fillBatch(batch, names, walks, 100)
			start := time.Now()
			if err := s.Write(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		return elapsed
	}
	sc, err := s.scanSizes(context.Background(), &pacer{duty: 1}, true, nil)
	if err != nil {
		b.Fatal(err)
	}
	history := countPoints(b, s, old)
	// bound sets the rule's max_size to a share of the history, in 1/40s.
	bound := func(fortieths int64) {
		s.sizeMu.Lock()
		s.rules[0].MaxSize = max(sc.total*fortieths/40, 1)
		s.sizeMu.Unlock()
	}
	var alone, during time.Duration
	var sweeps atomic.Int64
	level := int64(40)
	const rounds = 8
	for r := 0; r < rounds; r++ {
		alone += ingest()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if backToBack {
					level = max(level-1, 1)
				} else {
					level -= 4 // 36, 32, ..., 8
				}
				bound(level)
				if err := s.EnforceSize(context.Background()); err != nil {
					b.Error(err)
					return
				}
				sweeps.Add(1)
				if !backToBack {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		during += ingest()
		close(stop)
		wg.Wait()
	}
	if sweeps.Load() == 0 {
		b.Fatal("no sweep ran during ingest")
	}
	points := float64(rounds * batches * len(batch))
	b.ReportMetric(points/alone.Seconds(), "points/s_alone")
	b.ReportMetric(points/during.Seconds(), "points/s_during_sweep")
	b.ReportMetric(alone.Seconds()/during.Seconds(), "ratio")
	b.ReportMetric(float64(sweeps.Load()), "sweeps")
	b.ReportMetric(float64(history-countPoints(b, s, old))/float64(history), "history_dropped")
}

// BenchmarkSpaceCheck is the cost the write guard adds to every commit
// that writes chunks: a statfs and memtable stats when a check is due,
// nothing within roomyFor of one that found room to spare.
func BenchmarkSpaceCheck(b *testing.B) {
	s := openTest(b, Options{Dir: b.TempDir()})
	for b.Loop() {
		if err := s.spaceErr(); err != nil {
			b.Fatal(err)
		}
	}
}
