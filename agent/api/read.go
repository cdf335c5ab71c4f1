package api

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// readParams are how an answer is written.
type readParams struct {
	start, end int64
	csv        bool
	epochNS    bool // time=ns: times as epoch nanoseconds instead of RFC 3339
}

// defaultWindow is how far back a read reaches when it names no start,
// for local and partner reads alike.
var defaultWindow = map[policy.ReadKind]time.Duration{
	policy.ReadWindow: time.Hour, policy.ReadInterpolated: time.Hour, policy.ReadSummaries: 24 * time.Hour,
}

// parseRead reads a read's query into a ReadQuery, with every time
// resolved on one instant of this agent's clock. It is the one parser of
// reads: local reads are served from it, partner reads sent on as it
// read them, so both mean the same by every parameter. The window the
// answer may draw on (Lo, Hi) is unbounded; the owner of a partner's
// stream narrows it to the share's.
func (s *Server) parseRead(r *http.Request, stream string, kind policy.ReadKind) (federation.ReadQuery, error) {
	in := r.URL.Query()
	q := federation.ReadQuery{Stream: stream, Kind: kind, Lo: math.MinInt64, Hi: math.MaxInt64,
		Format: in.Get("format"), TimeFormat: in.Get("time")}
	switch q.Format {
	case "", "json", "csv":
	default:
		return q, badRequest("bad_format", "format: %q (want json or csv)", q.Format)
	}
	switch q.TimeFormat {
	case "", "rfc3339", "ns":
	default:
		return q, badRequest("bad_format", "time: %q (want rfc3339 or ns)", q.TimeFormat)
	}
	if kind == policy.ReadLatest {
		q.Start, q.End = math.MinInt64, math.MaxInt64 // the newest point there is
		return q, nil
	}
	now := s.opts.Now() // one instant for every time of the request
	q.Start, q.End = FromNow(now, -defaultWindow[kind]).UnixNano(), now.UnixNano()
	var err error
	if v := in.Get("start"); v != "" {
		if q.Start, err = ParseTime(v, now); err != nil {
			return q, badRequest("bad_time", "start: %v", err)
		}
	}
	if v := in.Get("end"); v != "" {
		if q.End, err = ParseTime(v, now); err != nil {
			return q, badRequest("bad_time", "end: %v", err)
		}
	}
	switch kind {
	case policy.ReadWindow:
		if v := in.Get("limit"); v != "" {
			if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 0 {
				return q, badRequest("bad_limit", "limit: %q is not a non-negative number", v)
			}
		}
		q.PageToken = in.Get("page_token")
	case policy.ReadInterpolated:
		switch {
		case in.Get("interval") != "":
			if q.Interval, err = configs.ParseDuration(in.Get("interval")); err != nil || q.Interval <= 0 {
				return q, badRequest("bad_interval", "interval: %q is not a positive duration", in.Get("interval"))
			}
			if q.Align, q.Offset, err = gridParams(in); err != nil {
				return q, err
			}
		case in.Get("count") != "":
			if in.Get("align") != "" || in.Get("offset") != "" {
				return q, badRequest("bad_align", "align and offset place an interval grid; count spaces points from start to end")
			}
			if q.Count, err = strconv.Atoi(in.Get("count")); err != nil || q.Count < 1 {
				return q, badRequest("bad_count", "count: %q is not a positive number", in.Get("count"))
			}
		default:
			return q, badRequest("bad_interval", "interpolated reads need interval (e.g. 1m) or count")
		}
	case policy.ReadSummaries:
		iv := in.Get("interval")
		if q.Interval, err = configs.ParseDuration(iv); iv == "" || err != nil || q.Interval <= 0 {
			return q, badRequest("bad_interval", "interval: %q is not a positive duration (e.g. 1m)", iv)
		}
		if q.Align, q.Offset, err = gridParams(in); err != nil {
			return q, err
		}
	}
	return q, nil
}

// readLocal serves a read of one of this tenant's own streams.
func (s *Server) readLocal(kind policy.ReadKind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := s.parseRead(r, r.PathValue("name"), kind)
		if err != nil {
			return err
		}
		_, err = s.ServeRead(w, r, q)
		return err
	}
}

// ServeRead answers a read from the store, streamed as JSON or CSV, from
// the stored points within [q.Lo, q.Hi) only: local reads pass the whole
// time line, partner reads the window policy allowed, so that no point
// outside it shows in the answer or shapes it (a carried-forward value,
// an interpolation neighbour). It returns how many points the answer
// covered (for summaries, the points summarised), so callers can account
// for the load.
func (s *Server) ServeRead(w http.ResponseWriter, r *http.Request, q federation.ReadQuery) (int, error) {
	p := readParams{start: q.Start, end: q.End, csv: q.Format == "csv", epochNS: q.TimeFormat == "ns"}
	pts, sums, err := s.query(r.Context(), q)
	if err != nil {
		return 0, err
	}
	if pts == nil {
		n := 0
		for _, sm := range sums {
			n += sm.Count
		}
		return n, writeSummaries(w, q.Stream, p, sums)
	}
	defer pts.Close()
	return writePoints(w, q.Stream, p, pts)
}

