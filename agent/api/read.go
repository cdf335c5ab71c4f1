package api

import (
	"bufio"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors"
)

// readParams are the query parameters every read shares.
type readParams struct {
	start, end int64
	csv        bool
	epochNS    bool // time=ns: times as epoch nanoseconds instead of RFC 3339
}

func (s *Server) params(r *http.Request, defStart time.Duration) (readParams, error) {
	q := r.URL.Query()
	now := s.opts.Now() // one instant for every time of the request
	p := readParams{start: FromNow(now, defStart).UnixNano(), end: now.UnixNano()}
	var err error
	if v := q.Get("start"); v != "" {
		if p.start, err = ParseTime(v, now); err != nil {
			return p, badRequest("bad_time", "start: %v", err)
		}
	}
	if v := q.Get("end"); v != "" {
		if p.end, err = ParseTime(v, now); err != nil {
			return p, badRequest("bad_time", "end: %v", err)
		}
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		p.csv = true
	default:
		return p, badRequest("bad_format", "format: %q (want json or csv)", f)
	}
	switch t := q.Get("time"); t {
	case "", "rfc3339":
	case "ns":
		p.epochNS = true
	default:
		return p, badRequest("bad_format", "time: %q (want rfc3339 or ns)", t)
	}
	return p, nil
}

// ReadRequest is a read with every parameter resolved: the local API
// builds it from a request's query, federation from a partner request
// after policy clipped its range.
type ReadRequest struct {
	Stream     string
	Kind       string // data, latest, interpolated, summaries
	Start, End int64
	// Bounds are the stored points the answer may draw on at all (see
	// store.Bounds); the zero value draws on none. Local reads pass
	// store.Unbounded: the value in effect at Start counts, as users
	// expect. Partner reads pass the window policy allowed, so that no
	// point outside it shows in the answer or shapes it.
	Bounds   store.Bounds
	Interval time.Duration // interpolated (or Count), summaries
	// Align places the intervals of summaries and interpolation by
	// Interval: AlignEpoch (or empty) on the grid k*Interval+Offset from
	// the Unix epoch, AlignStart at Start, Start+Interval, ... Summaries
	// on the grid start with the whole interval holding Start; values
	// interpolated on it start at the first grid time at or after Start.
	Align     string
	Offset    time.Duration // shifts the epoch grid
	Count     int           // interpolated
	Limit     int           // data
	PageToken string        // data
	CSV       bool
	EpochNS   bool
}

func (s *Server) readWindow(w http.ResponseWriter, r *http.Request) error {
	p, err := s.params(r, -time.Hour)
	if err != nil {
		return err
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return badRequest("bad_limit", "limit: %q is not a non-negative number", v)
		}
	}
	_, err = s.ServeRead(w, r, ReadRequest{Stream: r.PathValue("name"), Kind: "data", Start: p.start, End: p.end, Bounds: store.Unbounded,
		Limit: limit, PageToken: r.URL.Query().Get("page_token"), CSV: p.csv, EpochNS: p.epochNS})
	return err
}

