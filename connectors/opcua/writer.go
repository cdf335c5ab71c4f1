package opcua

import (
	"context"
	"sync"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
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

// writer takes batches from the queue and writes them to the sink
// (connectors.Writer: streams created on first sight, failed writes
// retried).
type writer struct {
	q     *queue
	w     *connectors.Writer
	batch int
	meta  func(stream string) (point.StreamSpec, bool)
	name  string
}

// run writes until the queue is closed and empty, or ctx ends.
func (w *writer) run(ctx context.Context) {
	for {
		pts := w.q.take(ctx, w.batch)
		if pts == nil {
			return
		}
		if !w.w.Commit(ctx, pts, func(i int) point.StreamSpec {
			if spec, ok := w.meta(pts[i].Stream); ok {
				return spec
			}
			return point.StreamSpec{Source: w.name}
		}) {
			return
		}
	}
}
