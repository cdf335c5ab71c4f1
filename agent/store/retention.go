package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Retention by size, the size on disk, and the write guard.
//
// Badger deletes lazily: a dropped chunk leaves a tombstone in the
// memtable, and its bytes leave the disk only when a compaction carries
// the tombstone down to the bottom level. The size on disk therefore
// trails every drop, by up to a few memtables at the default sizes. To
// keep MaxSize without dropping far too much while the disk catches up,
// the size sweep works in stored (logical) bytes — the chunks' keys and
// values, exact and immediate — and converts the disk's excess into them
// with the measured ratio of disk to stored bytes, capped so that
// uncompacted garbage cannot make it drop more than a third of the data
// at once. Refusing writes for MaxSize goes by stored bytes only: waiting
// for a compaction that needs writes to happen would never end.

// DefaultMinFree is the space the store leaves free on its file system
// unless Options.MinFree says otherwise: room for Badger to flush a full
// 64 MiB memtable and compact.
const DefaultMinFree = 256 << 20

// sizeLow is where a size sweep stops dropping, as a fraction of the
// bound, so that sweeps do not run for every few chunks written.
const sizeLow = 0.9

// maxOverhead caps the measured ratio of disk bytes to stored bytes.
const maxOverhead = 1.5

// RetentionRule overrides the store's retention for the streams it
// matches: those whose names start with Prefix and, if Source is set,
// that a source of that name created (Stream.Source "<source>:<address>").
type RetentionRule struct {
	Name    string        // label in metrics and messages; default Prefix or "source:"+Source
	Prefix  string        // "" matches every name
	Source  string        // "" matches every source
	MaxAge  time.Duration // 0: the store's Retention
	MaxSize int64         // stored bytes of the matching streams together; 0: no bound

	// Downsample keeps summaries of the streams (see Summaries) for longer
	// than their raw points, one level per interval, finest first; each
	// interval a multiple of the one before. Raw points go at the
	// streams' retention, once every level has summarized them; nothing
	// is downsampled while they are kept forever. See downsample.go.
	Downsample []DownsampleLevel
}

// Label is the rule's name in metrics and messages.
func (r RetentionRule) Label() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Source == "":
		return r.Prefix
	case r.Prefix == "":
		return "source:" + r.Source
	}
	return "source:" + r.Source + " " + r.Prefix
}

// DefaultRuleLabel labels the streams that no rule matches.
const DefaultRuleLabel = "default"

// rule is a compiled RetentionRule with the state of its size bound.
type rule struct {
	RetentionRule
	label   string
	scanned atomic.Int64 // stored bytes at the last size scan
	written atomic.Int64 // bytes of chunks written since that scan
	refused atomic.Pointer[error]
}

func compileRules(rs []RetentionRule) []*rule {
	out := make([]*rule, len(rs))
	for i, r := range rs {
		out[i] = &rule{RetentionRule: r, label: r.Label()}
	}
	return out
}

// ruleFor returns the first rule matching a stream, or nil.
func (s *Store) ruleFor(m Stream) *rule {
	for _, r := range s.rules {
		if !strings.HasPrefix(m.Name, r.Prefix) {
			continue
		}
		if r.Source != "" {
			src, _, _ := strings.Cut(m.Source, ":")
			if src != r.Source {
				continue
			}
		}
		return r
	}
	return nil
}

// maxAge is a stream's retention: its own, its rule's, or the store's.
func (s *Store) maxAge(st *stream) time.Duration {
	if st.meta.Retention != 0 {
		return st.meta.Retention
	}
	if st.rule != nil && st.rule.MaxAge != 0 {
		return st.rule.MaxAge
	}
	return s.opts.Retention
}

// RuleStatus is one line of a store's retention, for status pages.
type RuleStatus struct {
	Rule         string        `json:"rule"`
	Prefix       string        `json:"prefix,omitempty"`
	Source       string        `json:"source,omitempty"`
	MaxAge       time.Duration `json:"max_age,omitempty"`
	MaxSize      int64         `json:"max_size,omitempty"`
	StoredBytes  int64         `json:"stored_bytes,omitempty"` // at the last size scan, when MaxSize is set
	Oldest       time.Time     `json:"oldest,omitzero"`        // oldest point served
	Refused      string        `json:"refused,omitempty"`      // why writes are refused, if they are
	StreamsMatch int           `json:"streams"`
}

