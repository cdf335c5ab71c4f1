package store

import (
	"context"
	"fmt"
	"math"
	"math/bits"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/agent/store/chunk"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Latest returns the newest point of a stream; ok is false if it has none.
// The answer is cached in memory and kept current by the committer.
func (s *Store) Latest(ctx context.Context, name string) (p Sample, ok bool, err error) {
	st := s.lookup(name)
	if st == nil {
		return Sample{}, false, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	cutoff := s.retentionCutoff(st)
	st.mu.Lock()
	cached, gen := st.latest, st.gen
	st.mu.Unlock()
	if cached != nil {
		return *cached, cached.Time >= cutoff, nil
	}
	p, ok, err = s.before(st, math.MaxInt64)
	if err != nil || !ok {
		return p, false, err
	}
	st.mu.Lock()
	if st.gen == gen { // no commit raced with our read
		st.latest = &p
	}
	st.mu.Unlock()
	return p, p.Time >= cutoff, nil
}

// Bounds are the stored points a read may draw on at all: those with
// Floor <= time < Ceil. They are apart from the range a read asks for.
// Unbounded, a read uses what lies around its range: the value in effect
// at its start (carried forward, time-weighted, interpolated from) and the
// point after its end (interpolated towards). Bounded, a read treats every
// point outside the bounds as never stored, so none can show in or shape
// the answer; partner reads are bounded by the range policy allowed.
// Retention applies either way.
type Bounds struct{ Floor, Ceil int64 }

// Unbounded lets a read draw on every point within retention.
var Unbounded = Bounds{Floor: math.MinInt64, Ceil: math.MaxInt64}

// lo is the oldest time a read of st within b may draw on.
func (s *Store) lo(st *stream, b Bounds) int64 {
	return max(b.Floor, s.retentionCutoff(st))
}

// LatestIn returns the newest point of a stream within b; ok is false if
// there is none.
func (s *Store) LatestIn(ctx context.Context, name string, b Bounds) (p Sample, ok bool, err error) {
	p, ok, err = s.Latest(ctx, name)
	switch {
	case err != nil || !ok || p.Time < b.Floor:
		return Sample{}, false, err
	case p.Time < b.Ceil:
		return p, true, nil
	}
	st := s.lookup(name)
	if st == nil {
		return Sample{}, false, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return s.heldBefore(st, b.Ceil, s.lo(st, b), b.Ceil)
}

// First returns the oldest point of a stream still within retention.
func (s *Store) First(ctx context.Context, name string) (Sample, bool, error) {
	it, err := s.Window(ctx, name, WindowQuery{Start: math.MinInt64, End: math.MaxInt64, Limit: 1})
	if err != nil {
		return Sample{}, false, err
	}
	defer it.Close()
	if it.Next() {
		return it.At(), true, nil
	}
	return Sample{}, false, it.Err()
}

// before returns the newest point with a timestamp < t (t = MaxInt64 means
// any point, including one at MaxInt64 itself is excluded, which no clock
// produces). It walks chunks backwards from t and stops once no older
// chunk can reach past the best point found.
func (s *Store) before(st *stream, t int64) (Sample, bool, error) {
	var best Sample
	var bestSeq uint64
	found := false
	span := st.span()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: idKey(pfxChunk, st.meta.ID), Reverse: true})
		defer it.Close()
		var blk chunk.Block
		for it.Seek(chunkKey(nil, pfxChunk, st.meta.ID, t, math.MaxUint64)); it.Valid(); it.Next() {
			_, first, seq, ok := parseChunkKey(it.Item().Key())
			if !ok {
				continue
			}
			if first >= t {
				continue
			}
			if found && best.Time > math.MinInt64+span && first < best.Time-span {
				break // older chunks end before best
			}
			err := it.Item().Value(func(v []byte) error {
				if len(v) < 1 {
					return fmt.Errorf("empty chunk value: %w", chunk.ErrCorrupt)
				}
				hdr, err := chunk.ReadHeader(v[1:])
				if err != nil {
					return err
				}
				if found && hdr.Last < best.Time {
					return nil // holds nothing newer than best
				}
				if err := chunk.Decode(v[1:], &blk); err != nil {
					return err
				}
				// Largest index with Times[i] < t.
				lo, hi := 0, len(blk.Times)
				for lo < hi {
					m := int(uint(lo+hi) >> 1)
					if blk.Times[m] < t {
						lo = m + 1
					} else {
						hi = m
					}
				}
				if lo == 0 {
					return nil
				}
				i := lo - 1
				ts := blk.Times[i]
				if !found || ts > best.Time || (ts == best.Time && seq > bestSeq) {
					best = sampleAt(&blk, i)
					bestSeq = seq
					found = true
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("store: chunk of %q at %d: %w", st.meta.Name, first, err)
			}
		}
		return nil
	})
	return best, found, err
}

// heldBefore returns the value in effect just before t, the newest point
// older than t, if it lies within [lo, hi).
func (s *Store) heldBefore(st *stream, t, lo, hi int64) (Sample, bool, error) {
	t = min(t, hi)
	if t <= lo {
		return Sample{}, false, nil
	}
	p, ok, err := s.before(st, t)
	if err != nil || !ok || p.Time < lo {
		return Sample{}, false, err
	}
	return p, true, nil
}

func sampleAt(b *chunk.Block, i int) Sample {
	p := Sample{Time: b.Times[i], Quality: b.Quality[i]}
	switch b.Kind {
	case point.KindFloat:
		p.Value = point.Float(b.Floats[i])
	case point.KindInt, point.KindBool:
		p.Value = point.Value{Kind: b.Kind, I: b.Ints[i]}
	case point.KindString:
		p.Value = point.String(b.Strings[i])
	}
	return p
}

// MaxResultPoints bounds interpolated and summary results, which are built
// in memory (windows stream; these are computed).
const MaxResultPoints = 1_000_000

// Interpolated returns values at evenly spaced times from start to end
// inclusive: every interval, or count points when interval is 0. The
// values are computed from the points within b only.
//
// Floats are interpolated linearly between the neighbouring points; ints,
// bools and strings hold the previous value (step). A result takes the
// worse quality of the points it was computed from. Across a bad-quality
// point there is no interpolation: the previous point is held with its
// own quality. Times before the first point are omitted; times after the
// last point hold the last value.
func (s *Store) Interpolated(ctx context.Context, name string, start, end int64, interval int64, count int, b Bounds) ([]Sample, error) {
	st := s.lookup(name)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	times, err := gridTimes(start, end, interval, count)
	if err != nil {
		return nil, err
	}
	lo := s.lo(st, b)
	from := max(start, lo)
	prev, havePrev, err := s.heldBefore(st, from, lo, b.Ceil)
	if err != nil {
		return nil, err
	}
	it := s.newIterator(st, from, b.Ceil, 0)
	defer it.Close()
	out := make([]Sample, 0, len(times))
	next, haveNext := Sample{}, false
	advance := func() {
		haveNext = it.Next()
		if haveNext {
			next = it.At()
		}
	}
	advance()
	linear := st.meta.Kind == point.KindFloat
	for _, t := range times {
		for haveNext && next.Time <= t {
			prev, havePrev = next, true
			advance()
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if !havePrev {
			continue
		}
		r := prev
		r.Time = t
		if linear && prev.Time != t && haveNext && !point.IsBad(prev.Quality) && !point.IsBad(next.Quality) {
			f := float64(t-prev.Time) / float64(next.Time-prev.Time)
			r.Value = point.Float(prev.Value.F + f*(next.Value.F-prev.Value.F))
			r.Quality = worse(prev.Quality, next.Quality)
		}
		out = append(out, r)
	}
	return out, it.Err()
}

func worse(a, b uint32) uint32 {
	if a>>30 >= b>>30 {
		return a
	}
	return b
}

func gridTimes(start, end, interval int64, count int) ([]int64, error) {
	if end < start {
		return nil, fmt.Errorf("%w: end before start", ErrInvalid)
	}
	var times []int64
	switch {
	case interval > 0:
		n := (uint64(end)-uint64(start))/uint64(interval) + 1 // no overflow on wide ranges
		if n > MaxResultPoints {
			return nil, fmt.Errorf("%w: %d intervals, over the limit of %d", ErrInvalid, n, MaxResultPoints)
		}
		times = make([]int64, 0, n)
		for i := int64(0); i < int64(n); i++ {
			times = append(times, start+i*interval)
		}
	case count == 1:
		times = []int64{start}
	case count > 1:
		if count > MaxResultPoints {
			return nil, fmt.Errorf("%w: count %d over the limit of %d", ErrInvalid, count, MaxResultPoints)
		}
		// Integer arithmetic: start + span*i/(count-1) exactly, rounded
		// down, with no float noise on long spans.
		times = make([]int64, count)
		span := uint64(end) - uint64(start)
		for i := range times {
			hi, lo := bits.Mul64(span, uint64(i))
			q, _ := bits.Div64(hi, lo, uint64(count-1))
			times[i] = int64(uint64(start) + q)
		}
	default:
		return nil, fmt.Errorf("%w: need a positive interval or count", ErrInvalid)
	}
	return times, nil
}

// GridFloor is the newest time of the grid k*interval+offset (k any
// integer, counted from the Unix epoch, so 1m intervals fall on whole
// minutes UTC and 1d intervals on midnight UTC) at or before t. Offset
// shifts the grid and is taken modulo interval; a negative one shifts it
// back. Summaries on the grid start at GridFloor(start, ...). Near the
// ends of int64 the answer is clamped to math.MinInt64.
func GridFloor(t, interval, offset int64) int64 {
	if interval <= 0 {
		return t
	}
	r := gridRem(t, interval, offset)
	if t < math.MinInt64+r {
		return math.MinInt64
	}
	return t - r
}

// GridCeil is the oldest time of the grid (see GridFloor) at or after t,
// clamped to math.MaxInt64; interpolation on the grid starts there.
func GridCeil(t, interval, offset int64) int64 {
	if interval <= 0 {
		return t
	}
	r := gridRem(t, interval, offset)
	if r == 0 {
		return t
	}
	if t > math.MaxInt64-(interval-r) {
		return math.MaxInt64
	}
	return t + (interval - r)
}

// gridRem is how far t lies past the grid time before it, in [0, interval).
func gridRem(t, interval, offset int64) int64 {
	off := offset % interval
	if off < 0 {
		off += interval
	}
	m := t % interval
	if m < 0 {
		m += interval
	}
	r := m - off // in (-interval, interval)
	if r < 0 {
		r += interval
	}
	return r
}

// Summary describes the points of one interval [Start, End).
//
// Count is every point in the interval; Bad counts those with bad quality,
// which are left out of the statistics. Min, Max, Mean and StdDev
// (population) are over the good and uncertain points; TimeWeightedMean
// holds each value until the next point (from the value in effect at
// Start, if any) and excludes the time a bad value was in effect. For
// string streams only Count, Bad, First and Last are set.
type Summary struct {
	Start, End       int64
	Count, Bad       int
	Min, Max         float64
	Mean, StdDev     float64
	TimeWeightedMean float64
	First, Last      Sample // first and last point in the interval (Count > 0)
	HasTWA           bool   // TimeWeightedMean is defined
}

// Summaries computes one Summary per interval from start to end, from the
// points within b only. Intervals are half-open and start at start,
// start+interval, ...; the last one is cut at end. For intervals on the
// epoch-aligned grid, pass GridFloor(start, interval, offset) as start.
// Unbounded, the intervals older than a downsampled stream's raw points
// come from its stored summaries where a level fits (downsample.go).
func (s *Store) Summaries(ctx context.Context, name string, start, end, interval int64, b Bounds) ([]Summary, error) {
	st := s.lookup(name)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if interval <= 0 || end <= start {
		return nil, fmt.Errorf("%w: summaries need start < end and a positive interval", ErrInvalid)
	}
	span := uint64(end) - uint64(start) // no overflow on wide ranges
	n := span / uint64(interval)
	if span%uint64(interval) != 0 {
		n++
	}
	if n > MaxResultPoints {
		return nil, fmt.Errorf("%w: %d intervals, over the limit of %d", ErrInvalid, n, MaxResultPoints)
	}
	out := make([]Summary, n)
	for i := range out {
		out[i].Start = start + int64(i)*interval
		out[i].End = end
		if uint64(end)-uint64(out[i].Start) > uint64(interval) {
			out[i].End = out[i].Start + interval
		}
	}
	// The value in effect at start, for the time-weighted mean.
	lo := s.lo(st, b)
	from := max(start, lo)
	held, haveHeld, err := s.heldBefore(st, from, lo, b.Ceil)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.summarize(st, out, nil, from, min(end, b.Ceil), held, haveHeld); err != nil {
		return nil, err
	}
	if b == Unbounded {
		// Older than the raw points kept: from stored summaries.
		if err := s.fromDownsampled(st, out, interval); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// summarize fills out (intervals set, in order) from the raw points in
// [from, to), starting with held as the value in effect. It returns the
// value in effect at the end, and fills parts (if not nil, one per
// interval) with what merging summaries needs.
func (s *Store) summarize(st *stream, out []Summary, parts []partial, from, to int64, held Sample, haveHeld bool) (Sample, bool, error) {
	numeric := st.meta.Kind != point.KindString
	it := s.newIterator(st, from, to, 0)
	defer it.Close()
	acc := summer{}
	cur := 0
	finish := func() {
		acc.end(&out[cur])
		if parts != nil {
			parts[cur] = partial{n: acc.n, m2: acc.m2, twSum: acc.twSum, twDur: acc.twDur}
		}
		held, haveHeld = acc.held, acc.haveHeld
	}
	acc.begin(&out[0], held, haveHeld && numeric)
	for it.Next() {
		p := it.At()
		for p.Time >= out[cur].End {
			finish()
			cur++
			acc.begin(&out[cur], held, haveHeld && numeric)
		}
		acc.add(&out[cur], p, numeric)
	}
	if err := it.Err(); err != nil {
		return held, haveHeld, err
	}
	finish()
	for cur++; cur < len(out); cur++ {
		acc.begin(&out[cur], held, haveHeld && numeric)
		finish()
	}
	return held, haveHeld, nil
}

// summer accumulates one interval's statistics in a single pass (Welford
// for the variance).
type summer struct {
	sum      *Summary
	n        int
	mean, m2 float64
	twSum    float64 // integral of the held value
	twDur    float64 // time with a good value held
	held     Sample
	haveHeld bool
	at       int64 // time up to which twSum is integrated
}

func (a *summer) begin(s *Summary, held Sample, haveHeld bool) {
	*a = summer{sum: s, held: held, haveHeld: haveHeld, at: s.Start}
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
}

func (a *summer) integrate(to int64) {
	if a.haveHeld && !point.IsBad(a.held.Quality) && to > a.at {
		v, _ := a.held.Value.AsFloat()
		d := float64(to - a.at)
		a.twSum += v * d
		a.twDur += d
	}
	a.at = to
}

func (a *summer) add(s *Summary, p Sample, numeric bool) {
	if s.Count == 0 {
		s.First = p
	}
	s.Last = p
	s.Count++
	if numeric {
		a.integrate(p.Time)
		a.held, a.haveHeld = p, true
	}
	if point.IsBad(p.Quality) {
		s.Bad++
		return
	}
	if !numeric {
		return
	}
	v, _ := p.Value.AsFloat()
	a.n++
	d := v - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (v - a.mean)
	s.Min = min(s.Min, v)
	s.Max = max(s.Max, v)
}

func (a *summer) end(s *Summary) {
	a.integrate(s.End)
	if a.n > 0 {
		s.Mean = a.mean
		s.StdDev = math.Sqrt(a.m2 / float64(a.n))
	} else {
		s.Min, s.Max = 0, 0
	}
	if a.twDur > 0 {
		s.TimeWeightedMean = a.twSum / a.twDur
		s.HasTWA = true
	}
}
