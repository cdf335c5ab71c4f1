package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.CompactInterval == 0 {
		opts.CompactInterval = time.Hour // tests compact explicitly
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Store, name string, k point.Kind) {
	t.Helper()
	if _, err := s.CreateStream(context.Background(), point.StreamSpec{Name: name, Kind: k}); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, s *Store, name string, start, end int64) []Sample {
	t.Helper()
	it, err := s.Window(context.Background(), name, WindowQuery{Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []Sample
	for it.Next() {
		out = append(out, it.At())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"site1/boiler/temp", true},
		{"a", true},
		{"Kessel 1/Temperatur °C", true},
		{`\\PISRV\Boiler.Temp`, true},
		{strings.Repeat("x", 256), true},
		{"", false},
		{strings.Repeat("x", 257), false},
		{"/lead", false},
		{"trail/", false},
		{"a//b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"tab\there", false},
		{"bad\xffutf8", false},
		{"a/ b", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) error %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}

func TestStreamCRUD(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	spec := point.StreamSpec{Name: "site1/boiler/temp", Unit: "°C", Description: "boiler outlet", Kind: point.KindFloat, Source: "mqtt:plant/boiler"}
	got, err := s.CreateStream(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.Unit != "°C" || got.Kind != point.KindFloat || got.Created.IsZero() {
		t.Fatalf("created %+v", got)
	}
	if _, err := s.CreateStream(ctx, spec); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v, want ErrExists", err)
	}
	if err := s.EnsureStream(ctx, spec); err != nil {
		t.Fatalf("EnsureStream of an existing stream: %v", err)
	}
	spec2 := spec
	spec2.Kind = point.KindString
	err = s.EnsureStream(ctx, spec2)
	var se *point.StreamError
	if !errors.Is(err, ErrKindMismatch) || !errors.As(err, &se) || se.Kind != point.KindFloat {
		t.Fatalf("EnsureStream with another kind: %v, want ErrKindMismatch and a StreamError naming float", err)
	}
	if err := s.EnsureStream(ctx, point.StreamSpec{Name: "a//b"}); !errors.As(err, &se) || se.Kind != 0 || !errors.Is(err, ErrInvalid) {
		t.Fatalf("EnsureStream with a bad name: %v, want ErrInvalid and a refusing StreamError", err)
	}
	for _, n := range []string{"site1/boiler/press", "site2/x", "site1/aaa"} {
		mustCreate(t, s, n, point.KindInt)
	}
	list, more, err := s.ListStreams(ctx, ListOptions{Prefix: "site1/", Limit: 2})
	if err != nil || !more || len(list) != 2 || list[0].Name != "site1/aaa" || list[1].Name != "site1/boiler/press" {
		t.Fatalf("list page 1: %v %v %+v", err, more, list)
	}
	list, more, _ = s.ListStreams(ctx, ListOptions{Prefix: "site1/", After: list[1].Name, Limit: 2})
	if more || len(list) != 1 || list[0].Name != "site1/boiler/temp" {
		t.Fatalf("list page 2: %v %+v", more, list)
	}

	// Metadata survives a reopen; ids are not reused after delete.
	if err := s.Write(ctx, []point.Point{{Stream: "site2/x", Time: 5, Value: point.Int(7)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream(ctx, "site2/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetStream(ctx, "site2/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.DeleteStream(ctx, "site2/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	got2, err := s.GetStream(ctx, "site1/boiler/temp")
	if err != nil || !reflect.DeepEqual(got2, got) {
		t.Fatalf("after reopen: %+v %v, want %+v", got2, err, got)
	}
	if s.StreamCount() != 3 {
		t.Fatalf("streams after reopen: %d", s.StreamCount())
	}
	// Recreating a deleted name gives a new, empty stream.
	re, err := s.CreateStream(ctx, point.StreamSpec{Name: "site2/x", Kind: point.KindInt})
	if err != nil {
		t.Fatal(err)
	}
	if re.ID <= got.ID+3 {
		t.Errorf("recreated stream reused an id: %d", re.ID)
	}
	if pts := readAll(t, s, "site2/x", math.MinInt64, math.MaxInt64); len(pts) != 0 {
		t.Fatalf("recreated stream has old points: %v", pts)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.keysWithPrefix([]byte{pfxDeleted}, 10)
	if len(keys) != 0 {
		t.Fatalf("deleted stream markers left after compaction: %d", len(keys))
	}
}

func TestWriteRejectsBadBatchAtomically(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "a", point.KindFloat)
	bad := [][]point.Point{
		{{Stream: "a", Time: 1, Value: point.Float(1)}, {Stream: "nope", Time: 1, Value: point.Float(1)}},
		{{Stream: "a", Time: 2, Value: point.Float(1)}, {Stream: "a", Time: 3, Value: point.String("x")}},
	}
	for i, b := range bad {
		if err := s.Write(ctx, b); err == nil {
			t.Fatalf("batch %d accepted", i)
		}
	}
	if pts := readAll(t, s, "a", math.MinInt64, math.MaxInt64); len(pts) != 0 {
		t.Fatalf("rejected batches left points: %v", pts)
	}
}

func TestKindsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	vals := map[point.Kind][]point.Value{
		point.KindFloat:  {point.Float(1.25), point.Float(-0.5), point.Float(math.Inf(1)), point.Float(3)},
		point.KindInt:    {point.Int(math.MinInt64), point.Int(0), point.Int(42), point.Int(math.MaxInt64)},
		point.KindBool:   {point.Bool(true), point.Bool(false), point.Bool(true), point.Bool(true)},
		point.KindString: {point.String("open"), point.String(""), point.String("Störung"), point.String("open")},
	}
	for k, vs := range vals {
		name := "k/" + k.String()
		mustCreate(t, s, name, k)
		var pts []point.Point
		for i, v := range vs {
			pts = append(pts, point.Point{Stream: name, Time: int64(i) * 1e9, Value: v, Quality: uint32(i) << 30})
		}
		if err := s.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s, name, math.MinInt64, math.MaxInt64)
		if len(got) != len(vs) {
			t.Fatalf("%s: %d points, want %d", k, len(got), len(vs))
		}
		for i := range got {
			if got[i].Value != vs[i] || got[i].Time != int64(i)*1e9 || got[i].Quality != uint32(i)<<30 {
				t.Errorf("%s point %d = %+v, want %v", k, i, got[i], vs[i])
			}
		}
	}
}

// TestModel writes random batches (out of order, duplicates within and
// across batches, several streams), compacts at random moments, reopens,
// and compares every read shape with a plain map.
func TestModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, ChunkPoints: 64})
	rng := rand.New(rand.NewPCG(1, 2))
	const nStreams = 4
	model := make([]map[int64]float64, nStreams)
	for i := range model {
		model[i] = map[int64]float64{}
		mustCreate(t, s, fmt.Sprintf("m/%d", i), point.KindFloat)
	}
	check := func(stage string) {
		t.Helper()
		for i := range model {
			name := fmt.Sprintf("m/%d", i)
			var want []Sample
			for ts, v := range model[i] {
				want = append(want, Sample{Time: ts, Value: point.Float(v)})
			}
			sort.Slice(want, func(a, b int) bool { return want[a].Time < want[b].Time })
			got := readAll(t, s, name, math.MinInt64, math.MaxInt64)
			if len(got) != len(want) {
				t.Fatalf("%s: %s has %d points, want %d", stage, name, len(got), len(want))
			}
			for j := range got {
				if got[j] != want[j] {
					t.Fatalf("%s: %s point %d = %+v, want %+v", stage, name, j, got[j], want[j])
				}
			}
			// A window in the middle, and paging through it.
			lo, hi := int64(300), int64(700)
			var mid []Sample
			for _, w := range want {
				if w.Time >= lo && w.Time < hi {
					mid = append(mid, w)
				}
			}
			if w := readAll(t, s, name, lo, hi); fmt.Sprint(w) != fmt.Sprint(mid) {
				t.Fatalf("%s: %s window = %v, want %v", stage, name, w, mid)
			}
			var paged []Sample
			tok := ""
			for {
				it, err := s.Window(ctx, name, WindowQuery{Start: lo, End: hi, Limit: 7, PageToken: tok})
				if err != nil {
					t.Fatal(err)
				}
				for it.Next() {
					paged = append(paged, it.At())
				}
				tok = it.PageToken()
				it.Close()
				if tok == "" {
					break
				}
			}
			if fmt.Sprint(paged) != fmt.Sprint(mid) {
				t.Fatalf("%s: %s paged window = %v, want %v", stage, name, paged, mid)
			}
			if len(want) > 0 {
				l, ok, err := s.Latest(ctx, name)
				if err != nil || !ok || l != want[len(want)-1] {
					t.Fatalf("%s: %s latest = %+v %v %v, want %+v", stage, name, l, ok, err, want[len(want)-1])
				}
				f, ok, err := s.First(ctx, name)
				if err != nil || !ok || f != want[0] {
					t.Fatalf("%s: %s first = %+v, want %+v", stage, name, f, want[0])
				}
				p, ok, err := s.before(s.lookup(name), 500)
				var wantPrev *Sample
				for k := range want {
					if want[k].Time < 500 {
						wantPrev = &want[k]
					}
				}
				if err != nil || ok != (wantPrev != nil) || (ok && p != *wantPrev) {
					t.Fatalf("%s: %s before(500) = %+v %v, want %+v", stage, name, p, ok, wantPrev)
				}
			}
		}
	}
	for round := 0; round < 60; round++ {
		var batch []point.Point
		for n := rng.IntN(200); n > 0; n-- {
			i := rng.IntN(nStreams)
			ts := int64(rng.IntN(1000))
			if rng.IntN(4) == 0 { // in-order appends too
				ts = int64(1000 + round*100 + n)
			}
			v := float64(rng.IntN(10000)) / 100
			batch = append(batch, point.Point{Stream: fmt.Sprintf("m/%d", i), Time: ts, Value: point.Float(v)})
			model[i][ts] = v
		}
		if err := s.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(5) == 0 {
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if round%20 == 19 {
			check(fmt.Sprintf("round %d", round))
		}
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("after compaction")
	if n, _ := s.keysWithPrefix([]byte{pfxUnsealed}, 1); len(n) != 0 {
		t.Fatal("unsealed chunks left after Compact")
	}
	s.Close()
	s = openTest(t, Options{Dir: dir, ChunkPoints: 64})
	check("after reopen")
}

func TestConcurrentWritersAndCompaction(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{ChunkPoints: 128})
	const writers, batches, per = 4, 50, 20
	for w := 0; w < writers; w++ {
		mustCreate(t, s, fmt.Sprintf("w/%d", w), point.KindInt)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var pts []point.Point
				for i := 0; i < per; i++ {
					ts := int64(b*per + i)
					pts = append(pts, point.Point{Stream: fmt.Sprintf("w/%d", w), Time: ts, Value: point.Int(ts * 10)})
				}
				if err := s.Write(ctx, pts); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Compact(ctx); err != nil {
				errs <- err
				return
			}
			for w := 0; w < writers; w++ {
				if _, _, err := s.Latest(ctx, fmt.Sprintf("w/%d", w)); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	cwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 0; w < writers; w++ {
		got := readAll(t, s, fmt.Sprintf("w/%d", w), math.MinInt64, math.MaxInt64)
		if len(got) != batches*per {
			t.Fatalf("writer %d: %d points, want %d", w, len(got), batches*per)
		}
		for i, p := range got {
			if p.Time != int64(i) || p.Value.I != int64(i)*10 {
				t.Fatalf("writer %d point %d = %+v", w, i, p)
			}
		}
		l, ok, err := s.Latest(ctx, fmt.Sprintf("w/%d", w))
		if err != nil || !ok || l.Time != batches*per-1 {
			t.Fatalf("latest of writer %d = %+v %v %v", w, l, ok, err)
		}
	}
}

func TestLastWriteWinsAcrossCompaction(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{ChunkPoints: 16})
	mustCreate(t, s, "x", point.KindFloat)
	w := func(ts int64, v float64) {
		t.Helper()
		if err := s.Write(ctx, []point.Point{{Stream: "x", Time: ts, Value: point.Float(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(0); i < 40; i++ {
		w(i, 1)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	w(10, 2) // overwrite inside a sealed chunk
	if l, _, _ := s.Latest(ctx, "x"); l.Value.F != 1 || l.Time != 39 {
		t.Fatalf("latest = %+v", l)
	}
	w(39, 3) // overwrite the latest
	if l, _, _ := s.Latest(ctx, "x"); l.Value.F != 3 {
		t.Fatalf("latest after overwrite = %+v", l)
	}
	for pass := 0; pass < 2; pass++ {
		got := readAll(t, s, "x", 0, 100)
		if len(got) != 40 || got[10].Value.F != 2 || got[39].Value.F != 3 || got[11].Value.F != 1 {
			t.Fatalf("pass %d: %v", pass, got)
		}
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInterpolatedAndSummaries(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "f", point.KindFloat)
	mustCreate(t, s, "i", point.KindInt)
	sec := int64(time.Second)
	var pts []point.Point
	// f: 0 at t=10s, 10 at t=20s, 20 at t=30s (bad), 40 at t=40s
	for i, v := range []float64{0, 10, 20, 40} {
		q := uint32(0)
		if i == 2 {
			q = point.QualityBad
		}
		pts = append(pts, point.Point{Stream: "f", Time: int64(10+10*i) * sec, Value: point.Float(v), Quality: q})
		pts = append(pts, point.Point{Stream: "i", Time: int64(10+10*i) * sec, Value: point.Int(int64(v))})
	}
	if err := s.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	got, err := s.Interpolated(ctx, "f", 5*sec, 45*sec, 5*sec, 0, Unbounded)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		t int64
		v float64
		q uint32
	}{
		{10, 0, 0}, {15, 5, 0}, {20, 10, 0}, {25, 10, 0}, {30, 20, point.QualityBad},
		{35, 20, point.QualityBad}, {40, 40, 0}, {45, 40, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("interpolated: %d points %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Time != w.t*sec || got[i].Value.F != w.v || got[i].Quality != w.q {
			t.Errorf("interpolated[%d] = %+v, want %+v", i, got[i], w)
		}
	}
	// Step for ints, count form.
	gi, err := s.Interpolated(ctx, "i", 10*sec, 40*sec, 0, 7, Unbounded)
	if err != nil || len(gi) != 7 || gi[1].Value.I != 0 || gi[1].Time != 15*sec || gi[6].Value.I != 40 {
		t.Fatalf("step interpolation: %v %+v", err, gi)
	}

	sums, err := s.Summaries(ctx, "f", 0, 60*sec, 20*sec, Unbounded)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 3 {
		t.Fatalf("%d summaries", len(sums))
	}
	// [0,20): one point 0 at 10s; held 0 from 10s to 20s.
	if s0 := sums[0]; s0.Count != 1 || s0.Min != 0 || s0.Max != 0 || !s0.HasTWA || s0.TimeWeightedMean != 0 || s0.First.Time != 10*sec {
		t.Errorf("summary 0 = %+v", s0)
	}
	// [20,40): 10 at 20s (good), 20 at 30s (bad): stats over {10};
	// time-weighted: 10 held 20s..30s, bad 30s..40s excluded -> 10.
	if s1 := sums[1]; s1.Count != 2 || s1.Bad != 1 || s1.Mean != 10 || s1.Min != 10 || s1.Max != 10 || s1.TimeWeightedMean != 10 || s1.Last.Value.F != 20 {
		t.Errorf("summary 1 = %+v", s1)
	}
	// [40,60): 40 at 40s held to 60s.
	if s2 := sums[2]; s2.Count != 1 || s2.Mean != 40 || s2.TimeWeightedMean != 40 || s2.StdDev != 0 {
		t.Errorf("summary 2 = %+v", s2)
	}
	// An empty interval after data holds the last value for the time-weighted mean.
	sums, err = s.Summaries(ctx, "i", 40*sec, 100*sec, 30*sec, Unbounded)
	if err != nil || len(sums) != 2 || sums[1].Count != 0 || !sums[1].HasTWA || sums[1].TimeWeightedMean != 40 {
		t.Fatalf("summaries after data: %v %+v", err, sums)
	}
	// Stddev: population over {1,2,3,4}.
	mustCreate(t, s, "sd", point.KindFloat)
	var sd []point.Point
	for i := 1; i <= 4; i++ {
		sd = append(sd, point.Point{Stream: "sd", Time: int64(i), Value: point.Float(float64(i))})
	}
	if err := s.Write(ctx, sd); err != nil {
		t.Fatal(err)
	}
	sums, _ = s.Summaries(ctx, "sd", 0, 10, 10, Unbounded)
	if math.Abs(sums[0].StdDev-math.Sqrt(1.25)) > 1e-12 || sums[0].Mean != 2.5 {
		t.Fatalf("stddev summary = %+v", sums[0])
	}
	for _, bad := range [][3]int64{{10, 0, 1}, {0, 10, 0}, {0, math.MaxInt64, 1}} {
		if _, err := s.Summaries(ctx, "f", bad[0], bad[1], bad[2], Unbounded); !errors.Is(err, ErrInvalid) {
			t.Errorf("Summaries%v: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openTest(t, Options{Retention: time.Hour, Now: clock, ChunkPoints: 10})
	mustCreate(t, s, "r", point.KindInt)
	var pts []point.Point
	base := now.Add(-3 * time.Hour).UnixNano()
	for i := int64(0); i < 180; i++ { // one point a minute for 3 hours
		pts = append(pts, point.Point{Stream: "r", Time: base + i*int64(time.Minute), Value: point.Int(i)})
	}
	if err := s.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, "r", math.MinInt64, math.MaxInt64)
	if len(got) != 60 || got[0].Value.I != 120 {
		t.Fatalf("reads must stop at the retention cutoff: %d points, first %+v", len(got), got[0])
	}
	before := len(mustKeys(t, s, pfxChunk))
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	after := len(mustKeys(t, s, pfxChunk))
	if after >= before || after > 7 {
		t.Fatalf("retention dropped %d -> %d chunks", before, after)
	}
	if got2 := readAll(t, s, "r", math.MinInt64, math.MaxInt64); len(got2) != 60 {
		t.Fatalf("after retention: %d points", len(got2))
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, ok, _ := s.Latest(ctx, "r"); ok {
		t.Fatal("latest point older than retention still served")
	}
}

func mustKeys(t testing.TB, s *Store, pfx byte) [][]byte {
	keys, err := s.keysWithPrefix([]byte{pfx}, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestCorruptChunkIsAnError(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "c", point.KindFloat)
	if err := s.Write(ctx, []point.Point{{Stream: "c", Time: 1, Value: point.Float(1)}, {Stream: "c", Time: 2, Value: point.Float(2)}}); err != nil {
		t.Fatal(err)
	}
	keys := mustKeys(t, s, pfxChunk)
	if len(keys) != 1 {
		t.Fatalf("%d chunks", len(keys))
	}
	txn := s.db.NewTransaction(true)
	item, _ := txn.Get(keys[0])
	v, _ := item.ValueCopy(nil)
	v[len(v)-3] ^= 0xff
	if err := txn.Set(keys[0], v); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	it, _ := s.Window(ctx, "c", WindowQuery{Start: 0, End: 10})
	defer it.Close()
	for it.Next() {
	}
	if err := it.Err(); err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("corrupt chunk read: %v, want an error naming the stream", err)
	}
}

// TestWriteAfterClose: writes and stream creations after Close fail with
// ErrClosed at once. A select between a buffered queue with room and the
// closed stop channel picks at random, so before the fix about half of
// these queued a request no committer would ever answer, and Write then
// waited for its context.
func TestWriteAfterClose(t *testing.T) {
	s := openTest(t, Options{})
	mustCreate(t, s, "after/close", point.KindFloat)
	s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range 200 {
		if err := s.EnsureStream(ctx, point.StreamSpec{Name: "after/new"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("EnsureStream %d after Close: %v, want ErrClosed", i, err)
		}
		if err := s.Write(ctx, []point.Point{{Stream: "after/close", Time: 1, Value: point.Float(1)}}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write %d after Close: %v, want ErrClosed", i, err)
		}
	}
}
