// Package store is Sluice's time-series engine on Badger.
//
// Layout. Every write batch becomes one small chunk per stream, keyed by
// (stream id, first timestamp, sequence), so a window read is one prefix
// range scan. A background compactor merges small chunks into sealed
// chunks of up to ChunkPoints points. Chunks are compressed by package
// chunk.
//
// Last write wins. Every chunk carries a sequence number assigned in
// commit order. When chunks overlap in time, a reader keeps, for each
// timestamp, the point of the chunk with the highest sequence. A compacted
// chunk takes the highest sequence of its inputs: anything committed after
// the compactor's snapshot has a higher sequence still, so it keeps winning.
//
// One writer. Every mutation (points, stream creation and deletion,
// compaction results, retention) goes through a single committer goroutine
// that gathers concurrent requests into one Badger transaction and one
// fsync (group commit). Serial commits are what make the sequence rule
// above hold, and they keep the in-memory stream registry consistent with
// disk without locks around I/O.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Store. The zero value of every field but Dir is a
// sensible default.
type Options struct {
	Dir string // database directory; created if missing

	// NoSync turns off fsync per commit. Only benchmarks comparing the
	// cost of durability should set it.
	NoSync bool

	// Retention is the default maximum age of points; 0 keeps them forever.
	// A stream's own Retention overrides it.
	Retention time.Duration

	// Rules override Retention for the streams they match and bound the
	// bytes those streams keep; the first rule that matches a stream wins.
	// A stream's own Retention still overrides a rule's MaxAge.
	Rules []RetentionRule

	// MaxSize bounds the store's size on disk in bytes (0: no bound).
	// When the store grows past it, the oldest chunks of all streams go
	// first; see retention.go for how the bound is kept.
	MaxSize int64

	// MinFree is the space the store leaves free on its file system:
	// writes are refused (ErrStorageFull) while less than MinFree plus
	// what the memtable needs to be flushed is free. Badger writes
	// through memory maps, so a truly full file system would crash it
	// (SIGBUS) instead of failing a write: the margin is what keeps it
	// alive. 0 means DefaultMinFree; a negative value turns the check off.
	MinFree int64

	CompactInterval   time.Duration // how often small chunks are merged; default 30s
	RetentionInterval time.Duration // how often expired chunks are dropped; default 10m
	GCInterval        time.Duration // Badger value-log GC; default 10m
	// SizeInterval is how often the size on disk is measured and MaxSize
	// and the rules' MaxSize are enforced; default 1m.
	SizeInterval time.Duration

	// MemTableSize is Badger's memtable size; default 64 MiB. Tests and
	// benchmarks set it small so that Badger flushes and compacts (and
	// gives space back) within seconds.
	MemTableSize int64

	// ChunkPoints is the target size of a sealed chunk; default 4096.
	ChunkPoints int

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	Now        func() time.Time      // nil: time.Now; tests inject a clock
}

func (o *Options) setDefaults() {
	if o.CompactInterval <= 0 {
		o.CompactInterval = 30 * time.Second
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = 10 * time.Minute
	}
	if o.GCInterval <= 0 {
		o.GCInterval = 10 * time.Minute
	}
	if o.ChunkPoints <= 0 {
		o.ChunkPoints = 4096
	}
	if o.SizeInterval <= 0 {
		o.SizeInterval = time.Minute
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// MaxChunkSpan bounds the time one chunk may cover. A window read seeks to
// start minus the stream's widest chunk span, so the bound keeps reads
// from scanning far back when someone writes a batch spanning years.
const MaxChunkSpan = int64(24 * time.Hour)

// Errors callers test with errors.Is.
var (
	ErrNotFound     = errors.New("stream not found")
	ErrExists       = errors.New("stream already exists")
	ErrInvalid      = errors.New("invalid argument")
	ErrKindMismatch = errors.New("value kind does not match the stream")
	ErrClosed       = errors.New("store is closed")
	ErrTooLarge     = errors.New("write batch too large for one transaction")
	// ErrStorageFull refuses a write because the file system is short of
	// space or MaxSize is reached with nothing left to drop. It is
	// transient: the write succeeds again once space returns, and nothing
	// of the refused batch is stored.
	ErrStorageFull = errors.New("insufficient storage")
)

// Store is an open time-series database. All methods are safe for
// concurrent use.
type Store struct {
	opts    Options
	db      *badger.DB
	log     *slog.Logger
	metrics *metrics

	mu      sync.RWMutex
	byName  map[string]*stream
	byID    map[uint64]*stream
	nextID  uint64 // next stream id; owned by the committer
	nextSeq uint64 // next chunk sequence; owned by the committer

	rules []*rule // opts.Rules, compiled
	disk  diskState
	guard spaceGuard
	// sizeRefused is set while MaxSize is reached with nothing to drop.
	sizeRefused atomic.Pointer[error]
	sizeMu      sync.Mutex // one size sweep at a time
	scannedOnce bool       // under sizeMu

	reqs      chan *request
	compactMu sync.Mutex // one compaction at a time
	stop      chan struct{}
	exited    chan struct{} // closed when the committer has stopped
	wg        sync.WaitGroup
	closeM    sync.Mutex
	closed    bool
}

// Open opens (or creates) the database in opts.Dir and starts the committer
// and the background jobs. Close must be called to release it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("store: %w: empty directory", ErrInvalid)
	}
	opts.setDefaults()
	if err := checkDownsample(opts.Rules); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", opts.Dir, err)
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(!opts.NoSync).
		WithLogger(badgerLogger{opts.Logger}).
		WithLoggingLevel(badger.WARNING).
		// Chunks are compressed already; Snappy on top costs CPU for nothing.
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithNumCompactors(2).
		// Compaction deletes many small chunks; compacting L0 on close
		// drops them from disk instead of leaving them to the next run.
		WithCompactL0OnClose(true).
		// Small gateways: a smaller cache and memtable keep RSS modest.
		WithBlockCacheSize(64 << 20).
		WithMemTableSize(opts.MemTableSize).
		WithValueLogFileSize(256 << 20)
	if vt := opts.MemTableSize / 10; vt < bo.ValueThreshold {
		// Badger wants a value to fit a batch (15% of a memtable); only
		// the small memtables of tests come here.
		bo = bo.WithValueThreshold(vt)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("store: open badger in %s: %w", opts.Dir, err)
	}
	privateFiles(opts.Dir, opts.Logger)
	s := &Store{
		opts:    opts,
		db:      db,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registerer),
		byName:  map[string]*stream{},
		byID:    map[uint64]*stream{},
		reqs:    make(chan *request, 256),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	s.rules = compileRules(opts.Rules)
	s.guard.init(opts.Dir)
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.measure()
	s.metrics.registerStore(opts.Registerer, s)
	s.wg.Add(5)
	go s.commitLoop()
	go s.every(s.opts.CompactInterval, s.compactJob)
	go s.every(s.opts.RetentionInterval, s.retentionJob)
	go s.every(s.opts.GCInterval, func(context.Context) { s.RunGC() })
	go s.every(s.opts.SizeInterval, s.sizeJob)
	s.log.Info("store opened", "dir", opts.Dir, "streams", len(s.byName), "sync", !opts.NoSync)
	return s, nil
}

