package omf

// Applying data messages: values of containers become points, written
// to the sink in one batch; static data and links go to apply_static.go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
	"github.com/sluice-edge/sluice/connectors/pi/internal/pitime"
	"github.com/sluice-edge/sluice/connectors/point"
)

// data applies a data message: values of containers are written to the
// sink; static data and links are kept with the definitions.
func (s *Source) data(ctx context.Context, run *omfRun, d *jsonscan.Doc, objs []jsonscan.Member, h header, cred *credential, out *outcome) {
	// Static data and links change the registry: such requests hold the
	// definitions lock throughout, so that they apply whole or not at all.
	var next *registry
	cur := s.reg.Load()
	for _, m := range objs {
		if get(d, m.Value, "containerid") < 0 {
			s.defMu.Lock()
			defer s.defMu.Unlock()
			cur = s.reg.Load()
			next = cur.clone()
			break
		}
	}
	bp := s.points.Get().(*[]point.Point)
	batch := (*bp)[:0]
	touched := map[*propStream]bool{}
	for i, m := range objs {
		act, ok := objectAction(d, m.Value, h, i, out)
		if !ok {
			continue
		}
		if (cred.dataOnly || cred.may != nil) && act == "delete" {
			out.errorf(i, -1004, http.StatusForbidden, nil, "This credential may not delete.")
			continue
		}
		obj := m.Value
		if cv := get(d, obj, "containerid"); cv >= 0 {
			if d.Kind(cv) != jsonscan.String {
				out.errorf(i, evValue, 400, nil, "containerid: want a string, got %s.", d.Kind(cv))
				continue
			}
			id := d.Text(cv)
			c := cur.containers[fold(id)]
			params := [][2]string{{"ContainerId", id}}
			if c == nil {
				out.errorf(i, 0, 404, params, "Container %q is not defined.", id)
				continue
			}
			if tv := get(d, obj, "typeid"); tv >= 0 && d.Kind(tv) == jsonscan.String && fold(d.Text(tv)) != fold(c.TypeID) {
				out.errorf(i, evValue, 400, params, "Container %q has type %q, not %q.", id, c.TypeID, d.Text(tv))
				continue
			}
			if st := cred.mayNot(c); st != "" {
				out.errorf(i, -1004, http.StatusForbidden, append(params, [2]string{"Stream", st}),
					"Container %q: this token may not write stream %q.", id, st)
				continue
			}
			if act == "delete" {
				out.errorf(i, evNotSupported, http.StatusNotImplemented, params,
					"Deleting values is not supported: the store keeps history; send new values to correct old ones (last write wins).")
				continue
			}
			vals := get(d, obj, "values")
			if vals < 0 || d.Kind(vals) != jsonscan.Array {
				out.errorf(i, evValue, 400, params, "values: want an array of values of type %q.", c.TypeID)
				continue
			}
			batch = s.values(d, c, vals, i, out, batch, touched)
			continue
		}
		if cred.dataOnly || cred.may != nil {
			out.errorf(i, -1004, http.StatusForbidden, nil, "This credential may only send values of containers, not static data or links.")
			continue
		}
		tv := get(d, obj, "typeid")
		if tv < 0 {
			if get(d, obj, "properties") >= 0 {
				out.warnf(i, evUndefined, "Type-less static data (properties) is not stored.")
				continue
			}
			out.errorf(i, evValue, 400, nil, "A data message needs containerid (time series) or typeid (static data, links).")
			continue
		}
		if d.Kind(tv) != jsonscan.String {
			out.errorf(i, evValue, 400, nil, "typeid: want a string, got %s.", d.Kind(tv))
			continue
		}
		if fold(d.Text(tv)) == "__link" {
			s.links(d, obj, act, next, i, out)
			continue
		}
		s.statics(d, obj, d.Text(tv), act, next, i, out)
	}
	s.m.points.Add(float64(len(batch)))
	if out.failed() {
		*bp = batch[:0]
		s.points.Put(bp)
		return
	}
	if len(batch) > 0 {
		var err error
		batch, err = s.prepare(ctx, run, batch, touched, out)
		if err == nil && len(batch) > 0 {
			err = s.write(ctx, run, batch)
		}
		if err != nil {
			out.errorf(-1, evStorageFailed, http.StatusServiceUnavailable, nil, "Storing the values failed (%v); nothing is acknowledged. Retry later.", err)
			return // the sink may still hold the batch: do not reuse it
		}
	}
	*bp = batch[:0]
	s.points.Put(bp)
	if next != nil {
		s.publish(next, out)
	}
}

