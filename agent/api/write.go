package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors"
)

// WriteResult is the answer to a write.
type WriteResult struct {
	Written int      `json:"written"`
	Created []string `json:"created,omitempty"` // streams created by this write
}

// A write is parsed whole before anything is stored, so a malformed body
// never changes stored data, and then stored as one atomic batch.

// readBody reads a whole request body, sized by Content-Length when given.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > 0 && r.ContentLength < 1<<30 {
		buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1))
		_, err := buf.ReadFrom(r.Body)
		return buf.Bytes(), err
	}
	return io.ReadAll(r.Body)
}

func (s *Server) writeStream(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var pts []connectors.Point
	if isCSV(r) {
		pts, err = parseCSV(body, name, s.opts.Now())
	} else {
		pts, err = parseJSONPoints(body, name, s.opts.Now())
	}
	if err != nil {
		return err
	}
	return s.store(w, r, pts)
}

func (s *Server) writeBulk(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var pts []connectors.Point
	if isCSV(r) {
		pts, err = parseCSV(body, "", s.opts.Now())
	} else {
		pts, err = parseJSONPoints(body, "", s.opts.Now())
	}
	if err != nil {
		return err
	}
	return s.store(w, r, pts)
}

func isCSV(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "text/csv" || mt == "text/plain"
}

// store converts values to their streams' kinds, creates missing streams
// when asked (?create=1, with optional kind= and unit=), and writes.
func (s *Server) store(w http.ResponseWriter, r *http.Request, pts []connectors.Point) error {
	q := r.URL.Query()
	create := q.Get("create") == "1" || q.Get("create") == "true"
	var kind connectors.Kind
	if k := q.Get("kind"); k != "" {
		var err error
		if kind, err = connectors.ParseKind(k); err != nil {
			return badRequest("bad_kind", "kind: %v", err)
		}
	}
	kinds := map[string]connectors.Kind{}
	var created []string
	lastName, lastKind := "", connectors.Kind(0)
	for i := range pts {
		p := &pts[i]
		k, ok := lastKind, lastName == p.Stream && lastKind != 0
		if !ok {
			k, ok = kinds[p.Stream]
		}
		if !ok {
			st, err := s.opts.Store.GetStream(r.Context(), p.Stream)
			switch {
			case err == nil:
				k = st.Kind
			case errors.Is(err, store.ErrNotFound) && create:
				k = kind
				if k == 0 {
					// Infer from the first value; whole numbers make a
					// float stream, as process values usually are.
					k = p.Value.Kind
					if k == connectors.KindInt {
						k = connectors.KindFloat
					}
				}
				if err := s.opts.Store.EnsureStream(r.Context(), connectors.StreamSpec{Name: p.Stream, Kind: k, Unit: q.Get("unit"), Source: "api"}); err != nil {
					return fmt.Errorf("create stream %q: %w", p.Stream, err)
				}
				created = append(created, p.Stream)
			case errors.Is(err, store.ErrNotFound):
				return &httpError{code: http.StatusNotFound, reason: "not_found",
					msg: fmt.Sprintf("stream %q not found (add ?create=1 to create streams on first write)", p.Stream)}
			default:
				return err
			}
			kinds[p.Stream] = k
		}
		lastName, lastKind = p.Stream, k
		if p.Value.Kind != k {
			v, err := p.Value.Convert(k)
			if err != nil {
				return badRequest("bad_value", "point %d (stream %q, %s): %v", i, p.Stream, time.Unix(0, p.Time).UTC().Format(time.RFC3339Nano), err)
			}
			p.Value = v
		}
	}
	if err := s.opts.Store.Write(r.Context(), pts); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, WriteResult{Written: len(pts), Created: created})
	return nil
}

