package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/agent/store/chunk"
)

// compactBatch bounds the unsealed chunks one compaction pass takes per
// stream, so one pass holds a bounded number of points in memory.
const compactBatch = 256

func (s *Store) compactJob(ctx context.Context) {
	if err := s.Compact(ctx); errors.Is(err, ErrStorageFull) {
		// Compaction rewrites chunks before Badger frees the old
		// ones: it waits for space like the writes do.
		s.log.Debug("compaction waits for space", "err", err)
	} else if err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		s.log.Error("compaction failed", "err", err)
	}
}

// stopContext is a context cancelled when the store closes, for the
// background jobs.
func (s *Store) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Compact merges every stream's unsealed chunks into sealed ones now and
// drops the chunks of deleted streams. The background job calls it on a
// timer; tests and benchmarks call it directly.
func (s *Store) Compact(ctx context.Context) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if err := s.dropDeleted(ctx); err != nil {
		return err
	}
	// Bounded rounds: under a steady write load there is always more.
	for round := 0; round < 64; round++ {
		todo, err := s.unsealed()
		if err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		progress := false
		for id, keys := range todo {
			if err := ctx.Err(); err != nil {
				return err
			}
			s.mu.RLock()
			st := s.byID[id]
			s.mu.RUnlock()
			if st == nil {
				continue // deleted; dropDeleted takes care of it
			}
			done, err := s.compactStream(ctx, st, keys)
			if err != nil {
				return fmt.Errorf("store: compact %q: %w", st.meta.Name, err)
			}
			progress = progress || done
		}
		if !progress {
			return nil
		}
	}
	return nil
}

// unsealed lists the unsealed chunks per stream, up to compactBatch each,
// from the index kept beside the chunks.
func (s *Store) unsealed() (map[uint64][]chunkID, error) {
	todo := map[uint64][]chunkID{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxUnsealed}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, first, seq, ok := parseChunkKey(it.Item().Key())
			if !ok || len(todo[id]) >= compactBatch {
				continue
			}
			todo[id] = append(todo[id], chunkID{first: first, seq: seq})
		}
		return nil
	})
	return todo, err
}

type chunkID struct {
	first int64
	seq   uint64
}

type inputChunk struct {
	key  []byte
	seq  uint64
	hdr  chunk.Header
	data []byte
}

// compactStream merges the given unsealed chunks with every chunk that
// overlaps them, transitively, plus a not yet full sealed chunk just
// before them, and replaces them all with sealed chunks. Because every
// chunk overlapping the merged range is an input, the outputs can take the
// highest input sequence without changing which write wins anywhere.
func (s *Store) compactStream(ctx context.Context, st *stream, unsealed []chunkID) (bool, error) {
	var inputs []inputChunk
	err := s.db.View(func(txn *badger.Txn) error {
		seen := map[string]bool{}
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, u := range unsealed {
			key := chunkKey(nil, pfxChunk, st.meta.ID, u.first, u.seq)
			c, err := readInput(txn, key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // compacted or dropped since the index scan
			} else if err != nil {
				return err
			}
			seen[string(key)] = true
			inputs = append(inputs, c)
			lo, hi = min(lo, c.hdr.First), max(hi, c.hdr.Last)
		}
		if len(inputs) == 0 {
			return nil
		}
		// Top up the sealed chunk just before the range if it has room.
		if prev, ok, err := s.chunkBefore(txn, st, lo); err != nil {
			return err
		} else if ok && prev.hdr.Count < s.opts.ChunkPoints && !seen[string(prev.key)] && prev.data[0]&flagSealed != 0 {
			seen[string(prev.key)] = true
			inputs = append(inputs, prev)
			lo = min(lo, prev.hdr.First)
		}
		// Add every chunk overlapping [lo, hi] until nothing more does.
		for {
			added := false
			it := txn.NewIterator(badger.IteratorOptions{Prefix: idKey(pfxChunk, st.meta.ID)})
			seek := lo
			if span := st.span(); seek > math.MinInt64+span {
				seek -= span
			}
			for it.Seek(chunkKey(nil, pfxChunk, st.meta.ID, seek, 0)); it.Valid(); it.Next() {
				_, first, _, ok := parseChunkKey(it.Item().Key())
				if !ok {
					continue
				}
				if first > hi {
					break
				}
				if seen[string(it.Item().Key())] {
					continue
				}
				c, err := readInput(txn, it.Item().KeyCopy(nil))
				if err != nil {
					it.Close()
					return err
				}
				if c.hdr.Last < lo {
					continue
				}
				seen[string(c.key)] = true
				inputs = append(inputs, c)
				if c.hdr.First < lo || c.hdr.Last > hi {
					added = true
				}
				lo, hi = min(lo, c.hdr.First), max(hi, c.hdr.Last)
			}
			it.Close()
			if !added {
				return nil
			}
		}
	})
	if err != nil || len(inputs) == 0 {
		return false, err
	}
	// Merge all inputs; for equal timestamps the highest sequence wins.
	slices.SortFunc(inputs, func(a, b inputChunk) int { return cmp.Compare(b.seq, a.seq) })
	var maxSeq uint64
	blocks := make([]chunk.Block, len(inputs))
	total := 0
	for i := range inputs {
		if err := chunk.Decode(inputs[i].data[1:], &blocks[i]); err != nil {
			return false, fmt.Errorf("decode chunk: %w", err)
		}
		maxSeq = max(maxSeq, inputs[i].seq)
		total += blocks[i].Len()
	}
	merged := make([]Sample, 0, total)
	for i := range blocks { // newest first, so a stable sort keeps the winner first
		for j := range blocks[i].Times {
			merged = append(merged, sampleAt(&blocks[i], j))
		}
	}
	slices.SortStableFunc(merged, func(a, b Sample) int { return cmp.Compare(a.Time, b.Time) })
	out := merged[:0]
	for i := range merged {
		if i > 0 && merged[i].Time == merged[i-1].Time {
			continue
		}
		out = append(out, merged[i])
	}
	req := newRequest(opCompact)
	for _, in := range inputs {
		req.keys = append(req.keys, in.key)
	}
	var blk chunk.Block
	for len(out) > 0 {
		n := 1
		for n < len(out) && n < s.opts.ChunkPoints && out[n].Time-out[0].Time <= MaxChunkSpan {
			n++
		}
		part := out[:n]
		out = out[n:]
		fillBlock(&blk, st.meta.Kind, part)
		data, err := chunk.Append([]byte{flagSealed}, &blk)
		if err != nil {
			return false, fmt.Errorf("encode chunk: %w", err)
		}
		req.chunks = append(req.chunks, pendingChunk{st: st, first: part[0].Time, last: part[n-1].Time, seq: maxSeq, data: data})
	}
	if err := s.submit(ctx, req); err != nil {
		return false, err
	}
	if err := req.wait(ctx); err != nil {
		if errors.Is(err, errStale) {
			return false, nil // try again next round
		}
		return false, err
	}
	s.metrics.compactions.Inc()
	s.metrics.compactedChunks.Add(float64(len(inputs)))
	return true, nil
}