// ServeRead answers a read from the store, streamed as JSON or CSV. It
// returns how many points the answer covered (for summaries, the points
// summarised), so callers can account for the load.
func (s *Server) ServeRead(w http.ResponseWriter, r *http.Request, q ReadRequest) (int, error) {
	p := readParams{start: q.Start, end: q.End, csv: q.CSV, epochNS: q.EpochNS}
	ctx := r.Context()
	b := q.Bounds
	switch q.Kind {
	case "data":
		it, err := s.opts.Store.Window(ctx, q.Stream, store.WindowQuery{Start: max(q.Start, b.Floor), End: min(q.End, b.Ceil),
			Limit: q.Limit, PageToken: q.PageToken})
		if err != nil {
			return 0, err
		}
		defer it.Close()
		return writePoints(w, q.Stream, p, it)
	case "latest":
		pt, ok, err := s.opts.Store.LatestIn(ctx, q.Stream, store.Bounds{Floor: max(q.Start, b.Floor), Ceil: min(q.End, b.Ceil)})
		if err != nil {
			return 0, err
		}
		var list []store.Sample
		if ok {
			list = []store.Sample{pt}
		}
		return writePoints(w, q.Stream, p, &samples{s: list})
	case "interpolated":
		if q.Interval <= 0 && q.Count <= 0 {
			return 0, badRequest("bad_interval", "interpolated reads need interval (e.g. 1m) or count")
		}
		start := q.Start
		if q.Interval > 0 && q.Align != AlignStart {
			// The first grid time within the range; none may lie in it.
			if start = store.GridCeil(q.Start, int64(q.Interval), int64(q.Offset)); start > q.End {
				return writePoints(w, q.Stream, p, &samples{})
			}
		}
		pts, err := s.opts.Store.Interpolated(ctx, q.Stream, start, q.End, int64(q.Interval), q.Count, b)
		if err != nil {
			return 0, err
		}
		return writePoints(w, q.Stream, p, &samples{s: pts})
	case "summaries":
		if q.Interval <= 0 {
			return 0, badRequest("bad_interval", "summaries need a positive interval (e.g. 1m)")
		}
		start := q.Start
		if q.Align != AlignStart {
			// The interval holding Start, whole; the last is cut at End.
			start = store.GridFloor(q.Start, int64(q.Interval), int64(q.Offset))
		}
		sums, err := s.opts.Store.Summaries(ctx, q.Stream, start, q.End, int64(q.Interval), b)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, sm := range sums {
			n += sm.Count
		}
		return n, writeSummaries(w, q.Stream, p, sums)
	}
	return 0, badRequest("bad_request", "unknown read %q", q.Kind)
}

// The placements of ReadRequest.Align.
const (
	AlignEpoch = "epoch"
	AlignStart = "start"
)

// gridParams reads align and offset, which place the intervals of
// summaries and interpolation by interval.
func gridParams(q url.Values) (align string, offset time.Duration, err error) {
	switch align = q.Get("align"); align {
	case "", AlignEpoch:
		align = AlignEpoch
	case AlignStart:
	default:
		return "", 0, badRequest("bad_align", "align: %q (want epoch or start)", align)
	}
	v := q.Get("offset")
	if v == "" {
		return align, 0, nil
	}
	if align == AlignStart {
		return "", 0, badRequest("bad_align", "offset shifts the epoch grid; align=start has none")
	}
	neg := strings.HasPrefix(v, "-")
	if offset, err = ParseDuration(strings.TrimPrefix(v, "-")); err != nil {
		return "", 0, badRequest("bad_offset", "offset: %q is not a duration (e.g. 30s, -5h)", v)
	}
	if neg {
		offset = -offset
	}
	return align, offset, nil
}

// pointSource is what writePoints streams: a store iterator or a slice.
type pointSource interface {
	Next() bool
	At() store.Sample
	Err() error
	PageToken() string
}

// writePoints streams points as JSON or CSV without holding them: a
// 10M-point window costs the same memory as a 10-point one. The page token
// comes last (a JSON field after the points; an HTTP trailer for CSV).
func writePoints(w http.ResponseWriter, name string, p readParams, src pointSource) (int, error) {
	n := 0
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 256)
	if p.csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Add("Trailer", "Sluice-Next-Page-Token")
		bw.WriteString("timestamp,value,quality\n")
		for src.Next() {
			n++
			pt := src.At()
			buf = appendTime(buf[:0], pt.Time, p.epochNS, false)
			buf = append(buf, ',')
			buf = appendCSVValue(buf, pt.Value)
			buf = append(buf, ',')
			buf = strconv.AppendUint(buf, uint64(pt.Quality), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		if err := src.Err(); err != nil {
			return n, err
		}
		if err := bw.Flush(); err != nil {
			return n, nil // client went away
		}
		w.Header().Set("Sluice-Next-Page-Token", src.PageToken())
		return n, nil
	}
	w.Header().Set("Content-Type", "application/json")
	buf = append(buf, `{"stream":`...)
	buf = appendJSONString(buf, name)
	buf = append(buf, `,"points":[`...)
	bw.Write(buf)
	first := true
	for src.Next() {
		n++
		buf = buf[:0]
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendPointJSON(buf, src.At(), p.epochNS)
		bw.Write(buf)
	}
	if err := src.Err(); err != nil {
		return n, err
	}
	buf = append(buf[:0], ']')
	if tok := src.PageToken(); tok != "" {
		buf = append(buf, `,"next_page_token":`...)
		buf = appendJSONString(buf, tok)
	}
	buf = append(buf, "}\n"...)
	bw.Write(buf)
	bw.Flush()
	return n, nil
}

