package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// WriteResult is the answer to a write, and the detail of a write that
// failed after its body was checked: what was stored.
type WriteResult struct {
	Written int      `json:"written"`
	Created []string `json:"created,omitempty"` // streams created by this write
}

// How a write is stored (docs/api.md, Writing, says it to users):
//
//  1. The body is parsed and checked as it arrives, point by point: every
//     time, value, quality and stream. The first bad point ends the
//     request with a 400 (or 404 for an unknown stream) and nothing is
//     stored, not even the streams ?create=1 would have made.
//  2. The points are stored in batches, in body order, each batch one
//     atomic, fsynced store write. A body that fits one batch (most do) is
//     held in memory and stored at once, as one atomic batch. A longer one
//     keeps its first batch in memory and the rest of its checked points,
//     compactly encoded, in a temporary file (unlinked at once), which the
//     second pass reads back batch by batch.
//
// So a write holds about one batch of points whatever its size, and a
// 2xx still means every point is on disk. Only a failure of the store
// itself between batches (disk full, shutdown, a stream deleted
// meanwhile) can leave a body partly stored; the error then says how many
// points, from the start of the body, are stored. Storing goes on when
// the client hangs up after its body arrived: a checked body is stored
// whole.
const (
	// batchPoints, batchStrings and batchStreams bound one batch: points,
	// bytes of string values, distinct streams. They keep a batch well
	// inside one Badger transaction (about 8 MiB and 90k entries with the
	// store's 64 MiB memtable), so no body is too large for the store.
	batchPoints  = 1 << 17
	batchStrings = 4 << 20
	batchStreams = 8192
	// maxPointBytes bounds one CSV line or one JSON point.
	maxPointBytes = 1 << 20
)

func (s *Server) writeStream(w http.ResponseWriter, r *http.Request) error {
	return s.write(w, r, r.PathValue("name"))
}

func (s *Server) writeBulk(w http.ResponseWriter, r *http.Request) error {
	return s.write(w, r, "")
}

func isCSV(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "text/csv" || mt == "text/plain"
}

// write checks and stores one write body for stream (bulk when "").
func (s *Server) write(w http.ResponseWriter, r *http.Request, stream string) error {
	in, err := s.newIngest(r)
	if err != nil {
		return err
	}
	var src pointParser
	if isCSV(r) {
		src = newCSVParser(r.Body, stream, s.opts.Now())
	} else {
		src = newJSONParser(r.Body, stream, s.opts.Now())
	}
	// Pass 1: check every point; keep the first batch, spool the rest.
	first := make([]point.Point, 0, firstCap(r.ContentLength))
	var sp *spool
	defer func() {
		if sp != nil {
			sp.Close()
		}
	}()
	firstFull := false
	var p point.Point
	for {
		if err := src.next(&p); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if err := in.check(&p, src); err != nil {
			return err
		}
		if !firstFull {
			first = append(first, p)
		} else {
			if sp == nil {
				if sp, err = newSpool(); err != nil {
					return err
				}
			}
			if err := sp.add(&p); err != nil {
				return err
			}
		}
		if in.full() {
			in.reset()
			if firstFull {
				sp.endBatch()
			}
			firstFull = true
		}
	}
	if sp != nil {
		sp.endBatch()
	}

	// Pass 2: store, batch by batch. A checked body is stored whole even
	// if the client is gone by now.
	ctx := context.WithoutCancel(r.Context())
	if err := in.createStreams(ctx); err != nil {
		return in.failed(err)
	}
	if err := s.opts.Store.Write(ctx, first); err != nil {
		return in.failed(err)
	}
	in.written = len(first)
	if sp != nil {
		if err := sp.rewind(); err != nil {
			return in.failed(err)
		}
		batch := first[:0]
		for {
			batch, err = sp.next(batch[:0])
			if err == io.EOF {
				break
			} else if err != nil {
				return in.failed(err)
			}
			if err := s.opts.Store.Write(ctx, batch); err != nil {
				return in.failed(err)
			}
			in.written += len(batch)
		}
	}
	writeJSON(w, http.StatusOK, WriteResult{Written: in.written, Created: in.created})
	return nil
}