func readInput(txn *badger.Txn, key []byte) (inputChunk, error) {
	item, err := txn.Get(key)
	if err != nil {
		return inputChunk{}, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return inputChunk{}, err
	}
	if len(v) < 1 {
		return inputChunk{}, fmt.Errorf("chunk %x: empty value: %w", key, chunk.ErrCorrupt)
	}
	hdr, err := chunk.ReadHeader(v[1:])
	if err != nil {
		return inputChunk{}, fmt.Errorf("chunk %x: %w", key, err)
	}
	_, _, seq, _ := parseChunkKey(key)
	return inputChunk{key: key, seq: seq, hdr: hdr, data: v}, nil
}

// chunkBefore returns the chunk with the largest first timestamp < t.
func (s *Store) chunkBefore(txn *badger.Txn, st *stream, t int64) (inputChunk, bool, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: idKey(pfxChunk, st.meta.ID), Reverse: true})
	defer it.Close()
	it.Seek(chunkKey(nil, pfxChunk, st.meta.ID, t, 0))
	for ; it.Valid(); it.Next() {
		_, first, _, ok := parseChunkKey(it.Item().Key())
		if !ok || first >= t {
			continue
		}
		c, err := readInput(txn, it.Item().KeyCopy(nil))
		return c, err == nil, err
	}
	return inputChunk{}, false, nil
}

// retentionJob drops chunks whose points are all older than their
// stream's retention.
func (s *Store) retentionJob(ctx context.Context) {
	if err := s.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("retention failed", "err", err)
	}
	s.measure() // what the sweep gave back, for the size gauge
}

// ApplyRetention drops expired chunks now.
func (s *Store) ApplyRetention(ctx context.Context) error {
	for _, st := range s.streamsByID() {
		if age := s.maxAge(st); age > 0 && s.levels(st) != nil {
			// Summaries first: the raw points go only once they are in.
			if err := s.downsample(ctx, st, s.now()-int64(age)); err != nil {
				return err
			}
			if err := s.expireSummaries(ctx, st); err != nil {
				return err
			}
		}
		cutoff := s.retentionCutoff(st)
		if cutoff == math.MinInt64 {
			continue
		}
		for {
			var keys [][]byte
			err := s.db.View(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: idKey(pfxChunk, st.meta.ID)})
				defer it.Close()
				for it.Rewind(); it.Valid() && len(keys) < 10000; it.Next() {
					_, first, _, ok := parseChunkKey(it.Item().Key())
					if !ok {
						continue
					}
					if first >= cutoff {
						break
					}
					c, err := readInput(txn, it.Item().KeyCopy(nil))
					if err != nil {
						return err
					}
					if c.hdr.Last < cutoff {
						keys = append(keys, c.key)
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("store: retention of %q: %w", st.meta.Name, err)
			}
			if len(keys) == 0 {
				break
			}
			req := newRequest(opDrop)
			req.keys, req.stream = keys, st
			if err := s.submit(ctx, req); err != nil {
				return err
			}
			if err := req.wait(ctx); err != nil {
				return err
			}
			s.metrics.expiredChunks.Add(float64(len(keys)))
			if len(keys) < 10000 {
				break
			}
		}
	}
	return nil
}

// every runs job every interval until the store closes; ctx ends when
// it does, so a job in progress stops early.
func (s *Store) every(interval time.Duration, job func(ctx context.Context)) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := s.stopContext()
	defer cancel()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		job(ctx)
	}
}

// RunGC rewrites value-log files that are mostly garbage, until none is.
func (s *Store) RunGC() {
	for i := 0; i < 16; i++ {
		if err := s.db.RunValueLogGC(0.5); err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log GC", "err", err)
			}
			return
		}
		s.metrics.gcRuns.Inc()
	}
}
