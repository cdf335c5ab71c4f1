package mqtt

import (
	"context"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
)

// entry is one received message on its way to the store. Every message,
// even one without points (bad payload, unmatched topic), goes through the
// queue, so that acknowledgements leave in the order messages arrived.
type entry struct {
	msg     message // acknowledged after the batch holding it is stored
	sub     *subscription
	topic   string
	points  []point.Point
	weight  int // what it counts against queue_size: max(1, len(points))
	qos0    bool
	arrived time.Time
	// specs, when set, holds the spec of each point's stream (Sparkplug:
	// from the births); nil: the subscription's.
	specs []*point.StreamSpec
}

// queue is the bounded FIFO between the MQTT handler (one producer) and
// the writer (one consumer), bounded in points. When it is full, QoS 1/2
// messages wait (back-pressure: they stay unacknowledged and the broker
// stops sending) and QoS 0 messages push out the oldest QoS 0 entries.
type queue struct {
	mu     sync.Mutex
	items  []entry
	head   int
	weight int
	nqos0  int
	cap    int
	closed bool
	wantAt int           // the weight at which the waiting taker wants waking; 0: none waits
	ready  chan struct{} // 1-buffered: the taker's wish came true
	space  chan struct{} // 1-buffered: entries were taken
	done   chan struct{} // closed by close
	m      *metrics
}

func newQueue(capacity int, m *metrics) *queue {
	return &queue{
		cap:   capacity,
		ready: make(chan struct{}, 1),
		space: make(chan struct{}, 1),
		done:  make(chan struct{}),
		m:     m,
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (q *queue) len() int { return len(q.items) - q.head }

// push adds e. A QoS 1/2 entry waits for room; a QoS 0 entry makes room by
// dropping the oldest QoS 0 entries, or is dropped itself. After close,
// entries are not queued (QoS 1/2 messages then stay unacknowledged and
// are redelivered by the broker).
func (q *queue) push(e entry) {
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			if e.qos0 {
				q.m.drop("shutdown", len(e.points))
			}
			return
		}
		if q.len() == 0 || q.weight+e.weight <= q.cap {
			q.items = append(q.items, e)
			q.weight += e.weight
			if e.qos0 {
				q.nqos0++
			}
			q.m.depth.Set(float64(q.weight))
			// Wake the taker only when it wants this: waking it for every
			// message while a QoS 0 batch fills would cost more than the
			// message itself.
			wake := q.wantAt > 0 && (q.weight >= q.wantAt || !e.qos0)
			if wake {
				q.wantAt = 0
			}
			q.mu.Unlock()
			if wake {
				signal(q.ready)
			}
			return
		}
		if q.nqos0 > 0 {
			q.dropOldestQoS0()
			continue
		}
		if e.qos0 {
			q.mu.Unlock()
			q.m.drop("queue_full", len(e.points))
			return
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-q.done:
		}
		q.mu.Lock()
	}
}

func (q *queue) dropOldestQoS0() {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i].qos0 {
			e := q.items[i]
			copy(q.items[q.head+1:i+1], q.items[q.head:i])
			q.items[q.head] = entry{}
			q.head++
			q.weight -= e.weight
			q.nqos0--
			q.m.drop("queue_full", len(e.points))
			q.m.depth.Set(float64(q.weight))
			return
		}
	}
}

