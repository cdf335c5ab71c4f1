package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Downsampling keeps summaries of a rule's streams for longer than their
// raw points. Each level stores one Summary per interval of its grid
// (epoch-aligned, as GridFloor), with what merging needs besides: the
// count of good points, the sum of squared deviations and the integral
// behind the time-weighted mean. A summary of k stored intervals is then
// the exact merge of theirs, up to floating-point rounding.
//
// The retention job summarizes every whole interval older than the raw
// retention before it drops raw points, and moves the level's watermark:
// the end of what is summarized, saved with the value in effect there so
// that the next interval's time-weighted mean starts from it. Raw points
// stay until every level has summarized them, so no read ever sees a gap
// between the two. Points written into an interval after it was
// summarized (older than the raw retention) are not in its summary.
//
// Summaries answers from the stored summaries, transparently, the
// intervals that start before the oldest raw point kept, when its
// interval is a multiple of a level's and starts on that level's grid;
// bounded reads (partners) never use them, since a stored summary may
// carry a value from before the bounds.

// DownsampleLevel is one resolution of stored summaries.
type DownsampleLevel struct {
	Interval time.Duration // of the summaries' grid; a whole number of seconds
	MaxAge   time.Duration // how long the summaries are kept; 0: forever
}

// checkDownsample rejects levels the grid cannot use.
func checkDownsample(rules []RetentionRule) error {
	for _, r := range rules {
		var prev time.Duration
		for _, l := range r.Downsample {
			if l.Interval <= 0 || (prev > 0 && (l.Interval <= prev || l.Interval%prev != 0)) {
				return fmt.Errorf("store: %w: retention rule %q: downsampling interval %s must be positive and a multiple of the level before it", ErrInvalid, r.Label(), l.Interval)
			}
			prev = l.Interval
		}
	}
	return nil
}

// Keys of stored summaries.
const (
	pfxSummary = 'S' // S + id + interval + start -> summaries of the intervals from start
	pfxMark    = 'w' // w + id + interval        -> watermark + value in effect there
)

// blockIntervals bounds the intervals of one stored value: a block never
// crosses a multiple of blockIntervals*interval from the epoch, so a read
// finds every block it needs from the boundary before its start.
const blockIntervals = 1440

// partial is what merging a summary needs besides the Summary itself.
type partial struct {
	n            int     // good points
	m2           float64 // sum of squared deviations from the mean
	twSum, twDur float64 // integral of the held value, and its duration
}

// storedSummary is one interval of a level.
type storedSummary struct {
	Summary
	partial
}

// mark is the watermark of one level of one stream.
type mark struct {
	at       int64 // every interval ending at or before it is summarized
	held     Sample
	haveHeld bool
}

func summaryKey(id uint64, interval, start int64) []byte {
	k := idKey(pfxSummary, id)
	k = binary.BigEndian.AppendUint64(k, uint64(interval))
	return binary.BigEndian.AppendUint64(k, uint64(start)^(1<<63))
}

func markKey(id uint64, interval int64) []byte {
	return binary.BigEndian.AppendUint64(idKey(pfxMark, id), uint64(interval))
}

// levels are the downsampling levels of a stream, finest first; nil when
// it has none or keeps its raw points forever.
func (s *Store) levels(st *stream) []DownsampleLevel {
	if st.rule == nil || len(st.rule.Downsample) == 0 || s.maxAge(st) <= 0 {
		return nil
	}
	return st.rule.Downsample
}

// markOf returns a level's watermark; ok is false before its first run.
func (st *stream) markOf(interval int64) (mark, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	m, ok := st.marks[interval]
	return m, ok
}

// rawCutoff lowers a retention cutoff to the oldest watermark: raw points
// stay until every level has summarized them.
func (s *Store) rawCutoff(st *stream, cutoff int64) int64 {
	for _, l := range s.levels(st) {
		m, ok := st.markOf(int64(l.Interval))
		if !ok {
			return math.MinInt64
		}
		cutoff = min(cutoff, m.at)
	}
	return cutoff
}

