package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/agent/store/chunk"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Sample is one point of a known stream.
type Sample struct {
	Time    int64 // ns since the Unix epoch, UTC
	Value   point.Value
	Quality uint32
}

// Write stores points of any number of streams as one atomic batch. It
// implements connectors.Sink. A nil error means the batch is on disk.
// Points of one stream may come in any order; for equal timestamps the
// point later in the batch wins, and the batch wins over earlier writes.
func (s *Store) Write(ctx context.Context, points []point.Point) error {
	if len(points) == 0 {
		return nil
	}
	w := writerPool.Get().(*writer)
	defer func() {
		if w != nil {
			w.reset()
			writerPool.Put(w)
		}
	}()
	if err := w.group(s, points); err != nil {
		s.metrics.writeErrors.Inc()
		return err
	}
	for _, g := range w.order {
		if err := g.st.refusal(); err != nil {
			s.metrics.refused(err)
			s.metrics.writeErrors.Inc()
			return fmt.Errorf("stream %q: %w", g.st.meta.Name, err)
		}
	}
	req := newRequest(opWrite)
	if err := w.encode(s.opts.ChunkPoints, req); err != nil {
		s.metrics.writeErrors.Inc()
		return err
	}
	if err := s.submit(ctx, req); err != nil {
		return err
	}
	if err := req.wait(ctx); err != nil {
		if ctx.Err() != nil {
			w = nil // the committer may still read our buffers
		}
		s.metrics.writeErrors.Inc()
		return err
	}
	s.metrics.pointsWritten.Add(float64(len(points)))
	return nil
}

// writer is the scratch space of one Write call, pooled so a steady stream
// of batches does not allocate.
type writer struct {
	groups map[string]*group // by stream name: one lookup per point
	order  []*group
	free   []*group
	arena  []byte
	blk    chunk.Block
}

// group collects one stream's points of a batch, in batch order.
type group struct {
	st      *stream
	samples []Sample
}

var writerPool = sync.Pool{New: func() any { return &writer{groups: map[string]*group{}} }}

func (w *writer) reset() {
	for _, g := range w.order {
		g.st = nil
		g.samples = g.samples[:0]
		w.free = append(w.free, g)
	}
	clear(w.groups)
	w.order = w.order[:0]
	w.arena = w.arena[:0]
}

func (w *writer) group(s *Store, points []point.Point) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var last *group
	lastName := ""
	for i := range points {
		p := &points[i]
		if last == nil || lastName != p.Stream {
			g := w.groups[p.Stream]
			if g == nil {
				st := s.byName[p.Stream]
				if st == nil {
					return fmt.Errorf("%w: point %d: stream %q", ErrNotFound, i, p.Stream)
				}
				if n := len(w.free); n > 0 {
					g, w.free = w.free[n-1], w.free[:n-1]
				} else {
					g = &group{}
				}
				g.st = st
				w.groups[p.Stream] = g
				w.order = append(w.order, g)
			}
			last, lastName = g, p.Stream
		}
		if p.Value.Kind != last.st.meta.Kind {
			return fmt.Errorf("%w: point %d: stream %q is %s, value is %s", ErrKindMismatch, i, p.Stream, last.st.meta.Kind, p.Value.Kind)
		}
		last.samples = append(last.samples, Sample{Time: p.Time, Value: p.Value, Quality: p.Quality})
	}
	return nil
}

// encode sorts and deduplicates each group and encodes it into chunks of at
// most maxPoints points spanning at most MaxChunkSpan.
func (w *writer) encode(maxPoints int, req *request) error {
	for _, g := range w.order {
		samples := sortDedup(g)
		for len(samples) > 0 {
			n := 1
			for n < len(samples) && n < maxPoints && samples[n].Time-samples[0].Time <= MaxChunkSpan {
				n++
			}
			part := samples[:n]
			samples = samples[n:]
			fillBlock(&w.blk, g.st.meta.Kind, part)
			start := len(w.arena)
			w.arena = append(w.arena, 0) // flags: unsealed
			var err error
			w.arena, err = chunk.Append(w.arena, &w.blk)
			if err != nil {
				return fmt.Errorf("store: encode chunk of %q: %w", g.st.meta.Name, err)
			}
			req.chunks = append(req.chunks, pendingChunk{
				st:    g.st,
				first: part[0].Time,
				last:  part[len(part)-1].Time,
				tail:  part[len(part)-1],
				data:  w.arena[start:len(w.arena):len(w.arena)],
			})
		}
	}
	return nil
}

