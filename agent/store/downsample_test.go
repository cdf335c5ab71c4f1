package store

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/connectors/point"
)

// sameSummaries compares summaries: counts, extremes and points exactly,
// the merged statistics to rounding.
func sameSummaries(t *testing.T, what string, got, want []Summary) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d summaries, want %d", what, len(got), len(want))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }
	for i := range want {
		g, w := got[i], want[i]
		if g.Start != w.Start || g.End != w.End || g.Count != w.Count || g.Bad != w.Bad ||
			g.Min != w.Min || g.Max != w.Max || g.First != w.First || g.Last != w.Last || g.HasTWA != w.HasTWA ||
			!near(g.Mean, w.Mean) || !near(g.StdDev, w.StdDev) || !near(g.TimeWeightedMean, w.TimeWeightedMean) {
			t.Fatalf("%s: interval %d:\n got  %+v\n want %+v", what, i, g, w)
		}
	}
}

func TestDownsampledSummariesOutliveRawPoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := int64(24 * time.Hour)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var clock atomic.Int64
	clock.Store(t0 + day + int64(time.Hour))
	opts := Options{Dir: dir, Retention: 2 * 24 * time.Hour, Now: func() time.Time { return time.Unix(0, clock.Load()) }, Rules: []RetentionRule{
		{Prefix: "ds/", MaxAge: 2 * 24 * time.Hour, Downsample: []DownsampleLevel{
			{Interval: time.Minute, MaxAge: 30 * 24 * time.Hour},
			{Interval: time.Hour},
		}},
	}}
	s := openTest(t, opts)
	mustCreate(t, s, "ds/x", point.KindFloat)
	mustCreate(t, s, "plain", point.KindFloat)
	// A day of points every 7 s or so, some of bad quality, with a gap
	// of two hours (where only a held value counts).
	rng := rand.New(rand.NewPCG(7, 8))
	var pts, plain []point.Point
	for tm := t0 + int64(13*time.Second); tm < t0+day; tm += int64(time.Second) * int64(5+rng.IntN(5)) {
		if tm >= t0+10*int64(time.Hour) && tm < t0+12*int64(time.Hour) {
			continue
		}
		p := point.Point{Stream: "ds/x", Time: tm, Value: point.Float(math.Round(rng.NormFloat64()*1000) / 10)}
		if rng.IntN(50) == 0 {
			p.Quality = point.QualityBad
		}
		pts = append(pts, p)
		p.Stream = "plain"
		plain = append(plain, p)
	}
	mustWrite(t, s, pts)
	mustWrite(t, s, plain)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	queries := []struct {
		name            string
		start, end, int int64
	}{
		{"1h", t0, t0 + day, int64(time.Hour)},
		{"5m", t0 + 9*int64(time.Hour), t0 + 13*int64(time.Hour), int64(5 * time.Minute)},
		{"1d", t0 - day, t0 + 2*day, day},
	}
	before := map[string][]Summary{}
	for _, q := range queries {
		sums, err := s.Summaries(ctx, "ds/x", q.start, q.end, q.int, Unbounded)
		if err != nil {
			t.Fatal(err)
		}
		before[q.name] = sums
	}
	if before["1h"][5].Count == 0 || !before["1h"][11].HasTWA || before["1h"][11].Count != 0 {
		t.Fatalf("test data: %+v %+v", before["1h"][5], before["1h"][11])
	}

	// Ten days on, the raw points are gone and the summaries answer.
	clock.Store(t0 + 10*day)
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, "ds/x", math.MinInt64, math.MaxInt64); len(got) != 0 {
		t.Fatalf("%d raw points of ds/x left after their retention", len(got))
	}
	if n := testutil.ToFloat64(s.metrics.expiredChunks); n == 0 {
		t.Fatal("no chunk expired")
	}
	if n := testutil.ToFloat64(s.metrics.downsampled); n < 8*1440 {
		t.Errorf("%v intervals downsampled, want at least 8 days of minutes", n)
	}
	check := func(what string) {
		t.Helper()
		for _, q := range queries {
			sums, err := s.Summaries(ctx, "ds/x", q.start, q.end, q.int, Unbounded)
			if err != nil {
				t.Fatal(err)
			}
			sameSummaries(t, what+" "+q.name, sums, before[q.name])
		}
	}
	check("after the raw points expired")

	// Not from stored summaries: an interval that is not a multiple of
	// a level's, a bounded (partner) read, and a stream without the rule.
	for _, c := range []struct {
		what     string
		name     string
		interval int64
		b        Bounds
	}{
		{"90s", "ds/x", int64(90 * time.Second), Unbounded},
		{"bounded", "ds/x", int64(time.Hour), Bounds{Floor: t0 - day, Ceil: math.MaxInt64}},
		{"plain", "plain", int64(time.Hour), Unbounded},
	} {
		sums, err := s.Summaries(ctx, c.name, t0, t0+day, c.interval, c.b)
		if err != nil {
			t.Fatal(err)
		}
		for _, sum := range sums {
			if sum.Count != 0 || sum.HasTWA {
				t.Fatalf("%s: answered from expired raw points: %+v", c.what, sum)
			}
		}
	}

	// The watermarks survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, opts)
	check("after a restart")

	// Past the minute level's max_age only the hour level answers.
	clock.Store(t0 + 40*day)
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	sums, err := s.Summaries(ctx, "ds/x", t0, t0+day, int64(time.Hour), Unbounded)
	if err != nil {
		t.Fatal(err)
	}
	sameSummaries(t, "hour level at 40 days", sums, before["1h"])
	sums, err = s.Summaries(ctx, "ds/x", t0+9*int64(time.Hour), t0+13*int64(time.Hour), int64(5*time.Minute), Unbounded)
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range sums {
		if sum.Count != 0 {
			t.Fatalf("5m from an expired minute level: %+v", sum)
		}
	}
	if n := countKeys(t, s, []byte{pfxSummary}); n == 0 || n > 50 {
		t.Errorf("%d summary blocks left, want only the hour level's few", n)
	}

	// Deleting the stream takes its summaries with it.
	if err := s.DeleteStream(ctx, "ds/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, []byte{pfxSummary}) + countKeys(t, s, []byte{pfxMark}); n != 0 {
		t.Errorf("%d summary keys left after the stream was deleted", n)
	}
}