func appendPointJSON(b []byte, pt store.Sample, epochNS bool) []byte {
	b = append(b, `{"time":`...)
	b = appendTime(b, pt.Time, epochNS, true)
	b = append(b, `,"value":`...)
	b = appendJSONValue(b, pt.Value)
	b = append(b, `,"quality":`...)
	b = strconv.AppendUint(b, uint64(pt.Quality), 10)
	return append(b, '}')
}

func appendTime(b []byte, t int64, epochNS, quote bool) []byte {
	if epochNS {
		return strconv.AppendInt(b, t, 10)
	}
	if quote {
		b = append(b, '"')
	}
	b = time.Unix(0, t).UTC().AppendFormat(b, time.RFC3339Nano)
	if quote {
		b = append(b, '"')
	}
	return b
}

// appendJSONValue writes a value; floats JSON cannot hold (NaN, ±Inf) are
// written as the strings "NaN", "Infinity" and "-Infinity".
func appendJSONValue(b []byte, v connectors.Value) []byte {
	switch v.Kind {
	case connectors.KindFloat:
		switch {
		case math.IsNaN(v.F):
			return append(b, `"NaN"`...)
		case math.IsInf(v.F, 1):
			return append(b, `"Infinity"`...)
		case math.IsInf(v.F, -1):
			return append(b, `"-Infinity"`...)
		}
		return strconv.AppendFloat(b, v.F, 'g', -1, 64)
	case connectors.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case connectors.KindBool:
		return strconv.AppendBool(b, v.I != 0)
	case connectors.KindString:
		return appendJSONString(b, v.S)
	}
	return append(b, "null"...)
}

