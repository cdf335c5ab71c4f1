package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

// Writer is the end of a source's pipeline, shared by the sources that
// queue points (MQTT, OPC UA): it ensures each stream the first time it
// sees it, converts points to the kind the stream has, drops (counting)
// what the store cannot take, and retries a failed write with backoff
// until the sink takes it or ctx ends. One goroutine uses it.
type Writer struct {
	sink    Sink
	log     *slog.Logger
	backoff retry.Backoff
	convert func(point.Value, point.Kind) (point.Value, error)
	metrics *Metrics
	source  string
	written prometheus.Counter
	batch   prometheus.Observer
	streams map[string]streamState
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	Source  string // the source's name, the label of its metrics
	Sink    Sink
	Metrics *Metrics
	Log     *slog.Logger
	Backoff retry.Backoff
	// Convert turns a point's value into its stream's kind; nil is
	// point.Value.Convert. An error drops the point (kind_mismatch).
	Convert func(point.Value, point.Kind) (point.Value, error)
}

// streamState is what the writer knows of a stream it has ensured.
type streamState struct {
	kind    point.Kind // the stream's kind, to which points are converted
	refused bool       // the sink refuses the stream: drop its points
}

// NewWriter returns a writer with no stream ensured yet.
func NewWriter(o WriterOptions) *Writer {
	if o.Convert == nil {
		o.Convert = point.Value.Convert
	}
	return &Writer{
		sink: o.Sink, log: o.Log, backoff: o.Backoff, convert: o.Convert, metrics: o.Metrics, source: o.Source,
		written: o.Metrics.Written.WithLabelValues(o.Source),
		batch:   o.Metrics.BatchSeconds.WithLabelValues(o.Source),
		streams: map[string]streamState{},
	}
}

// Commit writes pts. spec gives the stream of pts[i] when the writer has
// not ensured it yet; a spec without a valid kind takes the kind of the
// point's value (float for a point without one). Commit reports whether
// the points are stored (those dropped on purpose included): false only
// when ctx ended, and then nothing of the batch may be acknowledged.
// Drops are counted once, when the batch is stored, however many
// attempts it took.
func (w *Writer) Commit(ctx context.Context, pts []point.Point, spec func(i int) point.StreamSpec) bool {
	var out []point.Point
	var refused, mismatched int
	for attempt := 0; ; attempt++ {
		err := w.ensure(ctx, pts, spec)
		reason := "ensure_stream"
		if err == nil {
			out, refused, mismatched = w.convertAll(make([]point.Point, 0, len(pts)), pts)
			if len(out) > 0 {
				start := time.Now()
				reason = "write"
				if err = w.sink.Write(ctx, out); err == nil {
					w.batch.Observe(time.Since(start).Seconds())
				} else {
					err = fmt.Errorf("writing %d points: %w", len(out), err)
				}
			}
		}
		if err == nil {
			w.written.Add(float64(len(out)))
			w.drop("stream_refused", refused)
			w.drop("kind_mismatch", mismatched)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.metrics.Errors.WithLabelValues(w.source, reason).Inc()
		// A stream may have been deleted or changed under us: ensure
		// every stream again on the next attempt.
		clear(w.streams)
		delay := w.backoff.Delay(attempt)
		w.log.Warn("store write failed; nothing of the batch is acknowledged, retrying",
			"points", len(pts), "attempt", attempt+1, "retry_in", delay, "err", err)
		if !retry.Sleep(ctx, delay) {
			return false
		}
	}
}

// ensure creates the streams of pts that the writer has not seen.
func (w *Writer) ensure(ctx context.Context, pts []point.Point, spec func(int) point.StreamSpec) error {
	for i := range pts {
		name := pts[i].Stream
		if _, ok := w.streams[name]; ok {
			continue
		}
		sp := spec(i)
		sp.Name = name
		if !sp.Kind.Valid() {
			sp.Kind = pts[i].Value.Kind
			if !sp.Kind.Valid() {
				sp.Kind = point.KindFloat
			}
		}
		err := w.sink.EnsureStream(ctx, sp)
		var se *point.StreamError
		switch {
		case err == nil:
			w.streams[name] = streamState{kind: sp.Kind}
		case errors.As(err, &se) && se.Kind.Valid():
			w.streams[name] = streamState{kind: se.Kind}
			w.log.Warn("stream exists with another kind; converting its points", "stream", name, "kind", se.Kind, "want", sp.Kind)
		case errors.As(err, &se):
			w.streams[name] = streamState{refused: true}
			w.log.Warn("store refuses stream; dropping its points", "stream", name, "err", err)
		default:
			return fmt.Errorf("ensuring stream %q: %w", name, err)
		}
	}
	return nil
}

// convertAll appends to out the points of in converted to their streams'
// kinds, leaving out (and counting) those of refused streams and those
// that do not convert. A point without a
// value (an OPC UA bad status, a Sparkplug death) gets NaN if its stream
// holds floats, so that it is never mistaken for a measurement, and the
// zero of the kind otherwise; its quality says it is bad.
func (w *Writer) convertAll(out, in []point.Point) (_ []point.Point, refused, mismatched int) {
	for _, p := range in {
		st := w.streams[p.Stream]
		switch {
		case st.refused:
			refused++
			continue
		case !p.Value.Kind.Valid():
			p.Value = point.Value{Kind: st.kind}
			if st.kind == point.KindFloat {
				p.Value.F = math.NaN()
			}
		case p.Value.Kind != st.kind:
			v, err := w.convert(p.Value, st.kind)
			if err != nil {
				mismatched++
				continue
			}
			p.Value = v
		}
		out = append(out, p)
	}
	return out, refused, mismatched
}

func (w *Writer) drop(reason string, n int) {
	if n > 0 {
		w.metrics.Dropped.WithLabelValues(w.source, reason).Add(float64(n))
	}
}