// privateFiles takes group and other permissions off the files in dir.
// Badger has no option for the mode of its files: it creates them 0666,
// which the umask cuts to 0644 unless the process runs with umask 077
// (`sluice agent` does). This covers the files of older versions and the
// ones Badger just created on open. Badger keeps its files in one flat
// directory.
func privateFiles(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("store: cannot list its files to make them owner-only", "dir", dir, "err", err)
		return
	}
	changed := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, e.Name()), fi.Mode().Perm()&^0o077); err != nil {
			log.Warn("store: cannot make a file owner-only", "file", e.Name(), "err", err)
			continue
		}
		changed++
	}
	if changed > 0 {
		log.Info("store: made Badger's files owner-only", "dir", dir, "count", changed)
	}
}

// Close stops the background jobs, waits for pending writes to commit, and
// closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeM.Lock()
	if s.closed {
		s.closeM.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.closeM.Unlock()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close badger: %w", err)
	}
	return nil
}

// Healthy makes a cheap round trip through Badger, for the watchdog.
func (s *Store) Healthy() error {
	return s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(keyCounters))
		if err == badger.ErrKeyNotFound {
			return nil
		}
		return err
	})
}

// Size returns the bytes the store's files take on disk: the blocks
// allocated to them, as du reports, not their apparent sizes (Badger's
// files are sparse). It is measured every SizeInterval and after every
// retention sweep; Badger's own Size reads 0 with its metrics turned off.
func (s *Store) Size() int64 {
	return s.disk.size()
}

// Key layout. Every key starts with a one-byte kind so the kinds never
// interleave in a scan.
const (
	pfxMeta     = 'm'         // m + name            -> stream metadata (JSON)
	pfxChunk    = 'c'         // c + id + first + seq -> flags + chunk
	pfxUnsealed = 'u'         // u + id + first + seq -> (empty) index of chunks to compact
	pfxDeleted  = 'd'         // d + id              -> (empty) stream whose chunks are being dropped
	pfxSpan     = 's'         // s + id              -> widest chunk span of the stream (8 bytes)
	keyCounters = "!counters" // next stream id + next chunk sequence
)

const chunkKeyLen = 1 + 8 + 8 + 8

// chunk value flags (first byte of a chunk value).
const flagSealed = 1

func chunkKey(dst []byte, pfx byte, id uint64, first int64, seq uint64) []byte {
	dst = append(dst[:0], pfx)
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint64(dst, uint64(first)^(1<<63)) // sort signed order
	return binary.BigEndian.AppendUint64(dst, seq)
}

func parseChunkKey(k []byte) (id uint64, first int64, seq uint64, ok bool) {
	if len(k) != chunkKeyLen {
		return 0, 0, 0, false
	}
	id = binary.BigEndian.Uint64(k[1:9])
	first = int64(binary.BigEndian.Uint64(k[9:17]) ^ (1 << 63))
	seq = binary.BigEndian.Uint64(k[17:25])
	return id, first, seq, true
}

func idKey(pfx byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfx}, id)
}

func (s *Store) now() int64 { return s.opts.Now().UnixNano() }

// badgerLogger routes Badger's log lines to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {}