func appendCSVValue(b []byte, v connectors.Value) []byte {
	if v.Kind != connectors.KindString {
		return append(b, v.Text()...)
	}
	needQuote := false
	for i := 0; i < len(v.S); i++ {
		if c := v.S[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			needQuote = true
			break
		}
	}
	if !needQuote {
		return append(b, v.S...)
	}
	b = append(b, '"')
	for i := 0; i < len(v.S); i++ {
		if v.S[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, v.S[i])
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// samples adapts a computed slice to pointSource.
type samples struct {
	s []store.Sample
	i int
}

func (x *samples) Next() bool        { x.i++; return x.i <= len(x.s) }
func (x *samples) At() store.Sample  { return x.s[x.i-1] }
func (x *samples) Err() error        { return nil }
func (x *samples) PageToken() string { return "" }

func (s *Server) readLatest(w http.ResponseWriter, r *http.Request) error {
	p, err := s.params(r, 0)
	if err != nil {
		return err
	}
	_, err = s.ServeRead(w, r, ReadRequest{Stream: r.PathValue("name"), Kind: "latest", Start: math.MinInt64, End: math.MaxInt64, Bounds: store.Unbounded, CSV: p.csv, EpochNS: p.epochNS})
	return err
}

func (s *Server) readInterpolated(w http.ResponseWriter, r *http.Request) error {
	p, err := s.params(r, -time.Hour)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := ReadRequest{Stream: r.PathValue("name"), Kind: "interpolated", Start: p.start, End: p.end, Bounds: store.Unbounded, CSV: p.csv, EpochNS: p.epochNS}
	switch {
	case q.Get("interval") != "":
		if req.Interval, err = ParseDuration(q.Get("interval")); err != nil || req.Interval <= 0 {
			return badRequest("bad_interval", "interval: %q is not a positive duration", q.Get("interval"))
		}
		if req.Align, req.Offset, err = gridParams(q); err != nil {
			return err
		}
	case q.Get("count") != "":
		if q.Get("align") != "" || q.Get("offset") != "" {
			return badRequest("bad_align", "align and offset place an interval grid; count spaces points from start to end")
		}
		if req.Count, err = strconv.Atoi(q.Get("count")); err != nil || req.Count < 1 {
			return badRequest("bad_count", "count: %q is not a positive number", q.Get("count"))
		}
	default:
		return badRequest("bad_interval", "interpolated reads need interval (e.g. 1m) or count")
	}
	_, err = s.ServeRead(w, r, req)
	return err
}

// SummaryJSON is one interval of a summaries answer. Statistics are null
// when the interval has no good or uncertain point.
type SummaryJSON struct {
	Start            string   `json:"start"`
	End              string   `json:"end"`
	Count            int      `json:"count"`
	Bad              int      `json:"bad"`
	Min              *float64 `json:"min"`
	Max              *float64 `json:"max"`
	Mean             *float64 `json:"mean"`
	StdDev           *float64 `json:"stddev"`
	TimeWeightedMean *float64 `json:"time_weighted_mean"`
	First            any      `json:"first"`
	Last             any      `json:"last"`
}

func (s *Server) readSummaries(w http.ResponseWriter, r *http.Request) error {
	p, err := s.params(r, -24*time.Hour)
	if err != nil {
		return err
	}
	iv := r.URL.Query().Get("interval")
	interval, err := ParseDuration(iv)
	if iv == "" || err != nil || interval <= 0 {
		return badRequest("bad_interval", "interval: %q is not a positive duration (e.g. 1m)", iv)
	}
	align, offset, err := gridParams(r.URL.Query())
	if err != nil {
		return err
	}
	_, err = s.ServeRead(w, r, ReadRequest{Stream: r.PathValue("name"), Kind: "summaries", Start: p.start, End: p.end, Bounds: store.Unbounded,
		Interval: interval, Align: align, Offset: offset, CSV: p.csv, EpochNS: p.epochNS})
	return err
}

func writeSummaries(w http.ResponseWriter, name string, p readParams, sums []store.Summary) error {
	if p.csv {
		bw := bufio.NewWriter(w)
		defer bw.Flush()
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		bw.WriteString("start,end,count,bad,min,max,mean,stddev,time_weighted_mean,first,last\n")
		var b []byte
		for _, sm := range sums {
			b = appendTime(b[:0], sm.Start, p.epochNS, false)
			b = append(b, ',')
			b = appendTime(b, sm.End, p.epochNS, false)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(sm.Count), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(sm.Bad), 10)
			good := sm.Count > sm.Bad
			for _, f := range []float64{sm.Min, sm.Max, sm.Mean, sm.StdDev} {
				b = append(b, ',')
				if good {
					b = strconv.AppendFloat(b, f, 'g', -1, 64)
				}
			}
			b = append(b, ',')
			if sm.HasTWA {
				b = strconv.AppendFloat(b, sm.TimeWeightedMean, 'g', -1, 64)
			}
			b = append(b, ',')
			if sm.Count > 0 {
				b = appendCSVValue(b, sm.First.Value)
			}
			b = append(b, ',')
			if sm.Count > 0 {
				b = appendCSVValue(b, sm.Last.Value)
			}
			b = append(b, '\n')
			bw.Write(b)
		}
		return nil
	}
	out := struct {
		Stream    string        `json:"stream"`
		Summaries []SummaryJSON `json:"summaries"`
	}{Stream: name, Summaries: make([]SummaryJSON, len(sums))}
	f := func(v float64) *float64 { // JSON has no NaN or infinities: those are null
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	point := func(pt store.Sample) any {
		return jsonRaw(appendPointJSON(nil, pt, p.epochNS))
	}
	for i, sm := range sums {
		o := &out.Summaries[i]
		o.Start = string(appendTime(nil, sm.Start, p.epochNS, false))
		o.End = string(appendTime(nil, sm.End, p.epochNS, false))
		o.Count, o.Bad = sm.Count, sm.Bad
		if sm.Count > sm.Bad && sm.First.Value.Kind != connectors.KindString {
			o.Min, o.Max, o.Mean, o.StdDev = f(sm.Min), f(sm.Max), f(sm.Mean), f(sm.StdDev)
		}
		if sm.HasTWA {
			o.TimeWeightedMean = f(sm.TimeWeightedMean)
		}
		if sm.Count > 0 {
			o.First, o.Last = point(sm.First), point(sm.Last)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// jsonRaw embeds pre-encoded JSON.
type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }
