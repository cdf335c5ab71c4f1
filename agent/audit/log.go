package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/agent/internal/durable"
)

// Signer signs checkpoints with the tenant key. *identity.Tenant (package
// federation/identity) satisfies it. The committer goroutine calls Sign, so
// it must be quick and must not call back into the Log.
type Signer interface {
	Sign(msg []byte) []byte
}

// VerifyFunc checks a checkpoint signature with the tenant's public key,
// for instance
//
//	func(msg, sig []byte) error { return identity.Verify(tenantID, pub, msg, sig) }
type VerifyFunc func(msg, sig []byte) error

// Defaults for Options.
const (
	DefaultRetention          = 365 * 24 * time.Hour
	DefaultCheckpointEvery    = 64
	DefaultCheckpointInterval = 30 * time.Second
	DefaultSegmentSize        = 16 << 20
)

// retentionCheckInterval is how often an idle log looks for segments to
// remove; rotation and Open look too.
const retentionCheckInterval = time.Hour

// maxBatch bounds the entries committed with one fsync.
const maxBatch = 1024

// maxYields bounds how often gather yields for callers about to send.
const maxYields = 3

// Options configure a Log. The zero value of every field but Dir is a
// sensible default.
type Options struct {
	Dir string // created if missing; one Log per directory (flock)

	// Retention is how long entries are kept, independent of the data's
	// retention. 0 means DefaultRetention (a year); negative keeps
	// everything.
	Retention time.Duration

	// A checkpoint is appended after CheckpointEvery entries (0: 64) or
	// CheckpointInterval after the last one (0: 30 s), whichever comes
	// first, if anything was appended since; and at the end of every
	// commit that holds a cross-tenant entry (see CrossTenant), in the
	// same write and fsync, unless LazyCrossTenant is set. Close and a
	// retention pass always end with one.
	CheckpointEvery    int
	CheckpointInterval time.Duration

	// LazyCrossTenant lets cross-tenant entries wait for CheckpointEvery
	// or CheckpointInterval like any other, instead of being signed by the
	// commit that writes them. Benchmarks and tests that count lines use
	// it; an agent should not.
	LazyCrossTenant bool

	// SegmentSize is the size at which a segment is closed (0: 16 MiB).
	// Segments are also closed when the UTC day changes.
	SegmentSize int64

	// Signer signs checkpoints with the tenant key. nil writes no
	// checkpoints, and Verify then reports every entry as unsigned.
	Signer Signer

	Now        func() time.Time      // nil: time.Now; tests inject a clock
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
}

func (o *Options) setDefaults() error {
	switch {
	case o.Dir == "":
		return errors.New("audit: Options.Dir is empty")
	case o.CheckpointEvery < 0:
		return fmt.Errorf("audit: Options.CheckpointEvery is %d, want >= 0", o.CheckpointEvery)
	case o.CheckpointInterval < 0:
		return fmt.Errorf("audit: Options.CheckpointInterval is %s, want >= 0", o.CheckpointInterval)
	case o.SegmentSize < 0:
		return fmt.Errorf("audit: Options.SegmentSize is %d, want >= 0", o.SegmentSize)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Log is an open audit log. All methods are safe for concurrent use.
type Log struct {
	opts    Options
	dir     string
	log     *slog.Logger
	metrics *metrics
	lock    *os.File

	reqs      chan *request // unbuffered: a send succeeds when the committer takes it
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the committer has finished
	closeOnce sync.Once
	closeErr  error
	finalErr  error // set by the committer before done is closed

	// Owned by the committer goroutine.
	enc       *encoder
	f         *os.File  // the active segment; nil before the first entry of a new log
	wsegs     []segment // every segment, the active one last; sizes as written
	segsDirty bool      // wsegs changed beyond the active segment's size
	activeDay int       // UTC date (yyyymmdd) of the active segment's first entry
	pending   []byte    // lines not yet written
	pendKinds []string
	batch     []*request
	lastBatch int // size of the last batch
	wSeq      uint64
	wHash     string
	wTime     time.Time
	sinceCP   int       // entries since the last checkpoint
	lastCP    time.Time // time of the last checkpoint
	retDue    bool
	clockBack bool  // warned that the clock is behind the last entry
	werr      error // sticky: a write, fsync or rotation failed

	// Published by the committer after each fsync.
	mu       sync.Mutex
	segs     []segment // sizes are durable sizes
	head     uint64
	headHash string
	changed  chan struct{} // closed and replaced at each publish
	closed   bool
	tails    sync.WaitGroup
}

type request struct {
	entry      Entry
	checkpoint bool       // a checkpoint now, if anything is unsigned
	done       chan error // buffered: the committer never blocks on it
}

// Open opens (or creates) the log in opts.Dir, repairs a torn last line
// left by a crash (see the package doc), and starts the committer. Close
// must be called to release it.
func Open(opts Options) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		opts:    opts,
		dir:     opts.Dir,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registerer),
		lock:    lock,
		reqs:    make(chan *request),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		enc:     newEncoder(),
		wHash:   GenesisHash,
		changed: make(chan struct{}),
	}
	if err := l.recover(); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		lock.Close()
		return nil, err
	}
	l.segs = slices.Clone(l.wsegs)
	l.head, l.headHash = l.wSeq, l.wHash
	if err := l.signUnclean(); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		lock.Close()
		return nil, err
	}
	go l.run()
	return l, nil
}

// signUnclean signs, before anything is appended, entries that the last
// run left after its last checkpoint, which a clean Close never does. The
// checkpoint says so (ReasonUncleanStop), so that Verify can tell these
// entries, signed only now, from the rest: a crash explains them, but so
// would an edit made while the agent was stopped.
func (l *Log) signUnclean() error {
	if l.opts.Signer == nil || l.sinceCP == 0 {
		return nil
	}
	n, through := l.sinceCP, l.wSeq
	l.addCheckpoint(l.opts.Now(), ReasonUncleanStop)
	if l.werr == nil {
		l.flush()
	}
	if l.werr != nil {
		return l.werr
	}
	l.log.Warn("audit: the log did not end with a checkpoint (the agent did not stop cleanly); signed the entries found",
		"entries", n, "through", through)
	return nil
}

// recover reads the segment list and the chain head, truncating an
// incomplete last line, and opens the last segment for appending.
func (l *Log) recover() error {
	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.wsegs = segs
	if len(segs) == 0 {
		l.lastCP = l.opts.Now()
		return nil
	}
	for i := range segs[:len(segs)-1] {
		if err := readFirst(l.dir, &segs[i]); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	for i := len(segs) - 1; i >= 0; i-- {
		found, err := l.scanHead(&segs[i], i == len(segs)-1)
		if err != nil {
			return err
		}
		if found {
			break
		}
	}
	last := &segs[len(segs)-1]
	if last.hasFirst {
		l.activeDay = dayOf(last.firstTime)
	}
	f, err := os.OpenFile(segPath(l.dir, last.num), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.f = f
	return nil
}

// scanHead reads segment s to find the chain head. In the last segment
// (isLast) an incomplete last line is truncated. found is false if s holds
// no complete line.
func (l *Log) scanHead(s *segment, isLast bool) (found bool, err error) {
	path := segPath(l.dir, s.num)
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	lr := newLineReader(f)
	var (
		good     int64 // bytes up to the last '\n'
		last     []byte
		lastLine int
		lastErr  error
		lastE    Entry
		since    int
		cpTime   time.Time
	)
	for {
		line, complete, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, fmt.Errorf("audit: read %s: %w", path, err)
		}
		if !complete {
			break
		}
		good = lr.off
		last, lastLine = append(last[:0], line...), lr.line
		lastE, lastErr = parseLine(line)
		if lastErr != nil {
			continue
		}
		if !s.hasFirst {
			s.hasFirst, s.firstSeq, s.firstTime, s.firstPrev = true, lastE.Seq, lastE.Time, lastE.Prev
		}
		if lastE.Kind == KindCheckpoint {
			since, cpTime = 0, lastE.Time
		} else {
			since++
		}
	}
	if size := lr.off; size > good {
		if !isLast {
			return false, fmt.Errorf("audit: %s:%d: %w: incomplete line before the end of the log; run sluice audit verify",
				segName(s.num), lr.line, ErrCorrupt)
		}
		if err := truncate(path, good); err != nil {
			return false, fmt.Errorf("audit: repair %s: %w", path, err)
		}
		l.log.Warn("audit: removed an incomplete last line left by a crash",
			"file", segName(s.num), "line", lr.line, "bytes", size-good)
	}
	s.size = good
	if lastLine == 0 {
		return false, nil
	}
	if lastErr != nil {
		return false, fmt.Errorf("audit: %s:%d: %w: last entry: %v; run sluice audit verify",
			segName(s.num), lastLine, ErrCorrupt, lastErr)
	}
	if lineHash(last) != lastE.Hash {
		return false, fmt.Errorf("audit: %s:%d: %w: entry %d does not match its hash; run sluice audit verify",
			segName(s.num), lastLine, ErrCorrupt, lastE.Seq)
	}
	l.wSeq, l.wHash, l.wTime = lastE.Seq, lastE.Hash, lastE.Time
	l.sinceCP, l.lastCP = since, cpTime // zero cpTime: a checkpoint is due now
	return true, nil
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Append makes e durable at the end of the chain. It fills Seq, Time
// (clamped so that times never decrease), Prev and Hash, overriding what
// the caller set, and returns after the fsync that covers e, shared with
// every Append waiting at the same time. It fails with ErrInvalid for an
// empty or reserved kind or a time outside years 0-9999, ErrTooLarge for
// an entry over MaxLineBytes, ErrClosed after Close, and with the write
// error for good once a write has failed. If ctx ends while the entry is
// being written, Append returns ctx's error but the entry may still be
// committed.
func (l *Log) Append(ctx context.Context, e Entry) error {
	start := time.Now()
	if err := prepare(&e); err != nil {
		l.metrics.appendErrors.Inc()
		return err
	}
	if err := l.submit(ctx, &request{entry: e, done: make(chan error, 1)}); err != nil {
		l.metrics.appendErrors.Inc()
		return err
	}
	l.metrics.appendSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// Checkpoint appends a checkpoint now if any entry is not yet signed, and
// returns when it is durable. Without a Signer it does nothing.
func (l *Log) Checkpoint(ctx context.Context) error {
	return l.submit(ctx, &request{checkpoint: true, done: make(chan error, 1)})
}

func (l *Log) submit(ctx context.Context, r *request) error {
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("audit: %w", ctx.Err())
	case <-l.stop:
		return fmt.Errorf("audit: %w", ErrClosed)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: %w (the entry may still be committed)", ctx.Err())
	}
}

// Head returns the seq and hash of the last durable entry (0 and
// GenesisHash for an empty log).
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head, l.headHash
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Close writes a last checkpoint if anything is unsigned, stops the
// committer and every Tail, and releases the directory. Appends the
// committer has not taken by then fail with ErrClosed. Close is
// idempotent; it returns the error that failed the log, if any.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.tails.Wait()
		l.closeErr = errors.Join(l.finalErr, l.lock.Close())
	})
	return l.closeErr
}