// firstCap guesses the points of a body from its length (unknown: -1),
// up to one batch.
func firstCap(n int64) int {
	if n <= 0 {
		return 1024
	}
	return int(min(n/16+1, batchPoints))
}

// ingest is the per-request state of a write: the streams it writes to,
// with their kinds, and the accounting of the current batch.
type ingest struct {
	s       *Server
	ctx     context.Context
	create  bool
	kind    point.Kind // ?kind= for created streams; 0 infers
	unit    string
	batch   map[string]*ingestStream // streams of the current batch
	pending map[string]*ingestStream // streams to create, by name
	order   []*ingestStream          // pending, in the order first seen
	last    *ingestStream
	points  int // points and bytes of strings in the current batch
	strs    int
	written int
	created []string
}

type ingestStream struct {
	name string
	kind point.Kind
}

func (s *Server) newIngest(r *http.Request) (*ingest, error) {
	q := r.URL.Query()
	in := &ingest{
		s: s, ctx: r.Context(),
		create:  q.Get("create") == "1" || q.Get("create") == "true",
		unit:    q.Get("unit"),
		batch:   map[string]*ingestStream{},
		pending: map[string]*ingestStream{},
	}
	if k := q.Get("kind"); k != "" {
		var err error
		if in.kind, err = point.ParseKind(k); err != nil {
			return nil, badRequest("bad_kind", "kind: %v", err)
		}
	}
	return in, nil
}

// check converts a point's value to its stream's kind and counts it into
// the current batch. A stream that does not exist is an error, or with
// ?create=1 noted for creation, its kind taken from ?kind= or the first
// value (whole numbers make a float stream, as process values usually
// are).
func (in *ingest) check(p *point.Point, src pointParser) error {
	st := in.last
	if st == nil || st.name != p.Stream {
		if st = in.batch[p.Stream]; st == nil {
			var err error
			if st, err = in.lookup(p); err != nil {
				return err
			}
			in.batch[p.Stream] = st
		}
		in.last = st
	}
	if p.Value.Kind != st.kind {
		v, err := p.Value.Convert(st.kind)
		if err != nil {
			return badRequest("bad_value", "%s (stream %q, %s): %v", src.where(), p.Stream, time.Unix(0, p.Time).UTC().Format(time.RFC3339Nano), err)
		}
		p.Value = v
	}
	in.points++
	in.strs += len(p.Value.S)
	return nil
}

func (in *ingest) lookup(p *point.Point) (*ingestStream, error) {
	if may := in.s.opts.MayWrite; may != nil {
		if err := may(in.ctx, p.Stream); err != nil {
			return nil, &httpError{code: http.StatusForbidden, reason: "forbidden", msg: err.Error()}
		}
	}
	if st := in.pending[p.Stream]; st != nil {
		return st, nil
	}
	meta, err := in.s.opts.Store.GetStream(in.ctx, p.Stream)
	switch {
	case err == nil:
		return &ingestStream{name: p.Stream, kind: meta.Kind}, nil
	case errors.Is(err, store.ErrNotFound) && in.create:
		if err := store.ValidateName(p.Stream); err != nil {
			return nil, badRequest("bad_stream", "stream %q: %v", p.Stream, err)
		}
		k := in.kind
		if k == 0 {
			k = p.Value.Kind
			if k == point.KindInt {
				k = point.KindFloat
			}
		}
		st := &ingestStream{name: p.Stream, kind: k}
		in.pending[p.Stream] = st
		in.order = append(in.order, st)
		return st, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, &httpError{code: http.StatusNotFound, reason: "not_found",
			msg: fmt.Sprintf("stream %q not found (add ?create=1 to create streams on first write)", p.Stream)}
	}
	return nil, err
}

