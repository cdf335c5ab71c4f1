package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/connectors/point"
)

// MaxNameLen bounds a stream name in bytes.
const MaxNameLen = 256

// Stream is a stream's metadata as callers see it.
type Stream struct {
	ID          uint64     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Unit        string     `json:"unit,omitempty"`
	Kind        point.Kind `json:"kind"`
	Source      string     `json:"source,omitempty"`
	Created     time.Time  `json:"created"`
	// Retention overrides the store's default maximum age; 0 uses the default.
	Retention time.Duration `json:"retention,omitempty"`
	// Labels are the stream's key/value metadata (point.StreamSpec).
	// Stored with the definition; definitions written before labels
	// existed simply have none. A Stream returned by the store holds its
	// own copy.
	Labels map[string]string `json:"labels,omitempty"`
}

// stream is the in-memory state of one stream.
type stream struct {
	// meta is fixed at creation except meta.Labels, which the committer
	// replaces (never modifies) under mu; copies of the whole of meta are
	// taken with metadata().
	meta Stream
	rule *rule // the first retention rule that matches; nil for none

	// maxSpan is the widest (last-first) of any chunk ever written for the
	// stream. Only the committer changes it; readers load it atomically
	// through mu.
	mu      sync.Mutex
	maxSpan int64
	latest  *Sample        // cached newest point; nil when unknown
	gen     uint64         // bumped by every commit that touches the stream
	marks   map[int64]mark // downsampling watermarks by interval; set by the committer
}

// metadata returns a copy of the stream's metadata, labels included.
func (st *stream) metadata() Stream {
	st.mu.Lock()
	m := st.meta
	st.mu.Unlock()
	m.Labels = maps.Clone(m.Labels)
	return m
}

// labels returns the current labels, which the caller must not modify.
func (st *stream) labels() map[string]string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.meta.Labels
}

func (st *stream) span() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.maxSpan
}

// ValidateName checks a stream name: 1..256 bytes of UTF-8 without control
// characters, segments separated by single slashes, no empty, "." or ".."
// segments (names appear in URLs and file exports).
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: stream name is empty", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: stream name is %d bytes, over the limit of %d", ErrInvalid, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: stream name %q is not valid UTF-8", ErrInvalid, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: stream name %q contains a control character", ErrInvalid, name)
		}
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: stream name %q has an empty segment (leading, trailing or double slash)", ErrInvalid, name)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: stream name %q has a %q segment", ErrInvalid, name, seg)
		case strings.TrimSpace(seg) != seg:
			return fmt.Errorf("%w: stream name %q has a segment with leading or trailing space", ErrInvalid, name)
		}
	}
	return nil
}

// load reads the stream registry and counters at open and resumes
// unfinished stream deletions.
func (s *Store) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		if item, err := txn.Get([]byte(keyCounters)); err == nil {
			v, err := item.ValueCopy(nil)
			if err != nil || len(v) != 16 {
				return fmt.Errorf("store: read counters: bad value (%d bytes): %v", len(v), err)
			}
			s.nextID = binary.BigEndian.Uint64(v[:8])
			s.nextSeq = binary.BigEndian.Uint64(v[8:])
		} else if err != badger.ErrKeyNotFound {
			return fmt.Errorf("store: read counters: %w", err)
		}
		if s.nextID == 0 {
			s.nextID = 1
		}
		if s.nextSeq == 0 {
			s.nextSeq = 1
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxMeta}, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m Stream
			err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &m) })
			if err != nil {
				return fmt.Errorf("store: decode metadata of %q: %w", it.Item().Key()[1:], err)
			}
			st := &stream{meta: m, rule: s.ruleFor(m)}
			if item, err := txn.Get(idKey(pfxSpan, m.ID)); err == nil {
				_ = item.Value(func(v []byte) error {
					if len(v) == 8 {
						st.maxSpan = int64(binary.BigEndian.Uint64(v))
					}
					return nil
				})
			}
			if err := loadMarks(txn, st); err != nil {
				return err
			}
			s.byName[m.Name] = st
			s.byID[m.ID] = st
		}
		return nil
	})
}