// run is the committer: the only goroutine that writes files.
func (l *Log) run() {
	defer close(l.done)
	l.applyRetention()
	ticker := time.NewTicker(retentionCheckInterval)
	defer ticker.Stop()
	var cpTimer <-chan time.Time
	for {
		if cpTimer == nil && l.opts.Signer != nil && l.sinceCP > 0 && l.werr == nil {
			cpTimer = time.After(max(l.lastCP.Add(l.opts.CheckpointInterval).Sub(l.opts.Now()), 0))
		}
		select {
		case r := <-l.reqs:
			l.commit(l.gather(r))
		case <-cpTimer:
			cpTimer = nil
			if l.checkpointDue(l.opts.Now()) {
				l.commit([]*request{{checkpoint: true, done: make(chan error, 1)}})
			}
		case <-ticker.C:
			l.retDue = true
		case <-l.stop:
			if l.werr == nil && l.sinceCP > 0 && l.opts.Signer != nil {
				// A cleanly closed log ends with a checkpoint: Verify
				// then finds nothing unsigned.
				l.commit([]*request{{checkpoint: true, done: make(chan error, 1)}})
			}
			l.finalErr = l.werr
			if l.f != nil {
				if err := l.f.Close(); err != nil && l.finalErr == nil {
					l.finalErr = fmt.Errorf("audit: close: %w", err)
				}
			}
			return
		}
		if l.retDue {
			l.retDue = false
			l.applyRetention()
		}
	}
}

// gather takes the requests waiting right now, after first. Callers
// answered by the last commit are usually about to send again: when fewer
// have arrived than the last batch had, it yields once to let them.
func (l *Log) gather(first *request) []*request {
	batch := append(l.batch[:0], first)
	for yields := 0; len(batch) < maxBatch; {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if yields == maxYields || len(batch) >= l.lastBatch {
			break
		}
		runtime.Gosched()
		yields++
	}
	l.batch, l.lastBatch = batch, len(batch)
	return batch
}