// full reports whether the current batch is full.
func (in *ingest) full() bool {
	return in.points >= batchPoints || in.strs >= batchStrings || len(in.batch) >= batchStreams
}

func (in *ingest) reset() {
	clear(in.batch)
	in.last = nil
	in.points, in.strs = 0, 0
}

// createStreams creates the streams the checked body needs.
func (in *ingest) createStreams(ctx context.Context) error {
	for _, st := range in.order {
		spec := point.StreamSpec{Name: st.name, Kind: st.kind, Unit: in.unit, Source: "api"}
		if err := in.s.opts.Store.EnsureStream(ctx, spec); err != nil {
			return fmt.Errorf("create stream %q: %w", st.name, err)
		}
		in.created = append(in.created, st.name)
	}
	return nil
}

// failed is the error of a checked body that the store did not take
// whole: its status is the store error's, its detail what was stored.
func (in *ingest) failed(err error) error {
	code, reason := classify(err)
	msg := err.Error()
	if in.written > 0 {
		msg = fmt.Sprintf("stored the first %d points of the body, then: %v", in.written, err)
	}
	return &httpError{code: code, reason: reason, msg: msg,
		detail: WriteResult{Written: in.written, Created: in.created}}
}

// spool keeps the checked points of a long body past its first batch for
// the second pass: in a temporary file (in $TMPDIR; the systemd unit
// gives the agent a private /tmp), removed from its directory at once
// where the system allows, so not even kill -9 leaves it behind. Points
// are encoded compactly, already converted to their streams' kinds, batch
// by batch as pass 1 cut them, so reading back is cheap:
//
//	point:  op byte, [stream], time, value, [quality]
//	op:     bits 0-1 kind (float, int, bool, string), bit 2 the bool,
//	        bit 3 quality follows, bits 4-5 stream: 0 as the previous
//	        point, 1 uvarint index into the batch's names, 2 a new name
//	        (uvarint length, bytes); opEnd ends a batch
//	time:   varint, the difference to the previous point of the batch
//	value:  float 8 bytes little-endian; int varint; string uvarint length, bytes
type spool struct {
	f       *os.File
	removed bool
	buf     []byte
	r       *bufio.Reader
	// encoder and decoder state, per batch
	ids    map[string]uint64
	names  []string
	stream string
	t      int64
	n      int // points in the batch being written
}

const (
	opEnd        = 0xff
	opBool       = 1 << 2
	opQuality    = 1 << 3
	opStreamIdx  = 1 << 4
	opStreamName = 2 << 4
)

var errSpool = errors.New("corrupt spool")

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "sluice-write-*")
	if err != nil {
		return nil, fmt.Errorf("spool the write body: %w", err)
	}
	return &spool{f: f, removed: os.Remove(f.Name()) == nil, ids: map[string]uint64{}}, nil
}

func (sp *spool) add(p *point.Point) error {
	var op byte
	switch p.Value.Kind {
	case point.KindFloat:
	case point.KindInt:
		op = 1
	case point.KindBool:
		op = 2
		if p.Value.I != 0 {
			op |= opBool
		}
	case point.KindString:
		op = 3
	default:
		return fmt.Errorf("spool: value kind %d", p.Value.Kind)
	}
	if p.Quality != 0 {
		op |= opQuality
	}
	at := len(sp.buf)
	sp.buf = append(sp.buf, 0)
	if sp.n == 0 || p.Stream != sp.stream {
		if id, ok := sp.ids[p.Stream]; ok {
			op |= opStreamIdx
			sp.buf = binary.AppendUvarint(sp.buf, id)
		} else {
			op |= opStreamName
			sp.ids[p.Stream] = uint64(len(sp.ids))
			sp.buf = binary.AppendUvarint(sp.buf, uint64(len(p.Stream)))
			sp.buf = append(sp.buf, p.Stream...)
		}
		sp.stream = p.Stream
	}
	sp.buf[at] = op
	sp.buf = binary.AppendVarint(sp.buf, p.Time-sp.t)
	sp.t = p.Time
	switch op & 3 {
	case 0:
		sp.buf = binary.LittleEndian.AppendUint64(sp.buf, math.Float64bits(p.Value.F))
	case 1:
		sp.buf = binary.AppendVarint(sp.buf, p.Value.I)
	case 3:
		sp.buf = binary.AppendUvarint(sp.buf, uint64(len(p.Value.S)))
		sp.buf = append(sp.buf, p.Value.S...)
	}
	if p.Quality != 0 {
		sp.buf = binary.AppendUvarint(sp.buf, uint64(p.Quality))
	}
	sp.n++
	if len(sp.buf) >= 256<<10 {
		return sp.flush()
	}
	return nil
}