// take moves entries worth up to max points to dst (always at least one
// entry when it takes any). Without a deadline it waits for an entry. With
// one it waits until entries worth max points are queued, a QoS 1/2 entry
// is queued, or the deadline passes, and then takes what there is. Either
// way it stops waiting when ctx ends or the queue is closed. It returns
// how many entries it took.
func (q *queue) take(ctx context.Context, dst *[]entry, max int, deadline time.Time) int {
	var timer <-chan time.Time
	expired := false
	for {
		q.mu.Lock()
		n := q.len()
		stop := q.closed || ctx.Err() != nil || expired
		if n > 0 && (stop || deadline.IsZero() || q.weight >= max || q.nqos0 < n) {
			q.wantAt = 0
			taken, w := 0, 0
			for q.len() > 0 {
				e := q.items[q.head]
				if taken > 0 && w+e.weight > max {
					break
				}
				*dst = append(*dst, e)
				q.items[q.head] = entry{}
				q.head++
				w += e.weight
				taken++
				if e.qos0 {
					q.nqos0--
				}
			}
			q.weight -= w
			if q.head > 1024 && q.head*2 > len(q.items) {
				q.items = append(q.items[:0], q.items[q.head:]...)
				q.head = 0
			}
			q.m.depth.Set(float64(q.weight))
			q.mu.Unlock()
			signal(q.space)
			return taken
		}
		if stop {
			q.wantAt = 0
			q.mu.Unlock()
			return 0
		}
		q.wantAt = 1
		if !deadline.IsZero() {
			q.wantAt = max
		}
		q.mu.Unlock()
		if timer == nil && !deadline.IsZero() {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-q.ready:
		case <-q.done:
		case <-ctx.Done():
		case <-timer:
			expired = true
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

// writer takes batches from the queue, writes them to the sink
// (connectors.Writer: streams created on first sight, failed writes
// retried), and acknowledges their messages once the write has returned
// nil.
type writer struct {
	name       string
	q          *queue
	w          *connectors.Writer
	batchSize  int
	batchDelay time.Duration
	pts        []point.Point // the batch's points, flattened
	from       []origin      // where in the batch each of pts came from
}

// run writes batches until the queue is closed and empty, or ctx ends.
func (w *writer) run(ctx context.Context) {
	var batch []entry
	for {
		clear(batch)
		batch = batch[:0]
		if w.collect(ctx, &batch) == 0 {
			return
		}
		if !w.commit(ctx, batch) {
			return // ctx ended: nothing of the batch is acknowledged
		}
		for i := range batch {
			if batch[i].msg != nil {
				batch[i].msg.Ack()
			}
		}
	}
}

// collect fills a batch. A batch holding a QoS 1/2 message is cut as soon
// as the queue is empty: the broker sends only a window of unacknowledged
// messages, so waiting for more would only idle (group commit). A batch of
// QoS 0 messages waits up to batch_delay to reach batch_size.
func (w *writer) collect(ctx context.Context, batch *[]entry) int {
	n := w.q.take(ctx, batch, w.batchSize, time.Time{})
	if n == 0 || w.batchDelay <= 0 {
		return n
	}
	deadline := (*batch)[0].arrived.Add(w.batchDelay)
	weight, acked := 0, false
	for seen := 0; ; {
		for _, e := range (*batch)[seen:] {
			weight += e.weight
			acked = acked || !e.qos0
		}
		seen = len(*batch)
		if acked || weight >= w.batchSize {
			return seen
		}
		if w.q.take(ctx, batch, w.batchSize-weight, deadline) == 0 {
			return seen
		}
	}
}

// origin is a point's entry in the batch, and its index there.
type origin struct{ entry, point int32 }

// commit writes the batch's points. It reports whether they are stored:
// false only when ctx ended.
func (w *writer) commit(ctx context.Context, batch []entry) bool {
	clear(w.pts)
	w.pts, w.from = w.pts[:0], w.from[:0]
	for i := range batch {
		w.pts = append(w.pts, batch[i].points...)
		for j := range batch[i].points {
			w.from = append(w.from, origin{int32(i), int32(j)})
		}
	}
	return w.w.Commit(ctx, w.pts, func(k int) point.StreamSpec {
		e, j := &batch[w.from[k].entry], w.from[k].point
		if e.specs != nil && e.specs[j] != nil {
			spec := *e.specs[j]
			spec.Source = w.name + ":" + spec.Source
			return spec
		}
		return point.StreamSpec{Description: e.sub.description, Unit: e.sub.unit, Kind: e.sub.kind,
			Source: w.name + ":" + e.topic}
	})
}
