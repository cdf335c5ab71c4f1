// Package connectortest has helpers for connector tests: a Sink with the
// store's semantics, strict YAML decoding as the agent does it, and
// wait-until-deadline helpers. It is imported only from tests.
package connectortest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Options configure a Sink.
type Options struct {
	// File, when set, makes Write append every batch to this file and
	// fsync it before returning, standing in for Badger's SyncWrites.
	File string
	// CountOnly keeps counts but not points (benchmarks).
	CountOnly bool
}

// Sink is a connectors.Sink with the store's semantics: EnsureStream
// creates a stream or reports a *point.StreamError; Write stores a
// whole batch or nothing, fails for a point of an unknown stream or of the
// wrong kind, and returns only once the batch is stored (and, with
// Options.File, fsynced). A point replaces one of the same stream and
// time (last write wins), so redelivered duplicates collapse. Tests can
// make it fail or block. It is safe for concurrent use.
type Sink struct {
	opts Options

	mu       sync.Mutex
	streams  map[string]point.StreamSpec
	refused  map[string]bool
	points   map[key]point.Point
	writes   int   // successful Write calls
	received int   // points in successful writes, duplicates included
	failErr  error // Write and EnsureStream fail with it while set
	gate     chan struct{}
	waiting  int           // Write calls waiting at the gate
	changed  chan struct{} // closed and replaced after every change
	file     *os.File
	buf      bytes.Buffer
}

type key struct {
	stream string
	time   int64
}

// NewSink returns an empty Sink. With opts.File it creates the file and
// closes it when the test ends.
func NewSink(t testing.TB, opts Options) *Sink {
	s := &Sink{
		opts:    opts,
		streams: map[string]point.StreamSpec{},
		refused: map[string]bool{},
		points:  map[key]point.Point{},
		changed: make(chan struct{}),
	}
	if opts.File != "" {
		f, err := os.OpenFile(opts.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatalf("connectortest: opening sink file: %v", err)
		}
		s.file = f
		t.Cleanup(func() { _ = f.Close() })
	}
	return s
}

// EnsureStream implements connectors.Sink.
func (s *Sink) EnsureStream(ctx context.Context, spec point.StreamSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return s.failErr
	}
	if !spec.Kind.Valid() {
		return fmt.Errorf("stream %q: invalid kind %d", spec.Name, spec.Kind)
	}
	if s.refused[spec.Name] || spec.Name == "" {
		return &point.StreamError{Stream: spec.Name, Reason: "refused by the test sink"}
	}
	if err := point.ValidateLabels(spec.Labels); err != nil {
		return fmt.Errorf("ensure: %w", &point.StreamError{Stream: spec.Name, Reason: err.Error()})
	}
	if have, ok := s.streams[spec.Name]; ok {
		// Labels merge into the existing ones, as in the store.
		if merged, changed := point.MergeLabels(have.Labels, spec.Labels); changed {
			have.Labels = merged
			s.streams[spec.Name] = have
			s.notify()
		}
		if have.Kind != spec.Kind {
			return fmt.Errorf("ensure: %w", &point.StreamError{Stream: spec.Name, Kind: have.Kind, Reason: "kind differs"})
		}
		return nil
	}
	spec.Labels = maps.Clone(spec.Labels)
	s.streams[spec.Name] = spec
	s.notify()
	return nil
}

// Write implements connectors.Sink.
func (s *Sink) Write(ctx context.Context, points []point.Point) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		s.mu.Lock()
		s.waiting++
		s.notify()
		s.mu.Unlock()
		var err error
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return s.failErr
	}
	for _, p := range points {
		spec, ok := s.streams[p.Stream]
		if !ok {
			return fmt.Errorf("write: stream %q does not exist", p.Stream)
		}
		if p.Value.Kind != spec.Kind {
			return fmt.Errorf("write: stream %q is %s, point is %s", p.Stream, spec.Kind, p.Value.Kind)
		}
	}
	if s.file != nil {
		s.buf.Reset()
		for _, p := range points {
			s.buf.WriteString(p.Stream)
			s.buf.WriteByte('\t')
			s.buf.WriteString(strconv.FormatInt(p.Time, 10))
			s.buf.WriteByte('\t')
			s.buf.WriteString(p.Value.Text())
			s.buf.WriteByte('\n')
		}
		if _, err := s.file.Write(s.buf.Bytes()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := s.file.Sync(); err != nil {
			return fmt.Errorf("write: fsync: %w", err)
		}
	}
	if !s.opts.CountOnly {
		for _, p := range points {
			s.points[key{p.Stream, p.Time}] = p
		}
	}
	s.writes++
	s.received += len(points)
	s.notify()
	return nil
}

func (s *Sink) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Fail makes EnsureStream and Write fail with err (nil: work again).
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failErr = err
}

// Block makes Write wait until the returned release is called (or its
// context ends).
func (s *Sink) Block() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := make(chan struct{})
	s.gate = g
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == g {
				s.gate = nil
			}
			s.mu.Unlock()
			close(g)
		})
	}
}

// Waiting is the number of Write calls held by Block.
func (s *Sink) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Create makes a stream as if an operator had, e.g. with another kind.
func (s *Sink) Create(spec point.StreamSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[spec.Name] = spec
}

// Refuse makes EnsureStream refuse a stream name.
func (s *Sink) Refuse(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[name] = true
}

// Len is the number of distinct (stream, time) points stored.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.points)
}

// Received is the number of points in successful writes, duplicates
// included.
func (s *Sink) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Writes is the number of successful Write calls.
func (s *Sink) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Points returns a stream's points sorted by time.
func (s *Sink) Points(stream string) []point.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []point.Point
	for k, p := range s.points {
		if k.stream == stream {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b point.Point) int { return cmp.Compare(a.Time, b.Time) })
	return out
}

// Stream returns a stream's spec.
func (s *Sink) Stream(name string) (point.StreamSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	spec, ok := s.streams[name]
	return spec, ok
}

// StreamNames lists the streams, sorted.
func (s *Sink) StreamNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.streams))
	for n := range s.streams {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// WaitFor waits until cond holds, re-checking after every change of the
// sink (and every 10ms, for conditions on other state), and fails the test
// at the deadline.
func (s *Sink) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// Eventually waits until cond holds, checking every 5ms, and fails the
// test at the deadline.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// DecodeYAML returns a decode function as the agent gives it to
// Registration.New: strict (unknown keys are errors) YAML of one section.
func DecodeYAML(src string) func(any) error {
	return func(into any) error {
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil {
			return fmt.Errorf("decoding section: %w", err)
		}
		return nil
	}
}

var _ connectors.Sink = (*Sink)(nil)
