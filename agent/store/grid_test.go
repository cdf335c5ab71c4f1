package store

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

func TestGridFloorAndCeil(t *testing.T) {
	const (
		s = int64(time.Second)
		m = int64(time.Minute)
	)
	t0 := time.Date(2026, 11, 23, 10, 37, 42, 981714622, time.UTC).UnixNano()
	min37 := time.Date(2026, 11, 23, 10, 37, 0, 0, time.UTC).UnixNano()
	for _, tc := range []struct {
		name                string
		t, interval, offset int64
		wantFloor, wantCeil int64
	}{
		{"on the minute", min37, m, 0, min37, min37},
		{"inside a minute", t0, m, 0, min37, min37 + m},
		{"offset shifts the grid", t0, m, 30 * s, min37 + 30*s, min37 + 90*s},
		{"offset beyond the interval", t0, m, 90 * s, min37 + 30*s, min37 + 90*s},
		{"negative offset", t0, m, -30 * s, min37 + 30*s, min37 + 90*s},
		{"offset of a whole interval", t0, m, m, min37, min37 + m},
		{"days from midnight UTC", t0, 24 * int64(time.Hour), 0,
			time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).UnixNano(), time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixNano()},
		{"days from midnight at UTC-5", t0, 24 * int64(time.Hour), 5 * int64(time.Hour),
			time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC).UnixNano(), time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC).UnixNano()},
		{"intervals that do not divide an hour", 20 * m, 7 * m, 0, 14 * m, 21 * m},
		{"before the epoch", -90 * s, m, 0, -2 * m, -m},
		{"before the epoch, on the grid", -2 * m, m, 0, -2 * m, -2 * m},
		{"the oldest time", math.MinInt64, m, 0, math.MinInt64, math.MinInt64 - math.MinInt64%m}, // floor clamped
		{"the newest time", math.MaxInt64, m, 0, math.MaxInt64 - math.MaxInt64%m, math.MaxInt64},
		{"no interval", t0, 0, 0, t0, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := GridFloor(tc.t, tc.interval, tc.offset); got != tc.wantFloor {
				t.Errorf("GridFloor(%d, %d, %d) = %d (%s), want %d (%s)", tc.t, tc.interval, tc.offset,
					got, time.Unix(0, got).UTC(), tc.wantFloor, time.Unix(0, tc.wantFloor).UTC())
			}
			if got := GridCeil(tc.t, tc.interval, tc.offset); got != tc.wantCeil {
				t.Errorf("GridCeil(%d, %d, %d) = %d (%s), want %d (%s)", tc.t, tc.interval, tc.offset,
					got, time.Unix(0, got).UTC(), tc.wantCeil, time.Unix(0, tc.wantCeil).UTC())
			}
		})
	}
}

// The issue's stream: 21.5, 21.75 and 22 one minute apart, written as
// -3m, -2m and -1m against one now.
func writeIssuePoints(t *testing.T, s *Store, name string, now int64) {
	t.Helper()
	mustCreate(t, s, name, point.KindFloat)
	var pts []point.Point
	for i, v := range []float64{21.5, 21.75, 22} {
		pts = append(pts, point.Point{Stream: name, Time: now - int64(3-i)*int64(time.Minute), Value: point.Float(v)})
	}
	if err := s.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
}

// TestSummariesTimeWeightedOnTheGrid: a bucket holds the value in effect
// at its start until its first point, so the bucket whose only point is
// 21.75 reads 21.75 only when that point opens it. The issue's 21.5002
// was correct for its bucket, which started a sliver before the point
// and so held 21.5 for nearly all of its minute.
func TestSummariesTimeWeightedOnTheGrid(t *testing.T) {
	s := openTest(t, Options{})
	const (
		sec = int64(time.Second)
		min = int64(time.Minute)
	)
	whole := time.Date(2026, 11, 23, 10, 38, 0, 0, time.UTC).UnixNano() // the command's now
	// As the issue wrote and read: now taken to the nanosecond, twice.
	noisyWrite := whole + 43981714622
	noisyRead := whole + 44038130563
	writeIssuePoints(t, s, "whole", whole)
	writeIssuePoints(t, s, "noisy", noisyWrite)
	for _, tc := range []struct {
		name, stream string
		start, end   int64
		align        bool // on the epoch grid, else from start
		offset       int64
		// The bucket holding the 21.75 point: its start, and its
		// time-weighted mean, held 21.5 for held21 of its minute.
		wantStart int64
		held21    float64
	}{
		{"issue: unaligned buckets, noisy times", "noisy", noisyRead - 60*min, noisyRead, false, 0,
			noisyRead - 3*min, float64(noisyWrite-noisyRead+min) / float64(min)},
		{"aligned buckets, noisy times", "noisy", noisyRead - 60*min, noisyRead, true, 0,
			whole - 2*min, float64(noisyWrite-whole) / float64(min)},
		{"aligned buckets, whole-second times", "whole", whole + 42*sec - 60*min, whole + 42*sec, true, 0,
			whole - 2*min, 0},
		{"aligned to the start that is on the grid", "whole", whole - 60*min, whole, false, 0,
			whole - 2*min, 0},
		{"offset 30s", "whole", whole - 60*min, whole, true, 30 * sec,
			whole - 2*min - 30*sec, 0.5},
		{"offset -15s", "whole", whole - 60*min, whole, true, -15 * sec,
			whole - 2*min - 15*sec, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := tc.start
			if tc.align {
				start = GridFloor(tc.start, min, tc.offset)
			}
			sums, err := s.Summaries(context.Background(), tc.stream, start, tc.end, min, Unbounded)
			if err != nil {
				t.Fatal(err)
			}
			var b *Summary
			for i := range sums {
				if sums[i].Count == 1 && sums[i].First.Value.F == 21.75 {
					b = &sums[i]
				}
				if tc.align && (sums[i].Start-tc.offset)%min != 0 {
					t.Errorf("bucket at %s is off the grid", time.Unix(0, sums[i].Start).UTC())
				}
			}
			if tc.align && sums[0].Start > tc.start {
				t.Errorf("the first bucket starts at %s, after the start %s", time.Unix(0, sums[0].Start).UTC(), time.Unix(0, tc.start).UTC())
			}
			if last := sums[len(sums)-1]; last.End != tc.end {
				t.Errorf("the last bucket ends at %s, not at the end %s", time.Unix(0, last.End).UTC(), time.Unix(0, tc.end).UTC())
			}
			if b == nil {
				t.Fatalf("no bucket holds 21.75 alone: %+v", sums)
			}
			want := 21.5*tc.held21 + 21.75*(1-tc.held21)
			if b.Start != tc.wantStart || !b.HasTWA || math.Abs(b.TimeWeightedMean-want) > 1e-12 {
				t.Errorf("bucket at %s: time-weighted mean %v (%v), want bucket at %s with %v",
					time.Unix(0, b.Start).UTC(), b.TimeWeightedMean, b.HasTWA, time.Unix(0, tc.wantStart).UTC(), want)
			}
			if tc.held21 == 0 && (b.TimeWeightedMean != 21.75 || b.Mean != 21.75 || b.Min != 21.75 || b.Max != 21.75) {
				t.Errorf("bucket opened by its only point 21.75: %+v, want exactly 21.75 throughout", *b)
			}
		})
	}
}