// endBatch closes the batch being written, if it has points.
func (sp *spool) endBatch() {
	if sp.n == 0 {
		return
	}
	sp.buf = append(sp.buf, opEnd)
	clear(sp.ids)
	sp.stream, sp.t, sp.n = "", 0, 0
}

func (sp *spool) flush() error {
	if _, err := sp.f.Write(sp.buf); err != nil {
		return fmt.Errorf("spool the write body: %w", err)
	}
	sp.buf = sp.buf[:0]
	return nil
}

// rewind ends writing and makes next read from the start.
func (sp *spool) rewind() error {
	if err := sp.flush(); err != nil {
		return err
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back the spooled body: %w", err)
	}
	sp.r = bufio.NewReaderSize(sp.f, 256<<10)
	return nil
}

// next appends the points of the next batch to pts; io.EOF after the last.
func (sp *spool) next(pts []point.Point) ([]point.Point, error) {
	sp.names, sp.stream, sp.t = sp.names[:0], "", 0
	for {
		op, err := sp.r.ReadByte()
		if err == io.EOF && len(pts) == 0 {
			return pts, io.EOF
		}
		if err != nil {
			return pts, fmt.Errorf("read back the spooled body: %w", noEOF(err))
		}
		if op == opEnd {
			return pts, nil
		}
		if pts, err = sp.point(op, pts); err != nil {
			return pts, fmt.Errorf("read back the spooled body: %w", noEOF(err))
		}
	}
}