// SpaceStatus is the store's disk use and retention.
type SpaceStatus struct {
	DiskBytes int64         `json:"disk_bytes"` // allocated to the store's files
	FreeBytes int64         `json:"free_bytes"` // free on its file system, for unprivileged users
	MaxSize   int64         `json:"max_size,omitempty"`
	MinFree   int64         `json:"min_free,omitempty"`
	Retention time.Duration `json:"retention,omitempty"`
	Measured  time.Time     `json:"measured"`
	Refused   string        `json:"refused,omitempty"` // why writes are refused now, if they are
	Rules     []RuleStatus  `json:"rules"`             // the rules, then the streams no rule matches
}

// Space reports disk use and retention as last measured.
func (s *Store) Space() SpaceStatus {
	d := s.disk.get()
	out := SpaceStatus{DiskBytes: d.bytes, FreeBytes: d.free, MaxSize: s.opts.MaxSize,
		Retention: s.opts.Retention, Measured: d.at}
	if s.opts.MinFree > 0 {
		out.MinFree = s.opts.MinFree
	}
	if err := s.spaceErr(); err != nil {
		out.Refused = err.Error()
	}
	counts := map[*rule]int{}
	s.mu.RLock()
	for _, st := range s.byID {
		counts[st.rule]++
	}
	s.mu.RUnlock()
	for _, r := range s.rules {
		rs := RuleStatus{Rule: r.label, Prefix: r.Prefix, Source: r.Source, MaxAge: r.MaxAge, MaxSize: r.MaxSize,
			StreamsMatch: counts[r]}
		if r.MaxSize > 0 {
			rs.StoredBytes = r.scanned.Load() + r.written.Load()
		}
		if e := r.refused.Load(); e != nil {
			rs.Refused = (*e).Error()
		}
		if t, ok := d.oldest[r.label]; ok {
			rs.Oldest = time.Unix(0, t).UTC()
		}
		out.Rules = append(out.Rules, rs)
	}
	def := RuleStatus{Rule: DefaultRuleLabel, MaxAge: s.opts.Retention, StreamsMatch: counts[nil]}
	if t, ok := d.oldest[DefaultRuleLabel]; ok {
		def.Oldest = time.Unix(0, t).UTC()
	}
	out.Rules = append(out.Rules, def)
	return out
}

// --- measuring ---

// diskState is the last measurement of the store's disk use.
type diskState struct {
	mu sync.Mutex
	m  measurement
}

type measurement struct {
	bytes  int64            // allocated to the store's files
	free   int64            // free on the file system
	oldest map[string]int64 // per rule label: oldest point served (ns)
	at     time.Time
}

func (d *diskState) get() measurement {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m
}

func (d *diskState) size() int64 { return d.get().bytes }

// DiskUsage returns the bytes allocated to the files under dir (st_blocks
// of 512 bytes, as du counts), which for sparse files is far less than
// their apparent size.
func DiskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // Badger removed it while we walked
			}
			return err
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		total += allocated(fi)
		return nil
	})
	return total, err
}

func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// freeBytes is the space unprivileged users may still take on the file
// system of dir.
func freeBytes(dir string) (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, err
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}

// measure refreshes the disk use, the free space and the oldest point of
// every rule.
func (s *Store) measure() {
	var m measurement
	var err error
	if m.bytes, err = DiskUsage(s.opts.Dir); err != nil {
		s.log.Warn("store: cannot measure its size on disk", "dir", s.opts.Dir, "err", err)
		m.bytes = s.disk.size()
	}
	if m.free, err = freeBytes(s.opts.Dir); err != nil {
		s.log.Warn("store: cannot read the free space of its file system", "dir", s.opts.Dir, "err", err)
	}
	s.guard.refresh()
	m.oldest = s.oldestPoints()
	m.at = s.opts.Now()
	s.disk.mu.Lock()
	s.disk.m = m
	s.disk.mu.Unlock()
}

