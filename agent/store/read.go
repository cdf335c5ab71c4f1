package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/agent/store/chunk"
	"github.com/sluice-edge/sluice/connectors/point"
)

// WindowQuery selects the points of one stream with start <= t < end.
// A window draws on no point outside that range, so it needs no Bounds.
type WindowQuery struct {
	Start, End int64
	// Limit stops the iterator after this many points; 0 means no limit.
	// When the limit cuts the window short, Iterator.PageToken continues it.
	Limit int
	// PageToken continues a previous query of the same stream.
	PageToken string
}

// Window returns an iterator over a time window. The iterator streams
// chunk by chunk, so a window of any size is read in bounded memory. The
// caller must Close it.
func (s *Store) Window(ctx context.Context, name string, q WindowQuery) (*Iterator, error) {
	st := s.lookup(name)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if q.PageToken != "" {
		next, err := parsePageToken(q.PageToken, st.meta.ID)
		if err != nil {
			return nil, err
		}
		if next > q.Start {
			q.Start = next
		}
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalid, q.Limit)
	}
	return s.newIterator(st, s.clampRetention(st, q.Start), q.End, q.Limit), nil
}

// retentionCutoff is the oldest timestamp still served, or MinInt64.
func (s *Store) retentionCutoff(st *stream) int64 {
	r := s.maxAge(st)
	if r <= 0 {
		return math.MinInt64
	}
	return s.rawCutoff(st, s.now()-int64(r))
}

func (s *Store) clampRetention(st *stream, start int64) int64 {
	return max(start, s.retentionCutoff(st))
}

// Iterator walks the points of a window in time order, one per timestamp
// (the last written).
type Iterator struct {
	s          *Store
	st         *stream
	txn        *badger.Txn
	it         *badger.Iterator
	start, end int64
	limit, n   int

	blk      chunk.Block // the current group of points, merged
	pos, hi  int
	cur      Sample
	err      error
	done     bool
	lastTime int64
	cut      bool // stopped by the limit

	// Chunks of the current overlap group and their decoded blocks.
	group   []chunkRef
	scratch []chunk.Block
	merge   []mergeRef
	peeked  chunkRef // the next chunk, read ahead to detect overlap
	hasPeek bool
	bufs    [][]byte // free chunk buffers
}

type chunkRef struct {
	hdr  chunk.Header
	seq  uint64
	data []byte // owned copy of the chunk bytes (without the flags byte)
}

type mergeRef struct {
	t   int64
	seq uint64
	blk int32
	idx int32
}

func (s *Store) newIterator(st *stream, start, end int64, limit int) *Iterator {
	it := &Iterator{s: s, st: st, start: start, end: end, limit: limit}
	if start >= end {
		it.done = true
		return it
	}
	it.txn = s.db.NewTransaction(false)
	prefix := idKey(pfxChunk, st.meta.ID)
	it.it = it.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	seek := start
	if span := st.span(); seek > math.MinInt64+span {
		seek -= span
	} else {
		seek = math.MinInt64
	}
	it.it.Seek(chunkKey(nil, pfxChunk, st.meta.ID, seek, 0))
	return it
}

// Next advances to the next point. It returns false at the end of the
// window, at the limit, or on error (see Err).
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	if it.limit > 0 && it.n >= it.limit {
		it.cut = it.hasMore()
		it.done = true
		return false
	}
	for it.pos >= it.hi {
		if !it.loadGroup() {
			it.done = true
			return false
		}
	}
	b := &it.blk
	i := it.pos
	it.pos++
	it.n++
	it.cur.Time = b.Times[i]
	it.cur.Quality = b.Quality[i]
	switch b.Kind {
	case point.KindFloat:
		it.cur.Value = point.Value{Kind: point.KindFloat, F: b.Floats[i]}
	case point.KindInt, point.KindBool:
		it.cur.Value = point.Value{Kind: b.Kind, I: b.Ints[i]}
	case point.KindString:
		it.cur.Value = point.Value{Kind: point.KindString, S: b.Strings[i]}
	}
	it.lastTime = it.cur.Time
	return true
}

// At returns the current point.
func (it *Iterator) At() Sample { return it.cur }

// Err returns the first error the iterator met.
func (it *Iterator) Err() error { return it.err }

// PageToken returns a token that continues the window after the last point
// returned, or "" when the window was read to its end.
func (it *Iterator) PageToken() string {
	if !it.cut {
		return ""
	}
	return pageToken(it.st.meta.ID, it.lastTime+1)
}

// Close releases the iterator's snapshot.
func (it *Iterator) Close() {
	if it.it != nil {
		it.it.Close()
		it.it = nil
	}
	if it.txn != nil {
		it.txn.Discard()
		it.txn = nil
	}
	it.done = true
}

// hasMore reports whether points remain after the limit stopped the walk.
func (it *Iterator) hasMore() bool {
	if it.pos < it.hi {
		return true
	}
	return it.loadGroup()
}