func (sp *spool) point(op byte, pts []point.Point) ([]point.Point, error) {
	switch op & (3 << 4) {
	case opStreamIdx:
		id, err := binary.ReadUvarint(sp.r)
		if err != nil {
			return pts, err
		}
		if id >= uint64(len(sp.names)) {
			return pts, errSpool
		}
		sp.stream = sp.names[id]
	case opStreamName:
		b, err := sp.bytes()
		if err != nil {
			return pts, err
		}
		sp.stream = string(b)
		sp.names = append(sp.names, sp.stream)
	case 0:
		if len(sp.names) == 0 {
			return pts, errSpool
		}
	default:
		return pts, errSpool
	}
	dt, err := binary.ReadVarint(sp.r)
	if err != nil {
		return pts, err
	}
	sp.t += dt
	p := point.Point{Stream: sp.stream, Time: sp.t}
	switch op & 3 {
	case 0:
		b, err := sp.r.Peek(8)
		if err != nil {
			return pts, err
		}
		p.Value = point.Float(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		sp.r.Discard(8)
	case 1:
		i, err := binary.ReadVarint(sp.r)
		if err != nil {
			return pts, err
		}
		p.Value = point.Int(i)
	case 2:
		p.Value = point.Bool(op&opBool != 0)
	case 3:
		b, err := sp.bytes()
		if err != nil {
			return pts, err
		}
		p.Value = point.String(string(b))
	}
	if op&opQuality != 0 {
		q, err := binary.ReadUvarint(sp.r)
		if err != nil {
			return pts, err
		}
		if q > math.MaxUint32 {
			return pts, errSpool
		}
		p.Quality = uint32(q)
	}
	return append(pts, p), nil
}

// bytes reads a length-prefixed byte string, valid until the next read.
func (sp *spool) bytes() ([]byte, error) {
	n, err := binary.ReadUvarint(sp.r)
	if err != nil {
		return nil, err
	}
	if n > maxPointBytes {
		return nil, errSpool
	}
	sp.buf = slices.Grow(sp.buf[:0], int(n))[:n]
	_, err = io.ReadFull(sp.r, sp.buf)
	return sp.buf, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (sp *spool) Close() {
	sp.f.Close()
	if !sp.removed {
		os.Remove(sp.f.Name())
	}
}

// pointParser reads the points of a write body one by one.
type pointParser interface {
	// next parses the next point into p; io.EOF after the last one.
	next(p *point.Point) error
	// where names the last point for errors: "line 12", "points[11]".
	where() string
}

// interner gives one string per stream name instead of one per point; it
// forgets everything when it grows past a batch's worth of streams, so a
// body of a million streams does not keep a million names.
type interner map[string]string

func (m interner) get(b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	if len(m) >= batchStreams {
		clear(m)
	}
	s := string(b)
	m[s] = s
	return s
}

// csvParser reads `timestamp,value[,quality]` lines for one stream, or
// `stream,timestamp,value[,quality]` lines when stream is "". A first line
// naming the columns (starting with "timestamp", "time" or "stream") is a
// header and skipped. Lines without quotes are split by hand, which is
// several times faster than encoding/csv on the common case; quoted lines
// go through encoding/csv, one line at a time (a quoted field cannot hold
// a line break). Lines are numbered from 1, blank ones included.
type csvParser struct {
	br     *bufio.Reader
	stream string
	now    time.Time
	line   int
	long   []byte // a line longer than the read buffer
	names  interner
}

func newCSVParser(r io.Reader, stream string, now time.Time) *csvParser {
	return &csvParser{br: bufio.NewReaderSize(r, 64<<10), stream: stream, now: now, names: interner{}}
}

func (c *csvParser) where() string { return "line " + strconv.Itoa(c.line) }

// readLine returns the next line without its "\n", io.EOF at the end.
func (c *csvParser) readLine() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.long = append(c.long[:0], l...)
		for err == bufio.ErrBufferFull {
			l, err = c.br.ReadSlice('\n')
			if len(c.long)+len(l) > maxPointBytes {
				return nil, badRequest("bad_csv", "line %d: longer than %d bytes", c.line+1, maxPointBytes)
			}
			c.long = append(c.long, l...)
		}
		l = c.long
	}
	switch {
	case err == nil:
		return l[:len(l)-1], nil
	case err == io.EOF && len(l) > 0:
		return l, nil
	}
	return nil, err
}

func (c *csvParser) next(p *point.Point) error {
	var fields [5][]byte
	for {
		l, err := c.readLine()
		if err != nil {
			return err
		}
		c.line++
		l = bytes.TrimRight(l, "\r")
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var f [][]byte
		if bytes.IndexByte(l, '"') >= 0 {
			rec, err := csv.NewReader(bytes.NewReader(l)).Read()
			if err != nil {
				return badRequest("bad_csv", "line %d: %v", c.line, err)
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
					return badRequest("bad_csv", "line %d: too many columns", c.line)
				}
				f = append(f, l[:i])
				l = l[i+1:]
			}
		}
		*p = point.Point{Stream: c.stream}
		if c.stream == "" {
			if len(f) < 3 || len(f) > 4 {
				return badRequest("bad_csv", "line %d: want stream,timestamp,value[,quality], got %d columns", c.line, len(f))
			}
			if len(f[0]) == 0 {
				return badRequest("bad_csv", "line %d: empty stream name", c.line)
			}
			p.Stream = c.names.get(f[0])
			f = f[1:]
		} else if len(f) < 2 || len(f) > 3 {
			return badRequest("bad_csv", "line %d: want timestamp,value[,quality], got %d columns", c.line, len(f))
		}
		if c.line == 1 && isHeader(f[0]) {
			continue
		}
		t, err := csvTime(f[0], c.now)
		if err != nil {
			return badRequest("bad_time", "line %d: %v", c.line, err)
		}
		p.Time = t
		p.Value = textValue(f[1])
		if len(f) == 3 {
			q, err := strconv.ParseUint(string(bytes.TrimSpace(f[2])), 0, 32)
			if err != nil {
				return badRequest("bad_quality", "line %d: quality %q is not a status code", c.line, f[2])
			}
			p.Quality = uint32(q)
		}
		return nil
	}
}