// loadMarks reads the watermarks of a stream's levels.
func loadMarks(txn *badger.Txn, st *stream) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: idKey(pfxMark, st.meta.ID), PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) != 17 {
			continue
		}
		interval := int64(binary.BigEndian.Uint64(k[9:]))
		err := it.Item().Value(func(v []byte) error {
			m, err := decodeMark(v, st.meta.Kind)
			if err != nil {
				return err
			}
			if st.marks == nil {
				st.marks = map[int64]mark{}
			}
			st.marks[interval] = m
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: downsampling watermark of %q: %w", st.meta.Name, err)
		}
	}
	return nil
}

// downsample summarizes, for every level of the stream, the whole
// intervals older than cutoff (its raw retention) not summarized yet, one
// block per commit.
func (s *Store) downsample(ctx context.Context, st *stream, cutoff int64) error {
	for _, l := range s.levels(st) {
		interval := int64(l.Interval)
		span := interval * blockIntervals
		target := GridFloor(cutoff, interval, 0)
		m, ok := st.markOf(interval)
		if !ok {
			first, found, err := s.firstChunkTime(st)
			if err != nil || !found {
				return err
			}
			m = mark{at: GridFloor(first, interval, 0)}
		}
		for m.at < target {
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min(target, GridFloor(m.at, span, 0)+span)
			n := int((end - m.at) / interval)
			out := make([]Summary, n)
			parts := make([]partial, n)
			for i := range out {
				out[i].Start = m.at + int64(i)*interval
				out[i].End = out[i].Start + interval
			}
			held, haveHeld, err := s.summarize(st, out, parts, m.at, end, m.held, m.haveHeld)
			if err != nil {
				return fmt.Errorf("store: downsample %q: %w", st.meta.Name, err)
			}
			next := mark{at: end, held: held, haveHeld: haveHeld}
			req := newRequest(opPut)
			req.stream = st
			req.puts = []keyValue{
				{summaryKey(st.meta.ID, interval, m.at), encodeSummaries(out, parts, st.meta.Kind, m.at, interval)},
				{markKey(st.meta.ID, interval), encodeMark(next, st.meta.Kind)},
			}
			req.mark, req.markInterval = &next, interval
			if err := s.submit(ctx, req); err != nil {
				return err
			}
			if err := req.wait(ctx); err != nil {
				return err
			}
			m = next
			s.metrics.downsampled.Add(float64(n))
		}
	}
	return nil
}

// firstChunkTime is the first timestamp of a stream's oldest chunk.
func (s *Store) firstChunkTime(st *stream) (int64, bool, error) {
	var first int64
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := idKey(pfxChunk, st.meta.ID)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			_, first, _, found = parseChunkKey(it.Item().Key())
		}
		return nil
	})
	return first, found, err
}