// values decodes the values of one container into points.
func (s *Source) values(d *jsonscan.Doc, c *omfContainer, arr jsonscan.Value, i int, out *outcome, batch []point.Point, touched map[*propStream]bool) []point.Point {
	bad := 0
	for j, m := range d.Members(arr) {
		if bad >= maxEventsPerMessage {
			break
		}
		if d.Kind(m.Value) != jsonscan.Object {
			out.errorf(i, evValue, 400, nil, "values[%d]: want an object, got %s.", j, d.Kind(m.Value))
			bad++
			continue
		}
		start := len(batch)
		var t int64
		haveTime := false
		q := point.QualityGood
		for _, mm := range d.Members(m.Value) {
			ro, ok := c.role(mm.Key)
			switch {
			case !ok:
				out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.Key}},
					"values[%d]: %q is not a property of type %q.", j, mm.Key, c.TypeID)
				bad++
			case ro.kind == roleValue:
				v, skip, verr := convertValue(d, mm.Value, ro.ps)
				if verr != nil {
					if verr.code == evRange && d.Kind(mm.Value) == jsonscan.String {
						// NaN and infinities: dropped, not an error.
						s.m.dropped.WithLabelValues("not_finite").Inc()
						continue
					}
					out.errorf(i, verr.code, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.Key}}, "values[%d].%s: %s.", j, mm.Key, verr.msg)
					bad++
					continue
				}
				if !skip {
					batch = append(batch, point.Point{Stream: ro.ps.spec.Name, Value: v})
					touched[ro.ps] = true
				}
			case ro.kind == roleIndex:
				var err error
				t, err = c.indexTime(d, mm.Value)
				if err != nil {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.Key}}, "values[%d].%s: %v.", j, mm.Key, err)
					bad++
					continue
				}
				haveTime = true
			case ro.kind == roleQuality:
				qv, ok := qualityOf(d, mm.Value, ro.enum)
				if !ok {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.Key}}, "values[%d].%s: %s is not a quality.", j, mm.Key, d.Raw(mm.Value))
					bad++
					continue
				}
				q = worse(q, qv)
			}
		}
		if !haveTime {
			out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}}, "values[%d]: the index %q is missing.", j, c.index.ID)
			bad++
			batch = batch[:start]
			continue
		}
		for k := start; k < len(batch); k++ {
			batch[k].Time, batch[k].Quality = t, q
		}
	}
	return batch
}

// indexTime converts an index value to ns since the epoch.
func (c *omfContainer) indexTime(d *jsonscan.Doc, v jsonscan.Value) (int64, error) {
	kind, text := d.Kind(v), d.Text(v)
	switch {
	case kind == jsonscan.String && c.index.Type == "string":
		t, err := pitime.Parse(text)
		if err != nil {
			return 0, fmt.Errorf("%q is not an ISO 8601 date-time", text)
		}
		return t, nil
	case kind == jsonscan.Number && c.index.Type != "string":
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			if n > math.MaxInt64/c.unit || n < math.MinInt64/c.unit {
				return 0, fmt.Errorf("%s is out of range", text)
			}
			return n * c.unit, nil
		}
		f, err := strconv.ParseFloat(text, 64)
		if f *= float64(c.unit); err != nil || f >= math.MaxInt64 || f < math.MinInt64 || math.IsNaN(f) {
			return 0, fmt.Errorf("%s is out of range", text)
		}
		return int64(f), nil
	}
	return 0, fmt.Errorf("a %s is not a value of the index (%s)", kind, describeType(c.index))
}

// prepare ensures the streams of a batch (once per run) and converts
// values to the kinds of streams that exist with another kind; points
// that do not convert, or whose stream the store refuses, are dropped
// and counted.
func (s *Source) prepare(ctx context.Context, run *omfRun, batch []point.Point, touched map[*propStream]bool, out *outcome) ([]point.Point, error) {
	odd := map[string]point.Kind{} // stream -> kind in the store, for streams that differ
	for ps := range touched {
		if err := s.ensure(ctx, run, ps); err != nil {
			var se *point.StreamError
			if !errors.As(err, &se) {
				return nil, err
			}
			odd[ps.spec.Name] = 0
			continue
		}
		if k := point.Kind(ps.eff.Load()); k != ps.spec.Kind {
			odd[ps.spec.Name] = k
		}
	}
	if len(odd) == 0 {
		return batch, nil
	}
	kept := batch[:0]
	dropped := 0
	for _, p := range batch {
		k, ok := odd[p.Stream]
		if !ok {
			kept = append(kept, p)
			continue
		}
		if k == 0 {
			s.m.dropped.WithLabelValues("refused").Inc()
			dropped++
			continue
		}
		v, err := p.Value.Convert(k)
		if err != nil || v.Kind == point.KindFloat && (math.IsNaN(v.F) || math.IsInf(v.F, 0)) {
			s.m.dropped.WithLabelValues("kind_mismatch").Inc()
			dropped++
			continue
		}
		p.Value = v
		kept = append(kept, p)
	}
	if dropped > 0 {
		out.warnf(-1, evUndefined, "%d values were not stored: their streams are refused by the store or exist with a kind they do not convert to.", dropped)
	}
	return kept, nil
}

// write stores a batch durably, within write_timeout.
func (s *Source) write(ctx context.Context, run *omfRun, batch []point.Point) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout.Std())
	defer cancel()
	s.m.queue.Add(float64(len(batch)))
	defer s.m.queue.Sub(float64(len(batch)))
	start := time.Now()
	if err := run.sink.Write(wctx, batch); err != nil {
		s.env.Logger.Warn("OMF write failed; the sender is told to retry", "points", len(batch), "err", err)
		return err
	}
	s.m.batch.Observe(time.Since(start).Seconds())
	s.m.written.Add(float64(len(batch)))
	return nil
}