func isHeader(f []byte) bool {
	s := strings.ToLower(string(bytes.TrimSpace(f)))
	return s == "timestamp" || s == "time" || s == "stream"
}

// textValue reads a CSV value: an int if it is a whole number (exact up
// to 64 bits), a float if it parses as one, a boolean for true/false,
// otherwise text. The stream's kind then decides, by Value.Convert.
func textValue(b []byte) point.Value {
	if isInteger(b) {
		if i, ok := atoi(b); ok {
			return point.Int(i)
		}
	}
	// string(b) here does not escape (ParseFloat copies what its errors
	// keep), so the common case does not allocate.
	if f, err := strconv.ParseFloat(string(b), 64); err == nil {
		return point.Float(f)
	}
	s := string(b)
	switch s {
	case "true", "TRUE", "True":
		return point.Bool(true)
	case "false", "FALSE", "False":
		return point.Bool(false)
	}
	return point.String(s)
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

// jsonPoint is one point of a JSON write body. One is reused for every
// point, its raw fields keeping their buffers.
type jsonPoint struct {
	Stream  json.RawMessage `json:"stream"`
	Time    json.RawMessage `json:"time"`
	Value   json.RawMessage `json:"value"`
	Quality uint32          `json:"quality"`
}

// jsonParser reads a JSON array of {"time", "value", "quality"} objects
// ("stream" too for bulk writes), one element at a time. Times are RFC
// 3339 strings or epoch numbers; values are numbers, booleans or strings.
type jsonParser struct {
	dec    *json.Decoder
	body   *pointLimiter
	stream string
	now    time.Time
	index  int // elements read
	jp     jsonPoint
	names  interner
	err    error // sticky: the array's start was bad
	done   bool
}

const jsonWant = `want a JSON array of {"time", "value", "quality"} objects`

func newJSONParser(r io.Reader, stream string, now time.Time) *jsonParser {
	j := &jsonParser{body: &pointLimiter{r: r}, stream: stream, now: now, names: interner{}}
	j.dec = json.NewDecoder(j.body)
	j.dec.DisallowUnknownFields()
	j.limit()
	tok, err := j.dec.Token()
	switch {
	case err != nil && j.body.err != nil:
		j.err = j.readErr()
	case err == io.EOF:
		j.err = badRequest("bad_json", "body: empty (%s)", jsonWant)
	case err != nil:
		j.err = badRequest("bad_json", "body: %v (%s)", err, jsonWant)
	case tok != json.Delim('['):
		j.err = badRequest("bad_json", "body: %s", jsonWant)
	}
	return j
}

// pointLimiter reads a JSON body for the decoder, which buffers a whole
// element before decoding it: it refuses to read past limit, so that one
// huge element cannot take the memory a body's worth. It keeps its first
// error other than io.EOF, to tell a body that could not be read (too
// large, client gone) from a bad one.
type pointLimiter struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64
	err   error
}

var errPointTooLong = errors.New("point too long")