// expireSummaries drops the blocks of a stream's levels older than their
// MaxAge.
func (s *Store) expireSummaries(ctx context.Context, st *stream) error {
	now := s.now()
	for _, l := range s.levels(st) {
		if l.MaxAge <= 0 {
			continue
		}
		interval := int64(l.Interval)
		span := interval * blockIntervals
		cutoff := now - int64(l.MaxAge)
		prefix := binary.BigEndian.AppendUint64(idKey(pfxSummary, st.meta.ID), uint64(interval))
		var keys [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < dropBatch; it.Next() {
				k := it.Item().Key()
				start := int64(binary.BigEndian.Uint64(k[len(prefix):]) ^ (1 << 63))
				if GridFloor(start, span, 0)+span > cutoff {
					break
				}
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			if err != nil {
				return fmt.Errorf("store: expire summaries of %q: %w", st.meta.Name, err)
			}
			continue
		}
		req := newRequest(opDrop)
		req.keys = keys
		if err := s.submit(ctx, req); err != nil {
			return err
		}
		if err := req.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// fromDownsampled replaces the intervals of out that start before the
// oldest raw point kept with the merge of stored summaries, where a level
// holds all of the interval: the coarsest level that fits.
func (s *Store) fromDownsampled(st *stream, out []Summary, interval int64) error {
	levels := s.levels(st)
	if len(levels) == 0 || len(out) == 0 {
		return nil
	}
	rawLo := s.retentionCutoff(st)
	if out[0].Start >= rawLo {
		return nil
	}
	now := s.now()
	done := make([]bool, len(out))
	for li := len(levels) - 1; li >= 0; li-- {
		l := levels[li]
		iv := int64(l.Interval)
		if interval%iv != 0 || gridRem(out[0].Start, iv, 0) != 0 {
			continue
		}
		m, ok := st.markOf(iv)
		if !ok {
			continue
		}
		levelLo := int64(math.MinInt64)
		if l.MaxAge > 0 {
			levelLo = now - int64(l.MaxAge)
		}
		fits := func(i int) bool {
			o := &out[i]
			return !done[i] && o.Start < rawLo && o.End-o.Start == interval && o.Start >= levelLo && o.End <= m.at
		}
		lo, hi := -1, -1
		for i := range out {
			if fits(i) {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if lo < 0 {
			continue
		}
		stored, err := s.readSummaries(st, iv, out[lo].Start, out[hi].End)
		if err != nil {
			return err
		}
		j := 0
		for i := lo; i <= hi; i++ {
			if !fits(i) {
				continue
			}
			o := &out[i]
			for j < len(stored) && stored[j].Start < o.Start {
				j++
			}
			k := j
			for k < len(stored) && stored[k].Start < o.End {
				k++
			}
			mergeSummaries(o, stored[j:k])
			done[i] = true
			j = k
		}
	}
	return nil
}

// readSummaries returns the stored summaries of a level in [start, end),
// in time order; intervals with no points and no value held are absent.
func (s *Store) readSummaries(st *stream, interval, start, end int64) ([]storedSummary, error) {
	var out []storedSummary
	span := interval * blockIntervals
	prefix := binary.BigEndian.AppendUint64(idKey(pfxSummary, st.meta.ID), uint64(interval))
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(summaryKey(st.meta.ID, interval, GridFloor(start, span, 0))); it.ValidForPrefix(prefix); it.Next() {
			k := it.Item().Key()
			from := int64(binary.BigEndian.Uint64(k[len(prefix):]) ^ (1 << 63))
			if from >= end {
				break
			}
			err := it.Item().Value(func(v []byte) error {
				recs, err := decodeSummaries(v, st.meta.Kind, from, interval)
				if err != nil {
					return fmt.Errorf("summaries of %q at %d: %w", st.meta.Name, from, err)
				}
				for _, r := range recs {
					if r.Start >= start && r.Start < end {
						out = append(out, r)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b storedSummary) int { return cmp.Compare(a.Start, b.Start) })
	return out, err
}

// mergeSummaries sets dst (Start and End set, nothing else) to the
// summary of the stored intervals it is made of.
func mergeSummaries(dst *Summary, parts []storedSummary) {
	start, end := dst.Start, dst.End
	*dst = Summary{Start: start, End: end}
	var n int
	var mean, m2, twSum, twDur float64
	dst.Min, dst.Max = math.Inf(1), math.Inf(-1)
	for i := range parts {
		p := &parts[i]
		if p.Count > 0 {
			if dst.Count == 0 {
				dst.First = p.First
			}
			dst.Last = p.Last
		}
		dst.Count += p.Count
		dst.Bad += p.Bad
		twSum += p.twSum
		twDur += p.twDur
		if p.n == 0 {
			continue
		}
		dst.Min = min(dst.Min, p.Min)
		dst.Max = max(dst.Max, p.Max)
		// Chan et al.'s pairwise update of the mean and the squared
		// deviations.
		tot := n + p.n
		d := p.Mean - mean
		mean += d * float64(p.n) / float64(tot)
		m2 += p.m2 + d*d*float64(n)*float64(p.n)/float64(tot)
		n = tot
	}
	if n > 0 {
		dst.Mean = mean
		dst.StdDev = math.Sqrt(m2 / float64(n))
	} else {
		dst.Min, dst.Max = 0, 0
	}
	if twDur > 0 {
		dst.TimeWeightedMean = twSum / twDur
		dst.HasTWA = true
	}
}

// --- encoding ---

// A block of summaries: a version byte, then per stored interval its
// index in the block (uvarint, relative to the previous one plus one),
// count, bad and good counts (uvarints), min, max, mean, m2, the
// time-weighted integral and its duration (float64 bits), and, when the
// count is not 0, the first and last points.

const summaryVersion = 1

var errSummaryCorrupt = errors.New("corrupt summaries")

func encodeSummaries(out []Summary, parts []partial, k point.Kind, start, interval int64) []byte {
	b := []byte{summaryVersion}
	prev := -1
	for i := range out {
		o, p := &out[i], &parts[i]
		if o.Count == 0 && p.twDur == 0 {
			continue // nothing to merge: an absent interval reads the same
		}
		b = binary.AppendUvarint(b, uint64(i-prev-1))
		prev = i
		b = binary.AppendUvarint(b, uint64(o.Count))
		b = binary.AppendUvarint(b, uint64(o.Bad))
		b = binary.AppendUvarint(b, uint64(p.n))
		for _, f := range [...]float64{o.Min, o.Max, o.Mean, p.m2, p.twSum, p.twDur} {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
		}
		if o.Count > 0 {
			b = appendSample(b, k, o.First, o.Start)
			b = appendSample(b, k, o.Last, o.Start)
		}
	}
	return b
}

func decodeSummaries(b []byte, k point.Kind, start, interval int64) ([]storedSummary, error) {
	if len(b) < 1 || b[0] != summaryVersion {
		return nil, errSummaryCorrupt
	}
	r := reader{b: b[1:]}
	var out []storedSummary
	idx := -1
	for len(r.b) > 0 && r.err == nil {
		idx += int(r.uvarint()) + 1
		var s storedSummary
		s.Start = start + int64(idx)*interval
		s.End = s.Start + interval
		s.Count = int(r.uvarint())
		s.Bad = int(r.uvarint())
		s.n = int(r.uvarint())
		s.Min, s.Max, s.Mean = r.float(), r.float(), r.float()
		s.m2, s.twSum, s.twDur = r.float(), r.float(), r.float()
		if s.Count > 0 {
			s.First = r.sample(k, s.Start)
			s.Last = r.sample(k, s.Start)
		}
		if s.n > 0 {
			s.StdDev = math.Sqrt(s.m2 / float64(s.n))
		}
		if s.twDur > 0 {
			s.TimeWeightedMean, s.HasTWA = s.twSum/s.twDur, true
		}
		out = append(out, s)
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

func encodeMark(m mark, k point.Kind) []byte {
	b := binary.BigEndian.AppendUint64([]byte{summaryVersion}, uint64(m.at))
	if !m.haveHeld {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendSample(b, k, m.held, m.at)
}

func decodeMark(b []byte, k point.Kind) (mark, error) {
	if len(b) < 10 || b[0] != summaryVersion {
		return mark{}, errSummaryCorrupt
	}
	m := mark{at: int64(binary.BigEndian.Uint64(b[1:9]))}
	if b[9] == 1 {
		r := reader{b: b[10:]}
		m.held, m.haveHeld = r.sample(k, m.at), true
		if r.err != nil {
			return mark{}, r.err
		}
	}
	return m, nil
}

// appendSample writes a point: its time relative to base, its quality and
// its value.
func appendSample(b []byte, k point.Kind, p Sample, base int64) []byte {
	b = binary.AppendVarint(b, p.Time-base)
	b = binary.AppendUvarint(b, uint64(p.Quality))
	switch k {
	case point.KindFloat:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Value.F))
	case point.KindInt, point.KindBool:
		b = binary.AppendVarint(b, p.Value.I)
	case point.KindString:
		b = binary.AppendUvarint(b, uint64(len(p.Value.S)))
		b = append(b, p.Value.S...)
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errSummaryCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errSummaryCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) float() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errSummaryCorrupt
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) sample(k point.Kind, base int64) Sample {
	var p Sample
	p.Time = base + r.varint()
	p.Quality = uint32(r.uvarint())
	p.Value.Kind = k
	switch k {
	case point.KindFloat:
		p.Value.F = r.float()
	case point.KindInt, point.KindBool:
		p.Value.I = r.varint()
	case point.KindString:
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b)) {
			r.err = errSummaryCorrupt
		}
		if r.err != nil {
			return p
		}
		p.Value.S = string(r.b[:n])
		r.b = r.b[n:]
	}
	return p
}
