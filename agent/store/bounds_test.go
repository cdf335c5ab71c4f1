package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/sluice-edge/sluice/connectors/point"
)

// A bounded read must answer exactly as if the points outside its bounds
// had never been stored. Each case runs on a store that holds points
// before the bounds, at the upper bound and after it, and on one that
// holds only the points within the bounds: the bounded answer of the first
// must equal the unbounded answer of the second. The unbounded answer of
// the first must differ where the outside points matter, or the case
// proves nothing.
func TestBoundsHideEverythingOutside(t *testing.T) {
	const sec = int64(1e9)
	b := Bounds{Floor: 100 * sec, Ceil: 200 * sec}
	inside := map[int64]float64{110: 10, 150: 20, 190: 30}
	outside := map[int64]float64{50: 999, 200: 555, 250: -999}

	type answer = any
	both := map[point.Kind]bool{point.KindFloat: true, point.KindInt: true}
	floats := map[point.Kind]bool{point.KindFloat: true} // ints step: the next point does not count
	cases := []struct {
		name    string
		read    func(s *Store, name string, b Bounds) (answer, error)
		matters map[point.Kind]bool // the outside points change the unbounded answer
	}{
		{"summaries across both bounds", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Summaries(context.Background(), n, 0, 300*sec, 50*sec, b)
		}, both},
		{"summaries from the floor", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Summaries(context.Background(), n, 100*sec, 200*sec, 20*sec, b)
		}, both},
		{"summaries one interval up to the ceiling", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Summaries(context.Background(), n, 120*sec, 210*sec, 90*sec, b)
		}, both},
		{"summaries inside", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Summaries(context.Background(), n, 120*sec, 180*sec, 30*sec, b)
		}, nil},
		{"interpolated every interval across both bounds", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Interpolated(context.Background(), n, 0, 300*sec, 25*sec, 0, b)
		}, both},
		{"interpolated every interval from floor to ceiling", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Interpolated(context.Background(), n, 100*sec, 200*sec, 10*sec, 0, b)
		}, both},
		{"interpolated N points", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Interpolated(context.Background(), n, 60*sec, 260*sec, 0, 9, b)
		}, both},
		{"interpolated one point before the first inside", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Interpolated(context.Background(), n, 105*sec, 105*sec, 0, 1, b)
		}, both},
		{"interpolated after the last inside", func(s *Store, n string, b Bounds) (answer, error) {
			return s.Interpolated(context.Background(), n, 195*sec, 199*sec, 0, 2, b)
		}, floats},
		{"latest", func(s *Store, n string, b Bounds) (answer, error) {
			p, ok, err := s.LatestIn(context.Background(), n, b)
			return fmt.Sprint(p, ok), err
		}, both},
		{"window", func(s *Store, n string, b Bounds) (answer, error) {
			// A window takes its bounds as its range.
			return readAll(t, s, n, max(0, b.Floor), min(300*sec, b.Ceil)), nil
		}, both},
		{"window in pages", func(s *Store, n string, b Bounds) (answer, error) {
			var got []Sample
			tok := ""
			for {
				it, err := s.Window(context.Background(), n, WindowQuery{Start: max(0, b.Floor), End: min(300*sec, b.Ceil), Limit: 1, PageToken: tok})
				if err != nil {
					return nil, err
				}
				for it.Next() {
					got = append(got, it.At())
				}
				tok = it.PageToken()
				it.Close()
				if err := it.Err(); err != nil || tok == "" {
					return got, err
				}
			}
		}, both},
	}

	layouts := []struct {
		name  string
		write func(t *testing.T, s *Store, pts []point.Point)
	}{
		{"one batch", func(t *testing.T, s *Store, pts []point.Point) {
			if err := s.Write(context.Background(), pts); err != nil {
				t.Fatal(err)
			}
		}},
		{"a batch a point, compacted", func(t *testing.T, s *Store, pts []point.Point) {
			for _, p := range pts {
				if err := s.Write(context.Background(), []point.Point{p}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"a batch a point", func(t *testing.T, s *Store, pts []point.Point) {
			for _, p := range pts {
				if err := s.Write(context.Background(), []point.Point{p}); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	kinds := []struct {
		kind  point.Kind
		value func(float64) point.Value
	}{
		{point.KindFloat, point.Float},
		{point.KindInt, func(v float64) point.Value { return point.Int(int64(v)) }},
	}

	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			all, clean := openTest(t, Options{}), openTest(t, Options{})
			for _, k := range kinds {
				name := k.kind.String()
				mustCreate(t, all, name, k.kind)
				mustCreate(t, clean, name, k.kind)
				points := func(set map[int64]float64) (pts []point.Point) {
					for ts, v := range set {
						pts = append(pts, point.Point{Stream: name, Time: ts * sec, Value: k.value(v)})
					}
					return pts
				}
				lay.write(t, all, append(points(inside), points(outside)...))
				lay.write(t, clean, points(inside))
			}
			for _, k := range kinds {
				name := k.kind.String()
				for _, tc := range cases {
					want, err := tc.read(clean, name, Unbounded)
					if err != nil {
						t.Fatalf("%s %s, only the inside stored: %v", name, tc.name, err)
					}
					got, err := tc.read(all, name, b)
					if err != nil {
						t.Fatalf("%s %s, bounded: %v", name, tc.name, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s %s, bounded:\n got  %+v\n want %+v (as if only the inside were stored)", name, tc.name, got, want)
					}
					local, err := tc.read(all, name, Unbounded)
					if err != nil {
						t.Fatalf("%s %s, unbounded: %v", name, tc.name, err)
					}
					if differs := !reflect.DeepEqual(local, want); differs != tc.matters[k.kind] {
						t.Errorf("%s %s: the points outside change the unbounded answer: %v, want %v\n%+v", name, tc.name, differs, tc.matters[k.kind], local)
					}
				}
			}
		})
	}
}

// Unbounded reads carry values in from outside their range, as they always
// have; the same reads bounded do not. Bounds{} bounds everything away.
func TestBoundsCarryIn(t *testing.T) {
	const sec = int64(1e9)
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "f", point.KindFloat)
	var pts []point.Point
	for ts, v := range map[int64]float64{50: 999, 110: 10, 150: 20, 190: 30, 200: 555} {
		pts = append(pts, point.Point{Stream: "f", Time: ts * sec, Value: point.Float(v)})
	}
	if err := s.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	b := Bounds{Floor: 100 * sec, Ceil: 200 * sec}
	for _, tc := range []struct {
		name      string
		bounds    Bounds
		twa       float64 // summary [100s, 150s)
		hasTWA    bool
		interp    []float64 // interpolated at 105s and 195s
		latest    float64
		hasLatest bool
	}{
		// 999 held 100..110, 10 held 110..150: (9990+400)/50.
		{"unbounded", Unbounded, 207.8, true, []float64{999 + 55.0/60*(10-999), 30 + 5.0/10*(555-30)}, 555, true},
		{"bounded", b, 10, true, []float64{30}, 30, true},
		{"zero", Bounds{}, 0, false, nil, 0, false},
	} {
		sums, err := s.Summaries(ctx, "f", 100*sec, 150*sec, 50*sec, tc.bounds)
		if err != nil || len(sums) != 1 {
			t.Fatalf("%s summaries: %v %+v", tc.name, err, sums)
		}
		if got := sums[0]; got.HasTWA != tc.hasTWA || got.TimeWeightedMean != tc.twa {
			t.Errorf("%s: time-weighted mean %v (defined %v), want %v (%v)", tc.name, got.TimeWeightedMean, got.HasTWA, tc.twa, tc.hasTWA)
		}
		// At 105s (between 50s and 110s) and 195s (between 190s and 200s).
		ip, err := s.Interpolated(ctx, "f", 105*sec, 195*sec, 90*sec, 0, tc.bounds)
		if err != nil {
			t.Fatal(err)
		}
		same := len(ip) == len(tc.interp)
		for i := 0; same && i < len(ip); i++ {
			same = math.Abs(ip[i].Value.F-tc.interp[i]) < 1e-9
		}
		if !same {
			t.Errorf("%s: interpolated at 105s and 195s: %+v, want %v", tc.name, ip, tc.interp)
		}
		p, ok, err := s.LatestIn(ctx, "f", tc.bounds)
		if err != nil || ok != tc.hasLatest || p.Value.F != tc.latest {
			t.Errorf("%s: latest %+v %v %v, want %v (%v)", tc.name, p, ok, err, tc.latest, tc.hasLatest)
		}
	}
}