// commit writes a batch with one fsync and answers every request in it.
func (l *Log) commit(batch []*request) {
	errs := make([]error, len(batch))
	now := l.opts.Now()
	cross := false // the batch holds a cross-tenant entry
	for i, r := range batch {
		if l.werr != nil {
			break
		}
		if r.checkpoint {
			if l.sinceCP > 0 && l.opts.Signer != nil {
				l.addCheckpoint(now, "")
			}
			continue
		}
		e := r.entry
		if err := l.add(&e, l.stamp(now)); err != nil {
			errs[i] = err
			continue
		}
		cross = cross || CrossTenant(&e)
		if l.checkpointDue(now) {
			l.addCheckpoint(now, "")
		}
	}
	if cross && !l.opts.LazyCrossTenant && l.sinceCP > 0 && l.opts.Signer != nil && l.werr == nil {
		l.addCheckpoint(now, "") // in the same write and fsync as the entries
	}
	if l.werr == nil {
		l.flush()
	}
	for i, r := range batch {
		err := errs[i]
		if l.werr != nil {
			err = l.werr
		}
		r.done <- err
	}
	l.batch = slices.Delete(batch, 0, len(batch)) // drop references
}

// flush writes and fsyncs the pending lines, then publishes them.
func (l *Log) flush() {
	if len(l.pending) == 0 {
		return
	}
	if err := l.writePending(); err != nil {
		return
	}
	for _, k := range l.pendKinds {
		l.metrics.entries.WithLabelValues(kindLabel(k)).Inc()
	}
	l.pendKinds = l.pendKinds[:0]
	l.publish()
}

// writePending writes and fsyncs the pending lines to the active segment.
// On failure the log fails for good.
func (l *Log) writePending() error {
	if len(l.pending) == 0 {
		return nil
	}
	_, err := l.f.Write(l.pending)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		return l.fail(fmt.Errorf("write %s: %w", l.f.Name(), err))
	}
	l.metrics.commits.Inc()
	l.wsegs[len(l.wsegs)-1].size += int64(len(l.pending))
	l.pending = l.pending[:0]
	return nil
}

func (l *Log) fail(err error) error {
	l.werr = fmt.Errorf("audit: log failed, reopen it: %w", err)
	l.log.Error("audit: log failed; appends fail until it is reopened", "err", err)
	return l.werr
}

// publish makes everything written so far visible to readers.
func (l *Log) publish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.segsDirty || len(l.segs) != len(l.wsegs) {
		l.segs = slices.Clone(l.wsegs)
		l.segsDirty = false
	} else if n := len(l.segs); n > 0 {
		l.segs[n-1].size = l.wsegs[n-1].size
	}
	l.head, l.headHash = l.wSeq, l.wHash
	close(l.changed)
	l.changed = make(chan struct{})
}

// stamp returns the time for the next entry: now, or the previous entry's
// time if the clock stepped back.
func (l *Log) stamp(now time.Time) time.Time {
	t := now.UTC().Round(0)
	if !t.Before(l.wTime) {
		l.clockBack = false
		return t
	}
	if d := l.wTime.Sub(t); d > time.Second && !l.clockBack {
		l.clockBack = true
		l.log.Warn("audit: the clock stepped back; entries keep the last time until it catches up", "by", d)
	}
	return l.wTime
}

// add links e to the chain and queues its line, rotating first if needed.
func (l *Log) add(e *Entry, t time.Time) error {
	e.Seq, e.Time, e.Prev = l.wSeq+1, t, l.wHash
	line, hash, err := l.enc.encode(e)
	if err != nil {
		return err
	}
	if len(line) > MaxLineBytes {
		return fmt.Errorf("audit: %w: %d bytes encoded, limit %d", ErrTooLarge, len(line), MaxLineBytes)
	}
	if err := l.maybeRotate(t, len(line)); err != nil {
		return err
	}
	if a := &l.wsegs[len(l.wsegs)-1]; a.size == 0 && len(l.pending) == 0 {
		a.hasFirst, a.firstSeq, a.firstTime, a.firstPrev = true, e.Seq, t, e.Prev
		l.activeDay = dayOf(t)
		l.segsDirty = true
	}
	l.pending = append(l.pending, line...)
	l.pendKinds = append(l.pendKinds, e.Kind)
	l.wSeq, l.wHash, l.wTime = e.Seq, hash, t
	if e.Kind == KindCheckpoint {
		l.sinceCP, l.lastCP = 0, t
	} else {
		l.sinceCP++
	}
	return nil
}