// oldestPoints returns, per rule label, the oldest point still served: the
// first timestamp of each stream's first chunk, clipped to its retention.
// One iterator seeks to every stream: an iterator costs one merge over
// every memtable and table, a seek only a descent.
func (s *Store) oldestPoints() map[string]int64 {
	streams := s.streamsByID()
	out := map[string]int64{}
	_ = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxChunk}})
		defer it.Close()
		for _, st := range streams {
			prefix := idKey(pfxChunk, st.meta.ID)
			it.Seek(prefix)
			if !it.ValidForPrefix(prefix) {
				continue
			}
			if _, first, _, ok := parseChunkKey(it.Item().Key()); ok {
				first = max(first, s.retentionCutoff(st))
				label := DefaultRuleLabel
				if st.rule != nil {
					label = st.rule.label
				}
				if old, seen := out[label]; !seen || first < old {
					out[label] = first
				}
			}
		}
		return nil
	})
	return out
}

// streamsByID returns the registered streams in the order of their keys.
func (s *Store) streamsByID() []*stream {
	s.mu.RLock()
	streams := make([]*stream, 0, len(s.byID))
	for _, st := range s.byID {
		streams = append(streams, st)
	}
	s.mu.RUnlock()
	slices.SortFunc(streams, func(a, b *stream) int { return cmp.Compare(a.meta.ID, b.meta.ID) })
	return streams
}

func (s *Store) sizeJob(ctx context.Context) {
	if err := s.EnforceSize(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
		s.log.Error("size retention failed", "err", err)
	}
}

// --- the write guard ---

// spaceGuard tells whether the file system has room for more writes. It
// runs before every transaction that writes chunks, so it stays cheap: a
// statfs and a stat of each memtable file (about 5 µs), and not even that
// within roomyFor of a check that found twice the room it needs.
type spaceGuard struct {
	dir      string
	mu       sync.Mutex
	memFiles map[int]string // fid -> path of Badger's memtable files
	maxFid   int
	roomy    atomic.Int64 // Unix ns of the last check with twice the room needed
}

// roomyFor is how long a check that found twice the room it needs
// stands: filling min_free plus a memtable (hundreds of MiB) takes the
// store far longer than this.
const roomyFor = 100 * time.Millisecond

func (g *spaceGuard) init(dir string) {
	g.dir = dir
	g.memFiles = map[int]string{}
	g.refresh()
}

// refresh lists the memtable files again.
func (g *spaceGuard) refresh() {
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.memFiles)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") {
			continue
		}
		var fid int
		if _, err := fmt.Sscanf(name, "%05d.mem", &fid); err == nil {
			g.memFiles[fid] = filepath.Join(g.dir, name)
			g.maxFid = max(g.maxFid, fid)
		}
	}
}

// memAllocated is the space Badger's memtable files take now. Flushing a
// memtable writes a table about as large before its file is deleted, so
// that much must stay free on top of MinFree.
func (g *spaceGuard) memAllocated() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Badger opens the next memtable file when one fills; probe for it so
	// that a rotation between two refreshes is not missed.
	for {
		p := filepath.Join(g.dir, fmt.Sprintf("%05d.mem", g.maxFid+1))
		if _, err := os.Stat(p); err != nil {
			break
		}
		g.maxFid++
		g.memFiles[g.maxFid] = p
	}
	var total int64
	for fid, p := range g.memFiles {
		fi, err := os.Stat(p)
		if err != nil {
			delete(g.memFiles, fid) // flushed and deleted
			continue
		}
		total += allocated(fi)
	}
	return total
}

// Refusal reasons, the values of sluice_store_write_refusals_total{reason}.
const (
	ReasonDiskFull = "disk_full"
	ReasonMaxSize  = "max_size"
)

// spaceErr says why writes must be refused now, or nil.
func (s *Store) spaceErr() error {
	if e := s.sizeRefused.Load(); e != nil {
		return *e
	}
	if s.opts.MinFree < 0 {
		return nil
	}
	if at := s.guard.roomy.Load(); at != 0 && time.Since(time.Unix(0, at)) < roomyFor {
		return nil
	}
	free, err := freeBytes(s.opts.Dir)
	if err != nil {
		return nil // cannot tell; Badger's own errors still count
	}
	mem := s.guard.memAllocated()
	if need := s.opts.MinFree + mem; free < need {
		return &fullError{reason: ReasonDiskFull, msg: fmt.Sprintf(
			"file system full: %s free where the store is (%s), and it keeps %s free (store.min_free %s, plus %s to flush its memtable); writes resume by themselves once space is freed",
			fmtBytes(free), s.opts.Dir, fmtBytes(need), fmtBytes(s.opts.MinFree), fmtBytes(mem))}
	} else if free >= 2*need {
		s.guard.roomy.Store(time.Now().UnixNano())
	}
	return nil
}

