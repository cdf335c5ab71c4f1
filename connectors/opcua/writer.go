package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

// queue is the FIFO between the session (producers: the Publish loops or
// the poller) and the writer (one consumer), bounded in points. push waits
// while it is full, which stops the Publish loop: the server then keeps
// the notifications (back-pressure).
type queue struct {
	mu     sync.Mutex
	items  [][]point.Point
	n      int // points queued
	cap    int
	closed bool
	ready  chan struct{} // 1-buffered: something was pushed
	space  chan struct{} // 1-buffered: something was taken
	done   chan struct{} // closed by close
	m      *metrics
}

func newQueue(capacity int, m *metrics) *queue {
	return &queue{cap: capacity, ready: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{}), m: m}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues pts, waiting for room. It reports false when ctx ended or
// the queue was closed before the points were queued.
func (q *queue) push(ctx context.Context, pts []point.Point) bool {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			q.m.drop("shutdown", len(pts))
			return false
		}
		if q.n == 0 || q.n+len(pts) <= q.cap {
			q.items = append(q.items, pts)
			q.n += len(pts)
			q.m.depth.Set(float64(q.n))
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-q.done:
		case <-ctx.Done():
			return false
		}
	}
}

// take waits for points and returns up to max of them (at least one
// whole push), or nil when the queue is closed and empty or ctx ended.
func (q *queue) take(ctx context.Context, max int) []point.Point {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			var out []point.Point
			for len(q.items) > 0 && (out == nil || len(out)+len(q.items[0]) <= max) {
				if out == nil {
					out = q.items[0]
				} else {
					out = append(out, q.items[0]...)
				}
				q.n -= len(q.items[0])
				q.items[0] = nil
				q.items = q.items[1:]
			}
			if len(q.items) == 0 {
				q.items = nil
			}
			q.m.depth.Set(float64(q.n))
			q.mu.Unlock()
			signal(q.space)
			return out
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-q.ready:
		case <-q.done:
		case <-ctx.Done():
			return nil
		}
	}
}

// close stops intake; take still returns what is queued.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// streamState is what the writer knows of a stream it has ensured.
type streamState struct {
	kind    point.Kind
	refused bool
}

// writer takes batches from the queue and writes them to the sink,
// creating streams on first sight and retrying failed writes.
type writer struct {
	name    string
	q       *queue
	sink    connectors.Sink
	log     *slog.Logger
	m       *metrics
	batch   int
	backoff retry.Backoff
	meta    func(stream string) (point.StreamSpec, bool)
	known   map[string]streamState
}

// run writes until the queue is closed and empty, or ctx ends.
func (w *writer) run(ctx context.Context) {
	for {
		pts := w.q.take(ctx, w.batch)
		if pts == nil {
			return
		}
		if !w.commit(ctx, pts) {
			return
		}
	}
}

// commit writes a batch, retrying with backoff until the sink takes it or
// ctx ends. It reports whether the batch is stored.
func (w *writer) commit(ctx context.Context, in []point.Point) bool {
	for attempt := 0; ; attempt++ {
		var pts []point.Point
		err := w.ensure(ctx, in)
		reason := "ensure_stream"
		if err == nil {
			pts = w.points(in)
			if len(pts) > 0 {
				start := time.Now()
				err = w.sink.Write(ctx, pts)
				reason = "write"
				if err == nil {
					w.m.batch.Observe(time.Since(start).Seconds())
				} else {
					err = fmt.Errorf("writing %d points: %w", len(pts), err)
				}
			}
		}
		if err == nil {
			w.m.written.Add(float64(len(pts)))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.m.error(reason)
		clear(w.known) // a stream may have changed under us
		delay := w.backoff.Delay(attempt)
		w.log.Warn("store write failed; retrying", "points", len(in), "attempt", attempt+1, "retry_in", delay, "err", err)
		if !retry.Sleep(ctx, delay) {
			return false
		}
	}
}

// ensure creates the streams of the batch that the writer has not seen.
// A stream whose kind the data type did not tell takes the kind of its
// first value (float for a first value without one).
func (w *writer) ensure(ctx context.Context, pts []point.Point) error {
	for i := range pts {
		name := pts[i].Stream
		if _, ok := w.known[name]; ok {
			continue
		}
		spec, ok := w.meta(name)
		if !ok {
			spec = point.StreamSpec{Name: name, Source: w.name}
		}
		if !spec.Kind.Valid() {
			spec.Kind = pts[i].Value.Kind
			if !spec.Kind.Valid() {
				spec.Kind = point.KindFloat
			}
		}
		err := w.sink.EnsureStream(ctx, spec)
		var se *point.StreamError
		switch {
		case err == nil:
			w.known[name] = streamState{kind: spec.Kind}
		case errors.As(err, &se) && se.Kind.Valid():
			w.known[name] = streamState{kind: se.Kind}
			w.log.Warn("stream exists with another kind; converting its points", "stream", name, "kind", se.Kind, "want", spec.Kind)
		case errors.As(err, &se):
			w.known[name] = streamState{refused: true}
			w.log.Warn("store refuses stream; dropping its points", "stream", name, "err", err)
		default:
			return fmt.Errorf("ensuring stream %q: %w", name, err)
		}
	}
	return nil
}

// points converts the batch to the streams' kinds, filling points
// without a value, and drops (counting) what cannot be stored.
func (w *writer) points(in []point.Point) []point.Point {
	out := make([]point.Point, 0, len(in))
	for _, p := range in {
		st := w.known[p.Stream]
		switch {
		case st.refused:
			w.m.drop("stream_refused", 1)
			continue
		case !p.Value.Kind.Valid():
			p.Value = zero(st.kind)
		case p.Value.Kind != st.kind:
			v, err := p.Value.Convert(st.kind)
			if err != nil {
				w.m.drop("kind_mismatch", 1)
				continue
			}
			p.Value = v
		}
		out = append(out, p)
	}
	return out
}
