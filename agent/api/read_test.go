package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// A read bounded to [Start, End), as a partner read of a share with that
// window is, is answered from the points within alone; an unbounded
// (local) read of the same range still carries values in from around it.
func TestServeReadBoundsPartnerReads(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "s", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	pts := []point.Point{
		{Stream: "s", Time: testNow.Add(-2 * time.Hour).UnixNano(), Value: point.Float(999)},
		{Stream: "s", Time: testNow.Add(2 * time.Hour).UnixNano(), Value: point.Float(999)},
	}
	for i := 30; i > 0; i-- {
		pts = append(pts, point.Point{Stream: "s", Time: testNow.Add(-time.Duration(i) * time.Minute).UnixNano(), Value: point.Float(float64(10 + i%3))})
	}
	if err := f.st.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	start, end := testNow.Add(-45*time.Minute).UnixNano(), testNow.Add(time.Hour).UnixNano()
	for _, tc := range []struct {
		req         federation.ReadQuery
		localLeaves bool // the local read of the same range shows values from outside it
	}{
		{federation.ReadQuery{Kind: policy.ReadWindow}, false},
		{federation.ReadQuery{Kind: policy.ReadWindow, Limit: 7}, false},
		{federation.ReadQuery{Kind: policy.ReadLatest}, false}, // the newest point in [Start, End), local or not
		{federation.ReadQuery{Kind: policy.ReadLatest, End: math.MaxInt64}, true},
		{federation.ReadQuery{Kind: policy.ReadInterpolated, Interval: 5 * time.Minute}, true},
		{federation.ReadQuery{Kind: policy.ReadInterpolated, Count: 1}, true},
		{federation.ReadQuery{Kind: policy.ReadSummaries, Interval: 15 * time.Minute}, true},
		{federation.ReadQuery{Kind: policy.ReadSummaries, Interval: 6 * time.Hour}, true},
	} {
		for _, local := range []bool{false, true} {
			q := tc.req
			q.Stream, q.Start = "s", start
			if q.End == 0 {
				q.End = end
			}
			q.Lo, q.Hi = start, end
			if local {
				q.Lo, q.Hi = store.Unbounded.Floor, store.Unbounded.Ceil
			}
			w := httptest.NewRecorder()
			if _, err := f.srv.ServeRead(w, httptest.NewRequest("GET", "/", nil), q); err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			var body any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("%+v: %v\n%s", q, err, w.Body)
			}
			vals := values(body, nil)
			outside := false
			for _, v := range vals {
				outside = outside || v < 10 || v > 12
			}
			switch {
			case !local && outside:
				t.Errorf("partner %s %+v: values from outside [Start, End): %v\n%s", q.Kind, tc.req, vals, w.Body)
			case !local && len(vals) == 0 && q.Count != 1:
				t.Errorf("partner %s %+v: no values\n%s", q.Kind, tc.req, w.Body)
			case local && outside != tc.localLeaves:
				t.Errorf("local %s %+v: values from outside the range %v, want %v: %v", q.Kind, tc.req, outside, tc.localLeaves, vals)
			}
		}
	}
}

// A read without Bounds draws on nothing: a caller that forgets them
// serves no data rather than all of it.
func TestServeReadZeroBoundsServeNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "s", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	at := testNow.Add(-time.Minute).UnixNano()
	if err := f.st.Write(ctx, []point.Point{{Stream: "s", Time: at, Value: point.Float(1)}}); err != nil {
		t.Fatal(err)
	}
	start, end := testNow.Add(-time.Hour).UnixNano(), testNow.UnixNano()
	for _, q := range []federation.ReadQuery{
		{Kind: policy.ReadWindow}, {Kind: policy.ReadLatest}, {Kind: policy.ReadInterpolated, Interval: time.Minute}, {Kind: policy.ReadSummaries, Interval: time.Minute},
	} {
		for _, b := range []store.Bounds{{}, store.Unbounded} {
			q.Stream, q.Start, q.End, q.Lo, q.Hi = "s", start, end, b.Floor, b.Ceil
			w := httptest.NewRecorder()
			if _, err := f.srv.ServeRead(w, httptest.NewRequest("GET", "/", nil), q); err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			var body any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("%+v: %v\n%s", q, err, w.Body)
			}
			if got := len(values(body, nil)) > 0; got != (b == store.Unbounded) {
				t.Errorf("%s with bounds %+v: values %v, want %v\n%s", q.Kind, b, got, b == store.Unbounded, w.Body)
			}
		}
	}
}

// values collects the point values and statistics of a decoded answer.
func values(v any, out []float64) []float64 {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "value", "min", "max", "mean", "time_weighted_mean":
				if f, ok := x.(float64); ok {
					out = append(out, f)
				}
			default:
				out = values(x, out)
			}
		}
	case []any:
		for _, x := range v {
			out = values(x, out)
		}
	}
	return out
}
