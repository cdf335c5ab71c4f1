package views

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

const maxRows = 100000

var parseDuration = configs.ParseDuration

// Handler serves the views routes. Exports and the feed's rows are
// audited by the API, from their rows of the route registry
// (users.Route.Audited).
type Handler struct {
	Store *Store
	// Reads reads each source as the caller: the API in process, each
	// read judged by the gate of the route it stands for, as if the caller
	// had sent it.
	Reads Reader
	Now   func() time.Time
}

// Reader is what views read through (api.Server).
type Reader interface {
	Read(ctx context.Context, src api.Source, q federation.ReadQuery) (api.ReadAnswer, error)
	Kind(ctx context.Context, src api.Source, cat api.Catalogs) (string, error)
}

// Mount attaches the handlers to their rows of the route registry with
// mount (api.Server.Mount).
func (h *Handler) Mount(mount func(pattern string, h http.Handler)) {
	mount("GET /api/v1/views", http.HandlerFunc(h.list))
	mount("POST /api/v1/views", http.HandlerFunc(h.create))
	mount("GET /api/v1/views/{name}", http.HandlerFunc(h.get))
	mount("PUT /api/v1/views/{name}", http.HandlerFunc(h.put))
	mount("DELETE /api/v1/views/{name}", http.HandlerFunc(h.del))
	mount("GET /api/v1/views/{name}/export", http.HandlerFunc(h.export))
	h.mountOData(mount)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	code, reason := http.StatusBadRequest, "bad_request"
	switch {
	case errors.Is(err, ErrNotFound):
		code, reason = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrExists):
		code, reason = http.StatusConflict, "exists"
	}
	writeJSON(w, code, map[string]string{"error": err.Error(), "reason": reason})
}