func (l *Log) checkpointDue(now time.Time) bool {
	return l.opts.Signer != nil && l.sinceCP > 0 &&
		(l.sinceCP >= l.opts.CheckpointEvery || now.Sub(l.lastCP) >= l.opts.CheckpointInterval)
}

// addCheckpoint queues a checkpoint signing the current head; reason is
// empty or ReasonUncleanStop.
func (l *Log) addCheckpoint(now time.Time, reason string) {
	t := l.stamp(now)
	e := Entry{Kind: KindCheckpoint, Reason: reason,
		Signature: l.opts.Signer.Sign(checkpointMessage(l.wSeq, l.wHash, t, reason))}
	if err := l.add(&e, t); err != nil && l.werr == nil {
		l.fail(err)
	}
}

// maybeRotate starts a new segment if the active one is full, is from
// another day, or does not exist.
func (l *Log) maybeRotate(t time.Time, n int) error {
	if l.f != nil {
		used := l.wsegs[len(l.wsegs)-1].size + int64(len(l.pending))
		if used == 0 || used+int64(n) <= l.opts.SegmentSize && dayOf(t) == l.activeDay {
			return nil
		}
		if err := l.writePending(); err != nil {
			return err
		}
		err := l.f.Close()
		l.f = nil
		if err != nil {
			return l.fail(fmt.Errorf("close segment: %w", err))
		}
		l.retDue = true
	}
	num := 1
	if len(l.wsegs) > 0 {
		num = l.wsegs[len(l.wsegs)-1].num + 1
	}
	f, err := os.OpenFile(segPath(l.dir, num), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return l.fail(fmt.Errorf("create segment: %w", err))
	}
	if err := durable.SyncDir(l.dir); err != nil {
		f.Close()
		return l.fail(fmt.Errorf("create segment: %w", err))
	}
	l.f = f
	l.wsegs = append(l.wsegs, segment{num: num})
	l.segsDirty = true
	return nil
}

// applyRetention removes the leading segments whose entries are all older
// than the retention, after anchoring the chain with a retention entry and
// a checkpoint (see the package doc).
func (l *Log) applyRetention() {
	if l.opts.Retention < 0 || l.werr != nil {
		return
	}
	now := l.opts.Now()
	cutoff := now.Add(-l.opts.Retention)
	k := 0
	for k < len(l.wsegs)-1 && l.wsegs[k+1].hasFirst && l.wsegs[k+1].firstTime.Before(cutoff) {
		k++
	}
	if k == 0 {
		return
	}
	keep := l.wsegs[k]
	from, to := segName(l.wsegs[0].num), segName(l.wsegs[k-1].num)
	e := Entry{
		Kind:      KindRetention,
		AnchorSeq: keep.firstSeq - 1,
		Anchor:    keep.firstPrev,
		Detail: fmt.Sprintf("removing %s to %s (entries up to %d), all older than %s",
			from, to, keep.firstSeq-1, cutoff.UTC().Format(time.RFC3339)),
	}
	if err := l.add(&e, l.stamp(now)); err != nil {
		l.log.Error("audit: retention entry", "err", err)
		return
	}
	if l.opts.Signer != nil {
		l.addCheckpoint(now, "")
	}
	if l.werr == nil {
		l.flush()
	}
	if l.werr != nil {
		return
	}
	removed := 0
	for _, s := range l.wsegs[:k] {
		if err := os.Remove(segPath(l.dir, s.num)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.log.Error("audit: retention: remove segment; will retry", "file", segName(s.num), "err", err)
			break
		}
		removed++
	}
	if err := durable.SyncDir(l.dir); err != nil {
		l.log.Warn("audit: retention: sync directory", "err", err)
	}
	l.wsegs = slices.Delete(l.wsegs, 0, removed)
	l.segsDirty = true
	l.publish()
	l.metrics.segmentsRemoved.Add(float64(removed))
	l.log.Info("audit: retention removed old segments", "from", from, "to", to,
		"segments", removed, "anchor_seq", e.AnchorSeq)
}

func dayOf(t time.Time) int {
	y, m, d := t.UTC().Date()
	return y*10000 + int(m)*100 + d
}