// sortDedup orders a group's samples by time, keeping the last of equal
// timestamps. The common case (already strictly increasing) costs one pass.
func sortDedup(g *group) []Sample {
	s := g.samples
	sorted := true
	for i := 1; i < len(s); i++ {
		if s[i].Time <= s[i-1].Time {
			sorted = false
			break
		}
	}
	if sorted {
		return s
	}
	// Stable sort keeps batch order among equal timestamps, so the last
	// one of each run is the latest write.
	slices.SortStableFunc(s, func(a, b Sample) int { return cmp.Compare(a.Time, b.Time) })
	out := s[:0]
	for i := range s {
		if i+1 < len(s) && s[i+1].Time == s[i].Time {
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func fillBlock(b *chunk.Block, k point.Kind, samples []Sample) {
	b.Reset(k)
	for i := range samples {
		p := &samples[i]
		b.Times = append(b.Times, p.Time)
		b.Quality = append(b.Quality, p.Quality)
		switch k {
		case point.KindFloat:
			b.Floats = append(b.Floats, p.Value.F)
		case point.KindInt, point.KindBool:
			b.Ints = append(b.Ints, p.Value.I)
		case point.KindString:
			b.Strings = append(b.Strings, p.Value.S)
		}
	}
}

// --- the committer ---

type opKind uint8

const (
	opCreate opKind = iota + 1
	opWrite
	opDelete
	opDrop    // delete keys (dropping a deleted stream's chunks, retention)
	opCompact // replace chunks with their merge
	opRelabel // merge spec.Labels into stream's labels (streams.go)
	opPut     // set keys: summaries and a downsampling watermark (downsample.go)
)

// request is one mutation for the committer.
type request struct {
	op     opKind
	spec   point.StreamSpec // opCreate, opRelabel
	stream *stream          // opDelete, opRelabel; opDrop of expired chunks (to reset its cache)
	chunks []pendingChunk   // opWrite, opCompact outputs
	keys   [][]byte         // opDrop; opCompact inputs (chunk keys)
	puts   []keyValue       // opPut
	// opPut: the watermark of the level of markInterval, set in memory
	// once the commit succeeds.
	mark         *mark
	markInterval int64

	created    *stream         // opCreate result
	exited     <-chan struct{} // the store's committer has stopped
	existed    bool            // opCreate: the name was taken
	registered chan struct{}   // closed when an opCreate is visible in memory
	done       chan error
}

type keyValue struct{ key, value []byte }

type pendingChunk struct {
	st          *stream
	first, last int64
	seq         uint64 // set by the committer for writes, by the compactor for merges
	tail        Sample // the chunk's last point, for the latest-value cache
	data        []byte // flags byte + encoded chunk
}

func newRequest(op opKind) *request {
	return &request{op: op, done: make(chan error, 1), registered: make(chan struct{})}
}

// wait returns the request's result. A request submitted just as the
// store closed may never reach the committer, which drains what is queued
// before it stops: once the committer is gone, what has no result is
// ErrClosed, rather than a wait until ctx ends.
func (r *request) wait(ctx context.Context) error {
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.exited:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// waitRegistered waits until an opCreate is visible in memory, ending
// as wait does when ctx ends or the committer has stopped without it.
func (r *request) waitRegistered(ctx context.Context) error {
	select {
	case <-r.registered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.exited:
		select {
		case <-r.registered:
			return nil
		default:
			return ErrClosed
		}
	}
}

func (s *Store) submit(ctx context.Context, r *request) error {
	r.exited = s.exited
	select {
	case <-s.stop: // a select picks at random: never queue after Close
		return ErrClosed
	default:
	}
	select {
	case s.reqs <- r:
		return nil
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) commitLoop() {
	defer s.wg.Done()
	defer close(s.exited)
	var batch []*request
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			// Commit whatever was submitted before Close, then stop.
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*request{r})
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < 1024 {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

// commit applies requests in order, in as few transactions as Badger's size
// limits allow, and answers each request.
func (s *Store) commit(reqs []*request) {
	if reqs = s.refuseIfFull(reqs); len(reqs) == 0 {
		return
	}
	maxBytes := s.db.MaxBatchSize() * 9 / 10
	maxCount := s.db.MaxBatchCount() * 9 / 10
	for len(reqs) > 0 {
		t := &txnState{s: s, txn: s.db.NewTransaction(true)}
		n := 0
		for n < len(reqs) {
			b, c := reqs[n].estimate()
			if n > 0 && (t.bytes+b > maxBytes || t.count+c > maxCount) {
				break
			}
			if n == 0 && (b > maxBytes || c > maxCount) {
				reqs[0].done <- fmt.Errorf("%w: %d bytes in %d entries (limit %d bytes)", ErrTooLarge, b, c, maxBytes)
				n = -1
				break
			}
			t.bytes += b
			t.count += c
			t.apply(reqs[n])
			n++
		}
		if n < 0 {
			t.txn.Discard()
			reqs = reqs[1:]
			continue
		}
		t.finish(reqs[:n])
		reqs = reqs[n:]
	}
}

// refuseIfFull answers the requests that would add data (writes and
// compactions) with ErrStorageFull while the store is short of space, and
// returns the others. Deletions go on: they are what frees space.
func (s *Store) refuseIfFull(reqs []*request) []*request {
	adds := false
	for _, r := range reqs {
		adds = adds || r.op == opWrite || r.op == opCompact || r.op == opPut
	}
	if !adds {
		return reqs
	}
	err := s.spaceErr()
	if err == nil {
		return reqs
	}
	out := reqs[:0]
	for _, r := range reqs {
		if r.op == opWrite || r.op == opCompact || r.op == opPut {
			if r.op == opWrite {
				s.metrics.refused(err)
			}
			r.done <- err
			continue
		}
		out = append(out, r)
	}
	return out
}

// txnState is one transaction of the committer and what to undo in memory
// if its commit fails.
type txnState struct {
	s            *Store
	txn          *badger.Txn
	bytes, count int64
	errs         map[*request]error
	created      []*stream
	deleted      []*stream
	written      []*pendingChunk
	relabeled    []relabeled // label changes, published on commit
	marked       []*request  // opPut watermarks, published on commit
	err          error       // first Badger error; fails the whole transaction
}

func (r *request) estimate() (bytes, count int64) {
	const overhead = 48
	switch r.op {
	case opWrite, opCompact:
		for i := range r.chunks {
			bytes += int64(len(r.chunks[i].data)) + 2*(chunkKeyLen+overhead) + 8
			count += 3
		}
		for _, k := range r.keys {
			bytes += 2 * (int64(len(k)) + overhead)
			count += 2
		}
	case opDrop:
		for _, k := range r.keys {
			bytes += 2 * (int64(len(k)) + overhead)
			count += 2
		}
	case opPut:
		for _, kv := range r.puts {
			bytes += int64(len(kv.key)+len(kv.value)) + overhead
			count++
		}
	default:
		bytes, count = 1024, 4
	}
	return bytes + overhead, count + 1
}

func (t *txnState) fail(r *request, err error) {
	if t.errs == nil {
		t.errs = map[*request]error{}
	}
	t.errs[r] = err
}

func (t *txnState) set(k, v []byte) {
	if t.err == nil {
		t.err = t.txn.Set(k, v)
	}
}

func (t *txnState) del(k []byte) {
	if t.err == nil {
		t.err = t.txn.Delete(k)
	}
}

func (t *txnState) apply(r *request) {
	s := t.s
	switch r.op {
	case opCreate:
		s.mu.Lock()
		if st := s.byName[r.spec.Name]; st != nil {
			s.mu.Unlock()
			r.created, r.existed = st, true
			close(r.registered)
			return
		}
		st := &stream{meta: Stream{
			ID: s.nextID, Name: r.spec.Name, Description: r.spec.Description, Unit: r.spec.Unit,
			Kind: r.spec.Kind, Source: r.spec.Source, Created: s.opts.Now().UTC().Truncate(time.Millisecond),
			Labels: maps.Clone(r.spec.Labels),
		}}
		st.rule = s.ruleFor(st.meta)
		s.nextID++
		s.byName[st.meta.Name] = st
		s.byID[st.meta.ID] = st
		s.mu.Unlock()
		meta, _ := json.Marshal(st.meta)
		t.set(metaKey(st.meta.Name), meta)
		t.created = append(t.created, st)
		r.created = st
		close(r.registered)
	case opRelabel:
		t.relabel(r)
	case opDelete:
		s.mu.Lock()
		if s.byID[r.stream.meta.ID] != r.stream {
			s.mu.Unlock()
			t.fail(r, fmt.Errorf("%w: %q", ErrNotFound, r.stream.meta.Name))
			return
		}
		delete(s.byName, r.stream.meta.Name)
		delete(s.byID, r.stream.meta.ID)
		s.mu.Unlock()
		t.del(metaKey(r.stream.meta.Name))
		t.set(idKey(pfxDeleted, r.stream.meta.ID), nil)
		t.deleted = append(t.deleted, r.stream)
	case opWrite:
		s.mu.RLock()
		for i := range r.chunks {
			if s.byID[r.chunks[i].st.meta.ID] != r.chunks[i].st {
				s.mu.RUnlock()
				t.fail(r, fmt.Errorf("%w: %q was deleted", ErrNotFound, r.chunks[i].st.meta.Name))
				return
			}
		}
		s.mu.RUnlock()
		for i := range r.chunks {
			c := &r.chunks[i]
			c.seq = s.nextSeq
			s.nextSeq++
			t.putChunk(c, true)
			t.written = append(t.written, c)
			if c.st.rule != nil {
				// Counted before the commit is known to succeed: the
				// estimate only decides when to scan, and may run high.
				c.st.rule.written.Add(int64(len(c.data) + chunkKeyLen))
			}
		}
	case opDrop:
		for _, k := range r.keys {
			t.del(k)
			if len(k) == chunkKeyLen && k[0] == pfxChunk {
				u := append([]byte(nil), k...)
				u[0] = pfxUnsealed
				t.del(u)
			}
		}
		if r.stream != nil {
			r.stream.mu.Lock()
			r.stream.latest = nil
			r.stream.mu.Unlock()
		}
	case opPut:
		s.mu.RLock()
		gone := s.byID[r.stream.meta.ID] != r.stream
		s.mu.RUnlock()
		if gone {
			t.fail(r, fmt.Errorf("%w: %q was deleted", ErrNotFound, r.stream.meta.Name))
			return
		}
		for _, kv := range r.puts {
			t.set(kv.key, kv.value)
		}
		if r.mark != nil {
			t.marked = append(t.marked, r)
		}
	case opCompact:
		// The compactor read a snapshot; if any input is gone (retention,
		// a deleted stream, another compaction) its result is stale.
		for _, k := range r.keys {
			if _, err := t.txn.Get(k); err != nil {
				t.fail(r, errStale)
				return
			}
		}
		for _, k := range r.keys {
			t.del(k)
			u := append([]byte(nil), k...)
			u[0] = pfxUnsealed
			t.del(u)
		}
		for i := range r.chunks {
			t.putChunk(&r.chunks[i], false)
		}
	}
}

// putChunk writes a chunk (and its unsealed index entry) and widens the
// stream's span first, so no reader can see the chunk without the span
// that makes its seek reach it.
func (t *txnState) putChunk(c *pendingChunk, unsealed bool) {
	key := chunkKey(nil, pfxChunk, c.st.meta.ID, c.first, c.seq)
	t.set(key, c.data)
	if unsealed {
		key = chunkKey(nil, pfxUnsealed, c.st.meta.ID, c.first, c.seq)
		t.set(key, nil)
	}
	span := c.last - c.first
	c.st.mu.Lock()
	if span > c.st.maxSpan {
		c.st.maxSpan = span
		t.set(idKey(pfxSpan, c.st.meta.ID), binary.BigEndian.AppendUint64(nil, uint64(span)))
	}
	c.st.mu.Unlock()
}

var errStale = fmt.Errorf("store: compaction input changed")

func (t *txnState) finish(reqs []*request) {
	s := t.s
	counters := binary.BigEndian.AppendUint64(nil, s.nextID)
	counters = binary.BigEndian.AppendUint64(counters, s.nextSeq)
	t.set([]byte(keyCounters), counters)
	err := t.err
	if err == nil {
		start := time.Now()
		err = t.txn.Commit()
		s.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	} else {
		t.txn.Discard()
	}
	if err != nil && isNoSpace(err) {
		// Badger ran out of space for a file it writes with write(2) (the
		// manifest, a new table): the same refusal as the guard's.
		err = fmt.Errorf("%w: %w", &fullError{reason: ReasonDiskFull,
			msg: "file system full; writes resume by themselves once space is freed"}, err)
		for _, r := range reqs {
			if r.op == opWrite {
				s.metrics.refused(err)
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		s.log.Error("commit failed", "err", err, "requests", len(reqs))
		s.metrics.commitErrors.Inc()
		// Undo what the transaction did in memory.
		s.mu.Lock()
		for _, st := range t.created {
			delete(s.byName, st.meta.Name)
			delete(s.byID, st.meta.ID)
		}
		for _, st := range t.deleted {
			s.byName[st.meta.Name] = st
			s.byID[st.meta.ID] = st
		}
		s.mu.Unlock()
	} else {
		s.metrics.commits.Inc()
		applyRelabels(t.relabeled)
		for _, r := range t.marked {
			r.stream.mu.Lock()
			if r.stream.marks == nil {
				r.stream.marks = map[int64]mark{}
			}
			r.stream.marks[r.markInterval] = *r.mark
			r.stream.mu.Unlock()
		}
		for _, c := range t.written {
			c.st.mu.Lock()
			if c.st.latest != nil && c.tail.Time >= c.st.latest.Time {
				tail := c.tail
				c.st.latest = &tail
			}
			c.st.gen++
			c.st.mu.Unlock()
		}
	}
	for _, r := range reqs {
		if r.op == opCreate {
			select {
			case <-r.registered:
			default:
				close(r.registered)
			}
		}
		if e, ok := t.errs[r]; ok {
			r.done <- e
		} else {
			r.done <- err
		}
	}
}