// fullError is an ErrStorageFull with its reason.
type fullError struct {
	reason string
	msg    string
}

func (e *fullError) Error() string        { return "store: " + ErrStorageFull.Error() + ": " + e.msg }
func (e *fullError) Is(target error) bool { return target == ErrStorageFull }

// refusalReason is the metric label of an ErrStorageFull.
func refusalReason(err error) string {
	var fe *fullError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return ReasonDiskFull
}

// isNoSpace tells a Badger error caused by a full file system (or quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// --- the size sweep ---

// scanStream is what a size scan learns of one stream.
type scanStream struct {
	bytes int64 // stored bytes of its chunks
}

// histBuckets is the resolution of a size cutoff: the cutoff time falls on
// one of this many steps between the oldest chunk and the newest.
const histBuckets = 8192

// histogram sums stored bytes of droppable chunks by first timestamp.
type histogram struct {
	t0, width int64
	bytes     []int64
	total     int64
}

func newHistogram(t0, t1 int64) *histogram {
	w := (t1 - t0) / histBuckets
	return &histogram{t0: t0, width: max(w, 1), bytes: make([]int64, histBuckets+1)}
}

func (h *histogram) add(first, n int64) {
	i := int64(0)
	if first > h.t0 {
		i = min((first-h.t0)/h.width, histBuckets)
	}
	h.bytes[i] += n
	h.total += n
}

// cutoff returns the smallest bucket end such that the chunks that start
// before it hold at least need bytes (all of them if there are fewer).
func (h *histogram) cutoff(need int64) int64 {
	var sum int64
	for i, b := range h.bytes {
		sum += b
		if sum >= need {
			if i == histBuckets {
				return math.MaxInt64
			}
			return h.t0 + int64(i+1)*h.width
		}
	}
	return math.MaxInt64
}