func (l *pointLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.n >= l.limit {
		l.err = errPointTooLong
		return 0, l.err
	}
	p = p[:min(int64(len(p)), l.limit-l.n)]
	n, err := l.r.Read(p)
	l.n += int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// limit lets the decoder read at most maxPointBytes past the start of
// the next element.
func (j *jsonParser) limit() { j.body.limit = j.dec.InputOffset() + maxPointBytes }

// readErr is the body's read error, which ends a request as is (413 for
// a body over the limit, the client gone), except a point too long.
func (j *jsonParser) readErr() error {
	if j.body.err == errPointTooLong {
		return badRequest("bad_json", "points[%d]: longer than %d bytes", max(j.index-1, 0), maxPointBytes)
	}
	return j.body.err
}

func (j *jsonParser) where() string { return "points[" + strconv.Itoa(j.index-1) + "]" }

func (j *jsonParser) next(p *point.Point) error {
	if j.err != nil {
		return j.err
	}
	if j.done {
		return io.EOF
	}
	if !j.dec.More() {
		return j.end()
	}
	jp := &j.jp
	jp.Stream, jp.Time, jp.Value, jp.Quality = jp.Stream[:0], jp.Time[:0], jp.Value[:0], 0
	j.index++
	i := j.index - 1
	if err := j.dec.Decode(jp); err != nil {
		if j.body.err != nil {
			return j.readErr()
		}
		return badRequest("bad_json", "points[%d]: %v (%s)", i, err, jsonWant)
	}
	j.limit()
	*p = point.Point{Stream: j.stream, Quality: jp.Quality}
	name, err := j.streamName(jp.Stream)
	if err != nil {
		return badRequest("bad_json", "points[%d].stream: %v", i, err)
	}
	if j.stream == "" {
		if name == "" {
			return badRequest("bad_json", "points[%d].stream: missing", i)
		}
		p.Stream = name
	} else if name != "" && name != j.stream {
		return badRequest("bad_json", "points[%d].stream: %q does not match the stream in the URL", i, name)
	}
	t, err := jsonTime(jp.Time, j.now)
	if err != nil {
		return badRequest("bad_time", "points[%d].time: %v", i, err)
	}
	p.Time = t
	v, err := jsonValue(jp.Value)
	if err != nil {
		return badRequest("bad_value", "points[%d].value: %v", i, err)
	}
	p.Value = v
	return nil
}

// end reads the closing bracket and makes sure nothing follows.
func (j *jsonParser) end() error {
	j.done = true
	if _, err := j.dec.Token(); err != nil {
		if j.body.err != nil {
			return j.readErr()
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return badRequest("bad_json", "body: %v (%s)", err, jsonWant)
	}
	if _, err := j.dec.Token(); err != io.EOF {
		if j.body.err != nil {
			return j.readErr()
		}
		return badRequest("bad_json", "body: data after the array")
	}
	return io.EOF
}

// streamName reads a "stream" field ("" when absent or null), interned.
func (j *jsonParser) streamName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", raw)
	}
	if plain(raw) {
		return j.names.get(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return j.names.get([]byte(s)), nil
}

// plain reports whether a JSON string has no escapes and no bytes beyond
// ASCII, so that its text between the quotes is its value.
func plain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
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
	if isInteger(raw) {
		if i, ok := atoi(raw); ok {
			return epochInt(i), nil
		}
	}
	return ParseEpoch(string(raw))
}

func jsonValue(raw json.RawMessage) (point.Value, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return point.Value{}, errors.New("missing")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return point.Value{}, err
		}
		return point.String(s), nil
	case string(raw) == "true":
		return point.Bool(true), nil
	case string(raw) == "false":
		return point.Bool(false), nil
	case raw[0] == '{' || raw[0] == '[':
		return point.Value{}, fmt.Errorf("%s is not a number, boolean or string", raw)
	}
	v := textValue(raw)
	if v.Kind != point.KindFloat && v.Kind != point.KindInt {
		return point.Value{}, fmt.Errorf("%s is not a number", raw)
	}
	return v, nil
}