// CreateStream creates a stream. It fails with ErrExists if the name is
// taken. The returned Stream is durable when CreateStream returns.
func (s *Store) CreateStream(ctx context.Context, spec point.StreamSpec) (Stream, error) {
	return s.createStream(ctx, spec, false, true)
}

// EnsureStream creates the stream if it does not exist; an existing stream
// of the same kind is fine. It implements connectors.Sink. It does not wait
// for the metadata to reach disk: the committer writes it before any batch
// that references the stream, so it is durable no later than the first
// acknowledged point.
func (s *Store) EnsureStream(ctx context.Context, spec point.StreamSpec) error {
	_, err := s.createStream(ctx, spec, true, false)
	return err
}

func (s *Store) createStream(ctx context.Context, spec point.StreamSpec, existingOK, wait bool) (Stream, error) {
	if err := ValidateName(spec.Name); err != nil {
		// Permanent for the caller: sources drop such points (and count).
		return Stream{}, fmt.Errorf("%w%.0w", err, &point.StreamError{Stream: spec.Name, Reason: err.Error()})
	}
	if spec.Kind == 0 {
		spec.Kind = point.KindFloat
	}
	if !spec.Kind.Valid() {
		return Stream{}, fmt.Errorf("%w: stream %q: value kind %d", ErrInvalid, spec.Name, spec.Kind)
	}
	if err := point.ValidateLabels(spec.Labels); err != nil {
		// Sources clean their labels (point.Labels), so this is an
		// API caller's mistake or a source's bug: refused, not retried.
		err = fmt.Errorf("%w: stream %q: %w", ErrInvalid, spec.Name, err)
		return Stream{}, fmt.Errorf("%w%.0w", err, &point.StreamError{Stream: spec.Name, Reason: err.Error()})
	}
	if len(spec.Labels) == 0 {
		spec.Labels = nil
	}
	if st := s.lookup(spec.Name); st != nil {
		return s.existing(ctx, st, spec, existingOK)
	}
	req := newRequest(opCreate)
	req.spec = spec
	if err := s.submit(ctx, req); err != nil {
		return Stream{}, err
	}
	if wait {
		if err := req.wait(ctx); err != nil {
			return Stream{}, err
		}
	} else if err := req.waitRegistered(ctx); err != nil {
		return Stream{}, err
	}
	if req.existed {
		return s.existing(ctx, req.created, spec, existingOK)
	}
	return req.created.metadata(), nil
}

// existing answers a create or ensure of a stream that exists. An ensure
// merges the spec's labels into the stream's; it asks the committer to
// write the definition only when that changes something, so sources that
// ensure their streams at every start or birth cause no writes.
func (s *Store) existing(ctx context.Context, st *stream, spec point.StreamSpec, existingOK bool) (Stream, error) {
	if !existingOK {
		return st.metadata(), fmt.Errorf("%w: %q", ErrExists, spec.Name)
	}
	if _, changed := point.MergeLabels(st.labels(), spec.Labels); changed {
		req := newRequest(opRelabel)
		req.stream, req.spec = st, spec
		if err := s.submit(ctx, req); err != nil {
			return Stream{}, err
		}
		if err := req.wait(ctx); err != nil {
			return Stream{}, err
		}
	}
	if st.meta.Kind != spec.Kind {
		return st.metadata(), fmt.Errorf("%w: stream %q is %s, not %s%.0w", ErrKindMismatch, spec.Name, st.meta.Kind, spec.Kind,
			&point.StreamError{Stream: spec.Name, Kind: st.meta.Kind, Reason: "exists with another kind"})
	}
	return st.metadata(), nil
}