// TestInterpolatedAtWrittenPoints: a grid time on a written point reads
// exactly the written value; between points, the line between them.
func TestInterpolatedAtWrittenPoints(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	const min = int64(time.Minute)
	now := time.Date(2026, 11, 23, 10, 38, 0, 0, time.UTC).UnixNano()
	writeIssuePoints(t, s, "f", now)
	for _, tc := range []struct {
		name                 string
		start, end, interval int64
		count                int
		want                 map[int64]float64 // by time; every answer is checked
	}{
		{"every minute on the grid", GridCeil(now+42e9-60*min, min, 0), now + 42e9, min, 0,
			map[int64]float64{now - 3*min: 21.5, now - 2*min: 21.75, now - min: 22, now: 22}},
		{"every minute, offset 30s", GridCeil(now-4*min, min, 30e9), now, min, 0,
			map[int64]float64{now - 3*min + 30e9: 21.625, now - 2*min + 30e9: 21.875, now - min + 30e9: 22}},
		{"three points from the first to the last", now - 3*min, now - min, 0, 3,
			map[int64]float64{now - 3*min: 21.5, now - 2*min: 21.75, now - min: 22}},
		{"one point at a written one", now - 2*min, now - 2*min, 0, 1,
			map[int64]float64{now - 2*min: 21.75}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Interpolated(ctx, "f", tc.start, tc.end, tc.interval, tc.count, Unbounded)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d values %+v, want %d", len(got), got, len(tc.want))
			}
			for _, p := range got {
				if w, ok := tc.want[p.Time]; !ok || p.Value.F != w {
					t.Errorf("at %s: %v, want %v (expected: %v)", time.Unix(0, p.Time).UTC(), p.Value.F, w, ok)
				}
			}
		})
	}
}

// Evenly spaced times are exact on spans too long for a float64 of
// nanoseconds.
func TestInterpolatedCountIsExact(t *testing.T) {
	s := openTest(t, Options{})
	mustCreate(t, s, "f", point.KindFloat)
	day := int64(24 * time.Hour)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() + 7 // off any float grid
	if err := s.Write(context.Background(), []point.Point{{Stream: "f", Time: start - day, Value: point.Float(1)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Interpolated(context.Background(), "f", start, start+300*day+3, 0, 4, Unbounded)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if want := start + int64(i)*100*day + int64(i); p.Time != want {
			t.Errorf("time %d = %d, want %d", i, p.Time, want)
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d times", len(got))
	}
}

// A range wider than int64 spans is refused, not miscounted.
func TestSummariesWideRange(t *testing.T) {
	s := openTest(t, Options{})
	writeIssuePoints(t, s, "f", time.Date(2026, 11, 23, 10, 38, 0, 0, time.UTC).UnixNano())
	for _, r := range [][2]int64{{-9e18, 9e18}, {math.MinInt64, math.MaxInt64}} {
		if _, err := s.Summaries(context.Background(), "f", r[0], r[1], int64(time.Minute), Unbounded); !errors.Is(err, ErrInvalid) {
			t.Errorf("Summaries over [%d, %d): %v, want ErrInvalid", r[0], r[1], err)
		}
		if _, err := s.Interpolated(context.Background(), "f", r[0], r[1], int64(time.Minute), 0, Unbounded); !errors.Is(err, ErrInvalid) {
			t.Errorf("Interpolated over [%d, %d]: %v, want ErrInvalid", r[0], r[1], err)
		}
	}
}