// EnforceSize drops the oldest chunks, across streams, while the store is
// over MaxSize on disk or the streams of a rule hold more than its
// MaxSize; it stops at 90% of the bound. It never drops a stream's newest
// chunk: when that is all that is left, writes are refused with
// ErrStorageFull until space is freed. The background job calls it every
// SizeInterval; tests call it directly.
//
// A sweep reads only keys, and only those of the streams it may have to
// drop from: every stream when the store is over MaxSize, else the
// streams of the rules over their bound. It is background work sharing a
// gateway's one or two cores with ingest, so it paces itself (see pacer)
// unless freeing space is what matters: while writes are refused, or the
// store is over MaxSize on disk.
func (s *Store) EnforceSize(ctx context.Context) error {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	s.measure()
	global := s.opts.MaxSize > 0 && (s.disk.size() > s.opts.MaxSize || s.sizeRefused.Load() != nil)
	full := global || (s.opts.MaxSize > 0 && !s.scannedOnce)
	due := map[*rule]bool{}
	for _, r := range s.rules {
		if r.MaxSize <= 0 {
			continue
		}
		if full || !s.scannedOnce || r.scanned.Load()+r.written.Load() > r.MaxSize || r.refused.Load() != nil {
			due[r] = true
		}
	}
	if !full && len(due) == 0 {
		return nil
	}
	p := s.newPacer(global)
	sc, err := s.scanSizes(ctx, p, full, due)
	if err != nil {
		return fmt.Errorf("store: size scan: %w", err)
	}
	s.scannedOnce = true

	cutoffs := map[*rule]int64{} // nil: the global cutoff
	for r := range due {
		stored := sc.ruleBytes[r]
		r.scanned.Store(stored)
		r.written.Store(0)
		h := sc.ruleHist[r]
		if stored > r.MaxSize {
			cutoffs[r] = h.cutoff(stored - int64(float64(r.MaxSize)*sizeLow))
		}
		if stored-h.total > r.MaxSize {
			e := error(&fullError{reason: ReasonMaxSize, msg: fmt.Sprintf(
				"retention rule %q keeps at most %s and its streams' newest chunks alone hold %s: nothing is left to drop; raise its max_size or delete streams",
				r.label, fmtBytes(r.MaxSize), fmtBytes(stored-h.total))})
			r.refused.Store(&e)
		} else {
			r.refused.Store(nil)
		}
	}
	if full {
		disk := s.disk.size()
		if disk > s.opts.MaxSize && sc.total > 0 {
			f := min(max(float64(disk)/float64(sc.total), 1), maxOverhead)
			target := int64(float64(s.opts.MaxSize) * sizeLow / f)
			if need := sc.total - target; need > 0 {
				cutoffs[nil] = sc.hist.cutoff(need)
			}
		}
		if sc.total-sc.hist.total > s.opts.MaxSize {
			e := error(&fullError{reason: ReasonMaxSize, msg: fmt.Sprintf(
				"store.max_size %s reached and nothing is left to drop: the streams' newest chunks alone hold %s; raise store.max_size or delete streams",
				fmtBytes(s.opts.MaxSize), fmtBytes(sc.total-sc.hist.total))})
			s.sizeRefused.Store(&e)
		} else {
			s.sizeRefused.Store(nil)
		}
	}
	if len(cutoffs) == 0 {
		return nil
	}
	dropped, err := s.dropBefore(ctx, p, sc, cutoffs)
	if dropped.chunks > 0 {
		// What the rules' streams hold now, for their estimates and
		// status: the scan less what went. Writes since the scan are in
		// written already.
		for r := range due {
			r.scanned.Store(max(sc.ruleBytes[r]-dropped.ruleBytes[r], 0))
		}
		s.log.Info("size retention dropped the oldest chunks", "chunks", dropped.chunks,
			"disk_bytes", s.disk.size(), "stored_bytes", sc.total, "max_size", s.opts.MaxSize)
		s.RunGC()
		s.measure()
	}
	return err
}

// sweepDuty is the share of wall time a size sweep works while writes are
// accepted; it rests for the remainder. On a gateway with one core free
// for the store, ingest keeps at least 1-sweepDuty of it.
const sweepDuty = 0.15

// sweepSlice is how long a sweep works between two rests.
const sweepSlice = 5 * time.Millisecond

// pacer keeps a background job to a share of the wall time: after each
// slice of work it sleeps long enough that work/(work+sleep) is its duty.
// The job runs flat out (duty 1) when it is urgent.
type pacer struct {
	duty  float64
	began time.Time
	stop  <-chan struct{}
}

func (s *Store) newPacer(urgent bool) *pacer {
	p := &pacer{duty: sweepDuty, began: time.Now(), stop: s.stop}
	if urgent || s.sizeRefused.Load() != nil || s.spaceErr() != nil {
		p.duty = 1
	}
	return p
}

// due tells whether the current slice of work is over. Callers in the
// middle of a Badger transaction leave it before they rest.
func (p *pacer) due() bool {
	return p.duty < 1 && time.Since(p.began) >= sweepSlice
}

// rest sleeps off the slice just worked.
func (p *pacer) rest(ctx context.Context) error {
	if p.duty >= 1 {
		return ctx.Err()
	}
	worked := time.Since(p.began)
	t := time.NewTimer(time.Duration(float64(worked) * (1 - p.duty) / p.duty))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return ErrClosed
	}
	p.began = time.Now()
	return nil
}

// sizeScan is one pass over the chunk keys of the streams a sweep may
// drop from.
type sizeScan struct {
	streams   map[uint64]*scanStream
	total     int64 // of every stream; only in a full scan
	hist      *histogram
	ruleBytes map[*rule]int64
	ruleHist  map[*rule]*histogram
}