// relabel is the committer's half of a label merge (opRelabel): it merges
// again against the labels of this moment, since concurrent ensures may
// have merged first, and writes the definition if anything changed. The
// in-memory labels change only once the transaction commits (t.relabeled).
func (t *txnState) relabel(r *request) {
	s := t.s
	s.mu.RLock()
	live := s.byID[r.stream.meta.ID] == r.stream
	s.mu.RUnlock()
	if !live {
		t.fail(r, fmt.Errorf("%w: %q was deleted", ErrNotFound, r.stream.meta.Name))
		return
	}
	cur := r.stream.labels()
	for _, p := range t.relabeled { // an earlier request of this transaction
		if p.st == r.stream {
			cur = p.labels
		}
	}
	merged, changed := point.MergeLabels(cur, r.spec.Labels)
	if !changed {
		return
	}
	meta := r.stream.metadata()
	meta.Labels = merged
	b, err := json.Marshal(meta)
	if err != nil {
		t.fail(r, fmt.Errorf("store: encode metadata of %q: %w", meta.Name, err))
		return
	}
	t.set(metaKey(meta.Name), b)
	t.relabeled = append(t.relabeled, relabeled{st: r.stream, labels: merged})
}

// relabeled is a label change of a transaction, applied in memory when it
// commits.
type relabeled struct {
	st     *stream
	labels map[string]string
}

// applyRelabels publishes the labels of a committed transaction.
func applyRelabels(rs []relabeled) {
	for _, p := range rs {
		p.st.mu.Lock()
		p.st.meta.Labels = p.labels
		p.st.mu.Unlock()
	}
}

func (s *Store) lookup(name string) *stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[name]
}

// GetStream returns a stream's metadata.
func (s *Store) GetStream(ctx context.Context, name string) (Stream, error) {
	st := s.lookup(name)
	if st == nil {
		return Stream{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return st.metadata(), nil
}

// ListOptions select and page a stream listing.
type ListOptions struct {
	Prefix string              // only names starting with Prefix
	After  string              // only names sorting after After (the previous page's last name)
	Limit  int                 // at most Limit streams; 0 means all
	Labels point.LabelSelector // only streams with these labels
}

// ListStreams returns streams sorted by name, and whether more follow.
func (s *Store) ListStreams(ctx context.Context, o ListOptions) ([]Stream, bool, error) {
	s.mu.RLock()
	out := make([]Stream, 0, len(s.byName))
	for name, st := range s.byName {
		if strings.HasPrefix(name, o.Prefix) && name > o.After && o.Labels.Match(st.labels()) {
			out = append(out, st.metadata())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if o.Limit > 0 && len(out) > o.Limit {
		return out[:o.Limit], true, nil
	}
	return out, false, nil
}

// DeleteStream removes a stream and all its points. The name disappears at
// once (durably); the chunks are dropped in the background, and resumed
// after a restart if interrupted.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	st := s.lookup(name)
	if st == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	req := newRequest(opDelete)
	req.stream = st
	if err := s.submit(ctx, req); err != nil {
		return err
	}
	return req.wait(ctx)
}

// StreamCount is the number of streams.
func (s *Store) StreamCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byName)
}

// dropDeleted removes the chunks of streams marked deleted, a bounded
// number of keys per commit so a huge stream does not make one huge
// transaction.
func (s *Store) dropDeleted(ctx context.Context) error {
	var ids []uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxDeleted}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) == 9 {
				ids = append(ids, binary.BigEndian.Uint64(k[1:]))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		for {
			keys, err := s.keysWithPrefix(idKey(pfxChunk, id), 10000)
			if err != nil {
				return err
			}
			ukeys, err := s.keysWithPrefix(idKey(pfxUnsealed, id), 10000)
			if err != nil {
				return err
			}
			keys = append(keys, ukeys...)
			for _, pfx := range []byte{pfxSummary, pfxMark} {
				more, err := s.keysWithPrefix(idKey(pfx, id), 10000)
				if err != nil {
					return err
				}
				keys = append(keys, more...)
			}
			final := len(keys) < 10000
			if final {
				keys = append(keys, idKey(pfxDeleted, id), idKey(pfxSpan, id))
			}
			req := newRequest(opDrop)
			req.keys = keys
			if err := s.submit(ctx, req); err != nil {
				return err
			}
			if err := req.wait(ctx); err != nil {
				return err
			}
			if final {
				break
			}
		}
	}
	return nil
}

func (s *Store) keysWithPrefix(prefix []byte, max int) ([][]byte, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(keys) < max; it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, err
}

func metaKey(name string) []byte {
	var b bytes.Buffer
	b.WriteByte(pfxMeta)
	b.WriteString(name)
	return b.Bytes()
}
