package connectors_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

// TestWriter drives the shared writer against a real store: new streams
// take their spec, points convert to an existing stream's kind, what the
// store refuses or cannot convert is dropped and counted, and a point
// without a value is stored as NaN in a float stream.
func TestWriter(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureStream(ctx, point.StreamSpec{Name: "counts", Kind: point.KindInt}); err != nil {
		t.Fatal(err)
	}
	m := connectors.NewMetrics(nil)
	w := connectors.NewWriter(connectors.WriterOptions{Source: "src", Sink: st, Metrics: m, Log: slog.New(slog.DiscardHandler),
		Backoff: retry.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	pts := []point.Point{
		{Stream: "temp", Time: 1, Value: point.Float(21.5)},
		{Stream: "counts", Time: 1, Value: point.Float(3)},    // converts to int 3
		{Stream: "counts", Time: 2, Value: point.String("x")}, // does not convert
		{Stream: "bad name\x00", Time: 1, Value: point.Float(1)},
		{Stream: "temp", Time: 2, Quality: point.QualityBad}, // no value
	}
	if !w.Commit(ctx, pts, func(i int) point.StreamSpec {
		return point.StreamSpec{Unit: "degC", Source: "src:" + pts[i].Stream}
	}) {
		t.Fatal("Commit reported the batch not stored")
	}
	temp, err := st.GetStream(ctx, "temp")
	if err != nil || temp.Kind != point.KindFloat || temp.Unit != "degC" || temp.Source != "src:temp" {
		t.Fatalf("stream temp = %+v, %v; want float, degC, source src:temp", temp, err)
	}
	it, err := st.Window(ctx, "temp", store.WindowQuery{Start: 0, End: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Sample
	for it.Next() {
		got = append(got, it.At())
	}
	if len(got) != 2 || got[0].Value.F != 21.5 || !math.IsNaN(got[1].Value.F) || got[1].Quality != point.QualityBad {
		t.Fatalf("temp points %+v; want 21.5 and a bad NaN", got)
	}
	if p, ok, err := st.Latest(ctx, "counts"); err != nil || !ok || p.Value != point.Int(3) || p.Time != 1 {
		t.Fatalf("counts latest = %+v, %v, %v; want int 3 at 1", p, ok, err)
	}
	for reason, want := range map[string]float64{"kind_mismatch": 1, "stream_refused": 1} {
		if got := testutil.ToFloat64(m.Dropped.WithLabelValues("src", reason)); got != want {
			t.Errorf("dropped{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Written.WithLabelValues("src")); got != 3 {
		t.Errorf("written = %v, want 3", got)
	}
}

// TestWriterRetriesUntilCancelled: a sink that fails is retried with
// backoff, each failure counted, until ctx ends; Commit then reports the
// batch not stored, so its source acknowledges nothing.
func TestWriterRetriesUntilCancelled(t *testing.T) {
	st, err := store.Open(t.Context(), store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // every EnsureStream and Write now fails
	m := connectors.NewMetrics(nil)
	w := connectors.NewWriter(connectors.WriterOptions{Source: "src", Sink: st, Metrics: m, Log: slog.New(slog.DiscardHandler),
		Backoff: retry.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // cancel once a few failures are counted
		for testutil.ToFloat64(m.Errors.WithLabelValues("src", "ensure_stream")) < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if w.Commit(ctx, []point.Point{{Stream: "temp", Time: 1, Value: point.Float(1)}},
		func(int) point.StreamSpec { return point.StreamSpec{} }) {
		t.Fatal("Commit reported a batch stored into a closed store")
	}
	if got := testutil.ToFloat64(m.Written.WithLabelValues("src")); got != 0 {
		t.Errorf("written = %v, want 0", got)
	}
}

// TestWriterCountsDropsOnce: points dropped on purpose are counted once
// when their batch is stored, not again on every failed attempt before.
// The streams are known from a first batch, so the first failed attempt
// gets as far as the write, after the points are sorted.
func TestWriterCountsDropsOnce(t *testing.T) {
	sink := connectortest.NewSink(t, connectortest.Options{})
	sink.Create(point.StreamSpec{Name: "counts", Kind: point.KindInt})
	sink.Refuse("refused")
	m := connectors.NewMetrics(nil)
	w := connectors.NewWriter(connectors.WriterOptions{Source: "src", Sink: sink, Metrics: m, Log: slog.New(slog.DiscardHandler),
		Backoff: retry.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}})
	noSpec := func(int) point.StreamSpec { return point.StreamSpec{} }
	if !w.Commit(t.Context(), []point.Point{{Stream: "counts", Time: 1, Value: point.Int(1)}, {Stream: "refused", Time: 1, Value: point.Float(1)}}, noSpec) {
		t.Fatal("first batch not stored")
	}
	errs := func(reason string) float64 { return testutil.ToFloat64(m.Errors.WithLabelValues("src", reason)) }
	sink.Fail(errors.New("disk on fire"))
	go func() { // a failed write, failed ensures after it, then a healthy sink
		for errs("write") < 1 || errs("ensure_stream") < 2 {
			time.Sleep(time.Millisecond)
		}
		sink.Fail(nil)
	}()
	pts := []point.Point{
		{Stream: "counts", Time: 2, Value: point.String("x")},
		{Stream: "refused", Time: 2, Value: point.Float(1)},
		{Stream: "counts", Time: 3, Value: point.Int(7)},
	}
	if !w.Commit(t.Context(), pts, noSpec) {
		t.Fatal("Commit reported the batch not stored")
	}
	for reason, want := range map[string]float64{"kind_mismatch": 1, "stream_refused": 2} { // one refused point in each batch
		if got := testutil.ToFloat64(m.Dropped.WithLabelValues("src", reason)); got != want {
			t.Errorf("dropped{%s} = %v after retries, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Written.WithLabelValues("src")); got != 2 {
		t.Errorf("written = %v, want 2", got)
	}
}