// scanSizes reads the keys (not the values) of chunks: stored bytes per
// stream and rule, and histograms of what size retention may drop. A full
// scan reads every chunk; otherwise only the streams of the rules in due.
// It leaves its Badger transaction to rest when the pacer says so, and
// goes on from the next stream in a new one: sizes are estimates, and a
// chunk written or dropped meanwhile only moves them as a write would.
func (s *Store) scanSizes(ctx context.Context, p *pacer, full bool, due map[*rule]bool) (*sizeScan, error) {
	var streams []*stream // in key order
	for _, st := range s.streamsByID() {
		if full || due[st.rule] {
			streams = append(streams, st)
		}
	}
	byID := make(map[uint64]*stream, len(streams))
	for _, st := range streams {
		byID[st.meta.ID] = st
	}
	sc := &sizeScan{streams: map[uint64]*scanStream{}, ruleBytes: map[*rule]int64{}, ruleHist: map[*rule]*histogram{}}
	now := s.now()
	// The histograms span the first timestamps of what may be dropped:
	// from the oldest chunk (the first key of each stream) to the newest
	// of the streams' newest chunks (their last keys), so that old data
	// far from now still gets the full resolution.
	t0, t1 := now, int64(math.MinInt64)
	err := s.db.View(func(txn *badger.Txn) error {
		var ids []uint64
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxChunk}})
		if full {
			for it.Rewind(); it.Valid(); {
				id, first, _, ok := parseChunkKey(it.Item().Key())
				if !ok {
					it.Next()
					continue
				}
				t0 = min(t0, first)
				ids = append(ids, id)
				if id == math.MaxUint64 {
					break
				}
				it.Seek(idKey(pfxChunk, id+1))
			}
		} else {
			for _, st := range streams {
				prefix := idKey(pfxChunk, st.meta.ID)
				if it.Seek(prefix); it.ValidForPrefix(prefix) {
					if _, first, _, ok := parseChunkKey(it.Item().Key()); ok {
						t0 = min(t0, first)
						ids = append(ids, st.meta.ID)
					}
				}
			}
		}
		it.Close()
		rev := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxChunk}, Reverse: true})
		defer rev.Close()
		for _, id := range ids {
			rev.Seek(chunkKey(nil, pfxChunk, id, math.MaxInt64, math.MaxUint64))
			if rev.ValidForPrefix(idKey(pfxChunk, id)) {
				if _, first, _, ok := parseChunkKey(rev.Item().Key()); ok {
					t1 = max(t1, first)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t1 = max(t1, t0) + 1
	sc.hist = newHistogram(t0, t1)
	for r := range due {
		sc.ruleHist[r] = newHistogram(t0, t1)
	}
	// Every chunk but a stream's newest goes into the histograms; the
	// newest is known only when the next stream starts.
	var cur *scanStream
	var curSt *stream
	var curID uint64
	var held struct {
		first, n int64
		ok       bool
	}
	release := func() {
		if held.ok && curSt != nil {
			sc.hist.add(held.first, held.n)
			if h := sc.ruleHist[curSt.rule]; h != nil {
				h.add(held.first, held.n)
			}
		}
		held.ok = false
	}
	next := 0                  // index in streams of the next stream to seek to (partial scan)
	resume := []byte{pfxChunk} // where the next transaction starts
	for resume != nil {
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxChunk}})
			defer it.Close()
			began := false // a transaction scans at least one stream
			seekNext := func() bool {
				if full {
					return true
				}
				if next >= len(streams) {
					return false
				}
				it.Seek(idKey(pfxChunk, streams[next].meta.ID))
				next++
				return true
			}
			if full {
				it.Seek(resume)
			} else if !seekNext() {
				resume = nil
				return nil
			}
			for {
				if !it.Valid() {
					if full || !seekNext() {
						resume = nil
						return nil
					}
					continue
				}
				item := it.Item()
				id, first, _, ok := parseChunkKey(item.Key())
				if !ok {
					it.Next()
					continue
				}
				if cur == nil || id != curID {
					if !full && byID[id] != streams[next-1] {
						// Past the stream sought: on to the next one.
						if !seekNext() {
							resume = nil
							return nil
						}
						continue
					}
					if began && p.due() {
						// Rest between streams, where no state is held.
						resume = idKey(pfxChunk, id)
						if !full {
							next--
						}
						held.ok = false
						cur = nil
						return nil
					}
					began = true
					held.ok = false // the previous stream's newest chunk stays
					curID, curSt = id, byID[id]
					cur = &scanStream{}
					sc.streams[id] = cur
				}
				release()
				n := item.EstimatedSize()
				cur.bytes += n
				sc.total += n
				if curSt != nil && curSt.rule != nil {
					sc.ruleBytes[curSt.rule] += n
				}
				held.first, held.n, held.ok = first, n, true
				it.Next()
			}
		})
		if err != nil {
			return nil, err
		}
		if resume != nil {
			if err := p.rest(ctx); err != nil {
				return nil, err
			}
		}
	}
	return sc, nil
}