// next reads the next chunk that may hold points of the window.
func (it *Iterator) next() (chunkRef, bool) {
	if it.hasPeek {
		it.hasPeek = false
		return it.peeked, true
	}
	for ; it.it.Valid(); it.it.Next() {
		item := it.it.Item()
		_, first, seq, ok := parseChunkKey(item.Key())
		if !ok {
			continue
		}
		if first >= it.end {
			return chunkRef{}, false
		}
		var buf []byte
		if n := len(it.bufs); n > 0 {
			buf, it.bufs = it.bufs[n-1], it.bufs[:n-1]
		}
		v, err := item.ValueCopy(buf[:0])
		if err != nil {
			it.err = fmt.Errorf("store: read chunk of %q: %w", it.st.meta.Name, err)
			return chunkRef{}, false
		}
		if len(v) < 1 {
			it.err = fmt.Errorf("store: chunk of %q at %d: empty value: %w", it.st.meta.Name, first, chunk.ErrCorrupt)
			return chunkRef{}, false
		}
		hdr, err := chunk.ReadHeader(v[1:])
		if err != nil {
			it.err = fmt.Errorf("store: chunk of %q at %d: %w", it.st.meta.Name, first, err)
			return chunkRef{}, false
		}
		if hdr.Last < it.start {
			it.bufs = append(it.bufs, v)
			continue
		}
		it.it.Next()
		return chunkRef{hdr: hdr, seq: seq, data: v}, true
	}
	return chunkRef{}, false
}

// loadGroup decodes the next group of mutually overlapping chunks into blk
// and positions pos/hi on the part inside the window.
func (it *Iterator) loadGroup() bool {
	for it.err == nil && it.it != nil {
		for _, c := range it.group {
			it.bufs = append(it.bufs, c.data)
		}
		it.group = it.group[:0]
		first, ok := it.next()
		if !ok {
			return false
		}
		it.group = append(it.group, first)
		last := first.hdr.Last
		for {
			c, ok := it.next()
			if !ok {
				break
			}
			if c.hdr.First > last {
				it.peeked, it.hasPeek = c, true
				break
			}
			it.group = append(it.group, c)
			last = max(last, c.hdr.Last)
		}
		if it.err != nil {
			return false
		}
		if len(it.group) == 1 {
			if err := chunk.Decode(it.group[0].data[1:], &it.blk); err != nil {
				it.err = fmt.Errorf("store: decode chunk of %q: %w", it.st.meta.Name, err)
				return false
			}
		} else if err := it.mergeGroup(); err != nil {
			it.err = err
			return false
		}
		ts := it.blk.Times
		it.pos = sort.Search(len(ts), func(i int) bool { return ts[i] >= it.start })
		it.hi = sort.Search(len(ts), func(i int) bool { return ts[i] >= it.end })
		if it.pos < it.hi {
			return true
		}
	}
	return false
}

// mergeGroup merges overlapping chunks; for equal timestamps the chunk with
// the highest sequence wins.
func (it *Iterator) mergeGroup() error {
	for len(it.scratch) < len(it.group) {
		it.scratch = append(it.scratch, chunk.Block{})
	}
	it.merge = it.merge[:0]
	for gi := range it.group {
		b := &it.scratch[gi]
		if err := chunk.Decode(it.group[gi].data[1:], b); err != nil {
			return fmt.Errorf("store: decode chunk of %q: %w", it.st.meta.Name, err)
		}
		for i, t := range b.Times {
			it.merge = append(it.merge, mergeRef{t: t, seq: it.group[gi].seq, blk: int32(gi), idx: int32(i)})
		}
	}
	slices.SortFunc(it.merge, func(a, b mergeRef) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq) // highest sequence first
	})
	it.blk.Reset(it.st.meta.Kind)
	for i, m := range it.merge {
		if i > 0 && it.merge[i-1].t == m.t {
			continue
		}
		appendFrom(&it.blk, &it.scratch[m.blk], int(m.idx))
	}
	return nil
}

func appendFrom(dst, src *chunk.Block, i int) {
	dst.Times = append(dst.Times, src.Times[i])
	dst.Quality = append(dst.Quality, src.Quality[i])
	switch src.Kind {
	case point.KindFloat:
		dst.Floats = append(dst.Floats, src.Floats[i])
	case point.KindInt, point.KindBool:
		dst.Ints = append(dst.Ints, src.Ints[i])
	case point.KindString:
		dst.Strings = append(dst.Strings, src.Strings[i])
	}
}

// Page tokens are opaque to clients: a version byte, the stream id (so a
// token cannot continue another stream) and the next start time.
func pageToken(id uint64, next int64) string {
	b := []byte{1}
	b = binary.AppendUvarint(b, id)
	b = binary.AppendVarint(b, next)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePageToken(tok string, id uint64) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 3 || b[0] != 1 {
		return 0, fmt.Errorf("%w: malformed page token", ErrInvalid)
	}
	r := bytes.NewReader(b[1:])
	tid, err1 := binary.ReadUvarint(r)
	next, err2 := binary.ReadVarint(r)
	if err1 != nil || err2 != nil || r.Len() != 0 {
		return 0, fmt.Errorf("%w: malformed page token", ErrInvalid)
	}
	if tid != id {
		return 0, fmt.Errorf("%w: page token belongs to another stream", ErrInvalid)
	}
	return next, nil
}