func decode(r *http.Request) (View, error) {
	var v View
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("body: %w", err)
	}
	return v, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"views": h.Store.List()})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.Store.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	v, err := decode(r)
	if err == nil {
		v, err = h.Store.Put(v, true)
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	v, err := decode(r)
	if err == nil {
		if v.Name == "" {
			v.Name = r.PathValue("name")
		}
		if v.Name != r.PathValue("name") {
			err = errors.New("name: the body's name differs from the path's (views are not renamed)")
		}
	}
	if err == nil {
		v, err = h.Store.Put(v, false)
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) del(w http.ResponseWriter, r *http.Request) {
	if err := h.Store.Delete(r.PathValue("name")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Label is the column header of a source.
func (s Source) label() string {
	switch {
	case s.Label != "":
		return s.Label
	case s.Tenant != "":
		return s.Tenant + "/" + s.Stream
	}
	return s.Stream
}

func (s Source) api() api.Source {
	return api.Source{Community: s.Community, Tenant: s.Tenant, Stream: s.Stream}
}

// readError is a source's failed read, with the status the read's own
// route would have answered.
type readError struct {
	code int
	msg  string
}

func (e *readError) Error() string { return e.msg }

func (s Source) failed(err error) error {
	return &readError{code: api.StatusOf(err), msg: fmt.Sprintf("column %q: %v", s.label(), err)}
}

// column reads one source on the grid: time (ns) → value (JSON text, or
// nil for no good value).
func (h *Handler) column(ctx context.Context, v View, s Source, start, end int64) (map[int64]json.RawMessage, error) {
	q := federation.ReadQuery{Kind: policy.ReadInterpolated, Start: start, End: end}
	iv, _ := parseDuration(v.Interval)
	switch {
	case v.Mode != ModeInterpolated:
		q.Kind = policy.ReadSummaries
		if v.Count > 0 {
			// Count rows from the view's start, not from an epoch grid.
			iv, q.Align = time.Duration((end-start+int64(v.Count)-1)/int64(v.Count)), api.AlignStart
		}
		q.Interval = max(iv.Truncate(time.Millisecond), time.Millisecond)
	case v.Count > 0:
		q.Count = v.Count
	default:
		q.Interval = iv
	}
	ans, err := h.Reads.Read(ctx, s.api(), q)
	if err != nil {
		return nil, s.failed(err)
	}
	out := map[int64]json.RawMessage{}
	for _, p := range ans.Points {
		if (p.Quality>>30)&3 == 2 { // bad
			out[p.Time] = nil
			continue
		}
		out[p.Time] = p.Value
	}
	for _, sm := range ans.Summaries {
		t, err := strconv.ParseInt(sm.Start, 10, 64)
		if err != nil {
			continue
		}
		out[t] = stat(sm, v.Mode)
	}
	return out, nil
}

// stat is one statistic of an interval, as JSON; nil for none.
func stat(sm api.SummaryJSON, mode string) json.RawMessage {
	var f *float64
	switch mode {
	case "first", "last":
		pt := sm.First
		if mode == "last" {
			pt = sm.Last
		}
		var p struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(pt, &p) != nil || string(p.Value) == "null" {
			return nil
		}
		return p.Value
	case "count":
		return strconv.AppendInt(nil, int64(sm.Count), 10)
	case "min":
		f = sm.Min
	case "max":
		f = sm.Max
	case "mean":
		f = sm.Mean
	case "stddev":
		f = sm.StdDev
	case "time_weighted_mean":
		f = sm.TimeWeightedMean
	}
	if f == nil {
		return nil
	}
	b, _ := json.Marshal(*f) // as the API's JSON answers write statistics
	return b
}

// export answers GET /api/v1/views/{name}/export?format=csv|json&start&end.
func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	v, err := h.Store.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	qs := r.URL.Query()
	format := qs.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		fail(w, fmt.Errorf("format %q: want csv or json", format))
		return
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	start, end := qs.Get("start"), qs.Get("end")
	if start == "" {
		start = v.Window
	}
	if end == "" {
		end = "now"
	}
	t0, err := api.ParseTime(start, now)
	if err != nil {
		fail(w, fmt.Errorf("start: %w", err))
		return
	}
	t1, err := api.ParseTime(end, now)
	if err != nil {
		fail(w, fmt.Errorf("end: %w", err))
		return
	}
	if v.Interval != "" {
		iv, _ := parseDuration(v.Interval)
		t0 = t0 / int64(iv) * int64(iv) // a round grid
		if (t1-t0)/int64(iv) > maxRows {
			fail(w, fmt.Errorf("more than %d rows: use a shorter window or a coarser interval", maxRows))
			return
		}
	}
	if t1 <= t0 {
		fail(w, errors.New("the window ends before it starts"))
		return
	}
	cols := make([]map[int64]json.RawMessage, len(v.Streams))
	times := map[int64]bool{}
	for i, s := range v.Streams {
		c, err := h.column(r.Context(), v, s, t0, t1)
		if err != nil {
			var re *readError
			if errors.As(err, &re) {
				writeJSON(w, re.code, map[string]string{"error": re.msg, "reason": "read_failed"})
			} else {
				writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error(), "reason": "read_failed"})
			}
			return
		}
		cols[i] = c
		for t := range c {
			times[t] = true
		}
	}
	sorted := make([]int64, 0, len(times))
	for t := range times {
		sorted = append(sorted, t)
	}
	slices.Sort(sorted)
	labels := make([]string, len(v.Streams))
	for i, s := range v.Streams {
		labels[i] = s.label()
	}
	ts := func(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339Nano) }
	w.Header().Set("Cache-Control", "no-store")
	if format == "json" {
		rows := make([]json.RawMessage, 0, len(sorted))
		for _, t := range sorted {
			var b bytes.Buffer
			b.WriteString(`{"time":`)
			k, _ := json.Marshal(ts(t))
			b.Write(k)
			for i, l := range labels {
				k, _ := json.Marshal(l)
				b.WriteByte(',')
				b.Write(k)
				b.WriteByte(':')
				if val := cols[i][t]; len(val) > 0 {
					b.Write(val)
				} else {
					b.WriteString("null")
				}
			}
			b.WriteByte('}')
			rows = append(rows, b.Bytes())
		}
		writeJSON(w, http.StatusOK, rows)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, v.Name)+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"time"}, labels...))
	rec := make([]string, len(labels)+1)
	for _, t := range sorted {
		rec[0] = ts(t)
		for i := range labels {
			rec[i+1] = csvValue(cols[i][t])
		}
		cw.Write(rec)
	}
	cw.Flush()
}

// csvValue writes a JSON value as a CSV field: numbers and booleans as
// they are, strings unquoted, null as empty.
func csvValue(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}