// dropBatch bounds the chunks of one drop request: small transactions
// let the writes that share the committer go on between them.
const dropBatch = 1000

// dropped is what a sweep dropped.
type dropped struct {
	chunks    int
	ruleBytes map[*rule]int64 // stored bytes, by the rule of their stream
}

// dropBefore drops, in every stream, the chunks that start before the
// cutoff of its rule or the global one (the later of the two), but not its
// newest chunk. Drops are deletions through the committer, in batches of
// at most dropBatch chunks and at most a few in flight, so that writes are
// never queued behind more than a small transaction.
func (s *Store) dropBefore(ctx context.Context, p *pacer, sc *sizeScan, cutoffs map[*rule]int64) (dropped, error) {
	global, hasGlobal := cutoffs[nil]
	out := dropped{ruleBytes: map[*rule]int64{}}
	type inFlight struct {
		req   *request
		bytes int64
	}
	var pending []inFlight
	flush := func() error {
		var first error
		for _, f := range pending {
			if err := f.req.wait(ctx); err != nil {
				first = cmp.Or(first, err)
				continue
			}
			out.chunks += len(f.req.keys)
			if r := f.req.stream.rule; r != nil {
				out.ruleBytes[r] += f.bytes
			}
			s.metrics.sizeDropped.Add(float64(len(f.req.keys)))
		}
		pending = pending[:0]
		return first
	}
	for _, st := range s.streamsByID() {
		cut, ok := cutoffs[st.rule]
		if st.rule == nil {
			ok = false
		}
		if hasGlobal && (!ok || global > cut) {
			cut, ok = global, true
		}
		if !ok || sc.streams[st.meta.ID] == nil {
			continue
		}
		prefix := idKey(pfxChunk, st.meta.ID)
		for {
			var keys [][]byte
			var size int64
			err := s.db.View(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
				defer it.Close()
				var last int64
				for it.Rewind(); it.Valid(); it.Next() {
					item := it.Item()
					_, first, _, ok := parseChunkKey(item.Key())
					if !ok {
						continue
					}
					if first >= cut || len(keys) == dropBatch {
						return nil // a newer chunk follows what was taken
					}
					last = item.EstimatedSize()
					keys = append(keys, item.KeyCopy(nil))
					size += last
				}
				// The prefix ran out: the last key taken is the stream's
				// newest chunk now (compaction may have replaced the one
				// the scan saw), which stays.
				if len(keys) > 0 {
					keys = keys[:len(keys)-1]
					size -= last
				}
				return nil
			})
			if err != nil {
				return out, fmt.Errorf("size retention of %q: %w", st.meta.Name, err)
			}
			if len(keys) == 0 {
				break
			}
			req := newRequest(opDrop)
			req.keys, req.stream = keys, st
			if err := s.submit(ctx, req); err != nil {
				return out, err
			}
			pending = append(pending, inFlight{req, size})
			// The drops of a few streams go to the committer together, so
			// that it commits them in one transaction and fsync rather
			// than one per stream. A stream with more to drop waits for
			// its batch: its next scan must not see the same keys again.
			if len(keys) == dropBatch || len(pending) >= 16 {
				if err := flush(); err != nil {
					return out, err
				}
			}
			if p.due() {
				if err := flush(); err != nil {
					return out, err
				}
				if err := p.rest(ctx); err != nil {
					return out, err
				}
			}
			if len(keys) < dropBatch {
				break
			}
		}
	}
	err := flush() // before reading out, which flush adds to
	return out, err
}

// ruleRefusal says why writes to the stream are refused, or nil.
func (st *stream) refusal() error {
	if st.rule == nil {
		return nil
	}
	if e := st.rule.refused.Load(); e != nil {
		return *e
	}
	return nil
}

// fmtBytes writes n in IEC units, as configs reads them.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for math.Abs(f) >= unit && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}