// parseCSV reads `timestamp,value[,quality]` lines for one stream, or
// `stream,timestamp,value[,quality]` lines when stream is "". A first line
// naming the columns (starting with "timestamp", "time" or "stream") is a
// header and skipped. Lines without quotes are split by hand, which is
// several times faster than encoding/csv on the common case; quoted lines
// go through encoding/csv.
func parseCSV(body []byte, stream string, now time.Time) ([]connectors.Point, error) {
	pts := make([]connectors.Point, 0, bytes.Count(body, []byte{'\n'})+1)
	names := map[string]string{} // interns stream names: one string per stream, not per line
	var fields [5][]byte
	line := 0
	for len(body) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			l, body = body, nil
		}
		l = bytes.TrimRight(l, "\r")
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var f [][]byte
		if bytes.IndexByte(l, '"') >= 0 {
			rec, err := csv.NewReader(bytes.NewReader(l)).Read()
			if err != nil {
				return nil, badRequest("bad_csv", "line %d: %v", line, err)
			}
			for _, x := range rec {
				f = append(f, []byte(x))
			}
		} else {
			f = fields[:0]
			for {
				i := bytes.IndexByte(l, ',')
				if i < 0 {
					f = append(f, l)
					break
				}
				if len(f) == len(fields)-1 {
					return nil, badRequest("bad_csv", "line %d: too many columns", line)
				}
				f = append(f, l[:i])
				l = l[i+1:]
			}
		}
		p := connectors.Point{Stream: stream}
		if stream == "" {
			if len(f) < 3 || len(f) > 4 {
				return nil, badRequest("bad_csv", "line %d: want stream,timestamp,value[,quality], got %d columns", line, len(f))
			}
			n, ok := names[string(f[0])]
			if !ok {
				n = string(f[0])
				names[n] = n
			}
			p.Stream = n
			f = f[1:]
		} else if len(f) < 2 || len(f) > 3 {
			return nil, badRequest("bad_csv", "line %d: want timestamp,value[,quality], got %d columns", line, len(f))
		}
		if line == 1 && isHeader(f[0]) {
			continue
		}
		t, err := csvTime(f[0], now)
		if err != nil {
			return nil, badRequest("bad_time", "line %d: %v", line, err)
		}
		p.Time = t
		p.Value = textValue(f[1])
		if len(f) == 3 {
			q, err := strconv.ParseUint(string(bytes.TrimSpace(f[2])), 0, 32)
			if err != nil {
				return nil, badRequest("bad_quality", "line %d: quality %q is not a status code", line, f[2])
			}
			p.Quality = uint32(q)
		}
		pts = append(pts, p)
	}
	return pts, nil
}

func isHeader(f []byte) bool {
	s := strings.ToLower(string(bytes.TrimSpace(f)))
	return s == "timestamp" || s == "time" || s == "stream"
}

// textValue reads a CSV value: an int if it is a whole number (exact up
// to 64 bits), a float if it parses as one, a boolean for true/false,
// otherwise text. The stream's kind then decides, by Value.Convert.
func textValue(b []byte) connectors.Value {
	if isInteger(b) {
		if i, ok := atoi(b); ok {
			return connectors.Int(i)
		}
	}
	s := string(b)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return connectors.Float(f)
	}
	switch s {
	case "true", "TRUE", "True":
		return connectors.Bool(true)
	case "false", "FALSE", "False":
		return connectors.Bool(false)
	}
	return connectors.String(s)
}

func isInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi parses a decimal integer without allocating; ok is false on
// overflow (the caller falls back to the float parser).
func atoi(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// csvTime is ParseTime with a fast path for epoch integers, the common
// case of machine-written CSV.
func csvTime(b []byte, now time.Time) (int64, error) {
	if isInteger(b) {
		if i, ok := atoi(b); ok {
			return epochInt(i), nil
		}
	}
	return ParseTime(string(b), now)
}

// jsonPoint is one point of a JSON write body.
type jsonPoint struct {
	Stream  string          `json:"stream"`
	Time    json.RawMessage `json:"time"`
	Value   json.RawMessage `json:"value"`
	Quality uint32          `json:"quality"`
}

// parseJSONPoints reads a JSON array of {"time", "value", "quality"}
// objects ("stream" too for bulk writes). Times are RFC 3339 strings or
// epoch numbers; values are numbers, booleans or strings.
func parseJSONPoints(body []byte, stream string, now time.Time) ([]connectors.Point, error) {
	var in []jsonPoint
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, badRequest("bad_json", "body: %v (want a JSON array of {\"time\", \"value\", \"quality\"} objects)", err)
	}
	pts := make([]connectors.Point, len(in))
	for i, jp := range in {
		p := &pts[i]
		p.Stream = stream
		if stream == "" {
			if jp.Stream == "" {
				return nil, badRequest("bad_json", "points[%d].stream: missing", i)
			}
			p.Stream = jp.Stream
		} else if jp.Stream != "" && jp.Stream != stream {
			return nil, badRequest("bad_json", "points[%d].stream: %q does not match the stream in the URL", i, jp.Stream)
		}
		t, err := jsonTime(jp.Time, now)
		if err != nil {
			return nil, badRequest("bad_time", "points[%d].time: %v", i, err)
		}
		p.Time = t
		v, err := jsonValue(jp.Value)
		if err != nil {
			return nil, badRequest("bad_value", "points[%d].value: %v", i, err)
		}
		p.Value = v
		p.Quality = jp.Quality
	}
	return pts, nil
}

func jsonTime(raw json.RawMessage, now time.Time) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return ParseTime(s, now)
	}
	return ParseEpoch(string(raw))
}

func jsonValue(raw json.RawMessage) (connectors.Value, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return connectors.Value{}, errors.New("missing")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return connectors.Value{}, err
		}
		return connectors.String(s), nil
	case string(raw) == "true":
		return connectors.Bool(true), nil
	case string(raw) == "false":
		return connectors.Bool(false), nil
	case raw[0] == '{' || raw[0] == '[':
		return connectors.Value{}, fmt.Errorf("%s is not a number, boolean or string", raw)
	}
	v := textValue(raw)
	if v.Kind != connectors.KindFloat && v.Kind != connectors.KindInt {
		return connectors.Value{}, fmt.Errorf("%s is not a number", raw)
	}
	return v, nil
}