// query runs q on the store, within [q.Lo, q.Hi): points for window,
// latest and interpolated reads (never nil; to be closed), summaries
// otherwise (and nil points).
func (s *Server) query(ctx context.Context, q federation.ReadQuery) (pointSource, []store.Summary, error) {
	b := store.Bounds{Floor: q.Lo, Ceil: q.Hi}
	switch q.Kind {
	case policy.ReadWindow:
		it, err := s.opts.Store.Window(ctx, q.Stream, store.WindowQuery{Start: max(q.Start, b.Floor), End: min(q.End, b.Ceil),
			Limit: q.Limit, PageToken: q.PageToken})
		if err != nil {
			return nil, nil, err
		}
		return it, nil, nil
	case policy.ReadLatest:
		pt, ok, err := s.opts.Store.LatestIn(ctx, q.Stream, store.Bounds{Floor: max(q.Start, b.Floor), Ceil: min(q.End, b.Ceil)})
		if err != nil || !ok {
			return &samples{}, nil, err
		}
		return &samples{s: []store.Sample{pt}}, nil, nil
	case policy.ReadInterpolated:
		if q.Interval <= 0 && q.Count <= 0 {
			return nil, nil, badRequest("bad_interval", "interpolated reads need interval (e.g. 1m) or count")
		}
		start := q.Start
		if q.Interval > 0 && q.Align != AlignStart {
			// The first grid time within the range; none may lie in it.
			if start = store.GridCeil(q.Start, int64(q.Interval), int64(q.Offset)); start > q.End {
				return &samples{}, nil, nil
			}
		}
		pts, err := s.opts.Store.Interpolated(ctx, q.Stream, start, q.End, int64(q.Interval), q.Count, b)
		if err != nil {
			return nil, nil, err
		}
		return &samples{s: pts}, nil, nil
	case policy.ReadSummaries:
		if q.Interval <= 0 {
			return nil, nil, badRequest("bad_interval", "summaries need a positive interval (e.g. 1m)")
		}
		start := q.Start
		if q.Align != AlignStart {
			// The interval holding Start, whole; the last is cut at End.
			start = store.GridFloor(q.Start, int64(q.Interval), int64(q.Offset))
		}
		sums, err := s.opts.Store.Summaries(ctx, q.Stream, start, q.End, int64(q.Interval), b)
		if err != nil {
			return nil, nil, err
		}
		return nil, sums, nil
	}
	return nil, nil, badRequest("bad_request", "unknown read %s", q.Kind)
}

// The placements of ReadQuery.Align.
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
	if offset, err = configs.ParseDuration(strings.TrimPrefix(v, "-")); err != nil {
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
	Close()
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
	buf = AppendJSONString(buf, name)
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
		buf = AppendJSONString(buf, tok)
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
func appendJSONValue(b []byte, v point.Value) []byte {
	switch v.Kind {
	case point.KindFloat:
		switch {
		case math.IsNaN(v.F):
			return append(b, `"NaN"`...)
		case math.IsInf(v.F, 1):
			return append(b, `"Infinity"`...)
		case math.IsInf(v.F, -1):
			return append(b, `"-Infinity"`...)
		}
		return strconv.AppendFloat(b, v.F, 'g', -1, 64)
	case point.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case point.KindBool:
		return strconv.AppendBool(b, v.I != 0)
	case point.KindString:
		return AppendJSONString(b, v.S)
	}
	return append(b, "null"...)
}

func appendCSVValue(b []byte, v point.Value) []byte {
	if v.Kind != point.KindString {
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

// AppendJSONString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
// It is the API's fast path for names in streamed answers, shared with
// agent/promapi.
func AppendJSONString(b []byte, s string) []byte {
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
func (x *samples) Close()            {}

// SummaryJSON is one interval of a summaries answer. Statistics are null
// when the interval has no good or uncertain point.
type SummaryJSON struct {
	Start            string          `json:"start"`
	End              string          `json:"end"`
	Count            int             `json:"count"`
	Bad              int             `json:"bad"`
	Min              *float64        `json:"min"`
	Max              *float64        `json:"max"`
	Mean             *float64        `json:"mean"`
	StdDev           *float64        `json:"stddev"`
	TimeWeightedMean *float64        `json:"time_weighted_mean"`
	First            json.RawMessage `json:"first"` // a point, or null
	Last             json.RawMessage `json:"last"`
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
	for i, sm := range sums {
		out.Summaries[i] = summaryJSON(sm, p.epochNS)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// summaryJSON is one interval as answers write it.
func summaryJSON(sm store.Summary, epochNS bool) SummaryJSON {
	f := func(v float64) *float64 { // JSON has no NaN or infinities: those are null
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	o := SummaryJSON{Start: string(appendTime(nil, sm.Start, epochNS, false)),
		End: string(appendTime(nil, sm.End, epochNS, false)), Count: sm.Count, Bad: sm.Bad}
	if sm.Count > sm.Bad && sm.First.Value.Kind != point.KindString {
		o.Min, o.Max, o.Mean, o.StdDev = f(sm.Min), f(sm.Max), f(sm.Mean), f(sm.StdDev)
	}
	if sm.HasTWA {
		o.TimeWeightedMean = f(sm.TimeWeightedMean)
	}
	if sm.Count > 0 {
		o.First, o.Last = appendPointJSON(nil, sm.First, epochNS), appendPointJSON(nil, sm.Last, epochNS)
	}
	return o
}