func countKeys(t *testing.T, s *Store, prefix []byte) int {
	t.Helper()
	keys, err := s.keysWithPrefix(prefix, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func TestSummaryEncodingRoundTrips(t *testing.T) {
	for _, k := range []point.Kind{point.KindFloat, point.KindInt, point.KindBool, point.KindString} {
		v := point.Value{Kind: k}
		switch k {
		case point.KindFloat:
			v.F = -1.5
		case point.KindString:
			v.S = "on"
		default:
			v.I = -7
		}
		start, interval := int64(1e12), int64(time.Minute)
		out := []Summary{
			{Start: start, End: start + interval, Count: 3, Bad: 1, Min: -2, Max: 4, Mean: 1, First: Sample{Time: start + 1, Value: v}, Last: Sample{Time: start + 59e9, Value: v, Quality: point.QualityBad}},
			{Start: start + interval, End: start + 2*interval},
			{Start: start + 2*interval, End: start + 3*interval},
		}
		parts := []partial{{n: 2, m2: 18, twSum: 3e10, twDur: 6e10}, {}, {twSum: 1, twDur: 6e10}}
		got, err := decodeSummaries(encodeSummaries(out, parts, k, start, interval), k, start, interval)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Summary.First != out[0].First || got[0].Last != out[0].Last || got[0].m2 != 18 || got[0].Count != 3 ||
			got[1].Start != start+2*interval || got[1].twDur != 6e10 || got[1].Count != 0 {
			t.Fatalf("%v: %+v", k, got)
		}
		m := mark{at: start, held: out[0].Last, haveHeld: true}
		if back, err := decodeMark(encodeMark(m, k), k); err != nil || back != m {
			t.Fatalf("%v: mark %+v, %v", k, back, err)
		}
		if _, err := decodeSummaries([]byte{summaryVersion, 0, 5}, k, start, interval); err == nil {
			t.Fatalf("%v: truncated summaries decoded", k)
		}
	}
}
